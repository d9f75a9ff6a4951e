"""Retention (policy page, `flask purge`) and the data inventory generated from the models."""

from datetime import date, timedelta

from sqlalchemy import event, func, select

from carline.models import Absence, CalledStudent, Dismissal, QueueEntry
from hallpass.models import Appointment, Destination, HallPass, OfficeCall
from shared import inventory, retention
from shared.extensions import db as _db
from shared.models import AuditEvent, Student, UserSession
from shared.timeutil import utcnow
from tests.carline.test_reports import craft
from tests.helpers import audit_actions


def count(model, *where) -> int:
    return _db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_every_table_is_in_the_data_inventory(db):
    assert inventory.missing_entries() == []
    tables = {t.name for t in _db.metadata.sorted_tables}
    assert set(inventory.entries()) <= tables, "inventory names a table that does not exist"


def test_inventory_page_lists_every_table_and_field(client, school, make_user, login):
    login(make_user(school, "teacher"))
    html = client.get("/privacy/inventory").get_data(as_text=True)
    assert "Nothing leaves this server" in html
    for table in _db.metadata.sorted_tables:
        assert f'id="table-{table.name}"' in html
        for column in table.columns:
            assert f"<code>{column.name}</code>" in html


def test_inventory_page_says_what_is_kept_for_sign_in(client, school, make_user, login):
    login(make_user(school, "teacher"))
    html = client.get("/privacy/inventory").get_data(as_text=True)
    for said in (
        "the secret shared with the person",  # users.totp_secret
        "SHA-256 of the link&#39;s token",  # account_links.token_hash
        "SHA-256 of the code",  # recovery_codes.code_hash
        "Invitation and password reset mails, kept until sent",  # mail_outbox
        "The only mail it sends is an invitation or password reset link",
    ):
        assert said in html, said


def test_admin_sets_retention_with_validation_and_audit(client, db, school, make_user, login):
    login(make_user(school, "admin"))
    form = {
        "pass_history_days": "200",
        "tardy_days": "180",
        "dismissal_history_days": "90",
        "emergency_days": "1000",
        "audit_days": "400",
    }
    assert client.post("/admin/privacy", data=form).status_code == 302
    db.session.refresh(school)
    assert school.settings["retention"] == {
        "pass_history_days": 200,
        "tardy_days": 180,
        "dismissal_history_days": 90,
        "emergency_days": 1000,
        "audit_days": 400,
    }
    assert "retention.update" in audit_actions(db)
    bad = client.post("/admin/privacy", data={**form, "audit_days": "5"})
    assert bad.status_code == 400
    assert "Audit log: a number of days from 30" in bad.get_data(as_text=True)
    db.session.refresh(school)
    assert school.settings["retention"]["audit_days"] == 400
    # A superscript digit is a digit to str.isdigit() but not to int(): a 400, not a 500.
    superscript = client.post("/admin/privacy", data={**form, "audit_days": "4\u00b2"})
    assert superscript.status_code == 400


def test_only_admins_set_retention(client, school, make_user, login):
    login(make_user(school, "office"))
    assert client.get("/admin/privacy").status_code == 403


def make_pass(db, school, student, destination, ended_days_ago: int | None) -> HallPass:
    started = utcnow() - timedelta(days=ended_days_ago or 0, minutes=10)
    hall_pass = HallPass(
        school_id=school.id,
        student_id=student.id,
        destination_id=destination.id,
        source="teacher",
        time_limit_minutes=10,
        started_at=started,
        status="ended" if ended_days_ago is not None else "active",
        ended_at=started + timedelta(minutes=5) if ended_days_ago is not None else None,
        ended_by="staff" if ended_days_ago is not None else None,
    )
    db.session.add(hall_pass)
    return hall_pass


def make_history(db, school, other) -> None:
    """Old and recent passes, dismissals, absences and audit events in two schools."""
    school.settings = {
        "retention": {"pass_history_days": 30, "dismissal_history_days": 30, "audit_days": 60}
    }
    for s in (school, other):
        destination = Destination(school_id=s.id, name="Restroom", time_limit_minutes=10)
        students = [
            Student(school_id=s.id, student_number=f"{s.id}-{n}", first_name="A", last_name="B")
            for n in range(3)
        ]
        db.session.add_all([destination, *students])
        db.session.flush()
        make_pass(db, s, students[0], destination, ended_days_ago=45)  # old
        make_pass(db, s, students[1], destination, ended_days_ago=5)  # recent
        make_pass(db, s, students[2], destination, ended_days_ago=None)  # active
        db.session.add_all(
            [
                Dismissal(
                    school_id=s.id, day=date.today() - timedelta(days=40), lanes=1, spots_per_lane=2
                ),
                Dismissal(
                    school_id=s.id, day=date.today() - timedelta(days=2), lanes=1, spots_per_lane=2
                ),
                Absence(student_id=students[0].id, day=date.today() - timedelta(days=40)),
                *(
                    Appointment(
                        school_id=s.id,
                        student_id=students[0].id,
                        destination_id=destination.id,
                        starts_at=utcnow() - timedelta(days=days),
                        day=date.today() - timedelta(days=days),
                        period="1",
                    )
                    for days in (45, 5)  # an old one, a recent one
                ),
                AuditEvent(
                    school_id=s.id,
                    action="old.thing",
                    actor_label="x",
                    at=utcnow() - timedelta(days=100),
                ),
                # Calls to the office go with the pass history: one old, one recent.
                *(
                    OfficeCall(
                        school_id=s.id,
                        student_id=students[0].id,
                        destination_id=destination.id,
                        status="cancelled",
                        created_at=utcnow() - timedelta(days=days),
                    )
                    for days in (45, 5)
                ),
            ]
        )
    db.session.commit()


def test_purge_deletes_only_what_is_older_than_each_schools_periods(app, db, school, make_school):
    other = make_school()
    make_history(db, school, other)
    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    expected = (
        "hall_passes 1, pass_requests 0, office_calls 1, appointments 1, tardies 0, "
        "dismissals 1, dismissal_changes 0, absences 1, carpool_agreements 0, emergency_events 0, "
        "substitute_assignments 0, audit_events 1"
    )
    assert f"{school.code}: deleted {expected}" in result.output
    db.session.rollback()
    assert count(HallPass, HallPass.school_id == school.id) == 2
    assert count(Appointment, Appointment.school_id == school.id) == 1
    assert count(Appointment, Appointment.school_id == other.id) == 2
    assert count(Dismissal, Dismissal.school_id == school.id) == 1
    # The other school keeps the defaults (a year, three years): nothing of it goes.
    assert count(HallPass, HallPass.school_id == other.id) == 3
    assert count(OfficeCall, OfficeCall.school_id == school.id) == 1
    assert count(OfficeCall, OfficeCall.school_id == other.id) == 2
    assert count(Dismissal, Dismissal.school_id == other.id) == 2
    assert (
        count(AuditEvent, AuditEvent.school_id == other.id, AuditEvent.action == "old.thing") == 1
    )
    assert "retention.purge" in audit_actions(db, school_id=school.id)


def test_purge_dry_run_deletes_nothing(app, db, school):
    db.session.add(
        AuditEvent(
            school_id=school.id,
            action="old.thing",
            actor_label="x",
            at=utcnow() - timedelta(days=5000),
        )
    )
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["purge", "--dry-run"])
    assert "would delete" in result.output and "audit_events 1" in result.output
    db.session.rollback()
    assert count(AuditEvent, AuditEvent.action == "old.thing") == 1
    assert count(AuditEvent, AuditEvent.action == "retention.purge") == 0


def test_purge_dry_run_counts_what_the_purge_deletes_without_deleting(app, db, school, make_school):
    make_history(db, school, make_school())
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        dry = app.test_cli_runner().invoke(args=["purge", "--dry-run"])
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert dry.exit_code == 0, dry.output
    # A dry run only counts: deleting and rolling back took minutes on a district.
    assert [s for s in statements if s.lstrip().upper().startswith("DELETE")] == []
    db.session.rollback()
    real = app.test_cli_runner().invoke(args=["purge"])
    assert dry.output.replace("would delete", "deleted") == real.output


def test_a_purge_larger_than_one_batch_removes_everything_due_and_nothing_else(
    app, db, school, make_school, monkeypatch
):
    """Batches of 2 rows: every statement deletes at most 2, the cars and calls of a
    dismissal go before it (nothing cascades from a batch), and what is left is exactly
    what was not due, in both schools (SQLite and PostgreSQL)."""
    other = make_school()
    make_history(db, school, other)
    today = date.today()
    old = [craft(db, school, day=today - timedelta(days=d), late=1).id for d in (43, 44, 45)]
    recent = craft(db, school, day=today - timedelta(days=3), late=1).id
    kept_elsewhere = craft(db, other, day=today - timedelta(days=44)).id
    destination = db.session.scalar(select(Destination).where(Destination.school_id == school.id))
    student = db.session.scalar(select(Student).where(Student.school_id == school.id))
    for _ in range(4):
        make_pass(db, school, student, destination, ended_days_ago=50)
    db.session.commit()
    per_dismissal = {
        d: (
            count(QueueEntry, QueueEntry.dismissal_id == d),
            count(CalledStudent, CalledStudent.dismissal_id == d),
        )
        for d in (*old, recent, kept_elsewhere)
    }
    assert all(cars >= 5 and calls >= 6 for cars, calls in per_dismissal.values())
    monkeypatch.setattr(retention, "BATCH_ROWS", 2)
    deletes = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("DELETE"):
            table = statement.split()[2].strip('"')
            deletes.append((table, cursor.rowcount))

    event.listen(db.engine, "after_cursor_execute", record)
    try:
        result = app.test_cli_runner().invoke(args=["purge"])
    finally:
        event.remove(db.engine, "after_cursor_execute", record)
    assert result.exit_code == 0, result.output
    assert f"{school.code}: deleted hall_passes 5, " in result.output
    assert "dismissals 4, dismissal_changes 0, absences 1" in result.output
    assert f"  {school.code} dismissals: deleted 4" in result.output  # progress per table
    assert max(rows for _, rows in deletes) <= 2
    tables = [table for table, rows in deletes if rows]
    assert tables.count("hall_passes") == 3  # 5 passes, 2 a batch
    assert tables.index("queue_entries") < tables.index("dismissals")

    def deleted(table: str) -> int:
        return sum(rows for name, rows in deletes if name == table)

    # Every car and call of the old dismissals went by a statement of its own, none by
    # the dismissal's cascade.
    assert deleted("queue_entries") == sum(per_dismissal[d][0] for d in old)
    assert deleted("called_students") == sum(per_dismissal[d][1] for d in old)
    db.session.rollback()
    for d in old:
        assert count(Dismissal, Dismissal.id == d) == 0
        assert count(QueueEntry, QueueEntry.dismissal_id == d) == 0
        assert count(CalledStudent, CalledStudent.dismissal_id == d) == 0
    for d in (recent, kept_elsewhere):
        assert count(Dismissal, Dismissal.id == d) == 1
        assert (
            count(QueueEntry, QueueEntry.dismissal_id == d),
            count(CalledStudent, CalledStudent.dismissal_id == d),
        ) == per_dismissal[d]
    assert count(HallPass, HallPass.school_id == school.id) == 2  # the recent and the active
    assert count(HallPass, HallPass.school_id == other.id) == 3
    assert count(Dismissal, Dismissal.school_id == other.id) == 3
    events = audit_actions(db, school_id=school.id)
    assert events.count("retention.purge") == 1  # one event per run per school


def test_retention_page_shows_the_last_purge(app, client, db, school, make_user, login):
    app.test_cli_runner().invoke(args=["purge"])
    login(make_user(school, "admin"))
    html = client.get("/admin/privacy").get_data(as_text=True)
    assert "The purge has not run" not in html
    assert "deleted 0 hall passes" in html


def test_old_sessions_are_purged(app, db, school, make_user):
    user = make_user(school, "teacher")
    db.session.add_all(
        [
            UserSession(
                user_id=user.id, token_hash="a" * 64, created_at=utcnow() - timedelta(days=40)
            ),
            UserSession(user_id=user.id, token_hash="b" * 64),
        ]
    )
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["purge"])
    assert "sign-in sessions: deleted 1" in result.output
    db.session.rollback()
    assert count(UserSession) == 1


def student_with_history(db, school, make_room):
    """A student with a class, a family with a tag, an ended pass and a plan."""
    from carline.models import DismissalDefault, Tag
    from shared.models import Enrollment, Family, SchoolClass

    room = make_room(school, "101")
    student = Student(
        school_id=school.id, student_number="S-1", first_name="=Mia", last_name="Lopez"
    )
    family = Family(school_id=school.id, tag_number=7, pickup_adults="Ana Lopez")
    family.students.append(student)
    section = SchoolClass(school_id=school.id, name="Math", room_id=room.id, period="1")
    destination = Destination(school_id=school.id, name="Restroom", time_limit_minutes=10)
    db.session.add_all([student, family, section, destination])
    db.session.flush()
    db.session.add_all(
        [
            Enrollment(class_id=section.id, student_id=student.id),
            Tag(family_id=family.id),
            DismissalDefault(student_id=student.id, weekday=0, mode="car"),
        ]
    )
    make_pass(db, school, student, destination, ended_days_ago=1)
    db.session.commit()
    return student, family


def test_admin_exports_everything_about_a_student_as_json_and_csv(
    client, db, school, make_user, make_room, login
):
    student, _family = student_with_history(db, school, make_room)
    login(make_user(school, "admin"))
    page = client.get(f"/admin/students/{student.id}/records").get_data(as_text=True)
    assert "Hall passes" in page and "Download JSON" in page
    response = client.get(f"/admin/students/{student.id}/export.json")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert "Mia" not in response.headers["Content-Disposition"]
    data = response.get_json()
    assert data["students"][0]["student_number"] == "S-1"
    assert {
        "hall_passes",
        "enrollments",
        "family_students",
        "families",
        "dismissal_defaults",
    } <= set(data)
    assert data["families"][0]["pickup_adults"] == "Ana Lopez"
    assert all("token" not in row for row in data["hall_passes"])
    csv_text = client.get(f"/admin/students/{student.id}/export.csv").get_data(as_text=True)
    assert csv_text.startswith("record,record_id,field,value")
    assert f"students,{student.id},first_name,'=Mia" in csv_text
    assert audit_actions(db, action="student.export") == ["student.export", "student.export"]


def test_student_records_are_for_admins_of_that_school_only(
    app, client, db, school, make_school, make_user, make_room, login
):
    student, _ = student_with_history(db, school, make_room)
    login(make_user(school, "office"))
    assert client.get(f"/admin/students/{student.id}/export.json").status_code == 403
    other_admin = login(make_user(make_school(), "admin"), on=app.test_client())
    assert other_admin.get(f"/admin/students/{student.id}/export.json").status_code == 404
    assert (
        other_admin.post(
            f"/admin/students/{student.id}/delete", data={"confirm": "S-1"}
        ).status_code
        == 404
    )
    assert db.session.get(Student, student.id) is not None


def test_hard_delete_needs_the_student_number_and_removes_every_record(
    client, db, school, make_user, make_room, login
):
    from shared.models import Enrollment, Family, family_students

    student, family = student_with_history(db, school, make_room)
    student_id = student.id
    login(make_user(school, "admin"))
    wrong = client.post(f"/admin/students/{student_id}/delete", data={"confirm": "nope"})
    assert wrong.status_code == 400
    db.session.rollback()
    assert db.session.get(Student, student_id) is not None
    done = client.post(f"/admin/students/{student_id}/delete", data={"confirm": "S-1"})
    assert done.status_code == 302
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Student, student_id) is None
    assert count(HallPass, HallPass.student_id == student_id) == 0
    assert count(Enrollment, Enrollment.student_id == student_id) == 0
    assert count(family_students, family_students.c.student_id == student_id) == 0
    assert db.session.get(Family, family.id) is not None  # the family stays (siblings may remain)
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "student.delete")
    ).one()
    assert event.detail["student_id"] == student_id
    assert "Lopez" not in str(event.detail) and "Mia" not in str(event.detail)


def test_a_student_out_on_a_pass_cannot_be_deleted(client, db, school, make_user, make_room, login):
    student, _ = student_with_history(db, school, make_room)
    destination = db.session.scalars(select(Destination)).first()
    make_pass(db, school, student, destination, ended_days_ago=None)
    db.session.commit()
    login(make_user(school, "admin"))
    response = client.post(f"/admin/students/{student.id}/delete", data={"confirm": "S-1"})
    assert response.status_code == 409
    assert "End the pass first" in response.get_data(as_text=True)


def test_the_privacy_page_says_what_retention_means_for_backups(
    client, db, school, make_user, login
):
    admin = make_user(school, "admin")
    login(admin)
    page = client.get("/admin/privacy").get_data(as_text=True)
    assert "stays in the backups district IT has already taken" in page
    admin.language = "es"
    db.session.commit()
    page = client.get("/admin/privacy").get_data(as_text=True)
    assert "sigue en las copias de seguridad" in page
