"""A one-line progress bar for a long run on a terminal."""

from __future__ import annotations

import sys
import time


class Progress:
    """A one-line progress bar on a terminal (rows, rows/s, ETA); silent when stderr is not a terminal."""

    def __init__(self, total_bytes: int, stream=None):
        self.stream = stream or sys.stderr
        self.total = max(total_bytes, 1)
        self.started = time.perf_counter()
        self.shown = False
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, rows: int, bytes_read: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        fraction = min(bytes_read / self.total, 1.0)
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
        bar = "#" * int(fraction * 30)
        self.stream.write(
            f"\r[{bar:<30}] {fraction:4.0%}  {rows:,} rows  {rows / max(elapsed, 1e-9):,.0f} rows/s  ETA {eta:4.0f} s "
        )
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Blank the bar's line, so a warning printed next starts on a clean line (the bar comes back after it)."""
        if self.shown:
            self.stream.write("\r\033[K")
            self.shown = False

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
