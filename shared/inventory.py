"""The data inventory: every kind of record passline stores, why, who sees it, how long.

The page (/privacy/inventory) lists the fields of each table straight from the models,
so it cannot drift from what is stored; a test fails when a table has no entry. The
core's tables are described here, the blueprints' tables by the blueprints themselves
(`contribute(bp, inventory={...})`, shared/contributions.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table

from shared.contributions import InventoryEntry as Entry
from shared.contributions import contributions
from shared.extensions import db

UNTIL_REMOVED = "Until removed by the school (or the roster import deactivates it)."
AUDIT_KEPT = "Audit log retention period of the school (default 3 years)."
EMERGENCY_KEPT = "Emergency records retention period of the school (default 3 years)."
WHILE_NEEDED = "Only while in use; replaced or removed automatically."

#: The core's own tables.
CORE_INVENTORY: dict[str, Entry] = {
    "schools": Entry(
        "Schools",
        "The schools of the district that use passline, with their time zone and settings.",
        "All staff of the school; admins change it.",
        UNTIL_REMOVED,
        notes={"settings": "Rules and retention periods chosen by the school."},
    ),
    "users": Entry(
        "Staff accounts",
        "Staff sign in to issue passes, run dismissal and administer the school.",
        "Admins of the staff member's schools.",
        "Until the account is removed; deactivated accounts cannot sign in.",
        notes={
            "password_hash": "argon2id hash; the password itself is never stored.",
            "session_nonce": "Random value that ends every session when it changes.",
            "totp_secret": "Two-factor sign-in: the secret shared with the person's authenticator "
            "app, needed to check their codes; removed when two-factor is turned off or reset.",
            "totp_enabled_at": "When two-factor sign-in was turned on.",
            "totp_last_step": "The time step of the last code accepted, so no code works twice.",
            "language": "The language the staff member chose for their screens.",
        },
    ),
    "memberships": Entry(
        "Staff roles",
        "Which role (admin, office, teacher, staff) a person has at which school.",
        "Admins of the school.",
        UNTIL_REMOVED,
    ),
    "staff_invitations": Entry(
        "Staff invitations",
        "A school offers a role to someone who has an account already; it grants nothing "
        "until they accept or a district admin confirms.",
        "Admins of the inviting school (the address they typed only); the invited person.",
        "Until accepted, declined or cancelled.",
        notes={"email": "The address as the inviting admin typed it."},
    ),
    "user_sessions": Entry(
        "Sign-in sessions",
        "So that signing out, deactivation and time-outs end a session at once.",
        "Nobody in the app; district IT in the database.",
        "Removed 30 days after the session ended or expired (flask purge).",
        notes={"token_hash": "SHA-256 of the random session token; the token is not stored."},
    ),
    "account_links": Entry(
        "Invitation and password reset links",
        "Single-use links that let a staff member set a password (invitation or reset).",
        "Nobody in the app; district IT in the database.",
        "Work once; invitations expire after 7 days, resets after 1 hour; removed 30 days "
        "after that (flask purge).",
        notes={
            "token_hash": "SHA-256 of the link's token; the token itself is not stored.",
            "nonce": "Random value the link is made from, kept only until its mail is sent.",
        },
    ),
    "mail_outbox": Entry(
        "Outgoing mail",
        "Invitation and password reset mails, kept until sent so none is lost.",
        "Admins of the school see whether each was sent.",
        "Removed 30 days after it was sent or given up (flask purge).",
        notes={
            "to_address": "The staff member's email address.",
            "body": "The message, without its link: the link is added only when it is sent.",
            "last_error": "Why sending failed (the kind of error and its SMTP code).",
        },
    ),
    "recovery_codes": Entry(
        "Two-factor recovery codes",
        "One-time codes that sign a person in without their authenticator app.",
        "Nobody in the app; district IT in the database.",
        "Until used, replaced or two-factor is turned off or reset.",
        notes={"code_hash": "SHA-256 of the code; the code itself is shown once, not stored."},
    ),
    "district_settings": Entry(
        "District settings",
        "Rules for the whole district, such as two-factor sign-in for admins.",
        "District admins change them; school admins see them.",
        UNTIL_REMOVED,
    ),
    "login_throttles": Entry(
        "Failed sign-in counters",
        "To slow down password guessing, per account and per client address.",
        "Nobody in the app.",
        "Replaced after each throttle window (15 minutes by default).",
        notes={"key": "A hash of the email address or client address, never the address."},
    ),
    "sso_providers": Entry(
        "Sign-in providers",
        "The district's single sign-on providers (Google, Microsoft, ClassLink, OpenID) "
        "and which email domains may use them.",
        "District admins.",
        "Until a district admin removes the provider.",
        notes={
            "client_secret_sealed": "The client secret, encrypted with a key derived from "
            "the server's SECRET_KEY; never shown and never in the audit log.",
        },
    ),
    "sso_identities": Entry(
        "Single sign-on links",
        "Which provider account (its subject id) signs in to which staff account, so an "
        "email address given to someone else at the provider cannot take over the account.",
        "Nobody in the app; district IT in the database.",
        "Until the account or the provider is removed.",
        notes={
            "subject": "The provider's id of the person (the ID token's sub); no token, "
            "password or profile from the provider is kept.",
        },
    ),
    "rooms": Entry(
        "Rooms",
        "Classrooms and destinations (restrooms, nurse, office...).",
        "All staff.",
        UNTIL_REMOVED,
    ),
    "students": Entry(
        "Students",
        "Who may get a hall pass and who is dismissed to whom.",
        "Staff of the student's school; teachers see their own classes on most screens.",
        UNTIL_REMOVED,
        student_data=True,
        notes={"student_number": "The school's student ID, typed or scanned at a room kiosk."},
    ),
    "classes": Entry(
        "Classes",
        "Which class meets in which room and period, for the teacher's tablet.",
        "All staff.",
        UNTIL_REMOVED,
    ),
    "class_teachers": Entry(
        "Class teachers", "Which staff teach which class.", "All staff.", UNTIL_REMOVED
    ),
    "enrollments": Entry(
        "Enrollments",
        "Which students are in which class (the tablet shows the class in session).",
        "Staff of the school.",
        UNTIL_REMOVED,
        student_data=True,
    ),
    "bell_periods": Entry(
        "Bell schedule",
        "Period times, for the class in session and no-pass windows.",
        "All staff.",
        UNTIL_REMOVED,
    ),
    "families": Entry(
        "Families and carpools",
        "Who picks up which students at the car line, by hang tag number.",
        "Office and admins; curb staff see the students of a car they entered.",
        UNTIL_REMOVED,
        student_data=True,
        notes={
            "pickup_adults": "Free text: names of adults allowed to pick up.",
            "release_note": 'Custody or "do not release" note, shown at the curb and the gates.',
        },
    ),
    "guardians": Entry(
        "Guardians",
        "The adults of a family: who may pick the children up (or must not), how the office "
        "reaches them, and where the family page's sign-in links are mailed.",
        "Office and admins; curb staff see who may pick up a car they entered; the guardian "
        "sees their own family's page.",
        UNTIL_REMOVED,
        student_data=True,
        notes={
            "email": "Where sign-in links and confirmations go, through the district's mail "
            "server.",
            "mobile": "For the office to call. Nothing is ever texted: no SMS provider gets "
            "student data.",
            "note": 'The office\'s words for staff, e.g. "Do not release to ...".',
        },
    ),
    "guardian_sessions": Entry(
        "Guardians' sign-ins",
        "A guardian's phone signed in to the family page, so it opens without a new link.",
        "Office and admins (the family's signed-in phones); the family's guardians.",
        "Until signed out, ended by the office, or FAMILY_SESSION_DAYS (default 180) after "
        "sign-in; removed with the guardian.",
        notes={
            "token_hash": "SHA-256 of the phone's cookie token; the token is not stored.",
            "label": 'What the phone said it is ("iPhone, Safari"); no network address.',
        },
    ),
    "family_students": Entry(
        "Family members",
        "Which students belong to which family or carpool.",
        "Office and admins.",
        UNTIL_REMOVED,
        student_data=True,
    ),
    "devices": Entry(
        "Paired devices",
        "Kiosks, screens and curb phones allowed to open one screen of the school.",
        "Admins.",
        "Until revoked and removed.",
        notes={"secret_hash": "SHA-256 of the device's cookie secret; the secret is not stored."},
    ),
    "pairing_codes": Entry(
        "Pairing codes",
        "One-time codes to pair a device.",
        "The staff member who made it.",
        "Expire after 10 minutes; used once.",
        notes={"code_hash": "Only a hash of the code."},
    ),
    "audit_events": Entry(
        "Audit log",
        "Who did what and when: every change, sign-in and view of a student's history.",
        "Admins of the school.",
        AUDIT_KEPT,
        student_data=True,
        notes={
            "detail": "What changed (ids and values); never passwords or tokens.",
            "client_address": "Network address of the request, for investigations.",
        },
    ),
    "emergency_events": Entry(
        "Emergency events and drills",
        "When an evacuation, shelter or early release (or a drill of one) started and "
        "ended, who started it, and its counts.",
        "Office and admins; every staff screen shows a running event.",
        EMERGENCY_KEPT,
        notes={"location": "Off-site assembly place, if any (free text)."},
    ),
    "emergency_roll_marks": Entry(
        "Emergency roll",
        "Where each student was during an event: present, missing, injured, with which "
        "staff member, released; who marked it and when.",
        "Staff of the school during the event; office and admins after it.",
        EMERGENCY_KEPT,
        student_data=True,
        notes={"with_staff": "Free text: the staff member the student was with."},
    ),
    "reunification_requests": Entry(
        "Reunification requests",
        "An adult asking for a student after an emergency: their name as on the ID, the "
        "relationship, what ID was checked (never a copy), the answer and any override.",
        "Staff of the school during the event; office and admins after it.",
        EMERGENCY_KEPT,
        student_data=True,
        notes={"override_reason": "An administrator's reason to release to an unlisted adult."},
    ),
    "emergency_releases": Entry(
        "Emergency releases",
        "Which student was released, to whom (the request), by whom and when: once per event.",
        "Staff of the school during the event; office and admins after it.",
        EMERGENCY_KEPT,
        student_data=True,
    ),
    "emergency_receipts": Entry(
        "Emergency write receipts",
        "So a roll mark retried from a phone's outbox is counted once.",
        "Nobody in the app.",
        "With the event.",
    ),
    "live_versions": Entry(
        "Live screen versions",
        "Change counters so screens update without reloading.",
        "Nobody in the app.",
        WHILE_NEEDED,
    ),
}

NOTHING_LEAVES = (
    "passline runs on the district's own server. It sends nothing to anyone: no analytics, "
    "no trackers, no fonts or scripts from elsewhere, no vendor. Every page loads only from "
    "this server. The only mail it sends is an invitation or password reset link to a staff "
    "member, and a sign-in link or a confirmation of a change to a guardian, through the "
    "district's own mail server, when one is configured; nothing is ever texted (no SMS "
    "provider sees a guardian's number or a student's name). With single "
    "sign-on set up, the server asks the district's own provider (Google Workspace, "
    "Microsoft Entra ID, ClassLink...) who is signing in; it sends the provider nothing "
    "about students, and keeps only the provider's id of the person (see Single sign-on "
    "links)."
)


def entries() -> dict[str, Entry]:
    """Every table's entry by table name: the core's and the blueprints'."""
    return {**CORE_INVENTORY, **contributions().inventory}


@dataclass(frozen=True)
class InventoryTable:
    name: str
    entry: Entry
    fields: list[tuple[str, str, str]]


def tables() -> list[InventoryTable]:
    """Every table with its inventory entry and its fields (name, type, note)."""
    inventory = entries()
    result = []
    for table in sorted(db.metadata.sorted_tables, key=lambda t: inventory[t.name].label):
        entry = inventory[table.name]
        result.append(InventoryTable(table.name, entry, _fields(table, entry)))
    return result


def _fields(table: Table, entry: Entry) -> list[tuple[str, str, str]]:
    return [
        (column.name, _kind(column.type), entry.notes.get(column.name, ""))
        for column in table.columns
    ]


def _kind(column_type) -> str:
    name = type(column_type).__name__.lower()
    for kind, words in (
        ("date and time", ("datetime", "utcdatetime")),
        ("date", ("date",)),
        ("time", ("time",)),
        ("yes/no", ("boolean",)),
        ("number", ("integer", "smallinteger", "biginteger")),
        ("structured data", ("json",)),
    ):
        if name in words:
            return kind
    return "text"


def missing_entries() -> list[str]:
    """Tables without an inventory entry (a test keeps this empty)."""
    inventory = entries()
    return sorted(t.name for t in db.metadata.sorted_tables if t.name not in inventory)
