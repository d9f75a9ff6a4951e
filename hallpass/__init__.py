"""Hall passes: the `hallpass` blueprint (models, services, views)."""

from flask import Blueprint

bp = Blueprint("hallpass", __name__, url_prefix="/hallpass", template_folder="templates")

from hallpass import (  # noqa: E402, F401  (tables and routes register on import)
    models,
    report_views,
    settings_views,
    student_views,
    views,
)
