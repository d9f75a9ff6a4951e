"""gunicorn settings for a source checkout: `gunicorn wsgi:app` reads this file from here.

The settings themselves live in shared/gunicorn_conf.py, inside the package, so an
installed passline (`passline serve`) uses the same ones.
"""

from shared.gunicorn_conf import *  # noqa: F403
