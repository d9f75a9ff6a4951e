"""Car line dismissal: the `carline` blueprint."""

from flask import Blueprint

from carline import models  # noqa: F401  (registers the car line tables)

#: Its own templates and static files (static/carline/..., served under /carline/static/).
bp = Blueprint(
    "carline", __name__, url_prefix="/carline", template_folder="templates", static_folder="static"
)


from carline import (  # noqa: E402, F401  (routes register on import)
    contributions,
    control_views,
    family_page_views,
    family_views,
    letter_views,
    pickup_sign_views,
    plan_views,
    report_views,
    settings_views,
    views,
)

contributions.register(bp)  # its parts join the core's registry when the factory registers bp

from flask_babel import lazy_gettext  # noqa: E402

from shared.i18n import js_messages_add  # noqa: E402

#: The curb phone's and the dismissal screens' script messages (shared/i18n.py).
js_messages_add(
    {
        "curb.tag": lazy_gettext("Tag {number}"),
        "curb.scanned": lazy_gettext("Scanned tag"),
        "curb.sending": lazy_gettext("sending…"),
        "curb.not_through": lazy_gettext("not through yet (tries: {tries})"),
        "curb.waiting": lazy_gettext("waiting"),
        "curb.outbox_item": lazy_gettext("{tag} · entered {time} · {state}"),
        "curb.offline": lazy_gettext(
            "Offline. Entries kept on this phone: {count}. They are sent when the network is back."
        ),
        "curb.failed": lazy_gettext("{tag} did not get through ({problem})."),
        "curb.retry_in": lazy_gettext("Trying again in {seconds} s."),
        "curb.retry_now": lazy_gettext("Trying again now."),
        "curb.kept": lazy_gettext("Kept on this phone: {count}."),
        "curb.late": lazy_gettext("Entered at {time}, sent late."),
        "curb.why_signed_out": lazy_gettext("signed out: sign in again, the entry is kept"),
        "curb.why_stale": lazy_gettext("this page is out of date: reload it, the entry is kept"),
        "curb.why_outage": lazy_gettext("no connection to the school's server, trying again"),
        "curb.why_status": lazy_gettext("the server answered {status}"),
        "curb.why_timeout": lazy_gettext("no answer in time"),
        "curb.why_offline": lazy_gettext("offline"),
        "chime.on": lazy_gettext("Chime: on"),
        "chime.off": lazy_gettext("Chime: off"),
    }
)
