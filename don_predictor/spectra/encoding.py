"""Which encoding a spectra file is in, and its text as bytes pyarrow reads: the whole file (an upload) or a stream.

Files are UTF-8 or latin-1, read as they are; UTF-16/32 with a byte-order mark (UTF-16 also without one) are
re-encoded as UTF-8. Files people drop instead of a CSV (a workbook, an archive, binary data) are refused here,
with one plain sentence, before anything is parsed.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable

from don_predictor.spectra.table import SpectraError

UTF8_BOM = b"\xef\xbb\xbf"
BYTE_ORDER_MARKS = (  # UTF-32 first: its little-endian mark starts like UTF-16's
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
NOT_TEXT = (  # leading bytes of files people drop instead of a CSV
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook is one): save the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook: save the sheet as CSV"),
    (b"\x1f\x8b", "gzip-compressed: unpack it first"),
    (b"%PDF", "a PDF document, not a CSV"),
)
HEAD_BYTES = 4096  # what the guesses look at
CHUNK_BYTES = 1 << 20

ToUtf8 = Callable[[bytes, bool], bytes]  # (bytes of the file, is it the last part) -> the same text in UTF-8


def utf8_bom_length(data: bytes) -> int:
    return len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0


def codec_to_transcode(head: bytes) -> str | None:
    """The codec of a file that must be re-encoded as UTF-8, from its first bytes; None for UTF-8 or latin-1 text
    (read as it is). Raises SpectraError for a file that is not text."""
    for mark, codec in BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return codec
    start = utf8_bom_length(head)
    sample = head[start : start + HEAD_BYTES]
    for magic, what in NOT_TEXT:
        if sample.startswith(magic):
            raise SpectraError(f"the file is {what}")
    if b"\x00" not in sample:
        return None
    codec = _utf16_without_mark(sample)
    if codec is None:
        raise SpectraError("the file holds binary data (NUL bytes): it is not a CSV text file")
    return codec


def whole_text(data: bytes) -> tuple[bytes, int, str]:
    """The file as bytes pyarrow reads, the offset where its text starts, and the encoding (utf8 or latin1).

    Only a UTF-16/32 file is copied (re-encoded as UTF-8). A file that is not UTF-8 is read as latin-1, where every
    byte is a character: the usual export of older Windows instruments.
    """
    start = utf8_bom_length(data)
    codec = codec_to_transcode(data[: start + HEAD_BYTES])
    if codec is not None:
        skip = 0 if data.startswith(tuple(mark for mark, _ in BYTE_ORDER_MARKS)) else start  # the decoder eats a mark
        return to_utf8(codec)(data[skip:], True), 0, "utf8"
    return data, start, "utf8" if is_utf8(data, start) else "latin1"


def streamed_text(head: bytes) -> ToUtf8:
    """What turns each part of a file that starts with `head` into bytes pyarrow reads, part by part."""
    codec = codec_to_transcode(head)
    return _unchanged if codec is None else to_utf8(codec)


def to_utf8(codec: str) -> ToUtf8:
    """An incremental re-encoder from `codec` to UTF-8 (a character split between two parts is kept whole)."""
    decoder = codecs.getincrementaldecoder(codec)()

    def encode(data: bytes, final: bool) -> bytes:
        try:
            return decoder.decode(data, final).encode("utf-8")
        except UnicodeError:
            raise SpectraError(f"the file starts like {codec.upper()} text but is not valid {codec.upper()}") from None

    return encode


def is_utf8(data: bytes, start: int = 0) -> bool:
    """Checked in chunks: a 150 MB upload is not copied into a second, decoded string."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for offset in range(start, len(data), CHUNK_BYTES):
            decoder.decode(view[offset : offset + CHUNK_BYTES])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _unchanged(data: bytes, final: bool) -> bytes:
    return data


def _utf16_without_mark(head: bytes) -> str | None:
    """utf-16-le or utf-16-be when every other byte of the file's start is NUL, as in ASCII text in UTF-16."""
    even, odd = head[0::2], head[1::2]
    if len(odd) >= 2 and odd.count(0) == len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if len(even) >= 2 and even.count(0) == len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None
