"""Per-cell progress: a live block of lines on a TTY, plain lines otherwise (CI logs)."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, live: bool | None = None, every_s: float = 60.0):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.every_s = every_s
        self._lock = threading.Lock()
        self._lines: dict[str, str] = {}
        self._drawn = 0
        self._last_plain: dict[str, tuple[float, str, int]] = {}

    def __call__(self, key: str, done: int, total: int, note: str) -> None:
        pct = f"{100 * done // total:3d}%" if total else "  -%"
        line = f"[{key}] {done}/{total} programs {pct}" + (f"  {note}" if note else "")
        with self._lock:
            if self.live:
                self._lines[key] = line
                self._redraw()
                return
            now = time.monotonic()
            last = self._last_plain.get(key)
            quarter = 4 * done // total if total else 0
            if (last is None or (note and _kind(note) != _kind(last[1])) or now - last[0] >= self.every_s
                    or (last[2] != quarter and done < total)):
                self._last_plain[key] = (now, note, quarter)
                print(line, file=self.stream, flush=True)

    def _redraw(self) -> None:
        out = self.stream
        if self._drawn:
            out.write(f"\x1b[{self._drawn}F")
        for line in self._lines.values():
            out.write("\x1b[2K" + line[:200] + "\n")
        self._drawn = len(self._lines)
        out.flush()

    def message(self, text: str) -> None:
        """A line that stays above the live block."""
        with self._lock:
            if self.live and self._drawn:
                self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
                self._drawn = 0
            print(text, file=self.stream, flush=True)
            if self.live and self._lines:
                self._redraw()


def _kind(note: str) -> str:
    """What a note is about ("second pass: 12 logs" -> "second pass"): plain output prints a new
    kind of note at once, a new count of the same kind only every ``every_s``."""
    return note.split(":", 1)[0]
