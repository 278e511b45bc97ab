"""Throughput of the fused ES-MAML meta-step vs the bare-rollout limit and an unfused loop, plus
a scaling study (time and memory against P, T, K and H) on four_corners.

    python -m benchmarks.throughput            # paper scale: P = 150 antithetic, K = 20, H = 100
    python -m benchmarks.throughput --tiny     # seconds; what the test suite runs
    python -m benchmarks.throughput --brax-scaling   # P scaling on halfcheetah (minutes)
    python -m benchmarks.throughput --pg       # PG-MAML vs ES-MAML vs the limit, navigation_2d
    python -m benchmarks.throughput --operators    # every adaptation operator vs its own limit

Writes benchmarks/results/throughput.json, scaling.json and throughput.png (or to --out-dir).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from benchmarks._common import RESULTS
from esmaml_jax.app import bench, bench_pg

SCALING = {
    "num_perturbations": [10, 30, 100, 300],
    "tasks_per_perturbation": [1, 2, 4, 8],
    "num_queries": [2, 5, 20, 50],
    "horizon": [25, 50, 100, 200],
}


OPERATORS = ["es_gradient", "dpp_es", "hill_climb", "rbo", "asebo"]

BRAX_SCALING = {
    "num_perturbations": [5, 10, 20, 40],
    "tasks_per_perturbation": [1, 2, 4],
    "num_queries": [2, 5, 10],
    "horizon": [25, 50, 100],
}


def plot_scaling(rows: list[dict], path: Path, title: str) -> None:
    """Log-log step time and XLA buffer size against each setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for axis in dict.fromkeys(r["axis"] for r in rows):
        mine = [r for r in rows if r["axis"] == axis]
        ax1.loglog([r["value"] for r in mine], [r["step_s"] for r in mine], "o-", label=axis)
        ax2.loglog([r["value"] for r in mine], [r["xla_buffer_mb"] for r in mine], "o-",
                   label=axis)
    ax1.set_ylabel("fused meta-step time (s)")
    ax2.set_ylabel("XLA buffers (MB)")
    for ax in (ax1, ax2):
        ax.set_xlabel("setting value")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot(result: dict, scaling_rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    names = ["bare rollouts (limit)", "fused meta-step", "unfused loop"]
    rates = [result["limit_env_steps_per_s"], result["fused_env_steps_per_s"],
             result["unfused_env_steps_per_s"]]
    ax1.bar(names, rates, color=["grey", "C0", "C3"])
    ax1.set_yscale("log")
    ax1.set_ylabel("env steps / s")
    c = result["config"]
    ax1.set_title(f"{c['env']}, P={c['num_perturbations']} antithetic, K={c['num_queries']}, "
                  f"H={c['horizon']}", fontsize=9)
    for axis in SCALING:
        rows = [r for r in scaling_rows if r["axis"] == axis]
        if rows:
            ax2.loglog([r["value"] for r in rows], [r["step_s"] for r in rows], "o-", label=axis)
    ax2.set_xlabel("setting value (others at the paper scale)")
    ax2.set_ylabel("fused meta-step time (s)")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tiny", action="store_true", help="a seconds-long configuration")
    p.add_argument("--policy", default="linear")
    p.add_argument("--no-scaling", action="store_true")
    p.add_argument("--out-dir", default=str(RESULTS))
    p.add_argument("--brax-scaling", action="store_true",
                   help="instead: scaling in P, T, K and H on halfcheetah_forward_backward at "
                        "CPU scale (around P 10, K 5, H 50), written to scaling_halfcheetah.json "
                        "and scaling_halfcheetah.png (about 15 minutes: each shape compiles)")
    p.add_argument("--pg", action="store_true",
                   help="instead: PG-MAML's fused step (TRPO, VPG) against the stochastic "
                        "bare-rollout limit and ES-MAML on navigation_2d (MLP(32), n 40, K 20, "
                        "H 100, ES P 150), written to pg_throughput.json")
    p.add_argument("--operators", action="store_true",
                   help="instead: the fused step of every adaptation operator against the bare "
                        "rollouts of its own batches (four corners, paper scale), written to "
                        "throughput_operators.json")
    args = p.parse_args(argv)
    if args.operators:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        results = []
        for name in OPERATORS:
            cfg = bench.BenchConfig(policy=args.policy, operator=name)
            if args.tiny:
                cfg = dataclasses.replace(cfg, num_perturbations=4, num_queries=2, horizon=10,
                                          repeats=2)
            r = bench.run(cfg)
            results.append(r)
            s = r["ratio_fused_over_limit_spread"]
            print(f"{name}: fused {r['fused_step_s'] * 1e3:.2f} ms, limit "
                  f"{r['limit_s'] * 1e3:.2f} ms, fused/limit {r['ratio_fused_over_limit']:.2f} "
                  f"({s['min']:.2f}-{s['max']:.2f}), batches {r['rollout_batches']}", flush=True)
            (out / "throughput_operators.json").write_text(json.dumps(results, indent=2) + "\n")
        return
    if args.pg:
        cfg_pg = bench_pg.PGBenchConfig()
        if args.tiny:
            cfg_pg = bench_pg.PGBenchConfig(num_tasks=2, num_queries=2, horizon=10, rounds=2,
                                         es_perturbations=2)
        result = bench_pg.run_pg(cfg_pg)
        print(json.dumps(result, indent=2), flush=True)
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        Path(args.out_dir, "pg_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
        return
    if args.brax_scaling:
        cfg = bench.BenchConfig(env="halfcheetah_forward_backward", num_perturbations=10,
                                num_queries=5, horizon=50, repeats=2)
        rows, base = [], None  # the base configuration is on every axis: measure it once
        for axis, values in BRAX_SCALING.items():
            at_base = getattr(cfg, axis)
            got = bench.scaling(cfg, axis, [v for v in values if base is None or v != at_base])
            if base is None:
                base = next(r for r in got if r["value"] == at_base)
            elif at_base in values:
                got = sorted(got + [dict(base, axis=axis, value=at_base)],
                             key=lambda r: r["value"])
            rows += got
            print(json.dumps(got), flush=True)
            Path(args.out_dir, "scaling_halfcheetah.json").write_text(json.dumps(rows, indent=2))
        plot_scaling(rows, Path(args.out_dir, "scaling_halfcheetah.png"),
                     "halfcheetah_forward_backward, linear; others at P 10, T 1, K 5, H 50")
        return
    cfg = bench.BenchConfig(policy=args.policy)
    scaling_grid = SCALING
    if args.tiny:
        cfg = dataclasses.replace(cfg, num_perturbations=4, num_queries=2, horizon=10,
                                  repeats=2)
        scaling_grid = {"num_perturbations": [2, 4]}
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = bench.run(cfg)
    print(json.dumps(result, indent=2), flush=True)
    name = "throughput.json" if args.policy == "linear" else f"throughput_{args.policy}.json"
    (out / name).write_text(json.dumps(result, indent=2) + "\n")
    if args.policy != "linear":  # the scaling study and the plot are the linear policy's
        return
    rows = []
    if args.no_scaling and (out / "scaling.json").exists():  # keep the plot's scaling panel
        rows = json.loads((out / "scaling.json").read_text())
    if not args.no_scaling:
        for axis, values in scaling_grid.items():
            rows += bench.scaling(cfg, axis, values)
            print(rows[-len(values):], flush=True)
        (out / "scaling.json").write_text(json.dumps(rows, indent=2) + "\n")
    plot(result, rows, out / "throughput.png")


if __name__ == "__main__":
    main()
