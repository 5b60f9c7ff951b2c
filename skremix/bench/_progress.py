"""The progress bar of ``skremix-bench``: runs done, elapsed and remaining time."""

from __future__ import annotations

import sys
import time

__all__ = ["ProgressBar"]


def _clock(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """A one-line progress bar on stderr: bar, count, current run, ETA.

    On a terminal the line is redrawn in place; otherwise (a log file, a
    pipe) one line is written per finished run.
    """

    def __init__(self, total, stream=None, width=24, enabled=True):
        self.total = max(int(total), 1)
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.enabled = enabled
        self.done = 0
        self.start = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_len = 0

    def _line(self, label):
        elapsed = time.perf_counter() - self.start
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        eta = (
            "?"
            if self.done == 0
            else _clock(elapsed / self.done * (self.total - self.done))
        )
        return (
            f"[{bar}] {self.done}/{self.total} {label}  "
            f"elapsed {_clock(elapsed)}  ETA {eta}"
        )

    def _write(self, line, final=False):
        if not self.enabled:
            return
        if self.tty:
            pad = " " * max(self._last_len - len(line), 0)
            self.stream.write("\r" + line + pad + ("\n" if final else ""))
            self._last_len = len(line)
        elif final or self.done > 0:
            self.stream.write(line + "\n")
        self.stream.flush()

    def starting(self, label):
        """Show the run about to start (terminal only)."""
        if self.tty:
            self._write(self._line(label))

    def finished(self, label):
        """Count one finished run."""
        self.done += 1
        self._write(self._line(label), final=self.done >= self.total)
