"""Meta-step times of this checkout against another one, interleaved in ONE process.

    python -m benchmarks.step_ab --other ../old-checkout [--cases linear,mlp,halfcheetah]

The other checkout's package is copied to a temporary folder and imported under another name
(``esmaml_other``; its ``esmaml_jax`` imports renamed), so both versions' steps are compiled in
the same process and timed call by call in alternation (A, B, A, B, ...): the machine's load
hits both alike. Both use THIS checkout's ``envs`` (the task families), so the comparison is of
the library alone. Each case builds the zero-order ES-MAML step (Alg. 3, es_gradient inner
step) through the public API (``esmaml_jax.jit``: the library's compiler options), checks that
both compute the same parameters (the largest difference is reported), and reports per side
min / median / max over the calls, the median of the per-call ratios (B / A: above 1 means this
checkout is slower), compile times and the load average.

Cases (the paper's defaults, A.7.2: P 150 antithetic, K 20 forward-FD + centre, H 100 unless
said): ``linear`` and ``mlp`` (MLP(32)) on four corners, ``six_circles`` (linear);
``halfcheetah`` (Brax spring, forward-backward, linear, P 20, K 5, H 100: a size a 2-core CPU
can time); ``dpp`` (DPP-ES, K 20, MLP(32) on four corners: the inner k-DPP's cost).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from esmaml_jax import paper

P, K = paper.NUM_PERTURBATIONS, paper.NUM_QUERIES
CASES = {
    "linear": dict(env="four_corners", policy="linear", p=P, k=K, horizon=100),
    "mlp": dict(env="four_corners", policy="mlp", p=P, k=K, horizon=100),
    "six_circles": dict(env="six_circles", policy="linear", p=P, k=K, horizon=100),
    "halfcheetah": dict(env="halfcheetah_forward_backward", policy="linear", p=20, k=5,
                        horizon=100),
    "dpp": dict(env="four_corners", policy="mlp", p=P, k=K, horizon=100, operator="dpp_es"),
}


def _import_other(root: Path, into: Path):
    """The package of checkout ``root`` as module ``esmaml_other`` (a renamed copy)."""
    dest = into / "esmaml_other"
    shutil.copytree(root / "esmaml_jax", dest, ignore=shutil.ignore_patterns("__pycache__"))
    for path in dest.rglob("*.py"):
        path.write_text(path.read_text().replace("esmaml_jax", "esmaml_other"))
    sys.path.insert(0, str(into))
    return importlib.import_module("esmaml_other")


def _build(lib, case: dict):
    import jax

    import envs

    fam = envs.make(case["env"])
    pol = getattr(lib.policies, case["policy"])(fam.observation_size, fam.action_size)
    obj = lib.rl_objective(fam, pol, horizon=case["horizon"])
    operator = getattr(lib.adaptation, case.get("operator", "es_gradient"))
    algo = lib.zero_order(obj, operator(num_queries=case["k"]),
                          num_perturbations=case["p"])
    state = algo.init(jax.random.PRNGKey(0))
    t0 = time.perf_counter()
    step = lib.jit(algo.step).lower(state, jax.random.PRNGKey(1)).compile()
    return step, state, time.perf_counter() - t0


def _spread(xs: list[float]) -> dict:
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs)}


def compare(other: Path, cases: list[str], calls: int) -> dict:
    import jax
    import numpy as np

    import esmaml_jax

    with tempfile.TemporaryDirectory() as tmp:
        libs = {"A": _import_other(other, Path(tmp)), "B": esmaml_jax}
        load = [os.getloadavg()[0]]
        out: dict = {}
        for name in cases:
            built = {side: _build(lib, CASES[name]) for side, lib in libs.items()}
            first = {side: jax.block_until_ready(step(state, jax.random.PRNGKey(1)))
                     for side, (step, state, _) in built.items()}
            diff = float(np.max(np.abs(np.asarray(first["A"][0].params)
                                       - np.asarray(first["B"][0].params))))
            times: dict = {"A": [], "B": []}
            for i in range(calls):
                for side in ("A", "B") if i % 2 == 0 else ("B", "A"):
                    step, state, _ = built[side]
                    t0 = time.perf_counter()
                    jax.block_until_ready(step(state, jax.random.PRNGKey(i)))
                    times[side].append(1e3 * (time.perf_counter() - t0))
            load.append(os.getloadavg()[0])
            out[name] = {
                **CASES[name], "calls": calls,
                "A_step_ms": _spread(times["A"]), "B_step_ms": _spread(times["B"]),
                "B_over_A_median_of_calls": statistics.median(
                    b / a for a, b in zip(times["A"], times["B"], strict=True)),
                "A_compile_s": built["A"][2], "B_compile_s": built["B"][2],
                "max_param_difference_after_one_step": diff,
            }
            print(name, json.dumps(out[name]), file=sys.stderr, flush=True)
    return {"A": str(other), "B": str(Path(__file__).resolve().parents[1]),
            "load_1min": _spread(load), "cpu_count": os.cpu_count(),
            "devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
            "cases": out}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--other", required=True, help="the checkout to compare against (A)")
    ap.add_argument("--cases", default="linear,mlp")
    ap.add_argument("--calls", type=int, default=30, help="timed calls per side and case")
    ap.add_argument("--out", help="write the JSON result here")
    args = ap.parse_args(argv)
    cases = args.cases.split(",")
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        ap.error(f"--cases: unknown {unknown}; known: {', '.join(CASES)}")
    if not (Path(args.other) / "esmaml_jax").is_dir():
        ap.error(f"--other: no esmaml_jax package in {args.other}")
    result = compare(Path(args.other).resolve(), cases, args.calls)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
