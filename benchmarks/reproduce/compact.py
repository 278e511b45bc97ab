"""Sec. 4.2: "Using more compact policies also directly speeds up ES-MAML, since fewer
perturbations are needed for gradient estimation." How many perturbations P the ES-MAML
meta-gradient estimate needs, for a linear policy (D = 6) and an MLP(32) (D = 162), on
navigation_2d (pure JAX, dense reward, the paper's MC operator with K = 20).

For each seed (its own initial meta-policy), the estimate at P (the direction of one SGD meta-step
from that policy: the update of `optax.sgd` is the estimate times the step size) is compared by
cosine with a reference: the mean of ``--ref-repeats`` independent estimates at the largest P of
the grid. "P needed" is the smallest P of the grid whose mean cosine over ``--repeats``
independent estimates reaches 0.5; a seed that never reaches it is counted as twice the largest P
(a censored value that understates its need). Writes benchmarks/results/compact.csv.

    python -m benchmarks.reproduce.compact [--seeds 10] [--seed-stream 2045]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import envs
import esmaml_jax as ej
from benchmarks._common import RESULTS, seed_keys, stamped, write_csv
from esmaml_jax import adaptation

POLICIES = {"L": (), "H": (32,)}
THRESHOLD = 0.5


def algorithm(policy_name: str, p: int):
    """ES-MAML on navigation_2d (MC, K 20) with P = ``p`` and SGD 1.0 (a meta-step's update is
    the estimate itself)."""
    fam = envs.make("navigation_2d")
    hidden = POLICIES[policy_name]
    pol = (ej.policies.linear(2, 2) if not hidden else ej.policies.mlp(2, 2, hidden))
    return ej.zero_order(ej.rl_objective(fam, pol), adaptation.es_gradient(num_queries=20),
                         num_perturbations=p, optimizer=optax.sgd(1.0))


def estimates(policy_name: str, p: int, states, keys) -> jax.Array:
    """ES-MAML meta-gradient estimates at P = ``p``: [seeds, repeats, D] for states [seeds]
    and keys [seeds, repeats]."""
    algo = algorithm(policy_name, p)

    def one(state, key):
        return algo.step(state, key)[0].params - state.params

    return ej.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0))))(states, keys)


def init_states(policy_name: str, seeds: int, stream: int):
    return jax.vmap(algorithm(policy_name, 2).init)(seed_keys(seeds, stream)[0])


def cosine(a, b):
    return jnp.sum(a * b, -1) / (jnp.linalg.norm(a, axis=-1) * jnp.linalg.norm(b, axis=-1)
                                 + 1e-30)


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--grid", default="2,4,8,16,32,64,128,256",
                   help="the perturbation counts P tried, comma-separated, increasing")
    p.add_argument("--repeats", type=int, default=8,
                   help="independent estimates per P (their mean cosine is compared)")
    p.add_argument("--ref-repeats", type=int, default=32,
                   help="estimates at the largest P averaged into the reference")
    p.add_argument("--seed-stream", type=int, default=0, dest="seed_stream")
    p.add_argument("--out", default=str(RESULTS / "compact.csv"))
    p.add_argument("--tiny", action="store_true", help="seconds: 2 seeds, P 2 and 4")
    args = p.parse_args(argv)
    if args.tiny:
        args.seeds, args.grid, args.repeats, args.ref_repeats = 2, "2,4", 2, 2
    grid = [int(x) for x in args.grid.split(",")]
    if grid != sorted(grid) or min(grid) < 1:
        p.error(f"--grid {args.grid}: increasing positive perturbation counts")
    rows = []
    for name in POLICIES:
        t0 = time.perf_counter()
        states = init_states(name, args.seeds, args.seed_stream)
        # keys: the train stream of each seed, split per (P, repeat) and for the reference
        base = seed_keys(args.seeds, args.seed_stream)[1]
        ref_keys = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, 0),
                                                       args.ref_repeats))(base)
        ref = estimates(name, grid[-1], states, ref_keys).mean(axis=1)  # [seeds, D]
        cos = {}
        for i, n in enumerate(grid):
            keys = jax.vmap(lambda k, i=i: jax.random.split(jax.random.fold_in(k, i + 1),
                                                            args.repeats))(base)
            cos[n] = np.asarray(cosine(estimates(name, n, states, keys), ref[:, None]).mean(1))
        wall = time.perf_counter() - t0
        for s in range(args.seeds):
            reached = [n for n in grid if cos[n][s] >= THRESHOLD]
            rows.append(stamped({"policy": name, "D": int(states.params.shape[-1]), "seed": s,
                         "p_needed": reached[0] if reached else 2 * grid[-1],
                         "reached": bool(reached),
                         **{f"cos_P{n}": round(float(cos[n][s]), 4) for n in grid},
                         "threshold": THRESHOLD, "repeats": args.repeats,
                         "ref": f"{args.ref_repeats} x P {grid[-1]}", "seeds": args.seeds,
                         "seed_stream": args.seed_stream, "wall_s_policy": round(wall, 1)}))
        print(f"{name}: P needed per seed {[r['p_needed'] for r in rows if r['policy'] == name]}"
              f", {wall:.0f} s", flush=True)
    write_csv(rows, args.out)


if __name__ == "__main__":
    main()
