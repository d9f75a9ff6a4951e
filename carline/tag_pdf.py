"""Hang tags as a PDF (four per US letter page, drawn as vectors by hand).

Each tag shows the school name, the tag number in large type and a QR code of the
tag's opaque token (the exact text the curb scanner reads), drawn as filled squares
from `shared.qr`'s matrix (the same code the print page shows as SVG).
No student names, ever. The file uses only PDF's built-in Helvetica fonts, so it is
small and needs no library; each page's drawing is one deflated content stream.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from shared.qr import dark_runs, qr_matrix

#: Re-exported for the print page until its views import them from `shared.qr`.
__all__ = ["TAGS_PER_PAGE", "tags_pdf"]

PAGE_WIDTH, PAGE_HEIGHT = 612, 792  # US letter, in points
MARGIN = 36
COLUMNS, ROWS = 2, 2
TAGS_PER_PAGE = COLUMNS * ROWS
CELL_WIDTH = (PAGE_WIDTH - 2 * MARGIN) / COLUMNS
CELL_HEIGHT = (PAGE_HEIGHT - 2 * MARGIN) / ROWS
QR_SIZE = 170
#: Helvetica digits are all 556/1000 of the font size wide.
DIGIT_WIDTH = 0.556
MAX_NUMBER_SIZE = 110
NAME_SIZE = 12
#: A conservative Helvetica average width per character, to keep the name inside the tag.
NAME_CHARS = int((CELL_WIDTH - 32) / (NAME_SIZE * 0.6))


def _text(value: str) -> str:
    """A PDF literal string in WinAnsi encoding (unknown characters become '?')."""
    raw = value.encode("cp1252", errors="replace").decode("latin-1")
    return "(" + raw.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _fit(name: str) -> str:
    name = " ".join(name.split())
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 3].rstrip() + "..."


def _qr_ops(token: str, x: float, y: float, size: float) -> list[str]:
    """Filled rectangles for the dark modules, one per horizontal run."""
    matrix = qr_matrix(token)
    module = size / len(matrix)
    ops = [
        f"{x + start * module:.2f} {y + size - (r + 1) * module:.2f} "
        f"{length * module:.2f} {module:.2f} re"
        for r, row in enumerate(matrix)
        for start, length in dark_runs(row)
    ]
    ops.append("f")
    return ops


def _tag_ops(school_name: str, number: int, token: str, x0: float, y0: float) -> list[str]:
    """Drawing operators of one tag in the cell with lower-left corner (x0, y0)."""
    top = y0 + CELL_HEIGHT
    digits = str(number)
    size = min(MAX_NUMBER_SIZE, (CELL_WIDTH - 32) / (DIGIT_WIDTH * len(digits)))
    number_x = x0 + (CELL_WIDTH - DIGIT_WIDTH * size * len(digits)) / 2
    ops = [
        "0.6 G 0.75 w [6 4] 0 d",
        f"{x0 + 4:.2f} {y0 + 4:.2f} {CELL_WIDTH - 8:.2f} {CELL_HEIGHT - 8:.2f} re S",
        "[] 0 d 0 g",
        f"BT /F1 {NAME_SIZE} Tf {x0 + 18:.2f} {top - 28:.2f} Td {_text(_fit(school_name))} Tj ET",
        f"BT /F1 9 Tf {x0 + 18:.2f} {top - 42:.2f} Td (CAR LINE TAG) Tj ET",
        f"BT /F2 {size:.1f} Tf {number_x:.2f} {top - 52 - size * 0.75:.2f} Td ({digits}) Tj ET",
    ]
    ops += _qr_ops(token, x0 + (CELL_WIDTH - QR_SIZE) / 2, y0 + 24, QR_SIZE)
    return ops


def tags_pdf(school_name: str, tags: Iterable[tuple[int, str]]) -> bytes:
    """A PDF of hang tags for (tag number, token) pairs, four per letter page."""
    tags = list(tags)
    pages: list[bytes] = []
    for start in range(0, max(len(tags), 1), TAGS_PER_PAGE):
        ops: list[str] = []
        for i, (number, token) in enumerate(tags[start : start + TAGS_PER_PAGE]):
            column, row = i % COLUMNS, i // COLUMNS
            x0 = MARGIN + column * CELL_WIDTH
            y0 = PAGE_HEIGHT - MARGIN - (row + 1) * CELL_HEIGHT
            ops += _tag_ops(school_name, number, token, x0, y0)
        pages.append(zlib.compress("\n".join(ops).encode("latin-1")))
    return _document(pages)


def _document(contents: list[bytes]) -> bytes:
    """Assemble the PDF objects, the cross-reference table and the trailer."""
    page_ids = [5 + 2 * i for i in range(len(contents))]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(f"{pid} 0 R".encode() for pid in page_ids)
        + f"] /Count {len(page_ids)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    ]
    for pid, content in zip(page_ids, contents, strict=True):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
            f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {pid + 1} 0 R >>".encode()
        )
        objects.append(
            f"<< /Length {len(content)} /Filter /FlateDecode >>\nstream\n".encode()
            + content
            + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)
