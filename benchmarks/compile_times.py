"""Compile time per task family, split into JAX's tracing/lowering and XLA's compilation, at the
settings `esmaml train --env NAME` uses (the family's CPU-scale recommendations; 1 seed, 1
device): the fused meta-step, `evaluate` (pre, adaptation, post on the test tasks) and, as the
reference, a bare rollout of one flat batch of the step's query size (no meta-step around it).

    python -m benchmarks.compile_times [--only halfcheetah]   # -> results/compile_times.json

Compile times are wall-clock seconds of one compilation each (no persistent cache), so they
vary with machine load; the ratios (step / bare rollout) are the figure to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax

from benchmarks._common import RESULTS, flat_layout
from esmaml_jax import compiler
from esmaml_jax.app.build import build
from esmaml_jax.app.config import Config

FAMILIES = ["four_corners", "halfcheetah_forward_backward", "halfcheetah_goal_velocity",
            "ant_forward_backward", "ant_goal_position", "swimmer_forward_backward",
            "walker2d_forward_backward"]


def _compile(fn, *args) -> dict:
    """Seconds to trace + lower and to XLA-compile ``fn`` at ``args`` (compiled fresh)."""
    t0 = time.perf_counter()
    lowered = compiler.jit(fn).lower(*args)
    t1 = time.perf_counter()
    lowered.compile()
    t2 = time.perf_counter()
    return {"lower_s": round(t1 - t0, 2), "xla_s": round(t2 - t1, 2),
            "total_s": round(t2 - t0, 2)}


def family_row(env: str) -> dict:
    built = build(Config().set("env.name", env))
    algo, cfg = built.algorithm, built.config
    state = algo.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    adapt = cfg.component("adaptation").options
    alg = cfg.component("algorithm").options
    queries = algo.adaptation.num_queries + 1
    signs = 2 if alg.get("estimator", "antithetic") == "antithetic" else 1  # config names
    n = signs * alg["num_perturbations"] * alg["tasks_per_perturbation"] * queries
    obj = algo.objective
    params = state.params + 0.1 * jax.random.normal(key, (n, state.params.shape[0]))
    tasks = obj.sample_train_tasks(key, n)
    keys = jax.random.split(key, n)
    bare = jax.vmap(lambda k, p, t: obj.evaluate(k, p, t, state.norm)[0])
    row = {"env": env, "P": alg["num_perturbations"], "T": alg["tasks_per_perturbation"],
           "K": adapt.get("num_queries"), "H": algo.objective.steps_per_query,
           "policy": cfg.component("policy").name, "bare_batch": n,
           "bare": _compile(bare, keys, params, tasks),
           "step": _compile(algo.step, state, key),
           "evaluate": _compile(lambda s, k: algo.evaluate(s, k, num_repeats=1), state, key)}
    row["step_over_bare"] = round(row["step"]["total_s"] / row["bare"]["total_s"], 2)
    print(json.dumps(row), flush=True)
    return row


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=None, help="families whose name contains this text")
    p.add_argument("--out", default=str(RESULTS / "compile_times.json"))
    args = p.parse_args(argv)
    envs = [e for e in FAMILIES if args.only is None or args.only in e]
    load = os.getloadavg()
    rows = [family_row(e) for e in envs]
    result = {"rows": rows, "load_average": [load, os.getloadavg()],
              "jax": jax.__version__, "devices": [str(d) for d in jax.devices()[:1]],
              "compiler_options": compiler.compiler_options(), "flat_layout": flat_layout()}
    with open(args.out, "w") as fh:
        fh.write(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
