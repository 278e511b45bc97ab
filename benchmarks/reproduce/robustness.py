"""A.3.3 / Fig. A3 (left): noise robustness on forward-backward Swimmer. "To simulate noisy data,
we randomly corrupt 25% of the queries f_T(theta + sigma g) used to estimate the adaptation
operator U(theta, T) with an enormous additive noise [...] RBO does not appear to be more robust
against noise than the standard MC estimator, which suggests that the original ES-MAML has some
inherent robustness to noise."

Three ES-MAML runs (Alg. 3, linear policy) at the CPU scale of the other Brax rows (P 20
antithetic x both directions, K 20, H 50, 40 meta-steps): the MC adaptation without noise, the MC
adaptation with 25% of its queries corrupted, and RBO (the L1 regression of the authors' code,
robust to a fraction of corrupted queries when K > D; D = 18 here) with the same corruption.
The corruption (`esmaml_jax.adaptation.corrupt_queries`) adds Gaussian noise of standard
deviation ``--noise`` (default 1000, about 100x the spread of the returns here) to each query
independently with probability ``--fraction``, in training and in the test-time adaptation
alike; the centre f(theta) is never corrupted.

Writes benchmarks/results/robustness.csv and robustness.png.

    python -m benchmarks.reproduce.robustness [--seeds 5] [--seed-stream N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import optax

import envs
import esmaml_jax as ej
from benchmarks._common import RESULTS, write_csv
from benchmarks.reproduce._curves import final, plot_curves, train_curve
from esmaml_jax import adaptation

ENV = "swimmer_forward_backward"
METHODS = ("MC", "MC, corrupted", "RBO (L1), corrupted")


def operator(method: str, k: int, fraction: float, noise: float) -> adaptation.Adaptation:
    corrupt = ({"corrupt_fraction": fraction, "corrupt_scale": noise}
               if "corrupted" in method else {})
    if method.startswith("RBO"):
        return adaptation.rbo(num_queries=k, regression="l1", **corrupt)
    return adaptation.es_gradient(num_queries=k, **corrupt)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--chunk", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--horizon", type=int, default=50)
    p.add_argument("--perturbations", type=int, default=20)
    p.add_argument("-K", type=int, default=20, dest="k")
    p.add_argument("--fraction", type=float, default=0.25)
    p.add_argument("--noise", type=float, default=1000.0)
    p.add_argument("--seed-stream", type=int, default=0, dest="seed_stream",
                   help="seeds split from PRNGKey(N) (default 0): fresh seeds for a re-run")
    p.add_argument("--out", default=str(RESULTS / "robustness.csv"))
    p.add_argument("--tiny", action="store_true", help="1 step, horizon 5, P 2, K 4")
    args = p.parse_args(argv)
    if args.tiny:
        args.steps, args.chunk, args.horizon, args.perturbations, args.k = 1, 1, 5, 2, 4
        args.seeds = min(args.seeds, 2)
    fam = envs.make(ENV)
    obj = ej.rl_objective(fam, ej.policies.linear(fam.observation_size, fam.action_size),
                          horizon=args.horizon)
    if not args.tiny and args.k <= obj.num_params:
        raise SystemExit(f"RBO's L1 regression needs K > D = {obj.num_params}, got K {args.k}")
    tasks = fam.recommended.tasks_per_perturbation or 1  # 2: both directions (A.7.2)
    rows = []
    for method in METHODS:
        algo = ej.zero_order(obj, operator(method, args.k, args.fraction, args.noise),
                             num_perturbations=args.perturbations, tasks_per_perturbation=tasks,
                             optimizer=optax.sgd(0.01))
        got, wall = train_curve(algo, seeds=args.seeds, steps=args.steps, chunk=args.chunk,
                                eval_repeats=8, seed_axis="vmap", env=ENV, method=method,
                                K=args.k, seed_stream=args.seed_stream)
        for r in got:
            r.update(wall_s=round(wall, 1), seeds=args.seeds, steps=args.steps,
                     perturbations=args.perturbations, horizon=args.horizon,
                     fraction=args.fraction, noise=args.noise, seed_stream=args.seed_stream,
                     D=obj.num_params)
        rows += got
        first = [r["test_post"] for r in got if r["step"] == 0]
        print(f"{method}: post-adaptation {np.mean(first):.1f} -> {np.mean(final(got)):.1f} "
              f"(seeds {[round(x, 1) for x in final(got)]}), {wall:.0f} s", flush=True)
        write_csv(rows, args.out)
    out = Path(args.out)
    groups = {m: [r for r in rows if r["method"] == m] for m in METHODS}
    plot_curves(groups, out.with_name(f"{out.stem}.png"),
                f"{ENV}, K {args.k}, H {args.horizon}: {args.fraction:.0%} of the adaptation\n"
                f"queries + N(0, {args.noise:g}^2) noise (mean, min-max over seeds)")


if __name__ == "__main__":
    main()
