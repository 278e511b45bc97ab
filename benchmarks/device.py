"""A one-command report of what this device does with the library (issue 34 deliver 2).

    python -m benchmarks.device [--out report.json]     # whatever jax.devices()[0] is
    python -m benchmarks.device --tiny                   # seconds, at toy sizes (the test)

On the default device it builds, compiles and times the zero-order ES-MAML meta-step (Alg. 3,
es_gradient inner step, `esmaml_jax.jit`) for: four corners with the linear policy and with
MLP(32) (P 150 antithetic, K 20, H 100), the paper-scale halfcheetah forward-backward step (P 150
antithetic, K 20, H 200), and the MLP(32) four-corners step with 1, 4, 16 and 64 seeds vmapped
into one program. Per case: compile time, the median of the timed calls (after one warm-up
call), env steps per second, XLA's buffer sizes of the compiled program and, where the device
reports it, its peak memory in use. Each line is printed as soon as it is measured; the JSON
(also the last line of stdout) has every figure with the device, JAX version and load average.
On a 2-core CPU the halfcheetah case takes minutes per step: `--skip halfcheetah`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from esmaml_jax import paper

FULL = {"p": paper.NUM_PERTURBATIONS, "k": paper.NUM_QUERIES, "horizon": 100,
        "brax_horizon": 200, "seeds": (1, 4, 16, 64), "calls": 5}
TINY = {"p": 4, "k": 2, "horizon": 5, "brax_horizon": 3, "seeds": (1, 2), "calls": 2}


def _algo(env: str, policy: str, size: dict, horizon: int):
    import envs
    import esmaml_jax as ej

    fam = envs.make(env)
    pol = getattr(ej.policies, policy)(fam.observation_size, fam.action_size)
    obj = ej.rl_objective(fam, pol, horizon=horizon)
    return ej.zero_order(obj, ej.adaptation.es_gradient(num_queries=size["k"]),
                         num_perturbations=size["p"])


def measure(algo, seeds: int, calls: int) -> dict:
    """Compile and time ``algo.step`` over ``seeds`` vmapped seeds on the default device."""
    import jax

    import esmaml_jax as ej

    if seeds == 1:
        step, state, key = algo.step, algo.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1)
    else:
        step = jax.vmap(algo.step)
        state = jax.vmap(algo.init)(jax.random.split(jax.random.PRNGKey(0), seeds))
        key = jax.random.split(jax.random.PRNGKey(1), seeds)
    t0 = time.perf_counter()
    compiled = ej.jit(step).lower(state, key).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(state, key))
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(state, key))
        times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    mem = compiled.memory_analysis()
    xla = (mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes
           if mem is not None else None)
    stats = jax.devices()[0].memory_stats() or {}
    env_steps = seeds * algo.env_steps_per_step
    return {"seeds": seeds, "compile_s": compile_s, "step_ms": 1e3 * step_s,
            "step_ms_min": 1e3 * min(times), "step_ms_max": 1e3 * max(times),
            "env_steps_per_s": env_steps / step_s, "xla_buffer_mb": None if xla is None
            else xla / 2**20, "peak_memory_mb": (stats["peak_bytes_in_use"] / 2**20
                                                 if "peak_bytes_in_use" in stats else None)}


def report(size: dict, skip: set[str]) -> dict:
    import jax

    cases = {"four_corners_linear": ("four_corners", "linear", size["horizon"], (1,)),
             "four_corners_mlp32": ("four_corners", "mlp", size["horizon"], size["seeds"]),
             "halfcheetah_forward_backward": ("halfcheetah_forward_backward", "linear",
                                              size["brax_horizon"], (1,))}
    out: dict = {"device": str(jax.devices()[0]), "platform": jax.default_backend(),
                 "jax": jax.__version__, "load_1min_before": os.getloadavg()[0],
                 "size": {k: v for k, v in size.items() if k != "seeds"}, "cases": {}}
    for name, (env, policy, horizon, seed_counts) in cases.items():
        if name.split("_")[0] in skip or name in skip:
            continue
        algo = _algo(env, policy, size, horizon)
        rows = []
        for seeds in seed_counts:
            row = measure(algo, seeds, size["calls"])
            rows.append(row)
            print(f"{name}, {seeds} seed(s): {row['step_ms']:.2f} ms/step "
                  f"({row['env_steps_per_s']:,.0f} env steps/s), compile "
                  f"{row['compile_s']:.1f} s", file=sys.stderr, flush=True)
        out["cases"][name] = rows
    out["load_1min_after"] = os.getloadavg()[0]
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="toy sizes (seconds)")
    ap.add_argument("--skip", default="", help="comma-separated cases to skip, e.g. "
                                               "halfcheetah")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    result = report(TINY if args.tiny else FULL, set(filter(None, args.skip.split(","))))
    text = json.dumps(result)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
