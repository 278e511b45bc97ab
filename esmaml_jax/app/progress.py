"""What the user sees while a run goes: a progress line with ETA, and the stop flag that turns
SIGINT/SIGTERM into "checkpoint and exit" at the end of the current chunk."""

from __future__ import annotations

import signal
import sys
import threading
import time

import numpy as np


class Progress:
    """A one-line progress bar on stderr (a new line per update when not a TTY). The ETA uses
    the chunks after the first (which includes compilation), so it is n/a until the second."""

    def __init__(self, total: int, stream=sys.stderr, width: int = 24, start: int = 0):
        self.total, self.stream, self.width, self.first = total, stream, width, start
        self.tty = stream.isatty()
        self.start = time.perf_counter()
        self.steady: float | None = None  # ETA from steady-state chunks only (no compile)
        self.steady_done = start

    def update(self, done: int, text: str) -> None:
        now = time.perf_counter()
        elapsed = now - self.start
        if self.steady is None:  # the first update paid for compilation: time from here on
            self.steady, self.steady_done = now, done
        rate_steps = done - self.steady_done
        left = self.total - done
        eta = (now - self.steady) / rate_steps * left if rate_steps > 0 else float("nan")
        frac = done / self.total
        bar = "#" * int(self.width * frac) + "-" * (self.width - int(self.width * frac))
        eta_text = "n/a" if eta != eta else f"{eta:.0f}s"
        line = f"[{bar}] {done}/{self.total} {text} | {elapsed:.0f}s, ETA {eta_text}"
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


class Heartbeat:
    """While a long blocking phase runs (compilation, a long chunk, the final evaluation), say so
    every ``every`` seconds with the elapsed time, from a daemon thread (XLA releases the GIL
    while it compiles and runs), so the user never faces minutes of silence."""

    def __init__(self, label: str, log, every: float = 5.0):
        self.label, self.log, self.every = label, log, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.perf_counter()
        while not self._stop.wait(self.every):
            self.log(f"  ... {self.label}: {time.perf_counter() - start:.0f}s")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
