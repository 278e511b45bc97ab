"""A reproduction of the MJX hang on CPU (docs/physics.md): N bare halfcheetah episodes of H
steps on MJX through `rl_objective`'s batch evaluator. Here (2-core CPU, jax 0.10.2,
mujoco-mjx 3.17.0) N 512 runs and N 880 never finishes (every thread waiting, no CPU used);
faulthandler ends it after ``--limit`` seconds with the main thread's stack.

    python -m benchmarks.mjx_hang N H [--limit 150]
"""

from __future__ import annotations

import argparse
import faulthandler
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int)
    ap.add_argument("horizon", type=int)
    ap.add_argument("--limit", type=float, default=150.0)
    args = ap.parse_args()
    faulthandler.dump_traceback_later(args.limit, exit=True)

    import jax

    import envs
    import esmaml_jax as ej
    from esmaml_jax.objectives import batch_evaluator

    fam = envs.make("halfcheetah_forward_backward", backend="mjx", horizon=args.horizon)
    obj = ej.rl_objective(fam, ej.policies.linear(fam.observation_size, fam.action_size))
    evaluate = batch_evaluator(obj)
    key = jax.random.PRNGKey(0)
    keys = jax.random.split(key, args.n)
    params = 0.1 * jax.random.normal(key, (args.n, obj.num_params))
    tasks = obj.sample_train_tasks(key, args.n)
    fn = jax.jit(lambda k, p, t: evaluate(k, p, t, obj.init_norm())[0])
    t0 = time.perf_counter()
    compiled = fn.lower(keys, params, tasks).compile()
    t1 = time.perf_counter()
    jax.block_until_ready(compiled(keys, params, tasks))
    print(f"N={args.n} H={args.horizon}: compile {t1 - t0:.1f} s, run "
          f"{time.perf_counter() - t1:.2f} s: OK")


if __name__ == "__main__":
    main()
