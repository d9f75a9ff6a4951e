"""OneRoster's manifest.csv: which version an export is, and how each file is to be read.

A OneRoster CSV export says what it is in `manifest.csv` (propertyName, value):
`oneroster.version` is `1.0`, `1.1` or `1.2`, and `file.<name>` (`file.users`,
`file.roles`...) is `bulk` (the file holds every record), `delta` (the file holds only
the records that changed since the last export; a record marked `tobedeleted` is gone) or
`absent` (the export does not hold the file). Reading the manifest first is what lets one
reader take both versions without guessing from the columns, and lets a delta export change
only what it lists instead of deactivating everything it does not mention.

Choices, each said to the admin in the preview:

- No manifest.csv (many hand-made or older exports): version 1.1, every file bulk, which
  is what passline did before it read the manifest.
- An unknown version is an error on manifest.csv (the import is refused, with the version
  found and the versions passline reads), never a guess.
- A file the manifest calls `absent` that is in the export anyway is ignored, with a
  warning: the manifest is the export's own account of itself, and a stray file (a folder
  reused between exports, read by `flask roster import PATH`) must not be imported as if
  it were current.
- A file the manifest lists as bulk or delta that is not in the export is a warning; the
  kind it holds is then left alone, as for any file not in an import.
- `file.<name>` missing from the manifest: bulk, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _

from shared.roster.files import Bundle
from shared.roster.results import Plan, RowError
from shared.roster.rows import read_table

#: The OneRoster versions passline reads; 1.0 is read as 1.1 (the same CSV files).
VERSIONS = {"1.0": "1.1", "1.1": "1.1", "1.2": "1.2"}
MODES = ("bulk", "delta", "absent")
#: The files passline reads (lower-case names, as in a Bundle). demographics.csv is never
#: one of them: passline keeps no demographic data, so it never opens that file.
READ_FILES = (
    "manifest.csv",
    "orgs.csv",
    "users.csv",
    "roles.csv",
    "classes.csv",
    "enrollments.csv",
    "academicsessions.csv",
)


@dataclass
class Manifest:
    """What manifest.csv says: the version and each file's processing mode."""

    version: str = "1.1"
    #: lower-case file name ("users.csv") -> "bulk", "delta" or "absent".
    modes: dict[str, str] = field(default_factory=dict)
    #: Whether the export has a manifest.csv at all.
    found: bool = False

    def mode(self, name: str) -> str:
        return self.modes.get(name, "bulk")

    def is_delta(self, name: str) -> bool:
        return self.mode(name) == "delta"


def read_manifest(bundle: Bundle, plan: Plan) -> Manifest | None:
    """The export's manifest (defaults without manifest.csv); None when it is refused."""
    manifest = Manifest()
    if "manifest.csv" not in bundle.files:
        return manifest
    manifest.found = True
    rows = read_table(bundle, "manifest.csv", ("propertyName", "value"), plan.errors)
    if rows is None:
        return None
    ok = True
    for row in rows:
        name, value = row.get("propertyName"), row.get("value")
        if name == "oneroster.version":
            if value not in VERSIONS:
                plan.errors.append(
                    RowError(
                        "manifest.csv",
                        row.line,
                        "value",
                        _(
                            "OneRoster version %(version)s is not one passline reads (it reads "
                            "1.1 and 1.2); nothing is imported",
                            version=repr(value),
                        ),
                    )
                )
                ok = False
            else:
                manifest.version = VERSIONS[value]
        elif name.startswith("file."):
            mode = value.lower()
            if mode not in MODES:
                plan.errors.append(
                    RowError(
                        "manifest.csv",
                        row.line,
                        "value",
                        _(
                            "%(value)s is not a processing mode (bulk, delta or absent)",
                            value=repr(value),
                        ),
                    )
                )
                ok = False
                continue
            manifest.modes[name.removeprefix("file.").lower() + ".csv"] = mode
    if not ok:
        return None
    for name in READ_FILES:
        mode = manifest.modes.get(name)
        if mode == "absent" and name in bundle.files:
            plan.warnings.append(
                _(
                    "%(file)s is ignored: manifest.csv says the export does not hold it "
                    "(file.%(key)s is absent).",
                    file=name,
                    key=name.removesuffix(".csv"),
                )
            )
        elif mode in ("bulk", "delta") and name not in bundle.files:
            plan.warnings.append(
                _(
                    "manifest.csv lists %(file)s (%(mode)s), but the export does not hold it; "
                    "what it would hold is left alone.",
                    file=name,
                    mode=mode,
                )
            )
    return manifest
