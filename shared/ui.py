"""Template helpers for the UI shell: navigation by role, labels (times: shared/formats.py)."""

from flask import Flask, current_app, g, url_for
from flask_babel import lazy_gettext

from shared.access import SUBSTITUTE_REFUSED
from shared.contributions import NavItem, contributions
from shared.emergencies import running_banner
from shared.models import DEVICE_KIND_LABELS, ROLE_LABELS
from shared.source import version

#: The core's own entries, after those the blueprints contribute.
CORE_NAV = (
    NavItem(lazy_gettext("Emergency"), "emergency.index", ("admin", "office", "teacher", "staff")),
    NavItem(
        lazy_gettext("Pair a device"), "devices.new_pairing_code", ("admin", "office", "teacher")
    ),
    NavItem(lazy_gettext("Substitutes"), "substitutes.index", ("admin", "office")),
    NavItem(lazy_gettext("Admin"), "admin.index", ("admin",)),
)


def nav_items() -> list[tuple[str, str]]:
    """The menu of the signed-in staff member: the blueprints' entries, then the core's."""
    principal = g.get("principal")
    if principal is None or principal.user is None:
        return []
    items = (*contributions().nav, *CORE_NAV)
    if principal.substitute is not None:  # what a substitute may not open is not offered
        items = tuple(i for i in items if i.endpoint not in SUBSTITUTE_REFUSED)
    return [(str(i.label), url_for(i.endpoint)) for i in items if principal.has_role(*i.roles)]


def source_url() -> str:
    """Where the footer's "Source" link goes: PASSLINE_SOURCE_URL, else /source."""
    return current_app.config.get("SOURCE_URL") or url_for("home.source_code")


def register(app: Flask) -> None:
    @app.context_processor
    def _shell():
        principal = g.get("principal")
        school = principal.school if principal else None
        return {
            "principal": principal,
            "nav_items": nav_items,
            "role_labels": ROLE_LABELS,
            "device_kind_labels": DEVICE_KIND_LABELS,
            "is_demo": bool(school and school.is_demo),
            "source_url": source_url,
            "passline_version": version(),
            "running_emergency": running_banner,
        }
