"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import csv
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def write_csv(rows: list[dict], path: str | Path) -> None:
    """Write result rows (dicts with the same keys) to ``path``, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def train_seeds(algo, *, seeds: int, steps: int, eval_repeats: int):
    """Train ``seeds`` seeds of ``algo`` for ``steps`` meta-steps as one program (jax.vmap over
    the meta-state; seed i uses key i of PRNGKey(0) for init, training and evaluation).

    Returns (trained states, evaluation before, evaluation after, training wall time incl.
    compilation).
    """
    import jax

    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    states = jax.vmap(algo.init)(keys)

    def run(s, k):
        return jax.lax.scan(algo.step, s, jax.random.split(k, steps))[0]

    evaluate = jax.jit(jax.vmap(lambda s, k: algo.evaluate(s, k, num_repeats=eval_repeats)))
    before = evaluate(states, keys)
    t0 = time.perf_counter()
    states = jax.block_until_ready(jax.jit(jax.vmap(run))(states, keys))
    wall = time.perf_counter() - t0
    return states, before, evaluate(states, keys), wall
