"""The access matrix: every route of the app against every kind of caller.

MATRIX names, for every endpoint, the callers that may use it. The test calls every
route (from the app's URL map) and method as every caller: anonymous; a teacher, a hall
staff member, the office and an admin of the school; each kind of paired device; an
admin of another school; a guardian signed in to the family's page, and a guardian of
another family of the same school; a substitute standing in for the teacher for the day
(a teacher's routes, never an account, admin or office page: shared/substitutes.py).
Path ids are real records of the school and the family, so the other school's admin
proves that no record is reached across schools, and the other family's guardian that
none is reached across families (403 or 404, never the record). A route missing from
MATRIX fails the test, so a new route cannot ship without deciding who may call it.
"""

from datetime import date, timedelta

import pytest
from flask import url_for

from carline.curb import curb_entry
from carline.dismissal import start_dismissal
from carline.families import issue_tag
from carline.models import CalledStudent, CarpoolAgreement, Dismissal, QueueEntry
from hallpass.models import (
    Appointment,
    Destination,
    HallPass,
    KeepApartGroup,
    OfficeCall,
    PassRequest,
)
from hallpass.tardy_models import Tardy
from shared import substitutes
from shared.access import DEVICE_COOKIE, FAMILY_COOKIE, is_static_file, secret_digest
from shared.audit import SYSTEM
from shared.emergencies import end_event, start_event
from shared.family_sessions import start_session
from shared.models import (
    Device,
    Enrollment,
    Family,
    Guardian,
    GuardianSession,
    SchoolClass,
    StaffInvitation,
    Student,
)
from shared.timeutil import utcnow

STAFF_ROLES = ("teacher", "staff", "office", "admin")
DEVICES = ("kiosk", "hallway_tv", "dismissal_tv", "classroom_display", "curb_phone")
#: A guardian signed in to their family's page, and a guardian of another family.
GUARDIANS = frozenset({"guardian", "other_guardian"})
EVERYONE = frozenset(("anonymous", *STAFF_ROLES, *DEVICES, "other_admin", *GUARDIANS, "substitute"))
#: Callers who may use a route but never on the records in its URL (another school's
#: admin; another family's guardian).
OUTSIDERS = ("other_admin", "other_guardian")
ADMIN = frozenset({"admin", "other_admin"})
OFFICE = ADMIN | {"office"}
#: A teacher's routes are a substitute's too (on the absent teacher's rooms only).
TEACHERS = OFFICE | {"teacher", "substitute"}
STAFF = TEACHERS | {"staff"}
#: Routes of a staff member's own account: never a substitute's.
ACCOUNTS = STAFF - {"substitute"}
ANY_DEVICE = frozenset(DEVICES)

MATRIX: dict[str, frozenset[str]] = {
    # The shell, sign-in, devices, admin
    "home.index": EVERYONE,
    "home.healthz": EVERYONE,
    "home.source_code": EVERYONE,
    # By client address or token, not by caller (tests/shared/test_metrics.py); the test
    # client calls from 127.0.0.1, which METRICS_ALLOW admits.
    "metrics.metrics": EVERYONE,
    "home.dashboard": ACCOUNTS,
    "i18n.switch": EVERYONE,
    # Live push: staff and paired devices at their school (a guardian's page polls)
    "live.stream": STAFF | ANY_DEVICE,
    "auth.login": EVERYONE,
    "auth.logout": ACCOUNTS,
    "auth.change_password": ACCOUNTS,
    "auth.switch_school": ACCOUNTS,
    "auth.invitations": ACCOUNTS,
    "auth.answer_invitation": ACCOUNTS,
    "account.forgot_password": EVERYONE,
    "account.set_password": EVERYONE,
    "two_factor.code": EVERYONE,
    "two_factor.enrol": EVERYONE,
    "two_factor.account": ACCOUNTS,
    "two_factor.setup": ACCOUNTS,
    "two_factor.turn_off": ACCOUNTS,
    "two_factor.reset": ADMIN,
    "sso.start": EVERYONE,
    "sso.callback": EVERYONE,
    # Admin pages for district admins only: a school's admin gets 403 (DOMAIN_403).
    "sso.providers": ADMIN,
    "sso.edit_provider": ADMIN,
    "sso.unlink": ADMIN,
    "devices.pair": EVERYONE,
    "devices.device_home": ANY_DEVICE,
    "devices.unpair": ANY_DEVICE,
    "devices.new_pairing_code": TEACHERS - {"substitute"},
    "devices.list_devices": ADMIN,
    "devices.revoke": ADMIN,
    "devices.set_language": ADMIN,
    "admin.index": ADMIN,
    "admin.audit_log": ADMIN,
    "admin.schedule": ADMIN,
    "admin.school_settings": ADMIN,
    "admin.staff_list": ADMIN,
    "admin.staff_new": ADMIN,
    "admin.staff_edit": ADMIN,
    "admin.staff_invitation": ADMIN,
    "admin.staff_invite": ADMIN,
    "admin.staff_invite_all": ADMIN,
    "admin.district_settings": ADMIN,
    "admin.students": ADMIN,
    "roster.index": ADMIN,
    "roster.upload": ADMIN,
    "roster.preview": ADMIN,
    "roster.apply": ADMIN,
    "roster.discard": ADMIN,
    "roster.sample": ADMIN,
    "privacy.data_inventory": ACCOUNTS,
    "privacy.retention_policy": ADMIN,
    "privacy.student_records": ADMIN,
    "privacy.export_student": ADMIN,
    "privacy.delete_student": ADMIN,
    # Substitutes: the office gives the codes; a substitute signs in and out
    "substitutes.index": OFFICE,
    "substitutes.new_code": OFFICE,
    "substitutes.revoke": OFFICE,
    "substitutes.sign_in": EVERYONE,
    "substitutes.sign_out": frozenset({"substitute"}),
    # The district's schools: district admins only (tests/shared/test_schools.py), none here
    "schools.index": frozenset(),
    "schools.edit": frozenset(),
    # Hall passes: the teacher's tablet and the office
    "hallpass.index": STAFF,
    "hallpass.start": TEACHERS,
    "hallpass.end": TEACHERS,
    "hallpass.slip": TEACHERS,
    "hallpass.room_passes": TEACHERS,
    "hallpass.room_qr": TEACHERS,
    "hallpass.room_requests": TEACHERS,
    "hallpass.approve_request": TEACHERS,
    "hallpass.deny_request": TEACHERS,
    "hallpass.queue_request": TEACHERS,
    "hallpass.join_wait_line": TEACHERS,
    "hallpass.hallway": OFFICE | {"staff", "hallway_tv"},
    "hallpass.hallway_list": OFFICE | {"staff", "hallway_tv"},
    "hallpass.hallway_end": OFFICE | {"staff"},
    "hallpass.sweep": OFFICE,
    "hallpass.sweep_list": OFFICE,
    # Calls to the office: the office calls, the class teacher sends or answers.
    "hallpass.office_calls_page": OFFICE,
    "hallpass.office_call_students": OFFICE,
    "hallpass.office_call_create": OFFICE,
    "hallpass.office_call_list": OFFICE,
    "hallpass.office_call_cancel": OFFICE,
    "hallpass.office_call_route": OFFICE,
    "hallpass.office_call_arrived": OFFICE,
    "hallpass.office_call_end": OFFICE,
    "hallpass.room_calls": TEACHERS,
    "hallpass.office_call_send": TEACHERS,
    "hallpass.office_call_not_here": TEACHERS,
    # Hall passes: appointments (the scheduler's page; the class teacher's tablet)
    "hallpass.appointments_page": STAFF,
    "hallpass.appointments_create": STAFF,
    "hallpass.appointments_today": STAFF,
    "hallpass.appointment_cancel": STAFF,
    "hallpass.room_appointments": TEACHERS,
    "hallpass.appointment_release": TEACHERS,
    "hallpass.appointment_decline": TEACHERS,
    # Hall passes: students (kiosk, room QR, pass check)
    "hallpass.kiosk": frozenset({"kiosk"}),
    "hallpass.kiosk_scan": frozenset({"kiosk"}),
    "hallpass.kiosk_go": frozenset({"kiosk"}),
    "hallpass.kiosk_cancel": frozenset({"kiosk"}),
    "hallpass.kiosk_request_status": frozenset({"kiosk"}),
    "hallpass.classroom_display": frozenset({"classroom_display"}),
    "hallpass.classroom_display_qr": frozenset({"classroom_display"}),
    "hallpass.room_qr_page": EVERYONE,
    "hallpass.room_qr_go": EVERYONE,
    "hallpass.room_qr_back": EVERYONE,
    "hallpass.visit_status": EVERYONE,
    "hallpass.visit_cancel": EVERYONE,
    "hallpass.verify_pass": EVERYONE,
    # Hall passes: settings and reports
    "hallpass.settings_index": OFFICE,
    "hallpass.rules": OFFICE,
    "hallpass.rules_save": ADMIN,
    "hallpass.room_cap_save": ADMIN,
    "hallpass.destination_new": ADMIN,
    "hallpass.destination_edit": OFFICE,
    "hallpass.destination_save": ADMIN,
    "hallpass.destination_delete": ADMIN,
    "hallpass.limits": OFFICE,
    "hallpass.limits_post": ADMIN,
    "hallpass.keep_apart": OFFICE,
    "hallpass.keep_apart_post": ADMIN,
    "hallpass.keep_apart_change": ADMIN,
    "hallpass.reports_index": TEACHERS,
    "hallpass.reports_csv": TEACHERS,
    "hallpass.report_student_search": TEACHERS,
    "hallpass.student_history": TEACHERS,
    "hallpass.student_history_csv": TEACHERS,
    "hallpass.incident": TEACHERS,
    "hallpass.incident_csv": TEACHERS,
    # Late arrivals: the office's screen, the pass to class, the tablet's line, reports
    "hallpass.late_arrivals": OFFICE,
    "hallpass.late_students": OFFICE,
    "hallpass.late_record": OFFICE,
    "hallpass.late_slip": TEACHERS,
    "hallpass.class_tardies": TEACHERS,
    "hallpass.late_report": TEACHERS,
    "hallpass.late_report_csv": TEACHERS,
    # The office's kiosk: only a kiosk paired to an office-kind room (this matrix's kiosk
    # is a classroom's, refused with 403; tests/hallpass/test_tardies.py has the office's)
    "hallpass.late_kiosk": frozenset(),
    "hallpass.late_kiosk_scan": frozenset(),
    "hallpass.late_kiosk_record": frozenset(),
    # Emergencies: the event (office), roll (every staff member), the command view
    "emergency.index": STAFF,
    "emergency.start": OFFICE,
    "emergency.end": OFFICE,
    "emergency.event": OFFICE,
    "emergency.event_csv": OFFICE,
    "emergency.roll": STAFF,
    "emergency.roll_list": STAFF,
    "emergency.mark": STAFF,
    "emergency.find": STAFF,
    "emergency.gate": STAFF,
    "emergency.gate_request": STAFF,
    "emergency.queue": STAFF,
    "emergency.queue_list": STAFF,
    "emergency.release": STAFF,
    "emergency.command": OFFICE | {"hallway_tv", "dismissal_tv"},
    "emergency.command_board": OFFICE | {"hallway_tv", "dismissal_tv"},
    # Car line: running dismissal
    "carline.index": STAFF,
    "carline.control": OFFICE,
    "carline.control_status": OFFICE,
    "carline.control_just_called": OFFICE,
    "carline.control_start": OFFICE,
    "carline.control_bus": OFFICE,
    "carline.control_walkers": OFFICE,
    "carline.control_end": OFFICE,
    "carline.control_reopen": OFFICE,
    "carline.control_undo": OFFICE,
    "carline.curb": STAFF | {"curb_phone"},
    "carline.curb_enter": STAFF | {"curb_phone"},
    "carline.curb_list": STAFF | {"curb_phone"},
    "carline.curb_loaded": STAFF | {"curb_phone"},
    "carline.tv": OFFICE | {"dismissal_tv"},
    "carline.tv_calls": OFFICE | {"dismissal_tv"},
    "carline.classroom": TEACHERS | {"classroom_display"},
    "carline.classroom_calls": TEACHERS | {"classroom_display"},
    "carline.classroom_changes": TEACHERS | {"classroom_display"},
    "carline.call_sent": TEACHERS | {"classroom_display"},
    "carline.classroom_send_all": TEACHERS | {"classroom_display"},
    "carline.classroom_send_all_undo": TEACHERS | {"classroom_display"},
    # Car line: the office
    "carline.settings": ADMIN,
    "carline.family_features": OFFICE,
    "carline.families": OFFICE,
    "carline.family": OFFICE,
    "carline.family_new": OFFICE,
    "carline.family_edit": OFFICE,
    "carline.family_active": OFFICE,
    "carline.family_tag": OFFICE,
    "carline.family_tag_lost": OFFICE,
    "carline.tags_blocked": OFFICE,
    "carline.tags_unblock": OFFICE,
    "carline.family_find_students": OFFICE,
    "carline.family_student_add": OFFICE,
    "carline.family_student_remove": OFFICE,
    "carline.family_guardian_add": OFFICE,
    "carline.family_guardian_edit": OFFICE,
    "carline.family_guardian_remove": OFFICE,
    "carline.family_phone_end": OFFICE,
    "carline.family_carpool_add": OFFICE,
    "carline.family_carpool_end": OFFICE,
    "carline.guardian_letter": OFFICE,
    "carline.guardian_code_revoke": OFFICE,
    "carline.family_letters": OFFICE,
    # The family page: guardians only, each on their own family's records
    "carline.family_home": GUARDIANS,
    "carline.family_status": GUARDIANS,
    "carline.family_change": GUARDIANS,
    "carline.family_absence": GUARDIANS,
    "carline.family_early": GUARDIANS,
    "carline.family_here": GUARDIANS,
    # The pickup line sign: on the entrance's screen (a dismissal display or the office),
    # printed by the office, scanned by a guardian's phone
    "carline.pickup_sign_display": OFFICE | {"dismissal_tv"},
    "carline.pickup_sign_qr": OFFICE | {"dismissal_tv"},
    "carline.pickup_sign_print": OFFICE,
    "carline.pickup_sign_scan": GUARDIANS,
    "carline.family_carpool_propose": GUARDIANS,
    "carline.family_carpool_confirm": GUARDIANS,
    "carline.family_carpool_leave": GUARDIANS,
    "family_sign_in.start": EVERYONE,
    "family_sign_in.link": EVERYONE,
    "family_sign_in.code": EVERYONE,
    "family_sign_in.sign_out": GUARDIANS,
    "family_sign_in.phones": GUARDIANS,
    "family_sign_in.family_data": GUARDIANS,
    "family_sign_in.end_phone": GUARDIANS,
    "carline.tags_issue": OFFICE,
    "carline.tags_print": OFFICE,
    "carline.tags_pdf_download": OFFICE,
    "carline.plans": OFFICE,
    "carline.student_plan": TEACHERS,
    "carline.plan_change_refuse": OFFICE,
    "carline.plan_default": OFFICE,
    "carline.plan_change": OFFICE,
    "carline.plan_change_clear": OFFICE,
    "carline.plan_absence": OFFICE,
    "carline.today_plans": OFFICE,
    "carline.today_lists": OFFICE,
    "carline.my_students": TEACHERS,
    "carline.reports_history": OFFICE,
    "carline.reports_history_csv": OFFICE,
    "carline.report": OFFICE,
    "carline.report_csv": OFFICE,
}

#: Routes that end the caller's own session or pairing run last.
LAST = (
    "devices.revoke",
    "family_sign_in.sign_out",
    "carline.family_guardian_remove",  # the guardian's sessions end with them
    "auth.logout",
    "devices.unpair",
    "substitutes.sign_out",
)


@pytest.fixture
def world(app, db, school, make_school, make_user, make_room):
    """One school with one record of every kind, callers of every kind, and another school."""
    teacher = make_user(school, "teacher")
    room = make_room(school, "101")
    restroom = make_room(school, "Restroom", kind="restroom")
    section = SchoolClass(school_id=school.id, name="Math 7", room_id=room.id, period="1")
    section.teachers.append(teacher)
    students = [
        Student(school_id=school.id, student_number=f"7{n}", first_name=f"S{n}", last_name="K")
        for n in range(3)
    ]
    family = Family(school_id=school.id, tag_number=12)
    family.students.append(students[0])
    destination = Destination(
        school_id=school.id, name="Restroom", room_id=restroom.id, time_limit_minutes=10
    )
    db.session.add_all([section, *students, family, destination])
    db.session.flush()
    db.session.add_all([Enrollment(class_id=section.id, student_id=s.id) for s in students])
    hall_pass = HallPass(
        school_id=school.id,
        student_id=students[1].id,
        destination_id=destination.id,
        from_room_id=room.id,
        source="teacher",
        time_limit_minutes=10,
        started_at=utcnow(),
    )
    request = PassRequest(
        school_id=school.id,
        student_id=students[2].id,
        destination_id=destination.id,
        from_room_id=room.id,
        source="kiosk",
        status="pending",
    )
    group = KeepApartGroup(school_id=school.id, note="apart")
    group.members.extend(students[1:3])
    spare = Device(
        school_id=school.id, kind="kiosk", room_id=room.id, label="spare", secret_hash="0" * 64
    )
    guardian = Guardian(school_id=school.id, family_id=family.id, name="Gina K")
    office_call = OfficeCall(
        school_id=school.id,
        student_id=students[0].id,
        destination_id=destination.id,
        from_room_id=room.id,
        status="called",
    )
    db.session.add_all([hall_pass, request, group, spare, guardian, office_call])
    db.session.flush()
    tardy = Tardy(
        school_id=school.id,
        student_id=students[0].id,
        day=date.today(),
        class_id=section.id,
        reason="late_bus",
        source="office",
    )
    db.session.add(tardy)
    # Tomorrow, in the class's period: Release says "not yet", nothing starts.
    tomorrow = utcnow() + timedelta(days=1)
    appointment = Appointment(
        school_id=school.id,
        student_id=students[0].id,
        destination_id=destination.id,
        scheduled_by_id=teacher.id,
        starts_at=tomorrow,
        day=tomorrow.date(),
        period="1",
    )
    db.session.add(appointment)
    db.session.flush()
    issue_tag(school, family, actor=SYSTEM)
    dismissal = start_dismissal(school, SYSTEM, 1, 2, date.today())
    # A past drill (its report) and a running one (roll, marks, the command view).
    past = start_event(school, SYSTEM, kind="shelter", drill=True)
    end_event(school, SYSTEM, summary={})
    start_event(school, SYSTEM, kind="evacuation", drill=True)
    curb_entry(school, dismissal, tag_number=12, actor=SYSTEM)
    db.session.commit()

    callers = {"anonymous": app.test_client()}
    from tests.helpers import PASSWORD

    for role in STAFF_ROLES:
        user = teacher if role == "teacher" else make_user(school, role)
        client = app.test_client()
        assert (
            client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code
            == 302
        )
        callers[role] = client
    other = app.test_client()
    other_admin = make_user(make_school(), "admin")
    assert (
        other.post("/login", data={"email": other_admin.email, "password": PASSWORD}).status_code
        == 302
    )
    callers["other_admin"] = other
    invitation = StaffInvitation(
        school_id=school.id, user_id=other_admin.id, email=other_admin.email, roles=["teacher"]
    )
    db.session.add(invitation)
    # A substitute for the teacher, signed in; a second one of today is the URLs' record.
    callers["substitute"] = app.test_client()
    code = substitutes.create(school, SYSTEM, teacher_id=teacher.id, name="Sam Sub").code
    spare_substitute = substitutes.create(school, SYSTEM, teacher_id=teacher.id, name="Pat")
    db.session.commit()
    assert callers["substitute"].post("/substitute", data={"code": code}).status_code == 302
    for name, kind, purpose, room_id in (
        ("kiosk", "kiosk", None, room.id),
        ("hallway_tv", "display", "hallway", None),
        ("dismissal_tv", "display", "dismissal", None),
        ("classroom_display", "classroom-display", None, room.id),
        ("curb_phone", "scanner", "dismissal", None),
    ):
        db.session.add(
            Device(
                school_id=school.id,
                kind=kind,
                purpose=purpose,
                room_id=room_id,
                label=name,
                secret_hash=secret_digest(f"matrix-{name}"),
            )
        )
        client = app.test_client()
        client.set_cookie(DEVICE_COOKIE, f"matrix-{name}", domain="passline.test")
        callers[name] = client
    db.session.commit()
    # The guardian of the family (signed in on two phones: the second one is the record
    # in the URLs), and a guardian of another family of the same school.
    other_family = Family(school_id=school.id, tag_number=13)
    db.session.add(other_family)
    db.session.flush()
    stranger = Guardian(school_id=school.id, family_id=other_family.id, name="Omar Z")
    # A carpool the family is asked to join (by a third family): the URLs' agreement.
    third = Family(school_id=school.id, tag_number=14)
    db.session.add_all([stranger, third])
    db.session.flush()
    carpool = CarpoolAgreement(
        school_id=school.id,
        family_a_id=family.id,
        family_b_id=third.id,
        status="pending",
        proposed_by_family_id=third.id,
    )
    db.session.add(carpool)
    db.session.flush()
    for name, who in (("guardian", guardian), ("other_guardian", stranger)):
        token = start_session(who, "matrix")
        client = app.test_client()
        client.set_cookie(FAMILY_COOKIE, token, domain="passline.test")
        callers[name] = client
    start_session(guardian, "second phone")
    second_phone = db.session.query(GuardianSession.id).order_by(GuardianSession.id.desc()).first()
    db.session.commit()
    entry = db.session.query(QueueEntry).one()
    ids = {
        "user_id": teacher.id,
        "school_id": school.id,
        "invitation_id": invitation.id,
        "room_id": room.id,
        "student_id": students[0].id,
        "family_id": family.id,
        "guardian_id": guardian.id,
        "session_id": second_phone[0],
        "pass_id": hall_pass.id,
        "request_id": request.id,
        "office_call_id": office_call.id,
        "appointment_id": appointment.id,
        "destination_id": destination.id,
        "group_id": group.id,
        "device_id": spare.id,
        "dismissal_id": db.session.query(Dismissal.id).scalar(),
        "entry_id": entry.id,
        "agreement_id": carpool.id,
        "event_id": past.id,
        "assignment_id": spare_substitute.assignment.id,
        "class_id": section.id,
        "tardy_id": tardy.id,
        "call_id": db.session.query(CalledStudent.id).first()[0],
        "token": "not-a-real-token-0123456789",
        "tag_number": 4321,
        "fmt": "json",
        "name": "csv",
        "key": "district",
    }
    return callers, ids


#: Routes that may answer 403 to a caller they admit, for a reason of their own
#: (switching to a school where you have no role; district settings, two-factor resets
#: and sign-in providers, which only a district admin may change).
DOMAIN_403 = {
    "auth.switch_school",
    "admin.district_settings",
    "two_factor.reset",
    "sso.providers",
    "sso.edit_provider",
    "sso.unlink",
    "hallpass.appointment_cancel",  # only whoever scheduled it, the office or an admin
}


def refused(method: str, response) -> bool:
    """401/403, or for a page (GET) a redirect to the sign-in page (a family page's:
    the guardians' sign-in)."""
    if response.status_code in (401, 403):
        return True
    location = response.headers.get("Location", "")
    signing_in = "/login" in location or "/family/sign-in" in location
    return method == "GET" and response.status_code == 302 and signing_in


def test_every_route_has_an_entry_in_the_matrix(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if not is_static_file(r.endpoint)}
    assert sorted(endpoints - set(MATRIX)) == [], "decide who may call these new routes"
    assert sorted(set(MATRIX) - endpoints) == [], "these routes no longer exist"


def test_the_access_matrix(app, world):
    callers, ids = world
    rules = sorted(
        (r for r in app.url_map.iter_rules() if not is_static_file(r.endpoint)),
        key=lambda r: (r.endpoint in LAST, LAST.index(r.endpoint) if r.endpoint in LAST else 0),
    )
    problems = []
    for rule in rules:
        allowed = MATRIX.get(rule.endpoint, frozenset())
        with app.test_request_context():
            url = url_for(rule.endpoint, **{name: ids[name] for name in rule.arguments})
        if allowed == EVERYONE:
            continue  # public: nothing to refuse (the hostile-input test calls them all)
        form = {"room_id": ids["room_id"]}  # views that act for a room say which
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for caller in sorted(EVERYONE):
                data = form if method == "POST" else None
                response = callers[caller].open(url, method=method, data=data)
                status = response.status_code
                may = caller in allowed
                if caller in OUTSIDERS and may and rule.arguments - {"token", "fmt", "name"}:
                    # Another school's admin (another family's guardian) may use the
                    # route, never on this school's (this family's) record.
                    if not 400 <= status < 500:
                        problems.append(f"{method} {url}: {caller} got {status}")
                elif may and refused(method, response):
                    if not (status == 403 and rule.endpoint in DOMAIN_403):
                        problems.append(f"{method} {url}: {caller} refused ({status})")
                elif not may and not refused(method, response):
                    problems.append(f"{method} {url}: {caller} let in ({status})")
    assert not problems, "\n".join(problems)
