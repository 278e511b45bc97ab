"""What the DPP-ES kernel's form costs: the vmapped training program of four corners with
DPP-ES at K 20 (the exploration script's setting: MLP(32), P 150, SGD 0.01) with the RBF
kernel's squared distances from the [M, M, D] array of pairwise differences ("pairwise", the
code before this benchmark) and from the Gram matrix ("gram", `estimators.rbf_kernel` today),
both compiled with `esmaml_jax.jit` (YNNPACK fusions off on a CPU, as every script runs).

Each variant is compiled once, then timed over interleaved rounds (``--rounds`` calls of the
whole program each); min / median / max seconds per seed and meta-step, the compiled
program's temporary memory (XLA's memory analysis) and the load average are written to
benchmarks/results/dpp_kernel.json.

    python -m benchmarks.dpp_kernel            # 2 seeds x 3 meta-steps, 3 rounds: ~2 min
    python -m benchmarks.dpp_kernel --tiny     # P 4, 1 seed, 1 step: seconds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
import optax

import envs
import esmaml_jax as ej
from benchmarks._common import RESULTS, attributes_replaced, seed_keys, write_rows_json
from esmaml_jax import estimators


def pairwise_kernel(x, bandwidth_sq):
    """The kernel as it was: squared distances summed over the [M, M, D] differences."""
    sq = jnp.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    return jnp.exp(-sq / (2.0 * bandwidth_sq))


def compiled_training(p: int, k: int, seeds: int, steps: int):
    fam = envs.make("four_corners")
    policy = ej.policies.mlp(2, 2, (32,))
    algo = ej.zero_order(ej.rl_objective(fam, policy), ej.adaptation.dpp_es(num_queries=k),
                         num_perturbations=p, optimizer=optax.sgd(0.01))
    k_init, k_train, _ = seed_keys(seeds, 1)
    states = jax.vmap(algo.init)(k_init)

    def run(s, key):
        return jax.lax.scan(algo.step, s, jax.random.split(key, steps))[0]

    program = ej.jit(jax.vmap(run)).lower(states, k_train).compile()
    jax.block_until_ready(program(states, k_train))
    memory = program.memory_analysis()
    return program, states, k_train, (memory.temp_size_in_bytes if memory else None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "dpp_kernel.json"))
    a = ap.parse_args(argv)
    p, k, seeds, steps = (4, 20, 1, 1) if a.tiny else (150, 20, a.seeds, a.steps)
    variants = {}
    for name, fn in (("pairwise", pairwise_kernel), ("gram", estimators.rbf_kernel)):
        with attributes_replaced(estimators, {"rbf_kernel": fn}):
            variants[name] = compiled_training(p, k, seeds, steps)
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(a.rounds):
        for name, (program, states, keys, _) in variants.items():
            t0 = time.perf_counter()
            jax.block_until_ready(program(states, keys))
            times[name].append((time.perf_counter() - t0) / (seeds * steps))
    row: dict = {"env": "four_corners", "operator": "dpp_es", "P": p, "K": k, "seeds": seeds,
                 "steps": steps, "policy": "mlp[32]", "compiler_options": ej.compiler_options(),
                 "load_average": os.getloadavg()}
    for name, ts in times.items():
        row[name + "_s_per_seed_step"] = {"min": min(ts), "median": statistics.median(ts),
                                          "max": max(ts)}
        row[name + "_temp_bytes"] = variants[name][3]
    row["pairwise_over_gram"] = (row["pairwise_s_per_seed_step"]["median"]
                                 / row["gram_s_per_seed_step"]["median"])
    print(json.dumps(row), flush=True)
    write_rows_json([row], a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
