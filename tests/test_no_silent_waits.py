"""Nothing waits for ever without saying so (issue 32): a stuck computation is called stuck,
and a second SIGTERM / Ctrl-C ends the process at once, naming the newest checkpoint."""

import os
import signal
import subprocess
import sys
import textwrap
import time

from esmaml_jax.app.loop import newest_checkpoint
from esmaml_jax.app.progress import Heartbeat

IDLE = textwrap.dedent("""
    import time
    from esmaml_jax.app.progress import Heartbeat
    with Heartbeat("phase", print, every=0.1, stall_after=0.6):
        time.sleep(1.5)  # no CPU used: what a deadlocked XLA computation looks like
""")


def test_heartbeat_calls_an_idle_wait_stuck_and_a_busy_one_not():
    # a fresh process: no thread of an earlier test may use CPU during the idle wait
    proc = subprocess.run([sys.executable, "-c", IDLE], capture_output=True, text=True,
                          timeout=120)
    stuck = [m for m in proc.stdout.splitlines() if "looks stuck" in m]
    assert len(stuck) == 1 and "py-spy dump --native --pid" in stuck[0], proc.stdout

    busy: list[str] = []
    with Heartbeat("phase", busy.append, every=0.1, stall_after=0.6):
        end = time.perf_counter() + 1.5
        while time.perf_counter() < end:
            sum(range(1000))
    assert not [m for m in busy if "looks stuck" in m]
    assert any("phase:" in m for m in busy)  # the ordinary heartbeat


def test_newest_checkpoint_is_named(tmp_path):
    assert "no checkpoint" in newest_checkpoint(tmp_path)
    for name in ("3", "12", "20.orbax-checkpoint-tmp"):
        (tmp_path / "checkpoints" / name).mkdir(parents=True)
    text = newest_checkpoint(tmp_path)
    assert "meta-step 12" in text and "--resume" in text


STUCK = textwrap.dedent("""
    import threading, time, jax, jax.numpy as jnp
    from esmaml_jax.app.progress import StopFlag
    # a device computation that never ends; small programs run inline on the dispatching
    # thread on a CPU, so it is dispatched from a worker thread while the main thread polls,
    # as the training loop's `wait_ready` does on an asynchronously dispatched chunk
    forever = jax.jit(lambda x: jax.lax.while_loop(lambda c: c[1] >= 0,
                                                   lambda c: (c[0] * 1.0001, c[1]), (x, 0))[0])
    with StopFlag(lambda: "the newest checkpoint is C7") as flag:
        threading.Thread(target=forever, args=(jnp.float32(1.0),), daemon=True).start()
        print("WAITING", flush=True)
        while True:
            time.sleep(0.05)
    print("NOT REACHED", flush=True)
""")


def test_second_sigterm_ends_a_stuck_computation_at_once():
    proc = subprocess.Popen([sys.executable, "-c", STUCK], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, JAX_PLATFORMS="cpu"))
    try:
        assert proc.stdout.readline().strip() == "WAITING"
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)  # first: "stopping after this chunk"; still stuck
        time.sleep(1.0)
        assert proc.poll() is None
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.perf_counter() - t0 < 10
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "again to abort at once" in err
    assert "SIGTERM again: aborted at once; the newest checkpoint is C7" in err
    assert "NOT REACHED" not in out


SAVING = textwrap.dedent("""
    import os, signal, sys, time
    from esmaml_jax.app.progress import StopFlag
    marker = sys.argv[1]
    with StopFlag(lambda: "the newest checkpoint is C8") as flag:
        os.kill(os.getpid(), signal.SIGTERM)  # first: stop after this chunk
        time.sleep(0.2)
        with flag.saving():
            os.kill(os.getpid(), signal.SIGTERM)  # second, while the checkpoint is written
            time.sleep(0.5)
            open(marker, "w").write("the save completed")
        print("NOT REACHED", flush=True)
""")


def test_second_signal_during_a_save_lets_it_finish_then_exits(tmp_path):
    """Issue 35 item 4: a second SIGTERM / Ctrl-C while a checkpoint is written does not cut
    the save short (orbax's temporary folder and tracebacks); the save completes, then the
    process exits at once with one line naming the newest checkpoint."""
    marker = tmp_path / "saved"
    proc = subprocess.run([sys.executable, "-c", SAVING, str(marker)], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr[-2000:]
    assert marker.read_text() == "the save completed"
    assert "NOT REACHED" not in proc.stdout
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert lines[-1] == ("SIGTERM again: the checkpoint save finished; exiting; the newest "
                         "checkpoint is C8"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_resume_removes_a_save_that_never_completed(tmp_path):
    """A save cut short (the process killed) leaves orbax's temporary folder; the writer that
    resumes the run removes it, a reader (eval, plot) leaves the run untouched."""
    from esmaml_jax.app.checkpoint import Checkpointer

    stale = tmp_path / "checkpoints" / "22.orbax-checkpoint-tmp-1733490000"
    stale.mkdir(parents=True)
    (stale / "part").write_text("half")
    assert Checkpointer(tmp_path / "checkpoints", read_only=True).removed_partial == []
    assert stale.exists()
    ckpt = Checkpointer(tmp_path / "checkpoints")
    assert ckpt.removed_partial == [stale.name] and not stale.exists()
    ckpt.close()


def test_progress_is_a_live_rich_bar_on_a_terminal_and_plain_lines_in_a_log():
    """Issue 36 item 5: a terminal gets a rich progress bar; a file (a log) gets one plain
    greppable line per update."""
    import io

    from esmaml_jax.app.progress import Progress

    log = io.StringIO()
    bar = Progress(10, stream=log)
    bar.update(5, "train post -1.0")
    bar.close()
    assert log.getvalue().startswith("[############------------] 5/10 train post -1.0 |")
    screen = io.StringIO()
    bar = Progress(10, stream=screen, terminal=True)
    bar.update(5, "train post -1.0")
    bar.close()
    text = screen.getvalue()
    assert "5/10" in text and "train post -1.0" in text and "\x1b[" in text  # terminal codes
