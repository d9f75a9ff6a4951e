"""One home for each rule: a rule the core owns is defined once, and the blueprints use it.

A second `def search_students` or `def school_today` is how copies that disagree start
(the hall pass search once treated a typed `_` as a wildcard; the car line found nobody
by full name). The functions named here are defined in exactly one core module; a
blueprint that needs a variant passes options to it (`among=`, `include_inactive=`,
`decimals=`...) instead of writing its own.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Function name -> the one module that may define it.
ONE_HOME = {
    "search_students": "shared/students.py",
    "school_now": "shared/schedule.py",
    "school_today": "shared/schedule.py",
    "school_day_bounds": "shared/schedule.py",
    "parse_int": "shared/forms.py",
    "parse_bool": "shared/forms.py",
    "parse_date": "shared/forms.py",
    "parse_day": "shared/forms.py",
    "parse_clock": "shared/forms.py",
    "parse_id": "shared/forms.py",
    "safe_cell": "shared/csvfile.py",
    "csv_cell": None,  # a report's cell format is a partial of `safe_cell`, not a function
    "qr_svg": "shared/qr.py",
    "rerender": "shared/errors.py",
    "school_record": "shared/access.py",
    "code_step": "shared/rotating_code.py",
    "rotating_token": "shared/rotating_code.py",
    "read_rotating_token": "shared/rotating_code.py",
    "org_school": "shared/schools.py",
    "link_org_school": "shared/schools.py",
}
#: Class name -> its one module.
ONE_CLASS = {"Actor": "shared/audit.py"}


def _definitions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for package in ("shared", "hallpass", "carline"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.ClassDef):
                    found.setdefault(node.name, []).append(relative)
    return found


def test_each_core_rule_is_defined_once_in_its_home():
    definitions = _definitions()
    assert "shared/students.py" in definitions.get("search_students", []), "modules not read"
    wrong = {
        name: definitions.get(name, [])
        for name, home in {**ONE_HOME, **ONE_CLASS}.items()
        if definitions.get(name, []) != ([home] if home else [])
    }
    assert wrong == {}


def test_no_view_reads_htmx_headers_by_hand():
    """htmx-flask's `request.htmx` reads them: one way, everywhere."""
    hand_read = [
        f"{path.relative_to(ROOT)}"
        for package in ("shared", "hallpass", "carline")
        for path in (ROOT / package).rglob("*.py")
        if "HX-Request" in path.read_text(encoding="utf-8")
    ]
    assert hand_read == []
