"""Car line views for running dismissal: curb, dismissal TV, classroom view, office control."""

from carline import bp  # noqa: F401
