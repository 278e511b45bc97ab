"""The locomotion families' physics on this machine: Brax's spring and generalized pipelines
against MJX (MuJoCo's solver in JAX), timed in interleaved rounds in ONE process (issue 37).

    python -m benchmarks.backends [--robots halfcheetah,ant] [--rounds 3] [--probe-limit 240]

Per robot (forward-backward task) and backend, two programs:

- ``meta_step``: the zero-order ES-MAML meta-step at the CLI's settings for the family (its
  recommendation: linear policy, P 20 antithetic, K 10, T 2, H 50), built through the app as
  ``esmaml train --env ROBOT_forward_backward --set env.backend=B`` builds it;
- ``rollouts``: a bare batch of 256 episodes of H 200 (one ``evaluate_batch``): the env-step
  cost at a paper-scale horizon and a large batch, with nothing around it.

Each program is compiled once (compile time recorded), then every program runs once per round
for ``--rounds`` rounds after a warm-up call, so machine load hits every backend alike; the
result has min / median / max per program, env steps per second, and the load average before
and after. MJX's programs first compile and run once in a child process with a time limit: on
this 2-core CPU they have hung (docs/physics.md), and a backend that does not finish is recorded
as skipped, with why. Writes ``benchmarks/results/backends.json``; ``python -m
benchmarks.make_tables`` renders it into docs/physics.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax

from benchmarks._common import RESULTS

BACKENDS = ("spring", "generalized", "mjx")
BATCH, HORIZON = 256, 200


def _programs(robot: str, backend: str) -> dict:
    """{name: (compiled, args, env steps per call, compile s)} for one robot and backend."""
    from esmaml_jax import compiler
    from esmaml_jax.app import Config, build
    from esmaml_jax.objectives import batch_evaluator

    built = build(Config().set("env.name", f"{robot}_forward_backward")
                  .set("env.backend", backend))
    algo = built.algorithm
    state, key = algo.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1)
    out = {}
    t0 = time.perf_counter()
    step = compiler.jit(algo.step).lower(state, key).compile()
    out["meta_step"] = (step, (state, key), algo.env_steps_per_step, time.perf_counter() - t0)
    long = build(Config().set("env.name", f"{robot}_forward_backward")
                 .set("env.backend", backend).set("objective.horizon", HORIZON))
    obj = long.algorithm.objective
    evaluate = batch_evaluator(obj)
    params = state.params + 0.1 * jax.random.normal(key, (BATCH, state.params.shape[0]))
    tasks = obj.sample_train_tasks(key, BATCH)
    keys = jax.random.split(key, BATCH)
    fn = lambda k, p, t: evaluate(k, p, t, state.norm)[0]
    t0 = time.perf_counter()
    rollouts = compiler.jit(fn).lower(keys, params, tasks).compile()
    out["rollouts"] = (rollouts, (keys, params, tasks), BATCH * HORIZON,
                       time.perf_counter() - t0)
    return out


def _probe(robot: str, backend: str, limit: float) -> str | None:
    """Compile and run ``backend``'s programs once in a child process; None when they finish
    within ``limit`` seconds, else what happened (MJX has hung on XLA:CPU at these batch sizes:
    docs/physics.md), so a hang costs this benchmark ``limit`` seconds, not forever."""
    import subprocess
    import sys

    try:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.backends", "--probe",
                               f"{robot}/{backend}"], capture_output=True, text=True,
                              timeout=limit)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        done = "; ".join(line for line in out.splitlines() if line.startswith(("compiled",
                                                                                "ran")))
        return f"no result within {limit:.0f} s ({done or 'nothing compiled by then'})"
    if proc.returncode != 0:
        return f"failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}"
    return None


def _probe_main(spec: str) -> None:
    """The child of `_probe`: says what it compiled and ran, as it goes."""
    robot, backend = spec.split("/")
    programs = _programs(robot, backend)
    for name, (_, _, _, compile_s) in programs.items():
        print(f"compiled {name} in {compile_s:.1f} s", flush=True)
    for name, (compiled, args, _, _) in programs.items():
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        print(f"ran {name} in {time.perf_counter() - t0:.1f} s", flush=True)


def run(robots: list[str], rounds: int, probe_limit: float = 240.0) -> dict:
    from esmaml_jax.app.bench import interleaved, spread

    load_before = os.getloadavg()
    compiled: dict = {}
    skipped = []
    for robot in robots:
        for backend in BACKENDS:
            if backend == "mjx":
                why = _probe(robot, backend, probe_limit)
                if why is not None:
                    skipped.append({"robot": robot, "backend": backend, "why": why})
                    print(f"{robot} {backend}: {why}", flush=True)
                    continue
            for name, entry in _programs(robot, backend).items():
                compiled[(robot, backend, name)] = entry
    programs = {f"{r}/{b}/{n}": (e[0], e[1]) for (r, b, n), e in compiled.items()}
    times = interleaved(programs, rounds)
    rows = []
    for (robot, backend, name), (_, _, env_steps, compile_s) in compiled.items():
        ts = times[f"{robot}/{backend}/{name}"]
        s = spread(ts)
        rows.append({"robot": robot, "backend": backend, "program": name,
                     "env_steps_per_call": env_steps, "compile_s": round(compile_s, 1),
                     "seconds": s, "env_steps_per_s": env_steps / s["median"]})
    return {"rows": rows, "skipped": skipped, "rounds": rounds, "batch": BATCH,
            "horizon": HORIZON,
            "load_average": [load_before, os.getloadavg()], "cpu_count": os.cpu_count(),
            "devices": [str(d) for d in jax.devices()], "jax": jax.__version__}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robots", default="halfcheetah")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--probe-limit", type=float, default=240.0,
                    help="seconds MJX's programs get to compile and run once in a child process")
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(RESULTS / "backends.json"))
    args = ap.parse_args()
    if args.probe:
        _probe_main(args.probe)
        return
    result = run(args.robots.split(","), args.rounds, args.probe_limit)
    for r in result["rows"]:
        print(f"{r['robot']:12s} {r['backend']:12s} {r['program']:10s} "
              f"{r['seconds']['median'] * 1e3:9.1f} ms (min {r['seconds']['min'] * 1e3:.1f}, "
              f"max {r['seconds']['max'] * 1e3:.1f})  {r['env_steps_per_s']:12,.0f} env steps/s"
              f"  compile {r['compile_s']} s")
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
