"""The upload cache: each upload read and validated once per content, shared by every session of the process."""

from __future__ import annotations

import hashlib
import sys

from don_predictor.config import settings
from don_predictor.spectra.reader import read_spectra
from don_predictor.spectra.table import SpectraError, SpectraTable
from don_predictor.ui.bounded_cache import BoundedCache

# Uploads are cached in this process, shared by every session, up to these many bytes of parsed tables and results:
# a 150 MB CSV of 42,000 spectra is a 150 MB table. Unlike st.cache_data, a hit hands back the cached object itself
# (no unpickled copy per page run) and an entry too big for its cache is simply not kept.
READ_CACHE_BYTES = 384 * 1024**2
CACHE_ENTRIES = 16


READ_CACHE = BoundedCache(READ_CACHE_BYTES, CACHE_ENTRIES)


def table_bytes(table: SpectraTable | SpectraError) -> int:
    """About what a read upload holds in memory: its arrays, ids and problems."""
    if isinstance(table, SpectraError):
        return 1024
    arrays = table.X.nbytes + (table.target.nbytes if table.target is not None else 0)
    ids = sum(sys.getsizeof(i) for i in table.ids) + 8 * len(table.ids)
    return arrays + ids + 400 * len(table.problems) + 1024


def read_upload(data: bytes, require_target: bool = False, sha256: str | None = None) -> SpectraTable:
    """The upload read and validated, once per content; raises SpectraError (remembered too) for an unusable file."""
    max_rows = settings().max_upload_rows
    key = (sha256 or hashlib.sha256(data).hexdigest(), require_target, max_rows)

    def read() -> SpectraTable | SpectraError:
        try:
            table = read_spectra(data, require_target=require_target, max_rows=max_rows)
        except SpectraError as error:
            return error
        for array in (table.X, table.target):  # shared by every session: a page that wrote into it would fail
            if array is not None:
                array.flags.writeable = False
        return table

    outcome = READ_CACHE.get(key, read, table_bytes)
    if isinstance(outcome, SpectraError):
        raise outcome
    return outcome
