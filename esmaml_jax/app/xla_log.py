"""XLA's own log lines, filtered at the CLI's boundary.

XLA's C++ logging writes straight to file descriptor 2, below Python's `sys.stderr`, so Python's
`logging` and `warnings` filters cannot reach it. Under load XLA:CPU prints its slow-operation
alarms ("Very slow compile? If you want to file a bug ...", "The operation took 2.3s"): several
lines each, about a compile that is merely slow, in words that read like a failure. The `esmaml`
command therefore points fd 2 at a pipe read by a small filter process, which passes every line
except those alarms through to the real stderr and replaces the first alarm with one line of
ours. Python's own `sys.stderr` is rebound to the real stderr, so our output (and the progress
bar's terminal) never goes through the filter.

The filter is a separate process, not a thread: if XLA aborts the process, what it wrote before
dying is still read from the pipe and shown. It runs in its own session, so Ctrl-C reaches only
the command. ``ESMAML_XLA_LOGS=all`` turns the filter off. The library never installs it: only
the command line does (`install`).
"""

from __future__ import annotations

import atexit
import io
import os
import subprocess
import sys

SHOW_ALL = "ESMAML_XLA_LOGS"

# The filter process's program: a log record starts with absl's header ("E1206 18:00:01.000001
# 4242 file.cc:73] ..."); a record from slow_operation_alarm.cc is dropped with its continuation
# lines (those up to the next header).
_FILTER = r"""
import re, sys
header = re.compile(rb"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ (\S+?):\d+\] ")
out, dropping, told = sys.stdout.buffer, False, False
for line in sys.stdin.buffer:
    m = header.match(line)
    if m:
        dropping = m.group(1).endswith(b"slow_operation_alarm.cc")
        if dropping and not told:
            told = True
            out.write(b"esmaml: XLA says a compile or operation is slow (a busy machine, or a "
                      b"large program); its further alarms are hidden (ESMAML_XLA_LOGS=all "
                      b"shows XLA's own lines)\n")
            out.flush()
    if not dropping:
        out.write(line)
        out.flush()
"""

_filter: subprocess.Popen | None = None


def install() -> None:
    """Route fd 2 through the filter and `sys.stderr` to the real stderr (once per process)."""
    global _filter
    if _filter is not None or os.environ.get(SHOW_ALL) == "all":
        return
    try:
        sys.stderr.flush()
        real = os.dup(2)
    except OSError:  # no fd 2: leave stderr as it is
        return
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _FILTER], stdin=subprocess.PIPE,
                                stdout=real, stderr=real, start_new_session=True)
    except OSError:  # no interpreter to start: leave stderr as it is
        os.close(real)
        return
    assert proc.stdin is not None
    os.dup2(proc.stdin.fileno(), 2)
    proc.stdin.close()  # fd 2 keeps the pipe open; the filter ends when the process's fd 2 closes
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    sys.stderr = io.TextIOWrapper(os.fdopen(real, "wb", buffering=0), encoding=encoding,
                                  errors="backslashreplace", line_buffering=True,
                                  write_through=True)
    _filter = proc
    atexit.register(_finish, real)


def _finish(real: int) -> None:
    """At a normal exit: give fd 2 back to the real stderr, let the filter write what it holds."""
    if _filter is None:
        return
    try:
        sys.stderr.flush()
        os.dup2(real, 2)  # the pipe's last writer closes: the filter reads to its end and exits
        _filter.wait(timeout=5)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
