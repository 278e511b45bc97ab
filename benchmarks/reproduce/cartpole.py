"""Sec. 4.3 / Fig. 4 at CPU scale: stability of ES-MAML on the biased-sensor CartPole with linear
(L), one-hidden-layer (H) and two-hidden-layer (HH) deterministic policies. Seeds run as one
program (jax.vmap over the algorithm state); the post-adaptation test return is recorded every
``--chunk`` meta-steps, so the curves show whether the maximum, once reached, is kept.

Writes benchmarks/results/cartpole.csv (one row per policy, seed and evaluation) and
cartpole.png (mean and range over seeds).

    python -m benchmarks.reproduce.cartpole [--steps 150] [--seeds 3] [--horizon 200]

The paper's scale (horizon 500, P 150; 5 seeds where the paper ran 3): --full (= --horizon 500
--steps 500 --perturbations 150 --seeds 5)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import optax

import envs
import esmaml_jax as ej
from benchmarks._common import RESULTS, rows_kept, write_csv
from benchmarks.reproduce._curves import final, plot_curves, train_curve
from esmaml_jax import adaptation

POLICIES = {"L": (), "H": (32,), "HH": (32, 32)}


def policy(name: str, fam):
    hidden = POLICIES[name]
    if not hidden:
        return ej.policies.linear(fam.observation_size, fam.action_size)
    return ej.policies.mlp(fam.observation_size, fam.action_size, hidden)


def run(name: str, args) -> tuple[list[dict], float]:
    fam = envs.make("biased_cartpole", horizon=args.horizon)
    obj = ej.rl_objective(fam, policy(name, fam), horizon=args.horizon)
    algo = ej.zero_order(obj, adaptation.es_gradient(num_queries=args.queries),
                         num_perturbations=args.perturbations, optimizer=optax.sgd(0.01))
    rows, wall = train_curve(algo, seeds=args.seeds, steps=args.steps, chunk=args.chunk,
                             seed_stream=args.seed_stream, policy=name, horizon=args.horizon)
    for r in rows:  # the run's scale, for the verdicts (results.paper_scale)
        r.update(perturbations=args.perturbations, K=args.queries, steps=args.steps,
                 seeds=args.seeds, seed_stream=args.seed_stream)
    return rows, wall


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--chunk", type=int, default=10)
    p.add_argument("--seeds", type=int, default=None, help="default 3 (5 with --full)")
    p.add_argument("--horizon", type=int, default=200)
    p.add_argument("--perturbations", type=int, default=50)
    p.add_argument("--queries", type=int, default=10)
    p.add_argument("--seed-stream", type=int, default=0, dest="seed_stream",
                   help="seeds split from PRNGKey(N) (default 0): fresh seeds for a re-run")
    p.add_argument("--out", default=str(RESULTS / "cartpole.csv"))
    p.add_argument("--tiny", action="store_true", help="seconds: 2 steps, horizon 10")
    p.add_argument("--full", action="store_true",
                   help="the paper's scale (for an accelerator; hours on this CPU)")
    p.add_argument("--only", default=None,
                   help="comma-separated policies (L, H, HH) to run; their rows in --out are "
                        "replaced, the other policies' kept")
    args = p.parse_args(argv)
    wanted = list(POLICIES) if not args.only else args.only.split(",")
    if not set(wanted) <= set(POLICIES):
        p.error(f"--only {args.only}: policies are {', '.join(POLICIES)}")
    if args.full:
        args.steps, args.perturbations, args.horizon = 500, 150, 500
    args.seeds = args.seeds or (5 if args.full else 3)
    if args.tiny:
        args.steps, args.chunk, args.horizon, args.perturbations, args.seeds = 2, 1, 10, 4, 2
    # with --only, the other policies' rows and times are kept
    rows = rows_kept(args.out, lambda r: r["policy"], set(wanted)) if args.only else []
    walls = {r["policy"]: float(r["wall_s_policy"]) for r in rows}
    for name in wanted:
        got, walls[name] = run(name, args)
        for r in got:
            r["only"] = args.only or ""
        rows += got
        last = final(got)
        print(f"{name}: final post-adaptation {np.mean(last):.1f} (seeds {last}), "
              f"{walls[name]:.0f} s", flush=True)
    for r in rows:
        r["wall_s_policy"] = round(walls[r["policy"]], 1)
    write_csv(rows, args.out)
    plot_curves({f"ES-MAML ({n})": [r for r in rows if r["policy"] == n] for n in POLICIES},
                Path(args.out).with_suffix(".png"),
                f"Biased-sensor CartPole, H = {args.horizon} (mean, min-max over seeds)",
                hline=args.horizon)


if __name__ == "__main__":
    main()
