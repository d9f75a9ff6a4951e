"""Car line office: settings, families, hang tags (print page and PDF), and who may do what."""

import io
import os
import re
import subprocess
import sys

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from carline.curb import curb_entry
from carline.dismissal import start_dismissal
from carline.families import (
    add_family_student,
    families_of,
    issue_missing_tags,
    issue_tag,
    search_families,
    tags_to_print,
    update_family,
)
from carline.models import Tag
from carline.settings import carline_settings
from shared.audit import SYSTEM, Actor
from shared.errors import Conflict, InvalidInput, NotFound
from shared.models import AuditEvent, Family, School
from shared.schedule import school_today
from tests.hallpass.test_views import pair
from tests.helpers import audit_actions


@pytest.fixture
def admin(school, make_user):
    return make_user(school, "admin")


# Settings


def test_settings_default_when_missing(school):
    current = carline_settings(school)
    assert (current.lanes, current.spots_per_lane, current.cutoff, current.walker_doors) == (
        2,
        5,
        None,
        {},
    )


def test_admin_saves_settings_in_the_agreed_shape(db, client, login, school, admin):
    login(admin)
    response = client.post(
        "/carline/settings",
        data={
            "lanes": "3",
            "spots_per_lane": "4",
            "cutoff": "14:30",
            "walker_doors": "East doors: k, 1, 2\nWest doors: 3,4",
        },
    )
    assert response.status_code == 302
    db.session.refresh(school)
    assert school.settings["carline"] == {
        "lanes": 3,
        "spots_per_lane": 4,
        "cutoff": "14:30",
        "walker_doors": {"East doors": ["K", "1", "2"], "West doors": ["3", "4"]},
        "office_phone": "",
        "family_modes": [],
        "require_pickup_sign": False,
        # The family page's switches are the office's own page: kept as they were (all on).
        "family_features": ["change", "absence", "early_pickup", "here", "carpool"],
    }
    assert "carline.settings" in audit_actions(db)
    page = client.get("/carline/settings").get_data(as_text=True)
    assert "East doors: K, 1, 2" in page and 'value="14:30"' in page


@pytest.mark.parametrize(
    "field,value",
    [
        ("lanes", "0"),
        ("lanes", "eleven"),
        ("spots_per_lane", "51"),
        ("cutoff", "25:00"),
        ("cutoff", "2pm"),
        ("walker_doors", "No colon here"),
        ("walker_doors", "East: K\nEast: 1"),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_saved(
    db, client, login, school, admin, field, value
):
    login(admin)
    data = {"lanes": "2", "spots_per_lane": "5", "cutoff": "", "walker_doors": ""}
    data[field] = value
    response = client.post("/carline/settings", data=data)
    assert response.status_code == 400
    assert "flash-error" in response.get_data(as_text=True)
    db.session.refresh(school)
    assert "carline" not in school.settings
    assert "carline.settings" not in audit_actions(db)


def test_only_admins_change_settings(client, login, school, make_user):
    for role in ("office", "teacher", "staff"):
        login(make_user(school, role))
        assert client.get("/carline/settings").status_code == 403
        assert client.post("/carline/settings", data={"lanes": "2"}).status_code == 403


# Families


def test_office_creates_a_family_and_duplicate_tag_numbers_are_refused(
    db, client, login, school, office_user, make_family
):
    make_family(school, 12)
    login(office_user)
    response = client.post(
        "/carline/families/new", data={"tag_number": "12", "pickup_adults": "Ann Smith"}
    )
    assert response.status_code == 409
    assert "Tag 12 already belongs to another family" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Family.id))) == 1
    response = client.post(
        "/carline/families/new", data={"tag_number": "13", "pickup_adults": " Ann  Smith \n\nBo"}
    )
    assert response.status_code == 302
    family = db.session.scalar(select(Family).where(Family.tag_number == 13))
    assert family.pickup_adults == "Ann Smith\nBo" and family.school_id == school.id
    assert audit_actions(db, action="carline.family_create") == ["carline.family_create"]
    assert client.post("/carline/families/new", data={"tag_number": "0"}).status_code == 400
    assert client.post("/carline/families/new", data={"tag_number": "x"}).status_code == 400


def test_tag_number_change_must_stay_unique(db, school, office_user, make_family):
    first, second = make_family(school, 1), make_family(school, 2)
    with pytest.raises(Conflict):
        update_family(school, Actor(user=office_user), second, tag_number=1, pickup_adults="")
    db.session.rollback()
    update_family(school, Actor(user=office_user), second, tag_number=7, pickup_adults="Dad")
    db.session.commit()
    assert (first.tag_number, second.tag_number, second.pickup_adults) == (1, 7, "Dad")
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "carline.family_update")
    )
    assert event.detail == {
        "tag_number": [2, 7],
        "pickup_adults_changed": True,
        "release_note_changed": False,
    }


def test_family_edit_view_shows_the_error_and_keeps_the_old_values(
    db, client, login, school, office_user, make_family
):
    make_family(school, 1)
    family = make_family(school, 2)
    login(office_user)
    response = client.post(
        f"/carline/families/{family.id}/edit", data={"tag_number": "1", "pickup_adults": "X"}
    )
    assert response.status_code == 409 and "already belongs" in response.get_data(as_text=True)
    db.session.refresh(family)
    assert (family.tag_number, family.pickup_adults) == (2, "")


def test_students_are_added_and_removed_siblings_and_split_households(
    db, client, login, school, office_user, make_family, make_student
):
    mom, dad = make_family(school, 1), make_family(school, 2)
    kid, sibling = (
        make_student(school, "Ada", "Lovelace"),
        make_student(school, "Byron", "Lovelace"),
    )
    login(office_user)
    found = client.post(f"/carline/families/{mom.id}/find-students", data={"q": "lovel"})
    assert found.status_code == 200 and "Ada" in found.get_data(as_text=True)
    for family in (mom, dad):
        response = client.post(
            f"/carline/families/{family.id}/students", data={"student_id": kid.id}
        )
        assert response.status_code == 302
    client.post(f"/carline/families/{mom.id}/students", data={"student_id": sibling.id})
    assert (
        client.post(f"/carline/families/{mom.id}/students", data={"student_id": kid.id}).status_code
        == 409
    )
    db.session.expire_all()
    assert {s.id for s in mom.students} == {kid.id, sibling.id}
    assert [f.tag_number for f in families_of(kid)] == [1, 2]
    response = client.post(f"/carline/families/{dad.id}/students/{kid.id}/remove")
    assert response.status_code == 302
    db.session.expire_all()
    assert dad.students == []
    assert (
        audit_actions(db, action="carline.family_student_add") == ["carline.family_student_add"] * 3
    )
    assert "carline.family_student_remove" in audit_actions(db)


def test_search_is_a_post_and_finds_by_number_student_or_adult(
    db, client, login, school, office_user, make_family, make_student
):
    family = make_family(school, 321, make_student(school, "Zelda", "Quint"))
    family.pickup_adults = "Grandma Rosalind"
    db.session.commit()
    make_family(school, 5)
    for term in ("321", "quint", "rosalind"):
        rows = search_families(school, term)
        assert [r.family.tag_number for r in rows] == [321], term
    assert search_families(school, "100%") == []
    login(office_user)
    page = client.post("/carline/families", data={"q": "Zelda"}).get_data(as_text=True)
    assert "321" in page and "Zelda" in page
    assert ">5<" not in page


def test_deactivating_a_family_stops_its_tag(db, client, login, school, office_user, make_family):
    family = make_family(school, 8)
    login(office_user)
    assert (
        client.post(f"/carline/families/{family.id}/active", data={"active": "0"}).status_code
        == 302
    )
    db.session.refresh(family)
    assert not family.active
    assert "carline.family_deactivate" in audit_actions(db)
    assert (
        client.post(f"/carline/families/{family.id}/active", data={"active": "x"}).status_code
        == 400
    )
    assert client.post(f"/carline/families/{family.id}/tag").status_code == 400


def test_a_student_of_another_school_cannot_be_added(
    db, school, make_school, office_user, make_family, make_student
):
    family = make_family(school, 1)
    stranger = make_student(make_school())
    with pytest.raises(NotFound):
        add_family_student(school, Actor(user=office_user), family, stranger)


def test_other_schools_family_is_404(db, client, login, make_school, office_user, make_family):
    theirs = make_family(make_school(), 44)
    login(office_user)
    assert client.get(f"/carline/families/{theirs.id}").status_code == 404
    assert client.post(f"/carline/families/{theirs.id}/tag").status_code == 404
    assert (
        client.post(f"/carline/families/{theirs.id}/edit", data={"tag_number": "45"}).status_code
        == 404
    )
    issue_tag(theirs_school := db.session.get(School, theirs.school_id), theirs, actor=SYSTEM)
    db.session.commit()
    assert theirs_school.id != office_user.memberships[0].school_id
    printed = client.get(f"/carline/tags/print?family={theirs.id}")
    assert printed.status_code == 200 and 'class="hang-tag"' not in printed.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/carline/families",
        "/carline/tags/print",
        "/carline/tags.pdf",
        "/carline/plans",
        "/carline/today",
    ],
)
def test_teachers_and_staff_may_not_manage_families(client, login, school, make_user, path):
    for role in ("teacher", "staff"):
        login(make_user(school, role))
        assert client.get(path).status_code == 403, (role, path)


def test_devices_are_refused(app, db, school, admin):
    scanner = pair(app, db, school, admin, "scanner", room_id=None, purpose=None)
    for path in (
        "/carline/families",
        "/carline/tags/print",
        "/carline/settings",
        "/carline/reports",
    ):
        assert scanner.get(path).status_code == 403, path
    assert scanner.post("/carline/families/new", data={"tag_number": "9"}).status_code == 403


# Hang tags


def test_reprint_revokes_the_old_token_and_the_curb_refuses_it(
    db, client, login, school, office_user, make_family, make_student
):
    family = make_family(school, 77, make_student(school))
    login(office_user)
    assert client.post(f"/carline/families/{family.id}/tag").status_code == 302
    old = db.session.scalar(select(Tag).where(Tag.family_id == family.id))
    response = client.post(f"/carline/families/{family.id}/tag")
    assert response.status_code == 302 and f"family={family.id}" in response.headers["Location"]
    db.session.expire_all()
    tags = db.session.scalars(select(Tag).where(Tag.family_id == family.id).order_by(Tag.id)).all()
    assert len(tags) == 2 and tags[0].revoked_at is not None and tags[1].revoked_at is None
    dismissal = start_dismissal(school, Actor(user=office_user), 1, 2, school_today(school))
    db.session.commit()
    with pytest.raises(InvalidInput, match="replaced"):
        curb_entry(school, dismissal, token=old.token, actor=SYSTEM)
    db.session.rollback()
    result = curb_entry(school, dismissal, token=tags[1].token, actor=SYSTEM)
    assert result.created and result.tag_number == 77
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "carline.tag_issue")
    ).all()
    assert len(events) == 2
    assert all(
        old.token not in str(e.detail) and tags[1].token not in str(e.detail) for e in events
    )


def test_a_lost_tag_from_the_family_page_blocks_its_number_at_the_curb(
    db, client, login, school, office_user, make_user, make_family, make_student
):
    family = make_family(school, 103, make_student(school))
    login(office_user)
    client.post(f"/carline/families/{family.id}/tag")
    page = client.get(f"/carline/families/{family.id}").get_data(as_text=True)
    assert "Lost tag: new number" in page and "Reprint, same number" in page
    response = client.post(f"/carline/families/{family.id}/tag/lost")
    assert response.status_code == 302 and f"family={family.id}" in response.headers["Location"]
    db.session.expire_all()
    assert family.tag_number == 104
    start_dismissal(school, Actor(user=office_user), 1, 2, school_today(school))
    db.session.commit()
    curb = client.application.test_client()
    login(make_user(school, "staff"), on=curb)
    refused = curb.post("/carline/curb/entries", data={"entry": "103"}, headers={"HX-Request": "1"})
    assert refused.status_code == 400
    assert "Tag 103 is blocked (reported lost): call no one." in refused.get_data(as_text=True)
    listed = client.get("/carline/tags/blocked").get_data(as_text=True)
    assert "<strong>103</strong>" in listed and "Lost tag" in listed


def test_the_office_blocks_a_number_and_a_bad_number_rerenders_the_form(
    db, client, login, school, office_user, make_user
):
    login(office_user)
    bad = client.post("/carline/tags/blocked", data={"tag_number": "abc", "reason": "x"})
    assert bad.status_code == 400 and 'aria-invalid="true"' in bad.get_data(as_text=True)
    ok = client.post("/carline/tags/blocked", data={"tag_number": "55", "reason": "Stolen"})
    assert ok.status_code == 302
    again = client.post("/carline/tags/blocked", data={"tag_number": "55"})
    assert again.status_code == 409 and "already blocked" in again.get_data(as_text=True)
    assert "Stolen" in client.get("/carline/tags/blocked").get_data(as_text=True)
    assert client.post("/carline/tags/blocked/55/unblock").status_code == 302
    assert client.post("/carline/tags/blocked/55/unblock").status_code == 404
    assert [a for a in audit_actions(db, school_id=school.id) if a.startswith("carline.")] == [
        "carline.tag_number_block",
        "carline.tag_number_unblock",
    ]
    login(make_user(school, "teacher"))
    assert client.get("/carline/tags/blocked").status_code == 403


def test_issue_missing_tags_then_print_page_has_qr_codes_and_no_student_names(
    db, client, login, school, office_user, make_family, make_student
):
    families = [
        make_family(school, 100 + n, make_student(school, f"Secretname{n}", "Hiddenlast"))
        for n in range(5)
    ]
    login(office_user)
    page = client.get("/carline/tags/print").get_data(as_text=True)
    assert "5 families have no tag yet" in page
    assert client.post("/carline/tags/issue").status_code == 302
    assert audit_actions(db, action="carline.tag_issue") == ["carline.tag_issue"] * 5
    page = client.get("/carline/tags/print").get_data(as_text=True)
    assert page.count('class="hang-tag"') == 5 and page.count("<svg") == 5
    assert page.count('class="tag-sheet"') == 2  # four tags per letter page
    assert "Secretname" not in page and "Hiddenlast" not in page
    assert school.name in page and ">104<" in page
    tokens = db.session.scalars(select(Tag.token)).all()
    assert all(token not in page for token in tokens)  # only inside the QR drawing
    one = client.get(f"/carline/tags/print?family={families[2].id}").get_data(as_text=True)
    assert one.count('class="hang-tag"') == 1 and ">102<" in one
    assert "style=" not in page and "<script>" not in page


def test_print_page_qr_encodes_exactly_the_token(db, school, office_user, make_family):
    from shared.qr import qr_matrix, qr_svg

    family = make_family(school, 9)
    tag = issue_tag(school, family, actor=Actor(user=office_user))
    db.session.commit()
    assert tags_to_print(school) == [(9, tag.token)]
    svg = str(qr_svg(tag.token))
    matrix = qr_matrix(tag.token)
    drawn = [[False] * len(matrix) for _ in matrix]
    for x, y, w in re.findall(r"M(\d+),(\d+)h(\d+)v1h-\d+z", svg):
        for c in range(int(x), int(x) + int(w)):
            drawn[int(y)][c] = True
    assert drawn == matrix
    assert 'class="qr-code"' in svg and "style" not in svg


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _pdf_drawing(pdf: bytes) -> str:
    pages = PdfReader(io.BytesIO(pdf)).pages
    return "".join(page.get_contents().get_data().decode("latin-1") for page in pages)


def test_pdf_download_has_tags_and_no_student_names(
    db, client, login, school, office_user, make_family, make_student
):
    for n in range(6):
        make_family(school, 200 + n, make_student(school, f"Secretname{n}", "Hiddenlast"))
    issue_missing_tags(school, Actor(user=office_user))
    db.session.commit()
    login(office_user)
    response = client.get("/carline/tags.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    pdf = response.data
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 2  # six tags, four per page
    text = _pdf_text(pdf)
    assert "200" in text.split("\n") and "205" in text.split("\n") and school.name in text
    assert " re f" in _pdf_drawing(pdf)  # the QR code's squares
    assert "Secretname" not in text and "Hiddenlast" not in text
    assert b"Secretname" not in pdf
    for token in db.session.scalars(select(Tag.token)):
        assert token.encode() not in pdf and token not in text


@pytest.mark.parametrize(
    "name",
    [
        "Trường Tiểu học Lê Lợi",
        "مدرسة النور الابتدائية",
        "Школа № 5 им. Пушкина",
        "Zoë Núñez-Ørsted",
        "北京市第一中学",
        "서울초등학교",
    ],
)
def test_the_pdf_prints_a_school_name_in_any_script(name):
    """Before: Helvetica's cp1252 printed "Tr??ng Ti?u h?c Lê L?i"; now the name is in an
    embedded Unicode font, Arabic shaped and in its reading order, and comes back whole."""
    from carline.tag_pdf import tags_pdf

    pdf = tags_pdf(name, [(103, "tok")])
    assert name in _pdf_text(pdf).split("\n")
    assert b"/FontFile2" in pdf  # the font is embedded, not assumed on the printer


def test_the_fallback_font_comes_in_only_for_a_name_that_needs_it():
    """DejaVu Sans has no Chinese: Droid Sans Fallback is embedded for a Chinese name, and
    left out of a PDF whose names DejaVu prints (it would cost a third of a second)."""
    from carline.tag_pdf import tags_pdf

    assert b"DroidSansFallback" in tags_pdf("王小明小学", [(103, "tok")])
    assert b"DroidSansFallback" not in tags_pdf("Trường Tiểu học Lê Lợi", [(103, "tok")])


def test_pdf_qr_matrix_is_the_token(db):
    from carline.tag_pdf import qr_matrix

    matrix = qr_matrix("abc")
    assert len(matrix) == len(matrix[0]) == 21  # version 1, no quiet zone
    assert matrix[0][:7] == [True] * 7  # finder pattern


def test_pdf_with_nothing_to_print_is_a_clear_400(client, login, school, office_user):
    login(office_user)
    response = client.get("/carline/tags.pdf")
    assert response.status_code == 400 and "issue tags first" in response.get_data(as_text=True)
    assert client.get("/carline/tags/print?family=abc").status_code == 400


def test_index_links_by_role(client, login, school, make_user):
    url_for_families = 'href="/carline/families"'
    login(make_user(school, "office"))
    page = client.get("/carline/").get_data(as_text=True)
    assert url_for_families in page and "Dismissal reports" in page
    login(make_user(school, "staff"))
    page = client.get("/carline/").get_data(as_text=True)
    assert url_for_families not in page


def test_a_process_that_makes_no_pdf_never_imports_fpdf(tmp_path):
    """fpdf2 takes half a second to import: a worker, and every `flask` command (the
    housekeeping timer's among them), loads it only when it makes its first PDF."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/app.sqlite3",
        "SECRET_KEY": "x",
        "PASSLINE_ENV": "development",
        "PASSLINE_INSTANCE_PATH": str(tmp_path),
    }
    code = "import sys, wsgi; sys.exit('fpdf' in sys.modules)"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    run = subprocess.run([sys.executable, "-c", code], env=env, cwd=root)  # noqa: S603
    assert run.returncode == 0
