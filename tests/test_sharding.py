"""The perturbation axis sharded over 4 (CPU) devices gives the single-device numbers."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    import envs, esmaml_jax as ej
    assert len(jax.devices()) == 4, jax.devices()
    fam = envs.make("four_corners", horizon=10)
    obj = ej.rl_objective(fam, ej.policies.mlp(2, 2, (8,)))
    op = ej.adaptation.es_gradient(num_queries=4)
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("p",))
    one = ej.zero_order(obj, op, num_perturbations=8, tasks_per_perturbation=2)
    many = ej.zero_order(obj, op, num_perturbations=8, tasks_per_perturbation=2, mesh=mesh)
    state = one.init(jax.random.PRNGKey(0))
    a, ma = jax.jit(one.step)(state, jax.random.PRNGKey(1))
    step = jax.jit(many.step)
    b, mb = step(state, jax.random.PRNGKey(1))
    b, mb = step(b, jax.random.PRNGKey(2))
    a, ma = jax.jit(one.step)(a, jax.random.PRNGKey(2))
    np.testing.assert_allclose(a.params, b.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.norm.mean, b.norm.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ma["post_return"], mb["post_return"], rtol=1e-5)
    text = step.lower(state, jax.random.PRNGKey(1)).compile().as_text()
    assert "all-reduce" in text or "all-gather" in text  # really partitioned
    print("SHARDED-OK")
""")


def test_four_device_sharding_equals_single_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=600)
    assert "SHARDED-OK" in out.stdout, out.stderr[-3000:]
