"""Hall pass history and reports views."""

from hallpass import bp  # noqa: F401
