"""Set the demo school up for the family page's browser test (`python -m tests.e2e.family_school`).

Run in a subprocess with the test server's DATABASE_URL, PASSLINE_INSTANCE_PATH and
SECRET_KEY, after `tests.e2e.school` (which found the hang tags riding home by car today):

- `guardian TAG EMAIL`: the family of tag TAG gets a guardian with this address, the
  daily change cutoff is set to 23:59 and the office phone to 555-0100; prints JSON;
- `cutoff HH:MM`: the cutoff moves (00:00: today's changes are closed);
- `entries TAG`: prints how many queue entries today's dismissal has for the tag;
- `nomail TAG`: the family of tag TAG gets a guardian without email, who reads Spanish;
  prints JSON with their id and the family's;
- `code GUARDIAN_ID`: a new family code for that guardian (as the letter the office printed
  would carry: the PDF's text cannot be read back), printed as JSON;
- `sign TAG`: the family of tag TAG gets a guardian without email (English), and the
  school requires the pickup line sign for "I'm here"; prints JSON with their id and
  the family's students.
"""

from __future__ import annotations

import json
import sys
from datetime import time

from sqlalchemy import func, select

from carline.guardians import add_guardian
from carline.models import Dismissal, QueueEntry
from carline.settings import carline_settings, save_settings
from shared import create_app
from shared.audit import SYSTEM
from shared.demo import SCHOOL_CODE
from shared.extensions import db
from shared.family_codes import issue_code, shown
from shared.guardians import clean_fields
from shared.models import Family, Guardian, School
from shared.schedule import school_today


def _school() -> School:
    return db.session.scalar(select(School).where(School.code == SCHOOL_CODE))


def _cutoff(school: School, cutoff: time) -> None:
    current = carline_settings(school)
    save_settings(
        school,
        SYSTEM,
        lanes=current.lanes,
        spots_per_lane=current.spots_per_lane,
        cutoff=cutoff,
        walker_doors=current.walker_doors,
        office_phone="555-0100",
    )


def main(command: str, *args: str) -> dict:
    school = _school()
    if command == "guardian":
        tag, email = int(args[0]), args[1]
        family = db.session.scalar(
            select(Family).where(Family.school_id == school.id, Family.tag_number == tag)
        )
        add_guardian(school, SYSTEM, family, clean_fields(name="Rosa Guardian", email=email))
        _cutoff(school, time(23, 59))
        db.session.commit()
        return {"tag": tag, "students": sorted(s.display_name for s in family.students)}
    if command == "cutoff":
        hour, minute = (int(part) for part in args[0].split(":"))
        _cutoff(school, time(hour, minute))
        db.session.commit()
        return {}
    if command == "entries":
        count = db.session.scalar(
            select(func.count(QueueEntry.id))
            .join(Family, Family.id == QueueEntry.family_id)
            .join(Dismissal, Dismissal.id == QueueEntry.dismissal_id)
            .where(
                Family.school_id == school.id,
                Family.tag_number == int(args[0]),
                Dismissal.day == school_today(school),
            )
        )
        return {"entries": count}
    if command == "nomail":
        family = db.session.scalar(
            select(Family).where(Family.school_id == school.id, Family.tag_number == int(args[0]))
        )
        guardian = add_guardian(
            school, SYSTEM, family, clean_fields(name="Luis Carta", language="es")
        )
        db.session.commit()
        return {"guardian_id": guardian.id, "family_id": family.id}
    if command == "code":
        guardian = db.session.get(Guardian, int(args[0]))
        code = issue_code(school, SYSTEM, guardian)
        db.session.commit()
        return {"code": shown(code)}
    if command == "sign":
        family = db.session.scalar(
            select(Family).where(Family.school_id == school.id, Family.tag_number == int(args[0]))
        )
        guardian = add_guardian(school, SYSTEM, family, clean_fields(name="Sam Sign"))
        current = carline_settings(school)
        save_settings(
            school,
            SYSTEM,
            lanes=current.lanes,
            spots_per_lane=current.spots_per_lane,
            cutoff=current.cutoff,
            walker_doors=current.walker_doors,
            require_pickup_sign=True,
        )
        db.session.commit()
        return {
            "guardian_id": guardian.id,
            "students": sorted(s.display_name for s in family.students),
        }
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    with create_app().app_context():
        print(json.dumps(main(*sys.argv[1:])))
