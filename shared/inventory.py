"""The data inventory: every kind of record passline stores, why, who sees it, how long.

The page (/privacy/inventory) lists the fields of each table straight from the models,
so it cannot drift from what is stored; a test fails when a table has no entry. The
core's tables are described here, the blueprints' tables by the blueprints themselves
(`contribute(bp, inventory={...})`, shared/contributions.py).

Why one module: most of its lines are the core's table entries, text a privacy officer
reads together with the few functions that list them beside the models' columns; the
entries are data, not rules, and a table added to the core gets its entry here, where
`missing_entries` looks. If the entries grow, they move to a module of their own first.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import Table

from shared.contributions import InventoryEntry as Entry
from shared.contributions import contributions
from shared.extensions import db

UNTIL_REMOVED = lazy_gettext("Until removed by the school (or the roster import deactivates it).")
AUDIT_KEPT = lazy_gettext("Audit log retention period of the school (default 3 years).")
EMERGENCY_KEPT = lazy_gettext("Emergency records retention period of the school (default 3 years).")
WHILE_NEEDED = lazy_gettext("Only while in use; replaced or removed automatically.")

#: The core's own tables.
CORE_INVENTORY: dict[str, Entry] = {
    "schools": Entry(
        lazy_gettext("Schools"),
        lazy_gettext(
            "The schools of the district that use passline, with their time zone and settings."
        ),
        lazy_gettext("All staff of the school; admins change it."),
        UNTIL_REMOVED,
        notes={"settings": lazy_gettext("Rules and retention periods chosen by the school.")},
    ),
    "users": Entry(
        lazy_gettext("Staff accounts"),
        lazy_gettext("Staff sign in to issue passes, run dismissal and administer the school."),
        lazy_gettext("Admins of the staff member's schools."),
        lazy_gettext("Until the account is removed; deactivated accounts cannot sign in."),
        notes={
            "password_hash": lazy_gettext("argon2id hash; the password itself is never stored."),
            "session_nonce": lazy_gettext("Random value that ends every session when it changes."),
            "totp_secret": lazy_gettext(
                "Two-factor sign-in: the secret shared with the person's authenticator "
                "app, needed to check their codes; removed when two-factor is turned off or reset."
            ),
            "totp_enabled_at": lazy_gettext("When two-factor sign-in was turned on."),
            "totp_last_step": lazy_gettext(
                "The time step of the last code accepted, so no code works twice."
            ),
            "language": lazy_gettext("The language the staff member chose for their screens."),
        },
    ),
    "memberships": Entry(
        lazy_gettext("Staff roles"),
        lazy_gettext("Which role (admin, office, teacher, staff) a person has at which school."),
        lazy_gettext("Admins of the school."),
        UNTIL_REMOVED,
    ),
    "staff_invitations": Entry(
        lazy_gettext("Staff invitations"),
        lazy_gettext(
            "A school offers a role to someone who has an account already; it grants nothing "
            "until they accept or a district admin confirms."
        ),
        lazy_gettext(
            "Admins of the inviting school (the address they typed only); the invited person."
        ),
        lazy_gettext("Until accepted, declined or cancelled."),
        notes={"email": lazy_gettext("The address as the inviting admin typed it.")},
    ),
    "user_sessions": Entry(
        lazy_gettext("Sign-in sessions"),
        lazy_gettext("So that signing out, deactivation and time-outs end a session at once."),
        lazy_gettext("Nobody in the app; district IT in the database."),
        lazy_gettext("Removed 30 days after the session ended or expired (flask purge)."),
        notes={
            "token_hash": lazy_gettext(
                "SHA-256 of the random session token; the token is not stored."
            )
        },
    ),
    "account_links": Entry(
        lazy_gettext("Invitation and password reset links"),
        lazy_gettext(
            "Single-use links that let a staff member set a password (invitation or reset)."
        ),
        lazy_gettext("Nobody in the app; district IT in the database."),
        lazy_gettext(
            "Work once; invitations expire after 7 days, resets after 1 hour; removed 30 days "
            "after that (flask purge)."
        ),
        notes={
            "token_hash": lazy_gettext(
                "SHA-256 of the link's token; the token itself is not stored."
            ),
            "nonce": lazy_gettext(
                "Random value the link is made from, kept only until its mail is sent."
            ),
        },
    ),
    "mail_outbox": Entry(
        lazy_gettext("Outgoing mail"),
        lazy_gettext("Invitation and password reset mails, kept until sent so none is lost."),
        lazy_gettext("Admins of the school see whether each was sent."),
        lazy_gettext("Removed 30 days after it was sent or given up (flask purge)."),
        notes={
            "to_address": lazy_gettext("The staff member's email address."),
            "body": lazy_gettext(
                "The message, without its link: the link is added only when it is sent."
            ),
            "last_error": lazy_gettext("Why sending failed (the kind of error and its SMTP code)."),
        },
    ),
    "recovery_codes": Entry(
        lazy_gettext("Two-factor recovery codes"),
        lazy_gettext("One-time codes that sign a person in without their authenticator app."),
        lazy_gettext("Nobody in the app; district IT in the database."),
        lazy_gettext("Until used, replaced or two-factor is turned off or reset."),
        notes={
            "code_hash": lazy_gettext(
                "SHA-256 of the code; the code itself is shown once, not stored."
            )
        },
    ),
    "district_settings": Entry(
        lazy_gettext("District settings"),
        lazy_gettext("Rules for the whole district, such as two-factor sign-in for admins."),
        lazy_gettext("District admins change them; school admins see them."),
        UNTIL_REMOVED,
    ),
    "login_throttles": Entry(
        lazy_gettext("Failed sign-in counters"),
        lazy_gettext("To slow down password guessing, per account and per client address."),
        lazy_gettext("Nobody in the app."),
        lazy_gettext("Replaced after each throttle window (15 minutes by default)."),
        notes={
            "key": lazy_gettext("A hash of the email address or client address, never the address.")
        },
    ),
    "sso_providers": Entry(
        lazy_gettext("Sign-in providers"),
        lazy_gettext(
            "The district's single sign-on providers (Google, Microsoft, ClassLink, OpenID) "
            "and which email domains may use them."
        ),
        lazy_gettext("District admins."),
        lazy_gettext("Until a district admin removes the provider."),
        notes={
            "client_secret_sealed": lazy_gettext(
                "The client secret, encrypted with a key derived from "
                "the server's SECRET_KEY; never shown and never in the audit log."
            ),
        },
    ),
    "sso_identities": Entry(
        lazy_gettext("Single sign-on links"),
        lazy_gettext(
            "Which provider account (its subject id) signs in to which staff account, so an "
            "email address given to someone else at the provider cannot take over the account."
        ),
        lazy_gettext("Nobody in the app; district IT in the database."),
        lazy_gettext("Until the account or the provider is removed."),
        notes={
            "subject": lazy_gettext(
                "The provider's id of the person (the ID token's sub); no token, "
                "password or profile from the provider is kept."
            ),
        },
    ),
    "rooms": Entry(
        lazy_gettext("Rooms"),
        lazy_gettext("Classrooms and destinations (restrooms, nurse, office...)."),
        lazy_gettext("All staff."),
        UNTIL_REMOVED,
    ),
    "students": Entry(
        lazy_gettext("Students"),
        lazy_gettext("Who may get a hall pass and who is dismissed to whom."),
        lazy_gettext(
            "Staff of the student's school; teachers see their own classes on most screens."
        ),
        UNTIL_REMOVED,
        student_data=True,
        notes={
            "student_number": lazy_gettext(
                "The school's student ID, typed or scanned at a room kiosk."
            )
        },
    ),
    "classes": Entry(
        lazy_gettext("Classes"),
        lazy_gettext("Which class meets in which room and period, for the teacher's tablet."),
        lazy_gettext("All staff."),
        UNTIL_REMOVED,
    ),
    "class_teachers": Entry(
        lazy_gettext("Class teachers"),
        lazy_gettext("Which staff teach which class."),
        lazy_gettext("All staff."),
        UNTIL_REMOVED,
    ),
    "enrollments": Entry(
        lazy_gettext("Enrollments"),
        lazy_gettext("Which students are in which class (the tablet shows the class in session)."),
        lazy_gettext("Staff of the school."),
        UNTIL_REMOVED,
        student_data=True,
    ),
    "bell_periods": Entry(
        lazy_gettext("Bell schedule"),
        lazy_gettext("Period times, for the class in session and no-pass windows."),
        lazy_gettext("All staff."),
        UNTIL_REMOVED,
    ),
    "families": Entry(
        lazy_gettext("Families and carpools"),
        lazy_gettext("Who picks up which students at the car line, by hang tag number."),
        lazy_gettext("Office and admins; curb staff see the students of a car they entered."),
        UNTIL_REMOVED,
        student_data=True,
        notes={
            "pickup_adults": lazy_gettext("Free text: names of adults allowed to pick up."),
            "release_note": lazy_gettext(
                'Custody or "do not release" note, shown at the curb and the gates.'
            ),
        },
    ),
    "guardians": Entry(
        lazy_gettext("Guardians"),
        lazy_gettext(
            "The adults of a family: who may pick the children up (or must not), how the office "
            "reaches them, and where the family page's sign-in links are mailed."
        ),
        lazy_gettext(
            "Office and admins; curb staff see who may pick up a car they entered; the guardian "
            "sees their own family's page."
        ),
        UNTIL_REMOVED,
        student_data=True,
        notes={
            "email": lazy_gettext(
                "Where sign-in links and confirmations go, through the district's mail server."
            ),
            "mobile": lazy_gettext(
                "For the office to call. Nothing is ever texted: no SMS provider gets student data."
            ),
            "note": lazy_gettext('The office\'s words for staff, e.g. "Do not release to ...".'),
        },
    ),
    "guardian_sessions": Entry(
        lazy_gettext("Guardians' sign-ins"),
        lazy_gettext(
            "A guardian's phone signed in to the family page, so it opens without a new link."
        ),
        lazy_gettext("Office and admins (the family's signed-in phones); the family's guardians."),
        lazy_gettext(
            "Until signed out, ended by the office, or FAMILY_SESSION_DAYS (default 180) after "
            "sign-in; removed with the guardian."
        ),
        notes={
            "token_hash": lazy_gettext(
                "SHA-256 of the phone's cookie token; the token is not stored."
            ),
            "label": lazy_gettext(
                'What the phone said it is ("iPhone, Safari"); no network address.'
            ),
            "family_code_id": lazy_gettext(
                "The family code it signed in with, if any: revoking the code ends the session."
            ),
        },
    ),
    "family_codes": Entry(
        lazy_gettext("Family codes"),
        lazy_gettext(
            "The code on a letter home that signs a guardian without email in to the family page."
        ),
        lazy_gettext("Office and admins (whether a guardian has one, when it was last used)."),
        lazy_gettext(
            "Until revoked or replaced by a new letter; removed 30 days after that (flask purge), "
            "or with the guardian."
        ),
        notes={
            "code_hash": lazy_gettext(
                "SHA-256 of the code; the code itself is printed once on the letter, not stored."
            )
        },
    ),
    "substitute_assignments": Entry(
        lazy_gettext("Substitutes"),
        lazy_gettext(
            "A substitute's day: the absent teacher whose rooms they may act on, their name "
            "and contact, and their one-time sign-in."
        ),
        lazy_gettext("Office and admins."),
        lazy_gettext("Audit log retention period of the school (it names who acted)."),
        notes={
            "code_hash": lazy_gettext("Keyed SHA-256 of the sign-in code; the code is not stored."),
            "session_token_hash": lazy_gettext(
                "SHA-256 of the browser's cookie token; the token is not stored."
            ),
            "contact": lazy_gettext("An email address or phone number, if the office gave one."),
            "code_nonce": lazy_gettext(
                "Random value the code is rebuilt from, kept only until the code is mailed."
            ),
        },
    ),
    "family_students": Entry(
        lazy_gettext("Family members"),
        lazy_gettext("Which students belong to which family or carpool."),
        lazy_gettext("Office and admins."),
        UNTIL_REMOVED,
        student_data=True,
    ),
    "devices": Entry(
        lazy_gettext("Paired devices"),
        lazy_gettext("Kiosks, screens and curb phones allowed to open one screen of the school."),
        lazy_gettext("Admins."),
        lazy_gettext("Until revoked and removed."),
        notes={
            "secret_hash": lazy_gettext(
                "SHA-256 of the device's cookie secret; the secret is not stored."
            )
        },
    ),
    "pairing_codes": Entry(
        lazy_gettext("Pairing codes"),
        lazy_gettext("One-time codes to pair a device."),
        lazy_gettext("The staff member who made it."),
        lazy_gettext("Expire after 10 minutes; used once."),
        notes={"code_hash": lazy_gettext("Only a hash of the code.")},
    ),
    "audit_events": Entry(
        lazy_gettext("Audit log"),
        lazy_gettext(
            "Who did what and when: every change, sign-in and view of a student's history."
        ),
        lazy_gettext("Admins of the school."),
        AUDIT_KEPT,
        student_data=True,
        notes={
            "detail": lazy_gettext("What changed (ids and values); never passwords or tokens."),
            "client_address": lazy_gettext("Network address of the request, for investigations."),
        },
    ),
    "emergency_events": Entry(
        lazy_gettext("Emergency events and drills"),
        lazy_gettext(
            "When an evacuation, shelter or early release (or a drill of one) started and "
            "ended, who started it, and its counts."
        ),
        lazy_gettext("Office and admins; every staff screen shows a running event."),
        EMERGENCY_KEPT,
        notes={"location": lazy_gettext("Off-site assembly place, if any (free text).")},
    ),
    "emergency_roll_marks": Entry(
        lazy_gettext("Emergency roll"),
        lazy_gettext(
            "Where each student was during an event: present, missing, injured, with which "
            "staff member, released; who marked it and when."
        ),
        lazy_gettext("Staff of the school during the event; office and admins after it."),
        EMERGENCY_KEPT,
        student_data=True,
        notes={"with_staff": lazy_gettext("Free text: the staff member the student was with.")},
    ),
    "reunification_requests": Entry(
        lazy_gettext("Reunification requests"),
        lazy_gettext(
            "An adult asking for a student after an emergency: their name as on the ID, the "
            "relationship, what ID was checked (never a copy), the answer and any override."
        ),
        lazy_gettext("Staff of the school during the event; office and admins after it."),
        EMERGENCY_KEPT,
        student_data=True,
        notes={
            "override_reason": lazy_gettext(
                "An administrator's reason to release to an unlisted adult."
            )
        },
    ),
    "emergency_releases": Entry(
        lazy_gettext("Emergency releases"),
        lazy_gettext(
            "Which student was released, to whom (the request), by whom and when: once per event."
        ),
        lazy_gettext("Staff of the school during the event; office and admins after it."),
        EMERGENCY_KEPT,
        student_data=True,
    ),
    "emergency_group_accounted": Entry(
        lazy_gettext("Emergency group timings"),
        lazy_gettext("When every student of each class was first accounted for, to time drills."),
        lazy_gettext("Office and admins, in the event's report."),
        lazy_gettext("With the event."),
    ),
    "emergency_receipts": Entry(
        lazy_gettext("Emergency write receipts"),
        lazy_gettext("So a roll mark retried from a phone's outbox is counted once."),
        lazy_gettext("Nobody in the app."),
        lazy_gettext("With the event."),
    ),
    "live_versions": Entry(
        lazy_gettext("Live screen versions"),
        lazy_gettext("Change counters so screens update without reloading."),
        lazy_gettext("Nobody in the app."),
        WHILE_NEEDED,
    ),
}

NOTHING_LEAVES = lazy_gettext(
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
    for table in sorted(db.metadata.sorted_tables, key=lambda t: str(inventory[t.name].label)):
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
        (_("date and time"), ("datetime", "utcdatetime")),
        (_("date"), ("date",)),
        (_("time"), ("time",)),
        (_("yes/no"), ("boolean",)),
        (_("number"), ("integer", "smallinteger", "biginteger")),
        (_("structured data"), ("json",)),
    ):
        if name in words:
            return kind
    return _("text")


def missing_entries() -> list[str]:
    """Tables without an inventory entry (a test keeps this empty)."""
    inventory = entries()
    return sorted(t.name for t in db.metadata.sorted_tables if t.name not in inventory)
