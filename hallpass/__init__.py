"""Hall passes: the `hallpass` blueprint (models, services, views) and its housekeeping."""

from flask import Blueprint

from shared.housekeeping import register_job

bp = Blueprint("hallpass", __name__, url_prefix="/hallpass", template_folder="templates")

from hallpass import (  # noqa: E402, F401  (tables and routes register on import)
    cli,
    models,
    report_views,
    services,
    settings_views,
    student_views,
    views,
)

register_job("hallpass.end_overrun_passes", lambda: services.end_overrun_passes(), 30)
register_job("hallpass.expire_requests", lambda: services.expire_requests(), 30)
