"""Does the second core help? The fused meta-step on one pinned core, on one device (XLA's own
threads free to use every core), and sharded over one device per core, each in its own process,
interleaved over rounds.

    python -m benchmarks.cores            # four corners linear + MLP(32) (P 150, K 20, H 100)
                                          # and halfcheetah forward-backward (P 10, K 5, H 100)
    python -m benchmarks.cores --tiny     # seconds

Writes benchmarks/results/cores.json: per case and mode, the median (min-max) meta-step time over
the rounds (each round: one process per mode, warm-up then ``--steps`` timed steps, the median
of those), and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks._common import RESULTS, flat_layout
from esmaml_jax.app import bench

CHILD = r"""
import json, statistics, sys, time
import jax, numpy as np, optax
import envs, esmaml_jax as ej
env, pol, p, k, h, steps = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
fam = envs.make(env, horizon=h)
policy = (ej.policies.mlp(fam.observation_size, fam.action_size, (32,)) if pol == "mlp"
          else ej.policies.linear(fam.observation_size, fam.action_size))
n = jax.device_count()
mesh = jax.sharding.Mesh(np.array(jax.devices()), ("p",)) if n > 1 else None
algo = ej.zero_order(ej.rl_objective(fam, policy), ej.adaptation.es_gradient(num_queries=k),
                     num_perturbations=p, optimizer=optax.sgd(0.01), mesh=mesh)
state, key = algo.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1)
t0 = time.perf_counter()
step = ej.jit(algo.step).lower(state, key).compile()
compile_s = time.perf_counter() - t0
jax.block_until_ready(step(state, key))
ts = []
for _ in range(steps):
    t0 = time.perf_counter()
    jax.block_until_ready(step(state, key))
    ts.append(time.perf_counter() - t0)
print(json.dumps({"step_s": statistics.median(ts), "compile_s": compile_s, "devices": n}))
"""

CASES = [("four_corners", "linear", 150, 20, 100, 20), ("four_corners", "mlp", 150, 20, 100, 10),
         ("halfcheetah_forward_backward", "linear", 10, 5, 100, 3)]
TINY = [("four_corners", "linear", 8, 2, 10, 3)]


def measure(case, mode: str) -> dict:
    """One process: ``mode`` is "pinned" (one device, CPU 0 only), "one_device" or "sharded"
    (one device per core, the perturbation axis sharded)."""
    cores = os.cpu_count() or 1
    env = dict(os.environ)
    flags = env.get("XLA_FLAGS", "")
    if mode == "sharded":
        flags += f" --xla_force_host_platform_device_count={cores}"
    env["XLA_FLAGS"] = flags.strip()
    cmd = [sys.executable, "-c", CHILD, *map(str, case)]
    if mode == "pinned" and shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=str(RESULTS / "cores.json"))
    args = p.parse_args(argv)
    cases = TINY if args.tiny else CASES
    modes = ["pinned", "one_device", "sharded"]
    load = os.getloadavg()
    rows = []
    for case in cases:
        times: dict[str, list[float]] = {m: [] for m in modes}
        compile_s: dict[str, float] = {}
        for _ in range(1 if args.tiny else args.rounds):
            for m in modes:
                r = measure(case, m)
                times[m].append(r["step_s"])
                compile_s[m] = r["compile_s"]
        spread = {m: bench.spread(v) for m, v in times.items()}
        row = {"env": case[0], "policy": case[1], "P": case[2], "K": case[3], "H": case[4],
               "step_s": spread, "compile_s": compile_s,
               "speedup_sharded_over_pinned": spread["pinned"]["median"]
               / spread["sharded"]["median"],
               "speedup_one_device_over_pinned": spread["pinned"]["median"]
               / spread["one_device"]["median"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"cores": os.cpu_count(), "rounds": 1 if args.tiny else args.rounds,
              "load_average": [load, os.getloadavg()], "rows": rows,
              "flat_layout": flat_layout()}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
