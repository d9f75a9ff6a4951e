"""Hall passes: the `hallpass` blueprint (models, services, views) and its contributions."""

from flask import Blueprint

#: Its own templates and static files (static/hallpass/..., served under /hallpass/static/).
bp = Blueprint(
    "hallpass",
    __name__,
    url_prefix="/hallpass",
    template_folder="templates",
    static_folder="static",
)

from hallpass import (  # noqa: E402, F401  (tables and routes register on import)
    appointment_views,
    cli,
    contributions,
    housekeeping,
    kiosk_views,
    models,
    office_call_views,
    phone_views,
    report_views,
    settings_views,
    summary_models,
    tardy_models,
    tardy_views,
    views,
)

contributions.register(bp)  # its parts join the core's registry when the factory registers bp

from hallpass import tardy_contributions  # noqa: E402

tardy_contributions.register(bp)  # late arrivals' parts (retention, inventory, demo)

from flask_babel import lazy_gettext  # noqa: E402

from shared.i18n import js_messages_add  # noqa: E402

js_messages_add(
    {"tablet.out": lazy_gettext("Out: {where}"), "timer.overdue": lazy_gettext("⚠ overdue")}
)
