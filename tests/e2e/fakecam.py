"""A video file for Chromium's fake camera showing a QR code (YUV4MPEG2, no image library).

Chromium started with `--use-fake-device-for-media-stream
--use-file-for-fake-video-capture=<file.y4m>` plays the file, looped, as the camera.
The frames are grey-scale 4:2:0: black modules on white, a quiet zone of white around
the code, centred in the frame.
"""

from __future__ import annotations

from pathlib import Path

WIDTH, HEIGHT = 640, 480
WHITE, BLACK, NEUTRAL = 235, 16, 128
QUIET_MODULES = 4


def qr_frame(matrix: list[list[bool]], width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """The luma plane of one frame: `matrix` (True = dark module) scaled and centred."""
    modules = len(matrix) + 2 * QUIET_MODULES
    scale = min(width, height) * 3 // 4 // modules
    if scale < 2:
        raise ValueError("QR code too large for the frame")
    left = (width - len(matrix) * scale) // 2
    top = (height - len(matrix) * scale) // 2
    rows = []
    blank = bytes([WHITE]) * width
    for y in range(height):
        module_y = (y - top) // scale if y >= top else -1
        if not 0 <= module_y < len(matrix):
            rows.append(blank)
            continue
        row = bytearray(blank)
        for module_x, dark in enumerate(matrix[module_y]):
            if dark:
                x = left + module_x * scale
                row[x : x + scale] = bytes([BLACK]) * scale
        rows.append(bytes(row))
    return b"".join(rows)


def write_y4m(path: Path, matrix: list[list[bool]], frames: int = 2) -> Path:
    """Write a YUV4MPEG2 file of `frames` identical frames showing the QR `matrix`."""
    luma = qr_frame(matrix)
    chroma = bytes([NEUTRAL]) * ((WIDTH // 2) * (HEIGHT // 2) * 2)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(luma)
            out.write(chroma)
    return path
