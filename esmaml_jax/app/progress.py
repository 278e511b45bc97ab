"""What the user sees while a run goes: a progress line with ETA, and the stop flag that turns
SIGINT/SIGTERM into "checkpoint and exit" at the end of the current chunk."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import numpy as np


class Progress:
    """The training progress: on a terminal a live `rich` bar (done/total, the latest returns,
    elapsed time and ETA); otherwise one plain line per update, so a log file stays greppable.
    The ETA uses the chunks after the first (which includes compilation), so it is n/a until
    the second."""

    def __init__(self, total: int, stream=None, width: int = 24, start: int = 0,
                 terminal: bool | None = None):
        stream = sys.stderr if stream is None else stream  # the stream at the time of the run
        self.total, self.stream, self.width, self.first = total, stream, width, start
        self.tty = stream.isatty() if terminal is None else terminal
        self.start = time.perf_counter()
        self.steady: float | None = None  # ETA from steady-state chunks only (no compile)
        self.steady_done = start
        self._live = None
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn
            from rich.progress import Progress as RichProgress

            console = Console(file=stream, force_terminal=terminal)
            self._live = RichProgress(TextColumn("{task.completed}/{task.total}"), BarColumn(),
                                      TextColumn("{task.fields[text]}"), console=console,
                                      transient=False)
            self._task = self._live.add_task("train", total=total, completed=start, text="")
            self._live.start()

    def _eta(self, done: int) -> tuple[float, str]:
        now = time.perf_counter()
        if self.steady is None:  # the first update paid for compilation: time from here on
            self.steady, self.steady_done = now, done
        rate_steps = done - self.steady_done
        eta = (now - self.steady) / rate_steps * (self.total - done) if rate_steps > 0 else None
        return now - self.start, "n/a" if eta is None else f"{eta:.0f}s"

    def update(self, done: int, text: str) -> None:
        elapsed, eta = self._eta(done)
        if self._live is not None:
            self._live.update(self._task, completed=done,
                              text=f"{text} | {elapsed:.0f}s, ETA {eta}")
            return
        frac = done / self.total
        bar = "#" * int(self.width * frac) + "-" * (self.width - int(self.width * frac))
        self.stream.write(f"[{bar}] {done}/{self.total} {text} | {elapsed:.0f}s, ETA {eta}\n")
        self.stream.flush()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()


def fmt(x: float) -> str:
    return f"{x:.1f}" if np.isfinite(x) else "n/a"


class StopFlag:
    """Set by SIGINT/SIGTERM while training: the loop saves a checkpoint and exits cleanly at the
    end of the current chunk. A second signal ends the process at once, even while a device
    computation is stuck (no teardown that could wait on it), after saying which checkpoint is
    the newest (``note()``)."""

    def __init__(self, note: Callable[[], str] = lambda: "no checkpoint was saved"):
        self.raised = False
        self.note = note
        self._old: dict = {}
        self._saving = False
        self._deferred: int | None = None
        self._at_once: str | None = None

    def abort_on_signal(self, what: str) -> None:
        """From now on a signal ends the process at once (there is no chunk left to finish),
        saying it stopped during ``what``."""
        self._at_once = what

    @contextlib.contextmanager
    def saving(self):
        """A checkpoint save: a second signal during it lets the save finish (no half-written
        checkpoint), then ends the process, naming the newest complete checkpoint."""
        self._saving = True
        try:
            yield
        finally:
            self._saving = False
            if self._deferred is not None:
                name = signal.Signals(self._deferred).name
                abort_now(f"{name} again: the checkpoint save finished; exiting; "
                          f"{self.note()}", 128 + self._deferred)

    def __enter__(self):
        def handler(signum, frame):
            name = signal.Signals(signum).name
            if self.raised and self._saving:
                if self._deferred is None:
                    self._deferred = signum
                    sys.stderr.write(f"\n{name} again: finishing the checkpoint being saved, "
                                     f"then exiting\n")
                return
            if self._at_once is not None:
                abort_now(f"{name}: aborted at once during {self._at_once}; {self.note()}",
                          128 + signum)
            if self.raised:
                abort_now(f"{name} again: aborted at once; {self.note()}", 128 + signum)
            self.raised = True
            sys.stderr.write(f"\n{name}: stopping after this chunk and saving a checkpoint "
                             f"(again to abort at once)\n")

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread: no signal handling
                pass
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def abort_now(message: str, code: int) -> None:
    """Say why, then end the process without Python's or XLA's teardown (which may wait on a
    device computation that never finishes)."""
    sys.stderr.write(f"\n{message}\n")
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(code)


def wait_ready(tree, *, poll: float = 0.05) -> None:
    """Block until every array of ``tree`` is computed, in short sleeps, so signal handlers run
    on time (``jax.block_until_ready`` holds them off until the computation ends)."""
    import jax

    leaves = [x for x in jax.tree.leaves(tree) if hasattr(x, "is_ready")]
    while not all(x.is_ready() for x in leaves):
        time.sleep(poll)


class Heartbeat:
    """While a long blocking phase runs (compilation, a long chunk, the final evaluation), say so
    every ``every`` seconds with the elapsed time, from a daemon thread (XLA releases the GIL
    while it compiles and runs), so the user never faces minutes of silence.

    ``stall_after``: on a CPU backend, a computation that makes progress uses CPU time (XLA's
    compiler and its kernels run in this process). If the whole process uses almost none
    (< 1% of one core) for ``stall_after`` seconds, the phase is stuck, not slow: say so once,
    with what waits, since when, and how to see where (a deadlock in XLA or a kernel has been
    seen: issue 32). None: no such check (a GPU/TPU computation leaves the host idle)."""

    def __init__(self, label: str, log, every: float = 5.0, stall_after: float | None = None):
        self.label, self.log, self.every, self.stall_after = label, log, every, stall_after
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.perf_counter()
        since = time.strftime("%H:%M:%S")
        idle_from, cpu_then, warned = start, time.process_time(), False
        while not self._stop.wait(self.every):
            now, cpu = time.perf_counter(), time.process_time()
            self.log(f"  ... {self.label}: {now - start:.0f}s")
            if cpu - cpu_then > 0.01 * self.every:  # busy in this interval
                idle_from = now
            cpu_then = cpu
            if (self.stall_after is not None and not warned
                    and now - idle_from >= self.stall_after):
                warned = True
                self.log(f"  !!! {self.label}: waiting since {since}, and this process has "
                         f"used no CPU for {now - idle_from:.0f}s: the computation looks "
                         f"stuck, not slow. Where it waits: py-spy dump --native --pid "
                         f"{os.getpid()} (pip install py-spy). Ctrl-C or SIGTERM twice ends "
                         f"the run at once.")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
