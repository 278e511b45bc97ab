"""Adaptation operators on four_corners: post-adaptation test return at K = 20 and K = 5.

Same budget for every operator (P perturbations, meta-steps, seeds); seeds run as one program
(``jax.vmap`` over the algorithm state). Writes benchmarks/results/operators.csv.

    python -m benchmarks.operators [--steps 200] [--seeds 2] [--perturbations 50]

A.3.3's low-K ASEBO rows at a larger scale, on fresh seeds, into a file of their own:

    python -m benchmarks.operators --only "es_gradient (MC),asebo (published),asebo (projection)" \
        --ks 5 --steps 1000 --perturbations 150 --seeds 5 --seed-stream 2029 \
        --out benchmarks/results/asebo_low_k.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import numpy as np
import optax

import envs
import esmaml_jax as ej
from benchmarks._common import RESULTS, stamped, write_csv
from esmaml_jax import adaptation


@dataclasses.dataclass
class Config:
    steps: int = 200
    seeds: int = 2
    perturbations: int = 50
    hidden: int = 32
    seed_stream: int = 0  # seeds split from PRNGKey(N): N != 0 gives fresh seeds
    only: str = ""  # comma-separated operator names (default: all)
    ks: str = "20,5"  # the K values, comma-separated
    out: str = str(RESULTS / "operators.csv")


def operators(k: int) -> dict:
    return {
        "es_gradient (MC)": adaptation.es_gradient(num_queries=k),
        "dpp_es": adaptation.dpp_es(num_queries=k),
        "dpp_es reference lengths": adaptation.dpp_es(num_queries=k, radial="selected"),
        "hill_climb": adaptation.hill_climb(num_queries=k),
        "hill_climb batch E=5": adaptation.hill_climb(num_queries=k, parallel_evaluations=5,
                                                      mode="batch"),
        "rbo ridge (alpha 0.4)": adaptation.rbo(num_queries=k, step_size=0.4),
        "rbo l1 (alpha 0.4)": adaptation.rbo(num_queries=k, step_size=0.4, regression="l1"),
        "asebo (published)": adaptation.asebo(num_queries=k),
        "asebo (projection)": adaptation.asebo(num_queries=k, form="projection"),
    }


def run(cfg: Config, name: str, op, k: int) -> dict:
    fam = envs.make("four_corners")
    obj = ej.rl_objective(fam, ej.policies.mlp(2, 2, (cfg.hidden,)))
    algo = ej.zero_order(obj, op, num_perturbations=cfg.perturbations, optimizer=optax.sgd(0.01))
    seeds = jax.random.split(jax.random.PRNGKey(cfg.seed_stream), cfg.seeds)
    states = jax.vmap(algo.init)(seeds)
    train = ej.jit(jax.vmap(lambda s, k_: jax.lax.scan(algo.step, s, jax.random.split(k_,
                                                                                         cfg.steps))))
    evaluate = ej.jit(jax.vmap(lambda s, k_: algo.evaluate(s, k_, num_repeats=16)))
    t0 = time.perf_counter()
    jax.block_until_ready(train.lower(states, seeds).compile())
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    states, _ = jax.block_until_ready(train(states, seeds))
    train_s = time.perf_counter() - t0
    ev = evaluate(states, jax.random.split(jax.random.PRNGKey(99 + cfg.seed_stream), cfg.seeds))
    post = np.asarray(ev["post_mean"])
    return {"operator": name, "K": k, "queries_per_adaptation": op.num_queries,
            "post_mean": round(float(post.mean()), 1),
            "post_std_seeds": round(float(post.std()), 1),
            "pre_mean": round(float(np.mean(ev["pre_mean"])), 1),
            "meta_steps_per_s": round(cfg.steps * cfg.seeds / train_s, 2),
            "compile_s": round(compile_s, 1), "steps": cfg.steps, "seeds": cfg.seeds,
            "perturbations": cfg.perturbations,
            "post_per_seed": " ".join(f"{x:.1f}" for x in post), "seed_stream": cfg.seed_stream}


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    for f in dataclasses.fields(Config):
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=type(f.default),
                       default=f.default)
    p.add_argument("--tiny", action="store_true", help="seconds: 2 steps, P 4, 3 seeds")
    args = vars(p.parse_args(argv))
    if args.pop("tiny"):
        args.update(steps=2, perturbations=4, seeds=3)
    cfg = Config(**args)
    rows = []
    chosen = [x.strip() for x in cfg.only.split(",") if x.strip()]
    for k in (int(x) for x in cfg.ks.split(",")):
        ops = operators(k)
        unknown = set(chosen) - set(ops)
        if unknown:
            raise SystemExit(f"unknown operator(s) {sorted(unknown)}; known: {list(ops)}")
        for name, op in ops.items():
            if chosen and name not in chosen:
                continue
            row = run(cfg, name, op, k)
            print(row, flush=True)
            rows.append(stamped(row))
            write_csv(rows, cfg.out)  # after every row: a partial run keeps its results


if __name__ == "__main__":
    main()
