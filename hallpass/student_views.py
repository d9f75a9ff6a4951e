"""Hall pass views for students: the room kiosk, the rotating room QR and pass checks."""

from hallpass import bp  # noqa: F401
