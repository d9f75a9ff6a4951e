"""Family codes on letters home: the office prints and revokes them, a guardian without
email signs in with one (typed, or filled in by the letter's QR), throttled and audited."""

import io
import re
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

import carline.letter_pdf as letter_pdf
from carline.guardians import add_guardian
from carline.letters import guardians_needing_letters, letter_for
from shared import family_codes
from shared.access import FAMILY_COOKIE
from shared.audit import SYSTEM
from shared.errors import InvalidInput, NotFound
from shared.family_codes import (
    ALPHABET,
    CODE_LENGTH,
    code_page_url,
    issue_code,
    normalized,
    revoke_code,
    shown,
)
from shared.guardians import clean_fields
from shared.models import AuditEvent, FamilyCode, GuardianSession
from shared.timeutil import utcnow
from tests.carline.test_family_page import home, sign_in  # noqa: F401

IPHONE = {"User-Agent": "Mozilla/5.0 (iPhone) Safari/604.1"}


@pytest.fixture
def nomail(db, school, home):  # noqa: F811
    """The fixture's other family's guardian, Oscar, has no email: he needs a letter."""
    return home["stranger"]


def actions(db, name):
    """The audit events of one action, oldest first (PostgreSQL keeps no order unasked)."""
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == name).order_by(AuditEvent.id)
    ).all()


def code_sign_in(app, code, **headers):
    phone = app.test_client()
    return phone, phone.post("/family/code", data={"code": code}, headers=headers or IPHONE)


# ------------------------------------------------------------------ the code itself


def test_codes_are_random_readable_and_typed_loosely():
    codes = {family_codes.new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == CODE_LENGTH and set(c) <= set(ALPHABET) for c in codes)
    assert not set("01OIL") & set(ALPHABET)  # no look-alikes
    code = "ABCDEFGHJKMN"
    assert shown(code) == "ABCD-EFGH-JKMN"
    assert normalized(" abcd efgh-jkmn ") == code
    assert normalized("ABCD-EFGH-JKM") is None  # too short
    assert normalized("ABCD-EFGH-JKM0") is None  # a sign the alphabet lacks


def test_the_qr_opens_the_code_page_with_the_code_after_a_hash(app):
    with app.test_request_context():
        app.config["PUBLIC_URL"] = "https://passline.example.org/pl"
        try:
            url = code_page_url("ABCDEFGHJKMN")
        finally:
            app.config["PUBLIC_URL"] = ""
    # the fragment never reaches the server (nor its access log)
    assert url == "https://passline.example.org/pl/family/code#ABCD-EFGH-JKMN"


# ------------------------------------------------------------------ signing in


def test_a_guardian_signs_in_with_the_code_of_a_letter(app, db, school, nomail, home):  # noqa: F811
    code = issue_code(school, SYSTEM, nomail)
    db.session.commit()
    stored = db.session.scalar(select(FamilyCode))
    assert stored.code_hash != code and code not in str(vars(stored))
    page = app.test_client().get("/family/code")
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert b"data-fill-from-hash" in page.data
    phone, done = code_sign_in(app, shown(code).lower().replace("-", " "))
    assert done.status_code == 302 and done.headers["Location"].endswith("/carline/family")
    assert FAMILY_COOKIE in done.headers["Set-Cookie"] and "HttpOnly" in done.headers["Set-Cookie"]
    session = db.session.scalar(select(GuardianSession))
    assert session.guardian_id == nomail.id and session.family_code_id == stored.id
    assert session.label == "iPhone, Safari"
    body = phone.get("/carline/family").get_data(as_text=True)
    assert "Olga Other" in body and "Ana Ruiz" not in body  # his family's child only
    (event,) = actions(db, "family.sign_in")
    assert event.detail["with"] == "code" and event.detail["actor_guardian_id"] == nomail.id
    db.session.refresh(stored)
    assert stored.last_used_at is not None
    # the code is not used up: the other parent's phone signs in with the same letter
    _second, again = code_sign_in(app, shown(code))
    assert again.status_code == 302
    assert db.session.scalar(select(func.count(GuardianSession.id))) == 2


def test_a_wrong_code_says_so_writes_no_session_and_is_audited(app, db, school, nomail):
    issue_code(school, SYSTEM, nomail)
    db.session.commit()
    for typed in ("ABCD-EFGH-JKMN", "hello", ""):
        _phone, answer = code_sign_in(app, typed)
        assert answer.status_code == 400
        assert "does not work" in answer.get_data(as_text=True)
        assert "Set-Cookie" not in answer.headers or FAMILY_COOKIE not in answer.headers.get(
            "Set-Cookie", ""
        )
    assert db.session.scalar(select(func.count(GuardianSession.id))) == 0
    assert len(actions(db, "family.code_refused")) == 3


def test_wrong_codes_are_throttled_per_client_address(app, db, school, nomail):
    app.config["FAMILY_CODE_FAILURES_PER_ADDRESS"] = 3
    code = issue_code(school, SYSTEM, nomail)
    db.session.commit()
    assert code_sign_in(app, "ABCD-EFGH-JKMN")[1].status_code == 400
    assert code_sign_in(app, code)[1].status_code == 302  # a right code gives its place back
    assert code_sign_in(app, "ABCD-EFGH-JKMN")[1].status_code == 400
    assert code_sign_in(app, "ABCD-EFGH-JKMN")[1].status_code == 400
    _phone, refused = code_sign_in(app, code)  # even the right code, once the limit is reached
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many wrong codes" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count(GuardianSession.id))) == 1
    # another client address is not held up
    other = app.test_client().post(
        "/family/code", data={"code": code}, environ_base={"REMOTE_ADDR": "10.9.9.9"}
    )
    assert other.status_code == 302


def test_a_deactivated_familys_code_signs_nobody_in(app, db, school, nomail):
    code = issue_code(school, SYSTEM, nomail)
    nomail.family.active = False
    db.session.commit()
    assert code_sign_in(app, code)[1].status_code == 400
    with pytest.raises(InvalidInput):
        letter_for(school, SYSTEM, nomail)


# ------------------------------------------------------------------ revoking, replacing


def test_revoking_a_code_signs_out_its_phones_only(app, db, school, nomail):
    code = issue_code(school, SYSTEM, nomail)
    db.session.commit()
    with_code, _done = code_sign_in(app, code)
    by_link = sign_in(app, db, nomail)  # a phone signed in another way stays signed in
    assert with_code.get("/carline/family").status_code == 200
    assert revoke_code(school, SYSTEM, nomail) == 1
    db.session.commit()
    assert with_code.get("/carline/family").headers["Location"].endswith("/family/sign-in")
    assert by_link.get("/carline/family").status_code == 200
    assert code_sign_in(app, code)[1].status_code == 400
    (event,) = actions(db, "family.code_revoke")
    assert event.detail["sessions_ended"] == 1 and event.target_id == nomail.id
    with pytest.raises(NotFound):  # nothing left to revoke
        revoke_code(school, SYSTEM, nomail)


def test_a_new_letter_replaces_the_old_code(app, db, school, nomail):
    old = issue_code(school, SYSTEM, nomail)
    db.session.commit()
    phone, _done = code_sign_in(app, old)
    new = issue_code(school, SYSTEM, nomail)
    db.session.commit()
    assert new != old
    assert code_sign_in(app, old)[1].status_code == 400
    assert phone.get("/carline/family").status_code == 302  # the old code's phone is out
    assert code_sign_in(app, new)[1].status_code == 302
    live = db.session.scalars(select(FamilyCode).where(FamilyCode.revoked_at.is_(None))).all()
    assert len(live) == 1
    issued = actions(db, "family.code_issue")
    assert issued[-1].detail["replaced_code_id"] == issued[0].detail["code_id"]


def test_the_database_holds_one_live_code_per_guardian(db, school, nomail):
    for _ in range(2):
        db.session.add(FamilyCode(school_id=school.id, guardian_id=nomail.id, code_hash=_ * "x"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_revoked_codes_are_purged_after_30_days(app, db, school, nomail):
    from shared.retention import purge_sessions

    issue_code(school, SYSTEM, nomail)
    issue_code(school, SYSTEM, nomail)  # revokes the first
    first, second = db.session.scalars(select(FamilyCode).order_by(FamilyCode.id))
    first.revoked_at = utcnow() - timedelta(days=31)
    db.session.commit()
    assert purge_sessions() == 1
    db.session.commit()
    assert db.session.scalars(select(FamilyCode.id)).all() == [second.id]


# ------------------------------------------------------------------ the office


def test_the_office_prints_a_letter_and_revokes_its_code(
    app, db, school, nomail, login, office_user, monkeypatch
):
    monkeypatch.setattr(family_codes, "new_code", lambda: "ABCDEFGHJKMN")
    office = login(office_user, on=app.test_client())
    family_id = nomail.family_id
    page = office.get(f"/carline/families/{family_id}").get_data(as_text=True)
    assert "Print a letter with a family code" in page
    pdf = office.post(f"/carline/families/{family_id}/guardians/{nomail.id}/letter.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF") and pdf.headers["Cache-Control"] == "no-store"
    (issued,) = actions(db, "family.code_issue")
    assert issued.actor_user_id == office_user.id
    assert code_sign_in(app, "ABCD-EFGH-JKMN")[1].status_code == 302
    page = office.get(f"/carline/families/{family_id}").get_data(as_text=True)
    assert "Family code printed" in page and "Last used" in page
    revoked = office.post(f"/carline/families/{family_id}/guardians/{nomail.id}/code/revoke")
    assert revoked.status_code == 302
    assert "1 phone signed out" in office.get(f"/carline/families/{family_id}").get_data(
        as_text=True
    )
    assert code_sign_in(app, "ABCD-EFGH-JKMN")[1].status_code == 400
    # revoking again, or another family's guardian through this family's URL: 404
    assert (
        office.post(f"/carline/families/{family_id}/guardians/{nomail.id}/code/revoke").status_code
        == 404
    )
    other = office.post(f"/carline/families/{family_id}/guardians/{nomail.id + 100}/letter.pdf")
    assert other.status_code == 404


def test_letters_for_every_guardian_without_email_or_code(
    app,
    db,
    school,
    home,  # noqa: F811
    nomail,
    login,
    office_user,
    make_family,
    make_student,
    monkeypatch,
):
    quiet = make_family(school, 50, make_student(school, "Quinn", "Q"))
    gone = make_family(school, 51, make_student(school, "Gus", "G"), active=False)
    spanish = add_guardian(school, SYSTEM, quiet, clean_fields(name="Luz Q", language="es"))
    add_guardian(school, SYSTEM, gone, clean_fields(name="Gil G"))
    db.session.commit()
    # Rosa has email, Gil's family is deactivated: Oscar and Luz need letters
    assert guardians_needing_letters(school) == [nomail, spanish]
    assert guardians_needing_letters(school, [quiet.id]) == [spanish]
    office = login(office_user, on=app.test_client())
    listing = office.get("/carline/families").get_data(as_text=True)
    assert "2 guardians have no email address and no family code" in listing
    written = []
    real = letter_pdf._paragraph

    def paragraph(pdf, text, *args, **kwargs):
        written.append(text)
        return real(pdf, text, *args, **kwargs)

    monkeypatch.setattr(letter_pdf, "_paragraph", paragraph)
    pdf = office.post("/carline/families/letters.pdf")
    assert pdf.status_code == 200 and pdf.data.count(b"/Type /Page\n") == 2
    # each letter in its guardian's language
    assert "Your family page" in written and "Su página familiar" in written
    assert len(actions(db, "family.code_issue")) == 2
    assert guardians_needing_letters(school) == []
    again = office.post("/carline/families/letters.pdf")
    assert again.status_code == 400 and "already has a family code" in again.get_data(as_text=True)
    assert "no email address and no family code" not in office.get("/carline/families").get_data(
        as_text=True
    )


def test_no_code_reaches_the_audit_log(app, db, school, nomail):
    code = issue_code(school, SYSTEM, nomail)
    code_sign_in(app, code)
    assert not re.search(code, str([e.detail for e in db.session.scalars(select(AuditEvent))]))


def test_a_big_school_prints_its_letters_a_batch_at_a_time(
    app,
    db,
    school,
    home,  # noqa: F811
    nomail,
    login,
    office_user,
    make_family,
    make_student,
    monkeypatch,
):
    import carline.letters

    for tag in (60, 61):
        family = make_family(school, tag, make_student(school, f"Kid{tag}", "K"))
        add_guardian(school, SYSTEM, family, clean_fields(name=f"Adult {tag}"))
    db.session.commit()
    monkeypatch.setattr(carline.letters, "MAX_LETTERS", 2)
    office = login(office_user, on=app.test_client())
    listing = office.get("/carline/families").get_data(as_text=True)
    assert "3 guardians have no email" in listing and "Print the first 2 letters" in listing
    first = office.post("/carline/families/letters.pdf")
    assert first.data.count(b"/Type /Page\n") == 2
    listing = office.get("/carline/families").get_data(as_text=True)
    assert "1 guardian has no email" in listing and "Print the letters (PDF)" in listing
    second = office.post("/carline/families/letters.pdf")
    assert second.data.count(b"/Type /Page\n") == 1
    names = [c.guardian.name for c in _db_codes(db)]
    assert sorted(names) == ["Adult 60", "Adult 61", "Oscar Other"]


def _db_codes(db):
    return db.session.scalars(select(FamilyCode).order_by(FamilyCode.id)).all()


def test_a_letter_prints_a_guardian_name_in_any_script(app):
    """The guardian's name on the letter comes back whole from the PDF: Chinese (in the
    fallback font) beside Vietnamese and Arabic (DejaVu Sans)."""
    names = ["王美玲", "Nguyễn Thị Hương", "فاطمة الزهراء"]
    letters = [letter_pdf.Letter(name, "en", 101 + i, "ABCD2345") for i, name in enumerate(names)]
    with app.test_request_context():
        pdf = letter_pdf.letters_pdf("Lincoln Elementary", "", letters, date(2026, 12, 7))
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for name in names:
        assert name in text
