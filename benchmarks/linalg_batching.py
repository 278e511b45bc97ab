"""What the hang fix costs: the meta-step of the LAPACK-using operators on ONE device with
jaxlib's batched kernels ("batched", the code before issue 32's fix, which hangs on several
devices) and with one kernel call per matrix (`esmaml_jax.linalg`, "per_matrix", today's).

Each variant is built fresh (the wrappers are read at trace time), compiled once, then timed
over interleaved rounds (``--rounds`` of ``--steps`` steps each, the median of a round kept);
min / median / max over rounds and the load average are written to
benchmarks/results/linalg_batching.json.

    python -m benchmarks.linalg_batching            # four corners, MLP(32), P 150, K 20, H 100
    python -m benchmarks.linalg_batching --tiny     # seconds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

import envs
import esmaml_jax as ej
from benchmarks._common import RESULTS, attributes_replaced, write_rows_json
from esmaml_jax import linalg, paper

BATCHED = {
    "solve": lambda a, b: jnp.linalg.solve(a, b),
    "eigh": lambda a: tuple(jnp.linalg.eigh(a)),
    "qr": lambda a: tuple(jnp.linalg.qr(a)),
    "lstsq_solution": lambda a, b: jnp.linalg.lstsq(a, b)[0],
    "spectral_norm": lambda a: jnp.linalg.norm(a, ord=2),
    "cho_factor": lambda a: jsl.cho_factor(a)[0],
    "cho_solve": lambda c, b: jsl.cho_solve((c, False), b),
}


def batched_kernels():
    """The plain batched LAPACK calls in place of `esmaml_jax.linalg`'s wrappers."""
    return attributes_replaced(linalg, BATCHED)


def compiled_step(op_name, p, k, h):
    fam = envs.make("four_corners", horizon=h)
    policy = ej.policies.mlp(fam.observation_size, fam.action_size, (32,))
    ops = {"rbo": lambda: ej.adaptation.rbo(num_queries=k),
           "dpp_es": lambda: ej.adaptation.dpp_es(num_queries=k),
           "es_gradient_orthogonal": lambda: ej.adaptation.es_gradient(num_queries=k,
                                                                       sampler=ej.estimators.orthogonal)}
    algo = ej.zero_order(ej.rl_objective(fam, policy), ops[op_name](), num_perturbations=p)
    state, key = algo.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1)
    step = ej.jit(algo.step).lower(state, key).compile()
    jax.block_until_ready(step(state, key))
    return step, state, key


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--out", default=str(RESULTS / "linalg_batching.json"))
    a = ap.parse_args(argv)
    p, k, h = (4, 4, 10) if a.tiny else (paper.NUM_PERTURBATIONS, paper.NUM_QUERIES, 100)
    rows = []
    for op in ("rbo", "dpp_es", "es_gradient_orthogonal"):
        with batched_kernels():
            variants = {"batched": compiled_step(op, p, k, h)}
        variants["per_matrix"] = compiled_step(op, p, k, h)
        times: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(a.rounds):
            for name, (step, state, key) in variants.items():
                ts = []
                for _ in range(a.steps):
                    t0 = time.perf_counter()
                    jax.block_until_ready(step(state, key))
                    ts.append(time.perf_counter() - t0)
                times[name].append(statistics.median(ts) * 1e3)
        row = {"operator": op, "P": p, "K": k, "H": h, "policy": "mlp[32]",
               "load_average": os.getloadavg()}
        for name, ts in times.items():
            row[name + "_ms"] = {"min": min(ts), "median": statistics.median(ts), "max": max(ts)}
        row["per_matrix_over_batched"] = (row["per_matrix_ms"]["median"]
                                          / row["batched_ms"]["median"])
        rows.append(row)
        print(json.dumps(row), flush=True)
    write_rows_json(rows, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
