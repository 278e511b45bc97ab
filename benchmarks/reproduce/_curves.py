"""Learning curves of several seeds trained as one program (jax.vmap over the meta-state)."""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np

import esmaml_jax as ej
from benchmarks._common import stamped


def train_curve(algo, *, seeds: int, steps: int, chunk: int, eval_repeats: int = 4,
                eval_tasks: int | None = None, seed_axis: str = "vmap",
                also: dict | None = None, final_states: list | None = None,
                seed_stream: int = 0, **labels) -> tuple[list[dict], float]:
    """Train ``seeds`` seeds of ``algo`` together; evaluate every ``chunk`` meta-steps.

    ``seed_axis``: "vmap" runs the seeds side by side; "map" runs them one after the other
    inside the same program (``lax.map``). Brax halfcheetah with 2 vmapped seeds x P 20 x T 2
    segfaulted inside XLA's CPU runtime with the batch layout before session 13; with today's it
    runs (session 15: 4 meta-steps, 117 s vmapped against 122 s mapped, compilation included),
    so ES-MAML's seeds are vmapped everywhere (locomotion, robustness, pg_vs_es). PG-MAML's stay
    mapped: TRPO's while loops would run until the slowest seed is done.

    ``final_states``: a list the trained states (stacked over seeds) are appended to.
    ``seed_stream``: the seeds' keys are split from PRNGKey(seed_stream) (0: the usual seeds; any
    other value: fresh seeds, for re-running a setting changed after a run).
    ``also``: {name: algorithm} evaluated on the same states too (e.g. PG-MAML with
    ``evaluation="mean"``), as columns test_pre_<name> / test_post_<name>.

    Returns rows {labels..., seed, step, test_pre, test_post} and the wall time (incl. compile).
    """
    evaluators = {"": algo, **{f"_{k}": v for k, v in (also or {}).items()}}
    keys = jax.random.split(jax.random.PRNGKey(seed_stream), seeds)
    states = jax.vmap(algo.init)(keys)

    def run(s, k, done):
        k = jax.random.fold_in(k, done)
        return jax.lax.scan(algo.step, s, jax.random.split(k, chunk))[0]

    def ev(s, k, done):
        return {name: a.evaluate(s, jax.random.fold_in(k, 10**6 + done), num_tasks=eval_tasks,
                                 num_repeats=eval_repeats) for name, a in evaluators.items()}

    # Keys are derived inside the programs: two executables for the whole curve.
    if seed_axis == "vmap":
        train = ej.jit(jax.vmap(run, in_axes=(0, 0, None)))
        evaluate = ej.jit(jax.vmap(ev, in_axes=(0, 0, None)))
    elif seed_axis == "map":
        train = ej.jit(lambda s, k, d: jax.lax.map(lambda a: run(*a, d), (s, k)))
        evaluate = ej.jit(lambda s, k, d: jax.lax.map(lambda a: ev(*a, d), (s, k)))
    else:
        raise ValueError(f"seed_axis must be 'vmap' or 'map', got {seed_axis!r}")
    rows = []
    t0 = time.perf_counter()
    for done in range(0, steps + 1, chunk):
        if done:
            states = train(states, keys, done)
        out = evaluate(states, keys, done)
        for seed in range(seeds):
            row = {**labels, "seed": seed, "step": done}
            for name, o in out.items():
                row[f"test_pre{name}"] = round(float(o["pre_mean"][seed]), 2)
                row[f"test_post{name}"] = round(float(o["post_mean"][seed]), 2)
            rows.append(stamped(row))
    if final_states is not None:
        final_states.append(states)
    return rows, time.perf_counter() - t0


def final(rows: list[dict], key: str = "test_post") -> list[float]:
    last = max(r["step"] for r in rows)
    return [r[key] for r in rows if r["step"] == last]


def plot_curves(groups: dict[str, list[dict]], path: Path, title: str,
                hline: float | None = None, key: str = "test_post") -> None:
    """Mean and min-max band over seeds of ``key`` against meta-steps, one line per group (rows
    fresh from a run or read back from a CSV, whose values are strings)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (label, rows) in enumerate(groups.items()):
        steps = sorted({int(r["step"]) for r in rows})
        vals = np.array([[float(r[key]) for r in rows if int(r["step"]) == s] for s in steps])
        ax.plot(steps, vals.mean(1), color=f"C{i}", label=label)
        ax.fill_between(steps, vals.min(1), vals.max(1), color=f"C{i}", alpha=0.2)
    if hline is not None:
        ax.axhline(hline, color="grey", ls="--", lw=1, label="maximum")
    ax.set_xlabel("meta-step")
    ax.set_ylabel("post-adaptation test return" if key == "test_post" else key)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
