"""Which language a request is answered in, and the switch that changes it.

Every screen speaks the language of the person in front of it (docs/translations.md):

- a signed-in staff member: their account's language (`users.language`, which the switch
  sets for them), else the switch's cookie, else their school's (`schools.language`);
- a paired device: the `lang` cookie its switch set (a student at a kiosk), else the
  device's own language (`devices.language`), else its school's;
- a guardian on the family page: the switch's cookie on that phone, else the guardian's
  language (`guardians.language`, the one their mails are written in);
- anyone else (sign-in, pairing, the room QR page, the pass check): the switch's cookie,
  else the browser's `Accept-Language`, else English.

The languages offered are the catalogs found in shared/translations (plus English, the
language of the source): adding one is `pybabel init` + translate + compile, nothing
else. The switch names each language in its own name ("Español", "English").
"""

from __future__ import annotations

import os
from functools import cache
from urllib.parse import urlsplit

from babel import Locale
from flask import Blueprint, current_app, g, redirect, request, url_for
from flask_babel import Babel, get_locale, lazy_gettext

from shared import audit
from shared.access import public

#: Where the catalogs live: shared/translations/<lang>/LC_MESSAGES/messages.{po,mo}.
TRANSLATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "translations")
#: The language of the source strings.
SOURCE_LANGUAGE = "en"
#: The switch's cookie: remembered on that phone or kiosk for a year.
LANGUAGE_COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
#: On a paired device (a kiosk) the switch lasts one student's turn: at most this long, and
#: the kiosk forgets it when the turn is over (`end_turn`).
TURN_MAX_AGE = 5 * 60

babel = Babel()
bp = Blueprint("i18n", __name__)

#: The scripts' own messages (key: text, `{name}` for values), served from the catalog in
#: the page's `data-messages` (base.html) and read by `passlineText` (static/js/app.js):
#: no inline script. The core's are here; a blueprint adds its own with `js_messages_add`.
JS_MESSAGES = {
    "table.scrolls": lazy_gettext("{heading} (scrolls sideways)"),
    "table.default": lazy_gettext("Table"),
    "scanner.unavailable": lazy_gettext(
        "This browser cannot use the camera here. Type the number instead."
    ),
    "scanner.stop": lazy_gettext("Stop camera"),
    "scanner.point": lazy_gettext("Point the camera at the code."),
    "scanner.failed": lazy_gettext(
        "The camera could not be opened. Allow camera access, or type the number."
    ),
}


def js_messages_add(messages: dict) -> None:
    """A blueprint's script messages (key: lazy_gettext text), added once at import."""
    JS_MESSAGES.update(messages)


def js_messages() -> dict[str, str]:
    """Every script message in the language of this request."""
    return {key: str(text) for key, text in JS_MESSAGES.items()}


@cache
def languages() -> tuple[str, ...]:
    """The language codes passline speaks: English, then every compiled catalog, sorted."""
    found = set()
    if os.path.isdir(TRANSLATIONS_DIR):
        for name in os.listdir(TRANSLATIONS_DIR):
            if os.path.isfile(os.path.join(TRANSLATIONS_DIR, name, "LC_MESSAGES", "messages.mo")):
                found.add(name)
    found.discard(SOURCE_LANGUAGE)
    return (SOURCE_LANGUAGE, *sorted(found))


def language_name(code: str) -> str:
    """A language in its own name, as its speakers write it at the start of a line."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def valid_language(code: str | None) -> str | None:
    """`code` when passline speaks it, else None."""
    return code if code in languages() else None


def request_language() -> str:
    """The language of the current request (see the module docstring for the order)."""
    chosen = valid_language(request.cookies.get(LANGUAGE_COOKIE))
    principal = g.get("principal")
    if principal is not None and principal.user is not None:
        # The account's own language wins: a staff member's switch saves it there.
        chosen = valid_language(principal.user.language) or chosen
    elif principal is not None and principal.device is not None:
        chosen = chosen or valid_language(principal.device.language)
    elif principal is not None and principal.guardian is not None:
        chosen = chosen or valid_language(principal.guardian.language)
    if chosen:
        return chosen
    if principal is not None and principal.school is not None:
        school_language = valid_language(principal.school.language)
        if school_language:
            return school_language
    return request.accept_languages.best_match(languages()) or SOURCE_LANGUAGE


def select_locale() -> str:
    """Flask-Babel's locale: the request's language in the district's region (US English
    is 12-hour with AM/PM, US Spanish "3:03 p. m."), the language alone where the region
    has no such locale."""
    return regional_locale(request_language() if request else SOURCE_LANGUAGE)


def regional_locale(language: str) -> str:
    """`language` in the district's region (`LOCALE_REGION`): "es_US", else "es"."""
    region = current_app.config.get("LOCALE_REGION", "US")
    candidate = f"{language}_{region}"
    try:
        Locale.parse(candidate)
    except (ValueError, LookupError):
        return language
    return candidate


def language_of(user, school=None) -> str:
    """The language to write to a staff member or a guardian in (a mail): theirs, else
    their school's."""
    return (
        valid_language(getattr(user, "language", None))
        or valid_language(getattr(school, "language", None))
        or SOURCE_LANGUAGE
    )


def mail_locale(user, school=None) -> str:
    """The locale to write a staff member or a guardian a mail in (`force_locale`): their
    language in the district's region, so its times read as their screens do."""
    return regional_locale(language_of(user, school))


def current_language() -> str:
    """The current request's language code ("en", "es"), for `<html lang>`."""
    locale = get_locale()
    return locale.language if locale is not None else SOURCE_LANGUAGE


def other_languages() -> list[tuple[str, str]]:
    """The switch's entries: every other language, (code, own name)."""
    here = current_language()
    return [(code, language_name(code)) for code in languages() if code != here]


def all_languages() -> list[tuple[str, str]]:
    """Every language passline speaks, (code, own name), for a setting's list."""
    return [(code, language_name(code)) for code in languages()]


def init_app(app) -> None:
    babel.init_app(
        app,
        default_locale=SOURCE_LANGUAGE,
        default_translation_directories=TRANSLATIONS_DIR,
        locale_selector=select_locale,
    )
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.globals.update(
        current_language=current_language,
        other_languages=other_languages,
        all_languages=all_languages,
        js_messages=js_messages,
    )


def _back(target: str | None) -> str:
    """The page to return to: a path of this site only."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return url_for("home.index")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def end_turn(response):
    """A kiosk's student turn is over: back to the device's own language."""
    response.delete_cookie(LANGUAGE_COOKIE)
    return response


@bp.route("/language", methods=["POST"])
@public
def switch():
    """The language switch: remembered on this browser; a staff member's account keeps it."""
    language = valid_language(request.form.get("lang"))
    response = redirect(_back(request.form.get("next")), code=303)
    if language is None:
        return response
    principal = g.get("principal")
    user = principal.user if principal is not None else None
    if user is not None and user.language != language:
        before, user.language = user.language, language
        audit.record("account.language", target=user, detail={"before": before, "after": language})
    on_device = principal is not None and principal.device is not None
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=TURN_MAX_AGE if on_device else COOKIE_MAX_AGE,
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )
    return response
