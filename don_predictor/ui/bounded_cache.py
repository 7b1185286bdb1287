"""A generic thread-safe LRU bounded by bytes: unlike st.cache_data, a hit hands back the cached object itself (no
unpickled copy per page run), and an entry too big for its cache is simply not kept."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class BoundedCache:
    """A thread-safe LRU cache bounded by the total size of its values and by their number."""

    def __init__(self, max_bytes: int, max_entries: int):
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any], size_of: Callable[[Any], int]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = compute()  # outside the lock: other sessions' page runs do not wait for a big upload
        size = size_of(value)
        with self._lock:
            if size <= self.max_bytes and key not in self._items:
                self._items[key] = (value, size)
                self._bytes += size
                while self._bytes > self.max_bytes or len(self._items) > self.max_entries:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self._bytes -= dropped
        return value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)
