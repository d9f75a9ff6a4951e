"""Car line report views: per-dismissal timing, history, CSV, charts."""

from carline import bp  # noqa: F401
