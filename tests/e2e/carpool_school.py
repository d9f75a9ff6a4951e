"""Set the demo school up for the carpool browser test (`python -m tests.e2e.carpool_school`).

Run in a subprocess with the test server's DATABASE_URL, PASSLINE_INSTANCE_PATH and
SECRET_KEY, after `tests.e2e.school` (which found the hang tags riding home by car today):

- `families TAG_A TAG_B`: each family gets a guardian without email (Rosa Carpool for A,
  Omar Carpool for B) and a family code, as the letters home would carry; the daily
  change cutoff is lifted. Prints JSON: the codes, and A's first child (id, short name).
"""

from __future__ import annotations

import json
import sys

from sqlalchemy import select

from carline.guardians import add_guardian
from carline.settings import carline_settings, save_settings
from shared import create_app
from shared.audit import SYSTEM
from shared.demo import SCHOOL_CODE
from shared.extensions import db
from shared.family_codes import issue_code, shown
from shared.guardians import clean_fields
from shared.models import Family, School


def main(command: str, *args: str) -> dict:
    school = db.session.scalar(select(School).where(School.code == SCHOOL_CODE))
    if command != "families":
        raise SystemExit(f"unknown command {command}")
    codes = {}
    families = {}
    for tag, name in zip(
        (int(args[0]), int(args[1])), ("Rosa Carpool", "Omar Carpool"), strict=True
    ):
        family = db.session.scalar(
            select(Family).where(Family.school_id == school.id, Family.tag_number == tag)
        )
        guardian = add_guardian(school, SYSTEM, family, clean_fields(name=name, language="en"))
        codes[str(tag)] = shown(issue_code(school, SYSTEM, guardian))
        families[tag] = family
    current = carline_settings(school)
    save_settings(
        school,
        SYSTEM,
        lanes=current.lanes,
        spots_per_lane=current.spots_per_lane,
        cutoff=None,
        walker_doors=current.walker_doors,
    )
    child = sorted(
        (s for s in families[int(args[0])].students if s.active),
        key=lambda s: (s.first_name, s.last_name, s.id),
    )[0]
    db.session.commit()
    return {"codes": codes, "child": {"id": child.id, "short": child.short_name}}


if __name__ == "__main__":
    with create_app().app_context():
        print(json.dumps(main(*sys.argv[1:])))
