"""FO-Hessian vs FO-NoHessian vs zero-order ES-MAML on four_corners at the same rollout budget
(A.1.2), with the paper's linear policy and with an MLP(32). Seeds run as one program
(jax.vmap). Writes benchmarks/results/first_order.csv. About 5 minutes here.

    python -m benchmarks.first_order [--rollouts 600000] [--seeds 4]

Full scale for an accelerator (the paper's Fig. A1 ran much longer): --rollouts 20000000.

Figs. A1 / A2 on a Brax forward-backward family (linear policies; zero-order with P
perturbations x the family's 2 tasks each, first-order with n = P tasks, every ES gradient with
K queries, H steps; the same rollout budget for each variant):

    python -m benchmarks.first_order --env halfcheetah_forward_backward -K 5 --rollouts 9600

writes benchmarks/results/first_order_<env>_K<K>.csv.
"""

from __future__ import annotations

import argparse

import numpy as np
import optax

import envs
import esmaml_jax as ej
from benchmarks._common import RESULTS, only_matches, stamped, train_seeds, write_csv


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


def brax_variants(env: str, k: int, horizon: int, perturbations: int):
    """Figs. A1 / A2 on a Brax forward-backward family, linear policies, SGD 0.01 for all:
    Alg. 3 (P perturbations x 2 tasks, K queries), FO-NoHessian and FO-Hessian (Alg. 4, K_H =
    K) with n = P tasks and K queries per ES gradient."""
    fam = envs.make(env)
    obj = ej.rl_objective(fam, ej.policies.linear(fam.observation_size, fam.action_size),
                          horizon=horizon)
    sgd = optax.sgd(0.01)
    tasks = fam.recommended.tasks_per_perturbation or 1
    return {
        f"linear: zero_order (Alg. 3, P={perturbations} x T={tasks}, K={k}, SGD 0.01)":
            ej.zero_order(obj, ej.adaptation.es_gradient(num_queries=k),
                          num_perturbations=perturbations, tasks_per_perturbation=tasks,
                          optimizer=sgd),
        f"linear: FO-NoHessian (n={perturbations}, K={k}, SGD 0.01)":
            ej.first_order(obj, num_tasks=perturbations, num_queries=k, hessian=False,
                           optimizer=sgd),
        f"linear: FO-Hessian MC, K_H={k} (n={perturbations}, K={k}, SGD 0.01)":
            ej.first_order(obj, num_tasks=perturbations, num_queries=k, hessian=True,
                           optimizer=sgd),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rollouts", type=int, default=600_000)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--env", default="four_corners",
                   help="four_corners (A.1.2's table) or a Brax forward-backward family (Figs. "
                        "A1 / A2)")
    p.add_argument("-K", type=int, default=20, help="Brax: queries per ES gradient")
    p.add_argument("--horizon", type=int, default=50, help="Brax: episode length")
    p.add_argument("--perturbations", type=int, default=20,
                   help="Brax: zero-order perturbations P (and first-order tasks n = P)")
    p.add_argument("--seed-stream", type=int, default=0, dest="seed_stream",
                   help="draw the seeds from PRNGKey(N) (N != 0: fresh seeds)")
    p.add_argument("--only", default=None,
                   help="run only the variants whose name contains this text (or one of these "
                        "comma-separated texts)")
    p.add_argument("--out", default=None,
                   help="default: benchmarks/results/first_order.csv (four corners) or "
                        "first_order_<env>_K<K>.csv")
    p.add_argument("--tiny", action="store_true",
                   help="seconds: horizon 5, P 2, 2 seeds, a budget of 2 of the dearest steps")
    args = p.parse_args(argv)
    brax = args.env != "four_corners"
    if brax and not args.env.endswith("forward_backward"):
        p.error(f"--env {args.env}: four_corners or a Brax *_forward_backward family")
    out = args.out or str(RESULTS / ("first_order.csv" if not brax else
                                     f"first_order_{args.env}_K{args.K}.csv"))
    if args.tiny:
        args.horizon, args.perturbations, args.seeds, args.K = 5, 2, 2, min(args.K, 3)
    chosen = (brax_variants(args.env, args.K, args.horizon, args.perturbations) if brax
              else variants())
    if args.only:
        chosen = {n: a for n, a in chosen.items()
                  if only_matches(args.only, n)}
        if not chosen:
            p.error(f"--only {args.only}: no variant matches")
    if args.tiny:
        args.rollouts = 2 * max(a.rollouts_per_step for a in chosen.values())
    rows = []
    for name, algo in chosen.items():
        steps = args.rollouts // algo.rollouts_per_step
        _, before, after, wall = train_seeds(algo, seeds=args.seeds, steps=steps,
                                             eval_repeats=8 if brax else 16,
                                             seed_stream=args.seed_stream)
        before, post = np.asarray(before["post_mean"]), np.asarray(after["post_mean"])
        rows.append({"variant": name, "meta_steps": steps,
                     "rollouts": steps * algo.rollouts_per_step, "seeds": args.seeds,
                     "post_before": round(float(before.mean()), 1),
                     "post_after_mean": round(float(post.mean()), 1),
                     "post_after_std": round(float(post.std()), 1),
                     "post_after_per_seed": " ".join(f"{x:.1f}" for x in post),
                     "wall_s_incl_compile": round(wall, 1)})
        if brax:
            rows[-1].update(env=args.env, K=args.K, horizon=args.horizon,
                            perturbations=args.perturbations, seed_stream=args.seed_stream,
                            rollouts_budget=args.rollouts, only=args.only or "",
                            post_before_per_seed=" ".join(f"{x:.1f}" for x in before))
        rows[-1] = stamped(rows[-1])
        print(rows[-1], flush=True)
        write_csv(rows, out)


if __name__ == "__main__":
    main()
