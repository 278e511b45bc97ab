"""Sec. 4.2 / Fig. 3 and Sec. 4.4 / Fig. 5 at CPU scale: linear (L) vs one-hidden-layer (H)
policies on halfcheetah forward-backward and goal-velocity (Brax), and the low-K setting (K = 5,
forward-backward); Fig. 3's Ant forward-backward (L vs H, and hill climbing (HC) with L).
``--only ant`` (or any part of "env/policy/K/operator") runs some experiments and keeps the
other rows of --out.
Seeds run as one program, vmapped over the algorithm state (the committed rows ran them one after
the other with lax.map, when vmapping Brax over seeds segfaulted XLA:CPU: see _curves.py); the
post-adaptation test return is recorded every ``--chunk`` meta-steps.

Writes benchmarks/results/locomotion.csv and locomotion_<env>.png. About 35 minutes here with
2 seeds; the committed run (--seeds 5 --seed-stream 2030) took 63 minutes.

    python -m benchmarks.reproduce.locomotion [--steps 50] [--seeds 2]

Full scale (an accelerator, as the paper): --full (= --steps 500 --perturbations 150 --horizon 200
--seeds 3). Goal-velocity runs on A.7.2's fixed (50, 5, 5) task sets unless --task-sets fresh.
Fig. 5's ES-MAML vs PG-MAML at low K: `python -m benchmarks.reproduce.pg_vs_es --env
halfcheetah_forward_backward --policy linear -K 5 ...`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import optax

import envs
import esmaml_jax as ej
from benchmarks._common import RESULTS, only_experiments, rows_kept, write_csv
from benchmarks.reproduce._curves import final, plot_curves, train_curve
from esmaml_jax import adaptation

# (env, policy, K, adaptation operator)
EXPERIMENTS = [
    ("halfcheetah_forward_backward", "L", 10, "MC"),
    ("halfcheetah_forward_backward", "H", 10, "MC"),
    ("halfcheetah_forward_backward", "L", 5, "MC"),
    ("halfcheetah_goal_velocity", "L", 10, "MC"), ("halfcheetah_goal_velocity", "H", 10, "MC"),
    # Fig. 3's Ant: L vs H, and "for the Forward-Backward Ant problem, ES-MAML with the new HC
    # operator is the most performant" (hill climbing, the paper's precision 0.1)
    ("ant_forward_backward", "L", 10, "MC"), ("ant_forward_backward", "H", 10, "MC"),
    ("ant_forward_backward", "L", 10, "HC"),
]


def operator(name: str, k: int):
    return (adaptation.hill_climb(num_queries=k) if name == "HC" else
            adaptation.es_gradient(num_queries=k))


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--chunk", type=int, default=25)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--horizon", type=int, default=50)
    p.add_argument("--perturbations", type=int, default=20)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--task-sets", default="fixed", choices=["fixed", "fresh"], dest="task_sets",
                   help="goal-velocity: A.7.2's fixed (50, 5, 5) train / validation / test task "
                        "sets (default) or fresh tasks every meta-step")
    p.add_argument("--seed-stream", type=int, default=0, dest="seed_stream",
                   help="seeds split from PRNGKey(N) (default 0): fresh seeds for a re-run")
    p.add_argument("--out", default=str(RESULTS / "locomotion.csv"))
    p.add_argument("--tiny", action="store_true", help="one experiment, 1 step, horizon 5")
    p.add_argument("--only", default=None,
                   help="run only the experiments whose 'env/policy/K/operator' contains this "
                        "text (or one of these comma-separated texts) and replace their rows in "
                        "--out (the others are kept)")
    p.add_argument("--full", action="store_true",
                   help="the paper's scale (for an accelerator; hours on this CPU)")
    args = p.parse_args(argv)
    if args.full:
        args.steps, args.perturbations, args.horizon, args.seeds = 500, 150, 200, 3
        args.chunk = 25
    experiments = EXPERIMENTS
    if args.tiny:
        args.steps, args.chunk, args.horizon, args.perturbations = 1, 1, 5, 2
        if not args.only:
            experiments = EXPERIMENTS[:1]
    rows = []
    if args.only:  # run these, keep the other experiments' rows (older rows: MC)
        experiments = only_experiments(experiments, args.only)
        rows = rows_kept(args.out,
                         lambda r: (r["env"], r["policy"], r["K"], r.get("operator") or "MC"),
                         {(e, pol, str(k), op) for e, pol, k, op in experiments})
    for env_name, pol, k, op in experiments:
        fam = (envs.make(env_name, task_sets=args.task_sets) if "goal" in env_name
               else envs.make(env_name))
        policy = (ej.policies.linear(fam.observation_size, fam.action_size) if pol == "L" else
                  ej.policies.mlp(fam.observation_size, fam.action_size, (args.hidden,)))
        obj = ej.rl_objective(fam, policy, horizon=args.horizon)
        tasks = fam.recommended.tasks_per_perturbation or 1  # 2 for forward-backward (A.7.2)
        algo = ej.zero_order(obj, operator(op, k),
                             num_perturbations=args.perturbations, tasks_per_perturbation=tasks,
                             optimizer=optax.sgd(0.01))
        # forward-backward: 2 test tasks x 8 adaptations; goal-velocity: 20 tasks x 1
        repeats = 8 if fam.test_tasks is not None else 1
        got, wall = train_curve(algo, seeds=args.seeds, steps=args.steps, chunk=args.chunk,
                                eval_repeats=repeats, seed_axis="vmap", env=env_name,
                                policy=pol, K=k, T=tasks, operator=op,
                                seed_stream=args.seed_stream,
                                horizon=args.horizon, perturbations=args.perturbations)
        for r in got:
            r.update(wall_s=round(wall, 1), seeds=args.seeds, steps=args.steps,
                     seed_stream=args.seed_stream,
                     task_sets=args.task_sets if "goal" in env_name else "fixed (N = 2)")
        rows += got
        first = [r["test_post"] for r in got if r["step"] == 0]
        print(f"{env_name} {pol} K={k} {op}: post-adaptation {np.mean(first):.1f} -> "
              f"{np.mean(final(got)):.1f} (pre {np.mean(final(got, 'test_pre')):.1f}), "
              f"{wall:.0f} s", flush=True)
        write_csv(rows, args.out)
    out = Path(args.out)
    for env_name in sorted({e[0] for e in experiments}):
        mine = [e for e in EXPERIMENTS if e[0] == env_name]  # kept rows too
        groups = {f"{pol}, K={k}" + ("" if op == "MC" else f", {op}"): [
            r for r in rows if (r["env"], r["policy"], str(r["K"]), r.get("operator") or "MC")
            == (env_name, pol, str(k), op)] for _, pol, k, op in mine}
        groups = {label: g for label, g in groups.items() if g}
        plot_curves(groups, out.with_name(f"{out.stem}_{env_name}.png"),
                    f"{env_name}, H = {args.horizon} (mean, min-max over seeds)")


if __name__ == "__main__":
    main()
