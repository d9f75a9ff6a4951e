"""Roster import for one school (or each school of a district's OneRoster export):
passline CSV files or a OneRoster v1.1 / 1.2 CSV bundle.

The work has three steps, and only the last one writes:

1. `read_upload` / `read_path` turn a .zip, a directory or a single .csv into a `Bundle`
   of CSV files (where each is, read row by row when needed), refusing unsafe input (zip
   bombs, path traversal, other file types).
2. `plan_import` parses and checks every row, compares the result with the school's
   data (each kind loaded once into dicts) and returns a `Plan`: what would be created,
   changed, deactivated or removed, plus row errors (file, row, column, reason) and warnings.
   This is the dry run; it never writes.
3. `apply_import` writes a plan without errors inside the caller's transaction (flush
   only) and records one `roster.import` audit event. The caller commits once.

Rows are matched to existing data by key (sourced id, student number, email, class id,
tag number), so importing again updates instead of duplicating. Students and classes
missing from an import that contains them are deactivated, never deleted. Staff created
by an import have no password, and an import never grants the admin role.
The columns are documented in docs/roster-import.md.

The modules, in the order the data flows through them:

- `files`: reading the input into a `Bundle` (zip, directory or CSV, with its guards),
  keeping an upload between preview and apply, and the sample sets.
- `rows`: reading CSV tables into checked cells, the records both formats parse into
  (gathered in a `Roster`), and the value checks they share (grades, weekdays, times).
- `passline_csv` and `oneroster`: the two input formats, each turned into a `Roster`
  (OneRoster's reader has its rooms: `manifest`, `oneroster_users` with
  `oneroster_roles`, and `oneroster_classes`).
- `planning`: `plan_import`, comparing a `Roster` with the school's data.
- `describe`: how the preview words a change (names of students and classes).
- `results`: the `Plan` it returns, with its changes, `RowError`s and row warnings.
- `applying`: `apply_import`, writing a plan.
- `district`: `import_district`, a district's OneRoster export split by school org and
  planned and applied school by school (`flask roster import --district`).

This package exports what the rest of passline uses; everything else stays in its module.
"""

from shared.roster.applying import apply_import
from shared.roster.files import (
    MAX_TOTAL_BYTES,
    MAX_ZIP_MEMBERS,
    SAMPLES_DIR,
    TOKEN_RE,
    Bundle,
    RosterFileError,
    discard_upload,
    load_upload,
    read_path,
    read_upload,
    sample_zip,
    store_upload,
)
from shared.roster.planning import plan_import
from shared.roster.results import CSV_KINDS, KIND_ACTIONS, KIND_LABELS, Plan, RowError
from shared.roster.rows import parse_days

__all__ = [
    "CSV_KINDS",
    "KIND_ACTIONS",
    "KIND_LABELS",
    "MAX_TOTAL_BYTES",
    "MAX_ZIP_MEMBERS",
    "SAMPLES_DIR",
    "TOKEN_RE",
    "Bundle",
    "Plan",
    "RosterFileError",
    "RowError",
    "apply_import",
    "discard_upload",
    "load_upload",
    "parse_days",
    "plan_import",
    "read_path",
    "read_upload",
    "sample_zip",
    "store_upload",
]
