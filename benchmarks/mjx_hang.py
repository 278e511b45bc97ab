"""A reproduction of the MJX hang on CPU (docs/physics.md): N bare halfcheetah episodes of H
steps on MJX through `rl_objective`'s batch evaluator. Here (2-core CPU, jax 0.10.2,
mujoco-mjx 3.17.0) N 512 runs and N 880 never finishes (every thread waiting, no CPU used);
faulthandler ends it after 150 s with the main thread's stack.

    python -m benchmarks.mjx_hang N H
"""
import sys, time, warnings, faulthandler
warnings.filterwarnings("ignore")
n, h = int(sys.argv[1]), int(sys.argv[2])
faulthandler.dump_traceback_later(150, exit=True)
import jax, jax.numpy as jnp
import envs, esmaml_jax as ej
from esmaml_jax.objectives import batch_evaluator
fam = envs.make("halfcheetah_forward_backward", backend="mjx", horizon=h)
obj = ej.rl_objective(fam, ej.policies.linear(fam.observation_size, fam.action_size))
ev = batch_evaluator(obj)
key = jax.random.PRNGKey(0)
params = 0.1 * jax.random.normal(key, (n, obj.num_params))
tasks = obj.sample_train_tasks(key, n)
f = jax.jit(lambda k, p, t: ev(k, p, t, obj.init_norm())[0])
t0 = time.time(); c = f.lower(jax.random.split(key, n), params, tasks).compile(); t1 = time.time()
r = c(jax.random.split(key, n), params, tasks); jax.block_until_ready(r)
print(f"N={n} H={h}: compile {t1-t0:.1f}s run {time.time()-t1:.2f}s OK", flush=True)
