"""Hall pass settings views: destinations, rules, keep-apart groups, student limits."""

from hallpass import bp  # noqa: F401
