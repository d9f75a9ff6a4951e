"""Hall passes: the `hallpass` blueprint."""

from flask import Blueprint, g, render_template
from sqlalchemy import select

from hallpass import models  # noqa: F401  (registers the hall pass tables)
from shared.access import access
from shared.extensions import db
from shared.models import Room
from shared.schedule import class_in_session, current_period
from shared.timeutil import utcnow

bp = Blueprint("hallpass", __name__, url_prefix="/hallpass", template_folder="templates")


@bp.route("/")
@access("admin", "office", "teacher", "staff")
def index():
    """Hall pass start page: the period now, your class, the school's destinations."""
    school, now = g.principal.school, utcnow()
    destinations = db.session.scalars(
        select(Room)
        .where(Room.school_id == school.id, Room.kind != "classroom", Room.active.is_(True))
        .order_by(Room.name)
    ).all()
    return render_template(
        "hallpass/index.html",
        period=current_period(school, now),
        my_class=class_in_session(school, g.principal.user.id, now),
        destinations=destinations,
    )
