"""No user-facing text in a template escapes translation, and the catalog knows every
marked string.

Each template's text nodes (and the attributes people read: title, placeholder, alt,
aria-label) are taken with Jinja's own parts removed (`{{ }}`, `{% %}`, `{# #}`, and
`{% trans %}` blocks, which are marked); any word left over is English nobody marked.
NOT_YET_CONVERTED lists the templates still to do: it only shrinks (a template that
passes must leave it), and a new template is checked from the start.
"""

import os
import re
from html.parser import HTMLParser

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from shared.i18n import TRANSLATIONS_DIR, languages

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Words that are the same in every language: brand and standard names.
ALLOWED = {
    "passline",
    "XXXX-XXXX",
    "QR",
    "CSV",
    "PDF",
    "OneRoster",
    "SSO",
    "OpenID",
    "ID",
    "IEP",
    "504",
}

#: Templates whose text is not marked yet. Only ever remove names from this list.
NOT_YET_CONVERTED: set[str] = set()

READ_ATTRIBUTES = {"title", "placeholder", "alt", "aria-label", "aria-description"}
JINJA = re.compile(
    r"\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}"
    # The blocks that fill a class attribute of base.html (body_class, main_class).
    r"|\{%-?\s*block\s+\w+_class\s*-?%\}.*?\{%-?\s*endblock\s*-?%\}"
    r"|\{#.*?#\}|\{\{.*?\}\}|\{%.*?%\}",
    re.DOTALL,
)
WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")


def templates() -> list[str]:
    found = []
    for package in ("shared", "hallpass", "carline"):
        for folder, _dirs, files in os.walk(os.path.join(ROOT, package, "templates")):
            found += [
                os.path.relpath(os.path.join(folder, name), ROOT)
                for name in files
                if name.endswith(".html")
            ]
    return sorted(found)


class TextNodes(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        self.texts += [value for name, value in attrs if name in READ_ATTRIBUTES and value]

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.texts.append(data)


def unmarked_words(path: str) -> list[str]:
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        source = JINJA.sub(" ", f.read())
    parser = TextNodes()
    parser.feed(source)
    parser.close()
    return [word for text in parser.texts for word in WORD.findall(text) if word not in ALLOWED]


@pytest.mark.parametrize("path", [p for p in templates() if p not in NOT_YET_CONVERTED])
def test_every_word_of_a_converted_template_is_marked(path):
    assert unmarked_words(path) == [], f"{path}: mark these with _() or {{% trans %}}"


def test_the_list_of_templates_to_convert_only_names_unconverted_ones():
    existing = set(templates())
    assert existing >= NOT_YET_CONVERTED, f"gone: {sorted(NOT_YET_CONVERTED - existing)}"
    done = sorted(p for p in NOT_YET_CONVERTED if not unmarked_words(p))
    assert not done, f"converted: remove from NOT_YET_CONVERTED: {done}"


def marked_strings() -> set[str]:
    with open(os.path.join(ROOT, "babel.cfg"), encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = set()
    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("language", [code for code in languages() if code != "en"])
def test_the_catalog_has_every_marked_string(language):
    with open(f"{TRANSLATIONS_DIR}/{language}/LC_MESSAGES/messages.po", "rb") as po:
        known = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(po) if m.id}
    missing = sorted(marked_strings() - known)
    assert not missing, (
        f"not in the {language} catalog (docs/translations.md: extract, update, "
        f"translate, compile): {missing}"
    )
