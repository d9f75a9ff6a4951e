"""What every hall pass settings service shares: the audit diff of a settings change.

The settings services (`destinations`, `policy`, `student_rules`) record what changed
as {"before": ..., "after": ...}; they read form values with `shared.forms`.
"""

from __future__ import annotations

from typing import Any


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict:
    return {name: getattr(obj, name) for name in fields}


def changes(before: dict, after: dict) -> dict:
    """Only the fields that changed, as {"before": {...}, "after": {...}}."""
    changed = [k for k in after if before.get(k) != after[k]]
    return {
        "before": {k: before.get(k) for k in changed},
        "after": {k: after[k] for k in changed},
    }
