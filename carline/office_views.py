"""Car line office views: families and hang tags, dismissal plans, daily changes, absences."""

from carline import bp  # noqa: F401
