"""Car line dismissal: the `carline` blueprint."""

from flask import Blueprint, g, render_template
from sqlalchemy import func, select

from carline import models  # noqa: F401  (registers the car line tables)
from shared.access import access
from shared.extensions import db
from shared.models import Family, family_students

bp = Blueprint("carline", __name__, url_prefix="/carline", template_folder="templates")


@bp.route("/")
@access("admin", "office", "teacher", "staff")
def index():
    """Car line start page: the school's families and tags."""
    school_id = g.principal.school_id
    families = db.session.scalar(
        select(func.count(Family.id)).where(Family.school_id == school_id, Family.active.is_(True))
    )
    students_on_tags = db.session.scalar(
        select(func.count(func.distinct(family_students.c.student_id)))
        .join(Family, Family.id == family_students.c.family_id)
        .where(Family.school_id == school_id, Family.active.is_(True))
    )
    return render_template(
        "carline/index.html", families=families, students_on_tags=students_on_tags
    )


from carline import office_views, report_views, views  # noqa: E402, F401  (routes register on import)
