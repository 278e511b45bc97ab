"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import platform
import subprocess
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def _machine() -> str:
    """"<CPU model>, <n> CPUs, <widest vector ISA>": the ISA decides how XLA:CPU rounds, the
    model and count how long a run takes."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                name, _, value = line.partition(":")
                if name.strip() == "model name" and value.strip():
                    model = value.strip()
                elif name.strip() in ("flags", "Features"):
                    flags = set(value.split())
    except OSError:
        pass
    isa = next((f for f in ("avx512f", "avx2", "avx", "sse4_2", "asimd", "neon") if f in flags),
               "none seen")
    return f"{model}, {os.cpu_count()} CPUs, {isa}"


def _commit(root: Path) -> str:
    """HEAD's short hash; "+changes" when tracked code differs from it (result files and the
    tables rendered from them excluded: a campaign writes those between its parts)."""
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=root,
                              timeout=10).stdout.strip()
    try:
        head = git("rev-parse", "--short=12", "HEAD")
        edited = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                     ":!benchmarks/results", ":!benchmarks/RESULTS.md", ":!docs")
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + ("+changes" if head and edited else "")


@functools.lru_cache(maxsize=1)
def run_record() -> dict[str, str]:
    """What makes a result row, as CSV columns: ``versions`` (jax, jaxlib, brax, mujoco, the
    MJX wheel), ``machine`` (`_machine`), ``device`` (JAX's backend, device kind and count) and
    ``commit`` (`_commit`). `stamped` adds them to rows when a run makes them, so a CSV merged
    from several runs keeps each row's own."""
    import jax

    from esmaml_jax.app.provenance import package_versions

    versions = ", ".join(f"{n} {v or 'none'}" for n, v in package_versions(
        ("jax", "jaxlib", "brax", "mujoco", "mujoco-mjx")).items())
    devices = jax.devices()
    kind = devices[0].device_kind  # "cpu" on a CPU; e.g. "NVIDIA H100 80GB HBM3" on a GPU
    device = " ".join(dict.fromkeys([jax.default_backend(), kind])) + f" x{len(devices)}"
    return {"versions": versions, "machine": _machine(), "device": device,
            "commit": _commit(Path(__file__).resolve().parent.parent)}


def stamped(row: dict) -> dict:
    """``row`` with `run_record`'s columns (a row that has them keeps its own)."""
    return {**row, **{k: v for k, v in run_record().items() if k not in row}}


def write_csv(rows: list[dict], path: str | Path) -> None:
    """Write result rows to ``path``, creating its folder (a column missing from a row, e.g.
    one added after an older row was written, stays empty there)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(k for r in rows for k in r))  # every column, first-seen order
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)


@contextlib.contextmanager
def attributes_replaced(module, replacements: dict):
    """``module``'s attributes named in ``replacements`` swapped for the block, then restored:
    how a micro-benchmark builds the A side of an A/B from library code that is read when a
    program is traced (the wrappers of esmaml_jax.linalg, estimators.rbf_kernel)."""
    saved = {name: getattr(module, name) for name in replacements}
    for name, value in replacements.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def write_rows_json(rows: list[dict], path: str | Path) -> None:
    """A micro-benchmark's result file: its rows, with the JAX version, device count and CPU
    count of the process that measured them."""
    import jax

    result = {"rows": rows, "jax": jax.__version__, "devices": jax.device_count(),
              "cpu_count": os.cpu_count()}
    with open(path, "w") as fh:
        json.dump(result, fh, indent=1)
        fh.write("\n")


def only_matches(only: str, name: str) -> bool:
    """A script's --only: ``name`` contains one of the comma-separated texts of ``only``."""
    return any(w in name for w in only.split(","))


def only_experiments(experiments: list, only: str) -> list:
    """The experiment tuples whose name "field/field/..." `only_matches` ``only``; none is an
    error (the scripts exit with it)."""
    chosen = [e for e in experiments if only_matches(only, "/".join(map(str, e)))]
    if not chosen:
        raise SystemExit(f"no experiment matches {only!r}")
    return chosen


def rows_kept(path: str | Path, key, replaced: set) -> list[dict]:
    """The rows of an earlier run's CSV at ``path`` that a --only run keeps: those whose
    ``key(row)`` is not in ``replaced`` (the experiments run again); [] without a file."""
    if not Path(path).exists():
        return []
    with open(path, newline="") as fh:
        return [r for r in csv.DictReader(fh) if key(r) not in replaced]


def seed_keys(seeds: int, seed_stream: int = 0):
    """(init, training, evaluation) keys [seeds, 2] of `train_seeds`' seeds: seed i's key (key i
    of PRNGKey(seed_stream)) split into three streams. A script that scores the trained states
    again (e.g. under another reward) reuses the evaluation keys for a paired comparison."""
    import jax

    keys = jax.vmap(lambda k: jax.random.split(k, 3))(
        jax.random.split(jax.random.PRNGKey(seed_stream), seeds))
    return keys[:, 0], keys[:, 1], keys[:, 2]


def train_seeds(algo, *, seeds: int, steps: int, eval_repeats: int, seed_stream: int = 0):
    """Train ``seeds`` seeds of ``algo`` for ``steps`` meta-steps as one program (jax.vmap over
    the meta-state). Seed i's key (key i of PRNGKey(0)) is split into three streams: init,
    training and evaluation, so evaluation never reuses a key that training used. Evaluation
    before and after training uses the same evaluation key (same test tasks and rollout keys:
    a paired comparison). ``seed_stream`` S != 0 draws the seeds from PRNGKey(S) instead of
    PRNGKey(0): fresh seeds, for re-running a changed setting on seeds it was not tuned on.

    Returns (trained states, evaluation before, evaluation after, training wall time incl.
    compilation).
    """
    import jax

    from esmaml_jax import compiler

    k_init, k_train, k_eval = seed_keys(seeds, seed_stream)
    states = jax.vmap(algo.init)(k_init)

    def run(s, k):
        return jax.lax.scan(algo.step, s, jax.random.split(k, steps))[0]

    evaluate = compiler.jit(jax.vmap(lambda s, k: algo.evaluate(s, k, num_repeats=eval_repeats)))
    before = evaluate(states, k_eval)
    t0 = time.perf_counter()
    states = jax.block_until_ready(compiler.jit(jax.vmap(run))(states, k_train))
    wall = time.perf_counter() - t0
    return states, before, evaluate(states, k_eval), wall


# What a benchmark JSON records about how its rollouts were batched. "explicit": session 13's
# flat batches (one vmap of the env step, MLP policies batch-last on a CPU); figures recorded
# with "auto (Brax batch-last)" or without this key came from the jaxpr interpreter before it.
def flat_layout() -> str:
    return "explicit flat batches (vmap of the env step; MLP batch-last on CPU)"


def layout_note(result: dict) -> str:
    """A sentence for a table made from ``result``: empty when it records its layout."""
    if "flat_layout" in result:
        return f" Flat-batch layout: {result['flat_layout']}."
    return (" Measured before Brax rollouts ran batch-last (Throughput, item 10): its Brax "
            "rows are the vmap layout's.")
