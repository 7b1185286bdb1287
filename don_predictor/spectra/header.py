"""Where a spectra file's header line is: the first line that is not blank (an upload's, a stream's first block's)."""

from __future__ import annotations

import re

LINE_BREAK = re.compile(rb"\r\n|\n|\r")  # only these end a line (str.splitlines also splits on U+0085, U+2028, ...)
NOT_BLANK = re.compile(rb"\S")


def header_span(data: bytes, start: int = 0) -> tuple[int, int | None] | None:
    """Where the header line starts and where its line break is (None while `data` holds no line break after it);
    None when `data` from `start` on is blank."""
    first = NOT_BLANK.search(data, start)
    if first is None:
        return None
    line_start = max(data.rfind(b"\n", start, first.start()), data.rfind(b"\r", start, first.start())) + 1
    line_end = LINE_BREAK.search(data, first.start())
    return max(line_start, start), line_end.start() if line_end else None


def header_line(text: bytes, bom: int) -> tuple[bytes, int] | None:
    """The header line (after the UTF-8 byte-order mark, kept) with a LF, and where it ends in `text`, to be put
    above each block of a stream; None while `text` holds no whole line."""
    span = header_span(text, bom)
    if span is None or span[1] is None:
        return None
    line_start, line_end = span
    return text[:bom] + text[line_start:line_end] + b"\n", line_end + 1
