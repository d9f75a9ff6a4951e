"""The one QR renderer: the SVG draws exactly the matrix, and the hang tag PDF draws it too."""

import io
import re

from pypdf import PdfReader

from carline.tag_pdf import QR_SIZE, tags_pdf
from shared.qr import QUIET_ZONE, dark_runs, qr_matrix, qr_svg


def _drawn(svg: str, size: int) -> list[list[bool]]:
    drawn = [[False] * size for _ in range(size)]
    for x, y, w in re.findall(r"M(\d+),(\d+)h(\d+)v1h-\d+z", svg):
        for c in range(int(x), int(x) + int(w)):
            drawn[int(y)][c] = True
    return drawn


def test_the_matrix_is_the_data_with_no_quiet_zone():
    matrix = qr_matrix("abc")
    assert len(matrix) == len(matrix[0]) == 21  # version 1
    assert matrix[0][:7] == [True] * 7  # a finder pattern at the very corner


def test_dark_runs():
    assert dark_runs([True, True, False, True, False, False]) == [(0, 2), (3, 1)]
    assert dark_runs([False, False]) == []


def test_the_svg_draws_exactly_the_matrix_inside_a_quiet_zone():
    data = "https://passline.test/hallpass/p/AbC-123_xyz"
    matrix = qr_matrix(data)
    svg = str(qr_svg(data))
    assert _drawn(svg, len(matrix)) == matrix
    size = len(matrix) + 2 * QUIET_ZONE
    assert f'viewBox="-{QUIET_ZONE} -{QUIET_ZONE} {size} {size}"' in svg
    assert svg.startswith('<svg class="qr-code"') and "style" not in svg and data not in svg


def test_the_hang_tag_pdf_draws_the_same_matrix():
    token = "tag-token-for-the-pdf"
    matrix = qr_matrix(token)
    page = PdfReader(io.BytesIO(tags_pdf("School", [(7, token)]))).pages[0]
    ops = page.get_contents().get_data().decode("latin-1")
    module = QR_SIZE / len(matrix)
    # Filled rectangles ("re f"; the tag's dashed border is "re S"), top edge first.
    rectangles = [
        tuple(map(float, found))
        for found in re.findall(r"([\d.]+) ([\d.]+) ([\d.]+) (-[\d.]+) re f", ops)
    ]
    # A run and the same run in the rows below it are one taller rectangle.
    assert len(rectangles) < sum(len(dark_runs(row)) for row in matrix)
    left = min(x for x, _, _, _ in rectangles)
    top = max(y for _, y, _, _ in rectangles)
    drawn = [[False] * len(matrix) for _ in matrix]
    for x, y, w, h in rectangles:
        row, column = round((top - y) / module), round((x - left) / module)
        for r in range(row, row + round(-h / module)):
            for c in range(column, column + round(w / module)):
                assert not drawn[r][c], "drawn twice"
                drawn[r][c] = True
    assert drawn == matrix
