"""Hall passes: the `hallpass` blueprint (models, services, views) and its housekeeping."""

from flask import Blueprint

from shared.housekeeping import register_job

bp = Blueprint("hallpass", __name__, url_prefix="/hallpass", template_folder="templates")

from hallpass import (  # noqa: E402, F401  (tables and routes register on import)
    cli,
    housekeeping,
    kiosk_views,
    models,
    phone_views,
    report_views,
    settings_views,
    views,
)

register_job("hallpass.end_overrun_passes", lambda: housekeeping.end_overrun_passes(), 30)
register_job("hallpass.expire_requests", lambda: housekeeping.expire_requests(), 30)
