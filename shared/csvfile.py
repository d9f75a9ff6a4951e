"""CSV files people open in a spreadsheet: cells that never run as formulas, and the download.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and, in some, a tab or a
carriage return) as a formula, so such text gets a leading `'` (formula injection). The
download is UTF-8 with a byte order mark, so spreadsheets read accented names right.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from itertools import chain

from flask import Response, stream_with_context
from flask_babel import pgettext

#: What a cell may not start with: a spreadsheet would run it as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value, *, decimals: int | None = None, yes_no: bool = False) -> str:
    """The cell's text (empty for None); text a spreadsheet would run as a formula gets a '.

    The one CSV cell guard. Reports choose how numbers and flags read:
    `decimals` writes floats with that many decimals (a number, never a formula, so
    "-1.5" stays as it is) and `yes_no` writes booleans as "yes" / "no", in the reader's
    language like the file's headers ("sí" / "no"). Use
    `functools.partial(safe_cell, decimals=1, yes_no=True)` as `csv_text`'s `cell`.
    """
    if value is None:
        return ""
    if yes_no and isinstance(value, bool):
        return pgettext("a CSV cell", "yes") if value else pgettext("a CSV cell", "no")
    if decimals is not None and isinstance(value, float):
        return f"{value:.{decimals}f}"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows: Iterable[Iterable], cell: Callable[[object], str] = safe_cell) -> str:
    """Rows as CSV text with CRLF line ends, every value written through `cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue()


def csv_download(filename: str, text: str | Iterable[str]) -> Response:
    """A CSV download of `text` (or of its chunks, streamed as they come): UTF-8 with a
    byte order mark, never cached.

    A stream keeps the request's context, and its database session, until the last chunk
    is sent; whatever the view wrote is committed before the first.
    """
    if isinstance(text, str):
        body = "\ufeff" + text
    else:
        body = stream_with_context(chain(["\ufeff"], text))
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
