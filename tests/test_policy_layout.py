"""The fast policy layout (layers as sums of broadcast products, sliced once per episode) computes
the same policy as flax's nn.Dense, and the benchmark's minimal reference program computes the
same returns as the library."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import esmaml_jax as ej
from esmaml_jax.app import minimal
from esmaml_jax.objectives import rl_objective


class DenseMLP(nn.Module):
    """The built-in MLP written with flax's own nn.Dense (the layout before the fast one)."""

    hidden: tuple

    @nn.compact
    def __call__(self, x):
        for width in self.hidden:
            x = jnp.tanh(nn.Dense(width)(x))
        return jnp.tanh(nn.Dense(2, kernel_init=nn.initializers.zeros)(x))


@pytest.mark.parametrize("obs_size,hidden", [(2, (32,)), (3, (100, 5)), (70, (4,))])
def test_builtin_mlp_is_flax_dense_with_the_same_parameters(obs_size, hidden):
    """Same parameter tree and initial vector as nn.Dense layers, same outputs (to float
    rounding) for inputs below and above the unrolling threshold, single and vmapped."""
    mine = ej.policies.mlp(obs_size, 2, hidden)
    ref = ej.policies.from_flax(DenseMLP(hidden), obs_size)
    key = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(mine.init(key), ref.init(key))
    params = jax.random.normal(key, (5, mine.num_params))
    obs = jax.random.normal(jax.random.PRNGKey(4), (5, obs_size))
    a = jax.vmap(mine.apply)(params, obs)
    b = jax.vmap(ref.apply)(params, obs)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mine.apply(params[0], obs[0]), b[0], rtol=1e-5, atol=1e-6)
    bound = ej.policies.bind(mine, params[1])
    np.testing.assert_array_equal(bound(obs[1]), mine.apply(params[1], obs[1]))


@pytest.mark.parametrize("hidden", [None, 8])
def test_minimal_reference_returns_equal_the_library_objective(hidden):
    """The benchmark's minimal program (`esmaml_jax.app.minimal`) is a faithful reference: the same
    flat vectors give the same four-corners returns as rl_objective without normalization."""
    fam = envs.make("four_corners", horizon=30)
    policy = (ej.policies.linear(2, 2) if hidden is None else ej.policies.mlp(2, 2, (hidden,)))
    assert policy.num_params == minimal.num_params(hidden)
    obj = rl_objective(fam, policy, normalize_observations=False)
    key = jax.random.PRNGKey(0)
    params = 2.0 * jax.random.normal(key, (12, policy.num_params))
    tasks = jnp.arange(12) % 4
    ours = jax.vmap(lambda p, t: obj.evaluate(key, p, t, obj.init_norm())[0])(params, tasks)
    ref = minimal.returns(params, minimal.CORNERS[tasks], 30, hidden)
    assert float(jnp.std(ours)) > 1.0  # the policies differ: a real comparison
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-3)


def test_minimal_step_improves_four_corners():
    """The reference step is the real algorithm: a few hundred steps raise the adapted return."""
    step = jax.jit(lambda th, k: minimal.step(th, k, num_perturbations=20, num_queries=10,
                                              lr=0.05))
    theta = jnp.zeros(minimal.num_params(None))
    keys = jax.random.split(jax.random.PRNGKey(0), 150)
    first = []
    for i, k in enumerate(keys):
        theta, post = step(theta, k)
        if i < 10:
            first.append(float(post))
        last = float(post)
    assert np.isfinite(last)
    theta_final = theta
    posts = [float(step(theta_final, k)[1]) for k in jax.random.split(jax.random.PRNGKey(9), 10)]
    assert np.mean(posts) > np.mean(first) + 20.0


def test_rollout_unroll_changes_speed_not_numbers():
    import jax
    import numpy as np
    import pytest

    import envs
    from esmaml_jax import policies
    from esmaml_jax.objectives import rl_objective

    fam = envs.make("four_corners", horizon=7)  # odd: the last unrolled iteration is partial
    pol = policies.mlp(fam.observation_size, fam.action_size, (8,))
    params = pol.init(jax.random.PRNGKey(0))
    task = jax.tree.map(lambda x: x[0], fam.sample_train_tasks(jax.random.PRNGKey(1), 1))
    out = {}
    for u in (1, 2, 3):
        obj = rl_objective(fam, pol, unroll=u)
        out[u] = jax.jit(obj.evaluate)(jax.random.PRNGKey(2), params, task, obj.init_norm())
    for u in (2, 3):
        jax.tree.map(np.testing.assert_array_equal, out[u], out[1])
    assert fam.env.rollout_unroll == 2
    with pytest.raises(ValueError, match="unroll must be >= 1"):
        rl_objective(fam, pol, unroll=0)
