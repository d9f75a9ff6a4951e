"""WSGI entry point: `gunicorn wsgi:app`."""

from shared import create_app

app = create_app()
