"""What nested batch shapes cost on this machine: the same 6,600 four-corners rollouts (linear
policy, H 100) vmapped as one flat batch or nested in several shapes with plain ``vmap``, and
as the one flat batch the algorithms run (`Objective.evaluate_batch`: a scan over time around
one vmap of the env step). Interleaved rounds.

    python -m benchmarks.batch_shapes        # writes benchmarks/results/batch_shapes.json
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp

import envs
import esmaml_jax as ej
from benchmarks._common import RESULTS
from esmaml_jax.app import bench
from esmaml_jax.objectives import rl_objective

SHAPES = [(6600,), (300, 22), (275, 24), (825, 8), (150, 44), (3300, 2), (150, 2, 22)]


def main(rounds: int = 7) -> dict:
    family = envs.make("four_corners", horizon=100)
    policy = ej.policies.linear(2, 2)
    key = jax.random.PRNGKey(0)
    programs = {}
    obj = rl_objective(family, policy)
    norm = obj.init_norm()
    one = lambda k, p, t: obj.evaluate(k, p, t, norm)[0]
    for shape in SHAPES:
        n = 1
        for s in shape:
            n *= s
        params = (0.1 * jax.random.normal(key, (n, 6))).reshape(*shape, 6)
        tasks = (jnp.arange(n) % 4).reshape(shape)
        keys = jax.random.split(key, n).reshape(*shape, 2)
        fn = one
        for _ in shape:
            fn = jax.vmap(fn)
        args = (keys, params, tasks)
        programs[("vmap", shape)] = (ej.jit(fn).lower(*args).compile(), args)
    flat_args = tuple(x.reshape(6600, *x.shape[len(SHAPES[0]):])
                      for x in programs[("vmap", SHAPES[0])][1])
    programs[("evaluate_batch", SHAPES[0])] = (
        ej.jit(lambda k, p, t: obj.evaluate_batch(k, p, t, norm)[0]).lower(*flat_args)
        .compile(), flat_args)
    load = os.getloadavg()
    times = bench.interleaved(programs, rounds)
    rows = [{"shape": list(shape), "program": how,
             "ms": {k: v * 1e3 for k, v in bench.spread(ts).items()}}
            for (how, shape), ts in times.items()]
    result = {"rollouts": 6600, "horizon": 100, "rounds": rounds,
              "load_average": [load, os.getloadavg()], "rows": rows,
              "compiler_options": ej.compiler_options()}
    (RESULTS / "batch_shapes.json").write_text(json.dumps(result, indent=2) + "\n")
    for r in rows:
        print(r)
    return result


if __name__ == "__main__":
    main()
