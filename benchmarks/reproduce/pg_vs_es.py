"""ES-MAML against PG-MAML (the paper's central comparison, at CPU scale) on any RL family
(four corners, navigation_2d, biased CartPole, ...): the same network (MLP(32) or linear), the
same K = 20 queries per adaptation (rollouts for ES, sampled trajectories for PG, A.5), the
seeds of each method trained in one program. The env steps per meta-step are NOT equal: ES
spends 2x (P antithetic) x (K + 1) rollouts per perturbation, 2.2-8.25x PG's n K x 2 in the
committed runs; the CSV records env_steps, and `benchmarks/reproduce/budgets.py` compares the
two at equal env-step budgets. PG-MAML is evaluated both ways: with sampled actions (what it
optimizes; its papers' numbers) and with its mean action (deterministic, as ES-MAML's policies
act). Writes
benchmarks/results/pg_vs_es_<env>[_linear].csv and .png, and on the 2-D families each method's
paths (seed 0) as pg_vs_es_<env>_paths_<method>.png.

    python -m benchmarks.reproduce.pg_vs_es [--env four_corners] [--steps 200] [--seeds 5]
"""

from __future__ import annotations

import argparse
import inspect
import time
from pathlib import Path

import jax
import numpy as np
import optax

import envs
import esmaml_jax as ej
from benchmarks._common import RESULTS, write_csv
from benchmarks.reproduce._curves import train_curve
from esmaml_jax.algorithms import pg_maml
from esmaml_jax.app import plots


def is_brax(env: str) -> bool:
    """A Brax locomotion family (its factory takes a physics ``backend``)."""
    return "backend" in inspect.signature(envs.factory(env)).parameters


def family_of(env: str, horizon: int | None, task_sets: str):
    """The family with the run's horizon; goal families get ``task_sets`` (A.7.2's fixed
    (50, 5, 5) sets by default)."""
    accepted = inspect.signature(envs.factory(env)).parameters
    kw = {} if horizon is None else {"horizon": horizon}
    if "task_sets" in accepted:
        kw["task_sets"] = task_sets
    return envs.make(env, **kw)


def algorithms(env: str, k: int, perturbations: int, tasks: int, vpg_lr: float,
               policy_name: str = "mlp", horizon: int | None = None,
               task_sets: str = "fixed", hidden: tuple[int, ...] = (32,)):
    family = family_of(env, horizon, task_sets)
    policy = (ej.policies.mlp(family.observation_size, family.action_size, hidden)
              if policy_name == "mlp" else
              ej.policies.linear(family.observation_size, family.action_size))
    # Brax: as benchmarks/reproduce/locomotion.py (T = the family's recommended tasks per
    # perturbation: 2 for forward-backward, A.7.2; SGD 0.01)
    brax = is_brax(env)
    es = ej.zero_order(ej.rl_objective(family, policy), ej.adaptation.es_gradient(num_queries=k),
                       num_perturbations=perturbations,
                       tasks_per_perturbation=(family.recommended.tasks_per_perturbation or 1)
                       if brax else 1,
                       optimizer=optax.sgd(0.01) if brax else None)
    pg = {outer: pg_maml(family, policy, num_tasks=tasks, num_queries=k, outer=outer,
                         optimizer=optax.adam(vpg_lr) if outer == "vpg" else None)
          for outer in ("trpo", "vpg")}
    mean = {outer: pg_maml(family, policy, num_tasks=tasks, num_queries=k, outer=outer,
                           evaluation="mean",
                           optimizer=optax.adam(vpg_lr) if outer == "vpg" else None)
            for outer in ("trpo", "vpg")}
    return family, es, pg, mean


def plot(rows: list[dict], path, title: str, k: int = 20) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    curves = [("ES-MAML (deterministic policy)", "ES-MAML", ""),
              ("PG-MAML TRPO, sampled actions", "PG-MAML TRPO", ""),
              ("PG-MAML TRPO, mean action", "PG-MAML TRPO", "_mean"),
              ("PG-MAML VPG, sampled actions", "PG-MAML VPG", ""),
              ("PG-MAML VPG, mean action", "PG-MAML VPG", "_mean")]
    styles = ["-", "-", "--", "-", "--"]
    colors = ["C0", "C3", "C3", "C2", "C2"]
    for (label, method, suffix), ls, c in zip(curves, styles, colors, strict=True):
        mine = [r for r in rows if r["method"] == method and r.get(f"test_post{suffix}", "")
                not in ("", None)]
        if not mine:
            continue
        steps = sorted({float(r["env_steps"]) for r in mine})
        mine = [dict(r, env_steps=float(r["env_steps"])) for r in mine]
        for ax, when in zip(axes, ("pre", "post"), strict=True):
            ys = np.array([[float(r[f"test_{when}{suffix}"]) for r in mine
                            if r["env_steps"] == s] for s in steps])
            x = np.array(steps) / 1e6
            ax.plot(x, ys.mean(1), ls, color=c, marker="o", ms=2, label=label)
            ax.fill_between(x, ys.min(1), ys.max(1), color=c, alpha=0.12)
    for ax, when in zip(axes, ("before adaptation (meta-policy)", f"after adaptation (K = {k})"),
                        strict=True):
        ax.set_title(f"test return, {when}", fontsize=10)
        ax.set_xlabel("env steps (millions)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test return")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.text(0.5, 0.005, "line: mean over seeds; band: min to max over seeds", ha="center",
             fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--env", default="navigation_2d")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--chunk", type=int, default=10)
    p.add_argument("--perturbations", type=int, default=20, help="ES-MAML P (antithetic)")
    p.add_argument("--tasks", type=int, default=20, help="PG-MAML tasks per meta-step")
    p.add_argument("--vpg-lr", type=float, default=1e-3,
                   help="VPG's Adam learning rate (1e-3: pg_maml's default; 1e-2 saturates the "
                        "tanh mean far past the action bound within 10 meta-steps here)")
    p.add_argument("--policy", default="mlp", choices=["mlp", "linear"],
                   help="the (mean) network of both methods: mlp = MLP(--hidden), linear")
    p.add_argument("--hidden", default="32",
                   help="the MLP's hidden widths, comma-separated (Fig. 4: H = 32, HH = 32,32)")
    p.add_argument("--queries", "-K", type=int, default=20,
                   help="K: queries per adaptation of both methods (Fig. 5's low K: 5)")
    p.add_argument("--horizon", type=int, default=None, help="default: the family's")
    p.add_argument("--task-sets", default="fixed", choices=["fixed", "fresh"], dest="task_sets",
                   help="goal-velocity / goal-position families: A.7.2's fixed (50, 5, 5) task "
                        "sets (default) or fresh tasks every meta-step")
    p.add_argument("--tiny", action="store_true", help="seconds: 2 steps, small sizes")
    p.add_argument("--seed-stream", type=int, default=0, dest="seed_stream",
                   help="first seed (default 0): fresh seeds for re-running a changed setting")
    p.add_argument("--replot", action="store_true",
                   help="only redraw the PNG from the CSV at --out (no training)")
    p.add_argument("--out", default=None,
                   help="CSV path (default benchmarks/results/pg_vs_es_<env>.csv); the PNG "
                        "goes next to it")
    args = p.parse_args(argv)
    k = args.queries
    hidden = tuple(int(w) for w in args.hidden.split(","))
    if args.policy == "linear" and args.hidden != "32":
        p.error("--hidden applies to --policy mlp")
    arch = {"linear": "_linear", "mlp": "" if hidden == (32,) else
            "_mlp" + "x".join(map(str, hidden))}[args.policy]
    suffix = arch + ("" if k == 20 else f"_K{k}")
    policy_label = args.policy if args.policy == "linear" else f"MLP{hidden}"
    csv_path = Path(args.out or
                    RESULTS / f"pg_vs_es_{args.env.replace('_2d', '')}{suffix}.csv")
    title = (f"{args.env}: ES-MAML (P {args.perturbations} antithetic, MC K {k}) vs PG-MAML (n "
             f"{args.tasks}, K {k}), {policy_label}, {args.seeds} seeds, {args.steps} meta-steps "
             f"each")
    if args.replot:
        import csv

        plot(list(csv.DictReader(open(csv_path))), csv_path.with_suffix(".png"), title, k)
        return
    if args.tiny:
        args.steps, args.chunk, args.perturbations, args.tasks, k = 2, 1, 2, 2, 2
        if args.horizon is None and is_brax(args.env):
            args.horizon = 5
    fam, es, pg, mean = algorithms(args.env, k, args.perturbations, args.tasks, args.vpg_lr,
                              args.policy, args.horizon, args.task_sets, hidden)
    horizon = es.env_steps_per_step // es.rollouts_per_step
    # Brax: forward-backward's 2 test tasks x 8 adaptations, a goal family's test set x 1 (as
    # benchmarks/reproduce/locomotion.py); the 2-D and CartPole families: 4 repeats
    repeats = (8 if fam.test_tasks is not None and envs.num_tasks(fam.test_tasks) <= 2 else 1) \
        if is_brax(args.env) else 4
    rows, times = [], {}
    runs = [("ES-MAML", es, None), ("PG-MAML TRPO", pg["trpo"], {"mean": mean["trpo"]}),
            ("PG-MAML VPG", pg["vpg"], {"mean": mean["vpg"]})]
    trained: dict = {}
    for method, algo, also in runs:
        t0 = time.perf_counter()
        kept: list = []
        # PG-MAML's seeds one after the other inside the program (lax.map): vmapped, TRPO's
        # while loops (CG, line search) run until the slowest seed is done (1.14 s vs
        # 5 x 0.17 s per step for 5 seeds on four corners here; session 21, 10 seeds x 8
        # TRPO steps from init: 319 vs 248 ms per seed-step on four corners, 291 vs 257 on
        # navigation_2d, vmapped vs mapped)
        got, wall = train_curve(algo, seeds=args.seeds, steps=args.steps, chunk=args.chunk,
                                also=also, method=method, final_states=kept,
                                seed_stream=args.seed_stream,
                                eval_repeats=repeats,
                                seed_axis="vmap" if method == "ES-MAML" else "map")
        trained[method] = (algo, jax.tree.map(lambda x: x[0], kept[0]))  # seed 0
        times[method] = wall
        for r in got:
            r["env_steps"] = r["step"] * algo.env_steps_per_step
            r["wall_s"] = round(wall, 1)  # the method's training + evaluation, all seeds
            r["perturbations"] = args.perturbations  # ES-MAML's P (the row's scale)
            r["tasks"] = args.tasks  # PG-MAML's tasks per meta-step
            r["seed_stream"] = args.seed_stream
            r.update(K=k, horizon=horizon, task_sets=args.task_sets)
        rows += got
        last = [r for r in got if r["step"] == args.steps]
        post = [r["test_post"] for r in last]
        print(f"{method}: {algo.env_steps_per_step:,} env steps per meta-step, "
              f"{args.steps} meta-steps x {args.seeds} seeds in {time.perf_counter() - t0:.0f} s;"
              f" final test post-adaptation {np.mean(post):.1f} (seeds {post})", flush=True)
    keys = sorted({key for r in rows for key in r}, key=lambda c: (c not in (
        "method", "seed", "step", "env_steps"), c))
    write_csv([{key: r.get(key, "") for key in keys} for r in rows], csv_path)
    title = (f"{args.env}: ES-MAML (P {args.perturbations} antithetic, MC K {k}) vs PG-MAML (n "
             f"{args.tasks}, K {k}; VPG Adam {args.vpg_lr}), {policy_label}, {args.seeds} seeds, "
             f"{args.steps} meta-steps each")
    plot(rows, csv_path.with_suffix(".png"), title, k)
    for method, (algo, state) in trained.items():  # Fig. 1a / A4: the paths, side by side
        if not plots._is_2d_navigation(args.env):
            break
        tag = method.replace("PG-MAML ", "pg_").replace("ES-MAML", "es").lower()
        path = csv_path.with_name(f"{csv_path.stem}_paths_{tag}.png")
        plots.trajectory_figure(args.env, algo, state, path, num_tasks=4,
                                title=f"{args.env}: {method} after {args.steps} meta-steps "
                                      f"(seed 0" + ("; mean-action paths)" if "PG" in method
                                                    else ")"))
        print(f"wrote {path}")
    print(f"wrote {csv_path} and its .png; wall times (incl. compile, all seeds): "
          + ", ".join(f"{m} {t:.0f} s" for m, t in times.items()))


if __name__ == "__main__":
    main()
