"""Car line dismissal: the `carline` blueprint."""

from flask import Blueprint

from carline import models  # noqa: F401  (registers the car line tables)

#: Its own templates and static files (static/carline/..., served under /carline/static/).
bp = Blueprint(
    "carline", __name__, url_prefix="/carline", template_folder="templates", static_folder="static"
)


from carline import (  # noqa: E402, F401  (routes register on import)
    contributions,
    control_views,
    family_page_views,
    family_views,
    plan_views,
    report_views,
    settings_views,
    views,
)

contributions.register(bp)  # its parts join the core's registry when the factory registers bp
