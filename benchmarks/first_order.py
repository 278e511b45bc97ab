"""FO-Hessian vs FO-NoHessian vs zero-order ES-MAML on four_corners at the same rollout budget
(A.1.2), with the paper's linear policy and with an MLP(32). Seeds run as one program
(jax.vmap). Writes benchmarks/results/first_order.csv. About 5 minutes here.

    python -m benchmarks.first_order [--rollouts 600000] [--seeds 4]

Full scale for an accelerator (the paper's Fig. A1 ran much longer): --rollouts 20000000.
"""

from __future__ import annotations

import argparse

import numpy as np
import optax

import envs
import esmaml_jax as ej
from benchmarks._common import RESULTS, train_seeds, write_csv


def variants():
    fam = envs.make("four_corners")
    out = {}
    for pname, policy, lr in (("linear", ej.policies.linear(2, 2), 0.01),
                              ("mlp32", ej.policies.mlp(2, 2, (32,)), 0.05)):
        obj = ej.rl_objective(fam, policy)
        out[f"{pname}: zero_order (Alg. 3, P=50, SGD 0.01)"] = ej.zero_order(
            obj, ej.adaptation.es_gradient(), num_perturbations=50, optimizer=optax.sgd(0.01))
        out[f"{pname}: FO-NoHessian (n=50, SGD {lr})"] = ej.first_order(
            obj, num_tasks=50, hessian=False, optimizer=optax.sgd(lr))
        out[f"{pname}: FO-Hessian MC, K_H=20 (n=50, SGD {lr})"] = ej.first_order(
            obj, num_tasks=50, hessian=True, optimizer=optax.sgd(lr))
        out[f"{pname}: FO-Hessian MC, K_H=20, shared samples (released code; n=50, SGD {lr})"] = (
            ej.first_order(obj, num_tasks=50, hessian=True, hessian_samples="shared",
                           optimizer=optax.sgd(lr)))
        # The Hessian's noise ~ sqrt(D / K_H) alpha / sigma^2: more directions, lower step size.
        out[f"{pname}: FO-Hessian antithetic, K_H=150 (n=50, SGD 0.01)"] = ej.first_order(
            obj, num_tasks=50, hessian=True, hessian_estimator="antithetic",
            hessian_queries=150, optimizer=optax.sgd(0.01))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rollouts", type=int, default=600_000)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--out", default=str(RESULTS / "first_order.csv"))
    args = p.parse_args(argv)
    rows = []
    for name, algo in variants().items():
        steps = args.rollouts // algo.rollouts_per_step
        _, before, after, wall = train_seeds(algo, seeds=args.seeds, steps=steps,
                                             eval_repeats=16)
        before, post = np.asarray(before["post_mean"]), np.asarray(after["post_mean"])
        rows.append({"variant": name, "meta_steps": steps,
                     "rollouts": steps * algo.rollouts_per_step, "seeds": args.seeds,
                     "post_before": round(float(before.mean()), 1),
                     "post_after_mean": round(float(post.mean()), 1),
                     "post_after_std": round(float(post.std()), 1),
                     "post_after_per_seed": " ".join(f"{x:.1f}" for x in post),
                     "wall_s_incl_compile": round(wall, 1)})
        print(rows[-1], flush=True)
    write_csv(rows, args.out)


if __name__ == "__main__":
    main()
