"""What the user sees while a run goes: a progress line with ETA, and the stop flag that turns
SIGINT/SIGTERM into "checkpoint and exit" at the end of the current chunk."""

from __future__ import annotations

import signal
import sys
import time

import numpy as np


class Progress:
    """A one-line progress bar with ETA on stderr (a new line per update when not a TTY)."""

    def __init__(self, total: int, stream=sys.stderr, width: int = 24, start: int = 0):
        self.total, self.stream, self.width, self.first = total, stream, width, start
        self.tty = stream.isatty()
        self.start = time.perf_counter()

    def update(self, done: int, text: str) -> None:
        elapsed = time.perf_counter() - self.start
        frac = done / self.total
        run_frac = (done - self.first) / max(self.total - self.first, 1)
        eta = elapsed / run_frac - elapsed if run_frac > 0 else float("nan")
        bar = "#" * int(self.width * frac) + "-" * (self.width - int(self.width * frac))
        line = f"[{bar}] {done}/{self.total} {text} | {elapsed:.0f}s, ETA {eta:.0f}s"
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def fmt(x: float) -> str:
    return f"{x:.1f}" if np.isfinite(x) else "n/a"


class StopFlag:
    """Set by SIGINT/SIGTERM while training: the loop saves a checkpoint and exits cleanly at the
    end of the current chunk (a second Ctrl-C aborts at once)."""

    def __init__(self):
        self.raised = False
        self._old = {}

    def __enter__(self):
        def handler(signum, frame):
            if self.raised:
                raise KeyboardInterrupt
            self.raised = True
            sys.stderr.write(f"\n{signal.Signals(signum).name}: stopping after this chunk "
                             f"and saving a checkpoint (again to abort at once)\n")

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread: no signal handling
                pass
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
