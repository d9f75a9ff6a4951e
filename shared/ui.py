"""Template helpers for the UI shell: navigation by role, local times, labels."""

from dataclasses import dataclass

from flask import Flask, g, url_for

from shared.models import DEVICE_KIND_LABELS, ROLE_LABELS
from shared.timeutil import local


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    roles: tuple[str, ...]


NAV = (
    NavItem("Hall passes", "hallpass.index", ("admin", "office", "teacher", "staff")),
    NavItem("Hallway", "hallpass.hallway", ("admin", "office", "staff")),
    NavItem("Sweep", "hallpass.sweep", ("admin", "office")),
    NavItem("Pass reports", "hallpass.reports_index", ("admin", "office", "teacher")),
    NavItem("Car line", "carline.index", ("admin", "office", "teacher", "staff")),
    NavItem("Dismissal", "carline.control", ("admin", "office")),
    NavItem("Curb", "carline.curb", ("admin", "office", "teacher", "staff")),
    NavItem("Pair a device", "devices.new_pairing_code", ("admin", "office", "teacher")),
    NavItem("Admin", "admin.index", ("admin",)),
)


def nav_items() -> list[tuple[str, str]]:
    principal = g.get("principal")
    if principal is None or principal.user is None:
        return []
    return [(i.label, url_for(i.endpoint)) for i in NAV if principal.has_role(*i.roles)]


def format_local(dt, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC time as the current school's wall-clock time."""
    principal = g.get("principal")
    tz = principal.school.timezone if principal and principal.school else "UTC"
    value = local(dt, tz)
    return "" if value is None else value.strftime(fmt)


def register(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = format_local

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
        }
