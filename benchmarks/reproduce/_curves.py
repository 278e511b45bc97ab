"""Learning curves of several seeds trained as one program (jax.vmap over the meta-state)."""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np


def train_curve(algo, *, seeds: int, steps: int, chunk: int, eval_repeats: int = 4,
                eval_tasks: int | None = None, **labels) -> tuple[list[dict], float]:
    """Train ``seeds`` seeds of ``algo`` together; evaluate every ``chunk`` meta-steps.

    Returns rows {labels..., seed, step, test_pre, test_post} and the wall time (incl. compile).
    """
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    states = jax.vmap(algo.init)(keys)

    def run(s, k):
        return jax.lax.scan(algo.step, s, jax.random.split(k, chunk))[0]

    train = jax.jit(jax.vmap(run))
    evaluate = jax.jit(jax.vmap(lambda s, k: algo.evaluate(s, k, num_tasks=eval_tasks,
                                                           num_repeats=eval_repeats)))
    rows = []
    t0 = time.perf_counter()
    for done in range(0, steps + 1, chunk):
        if done:
            states = train(states, jax.vmap(lambda k, d=done: jax.random.fold_in(k, d))(keys))
        ev = evaluate(states, jax.vmap(lambda k, d=done: jax.random.fold_in(k, 10**6 + d))(keys))
        for seed in range(seeds):
            rows.append({**labels, "seed": seed, "step": done,
                         "test_pre": round(float(ev["pre_mean"][seed]), 2),
                         "test_post": round(float(ev["post_mean"][seed]), 2)})
    return rows, time.perf_counter() - t0


def final(rows: list[dict], key: str = "test_post") -> list[float]:
    last = max(r["step"] for r in rows)
    return [r[key] for r in rows if r["step"] == last]


def plot_curves(groups: dict[str, list[dict]], path: Path, title: str,
                hline: float | None = None, key: str = "test_post") -> None:
    """Mean and min-max band over seeds of ``key`` against meta-steps, one line per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (label, rows) in enumerate(groups.items()):
        steps = sorted({r["step"] for r in rows})
        vals = np.array([[r[key] for r in rows if r["step"] == s] for s in steps])
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
