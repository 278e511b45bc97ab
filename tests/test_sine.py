"""Sine regression (A.6) and the autodiff adaptation operator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import sine as sine_lib
from esmaml_jax import adaptation, policies
from esmaml_jax.objectives import regression_objective


def test_autodiff_operator_matches_hand_computed_step_on_a_linear_model():
    # f(theta) = -mean((X theta - y)^2): grad = -2 X^T (X theta - y) / n.
    x = jnp.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]])
    y = jnp.array([1.0, 0.0, 2.0])
    theta = jnp.array([0.2, -0.3])
    f = lambda key, p: (-jnp.mean((x @ p - y) ** 2), {})
    op = adaptation.autodiff_gradient(step_size=0.1)
    adapted, info = op.adapt(jax.random.PRNGKey(0), theta, f, op.init_hparams(), ())
    grad = -2.0 * x.T @ (x @ theta - y) / 3
    np.testing.assert_allclose(adapted, theta + 0.1 * grad, rtol=1e-6)
    np.testing.assert_allclose(info["pre_value"], f(None, theta)[0], rtol=1e-6)
    # Two steps = two hand steps.
    op2 = adaptation.autodiff_gradient(step_size=0.1, num_steps=2)
    twice, _ = op2.adapt(jax.random.PRNGKey(0), theta, f, op2.init_hparams(), ())
    first = theta + 0.1 * grad
    np.testing.assert_allclose(twice, first + 0.1 * (-2.0 * x.T @ (x @ first - y) / 3),
                               rtol=1e-5)
    assert op2.num_queries == 2


def test_sine_tasks_and_data():
    tasks = sine_lib.sample_tasks(jax.random.PRNGKey(0), 1000)
    assert float(tasks["amplitude"].min()) >= 0.1 and float(tasks["amplitude"].max()) <= 5.0
    assert float(tasks["phase"].min()) >= 0.0 and float(tasks["phase"].max()) <= np.pi
    task = {"amplitude": jnp.float32(2.0), "phase": jnp.float32(0.5)}
    x, y = sine_lib.sample_data(jax.random.PRNGKey(1), task, 50)
    assert x.shape == (50, 1) and float(jnp.abs(x).max()) <= 5.0
    np.testing.assert_allclose(y, 2.0 * jnp.sin(x - 0.5), rtol=1e-6)


def test_regression_objective_is_minus_mse_of_k_shots():
    fam = envs.make("sine", num_shots=7)
    # A model that predicts the true curve exactly scores 0; one that predicts 0 scores -mean(y^2).
    task = {"amplitude": jnp.float32(3.0), "phase": jnp.float32(1.0)}
    exact = policies.from_apply(lambda p, x: p[0] * jnp.sin(x - p[1]), jnp.array([3.0, 1.0]))
    obj = regression_objective(fam, exact)
    value, _ = obj.evaluate(jax.random.PRNGKey(0), jnp.array([3.0, 1.0]), task, ())
    assert abs(float(value)) < 1e-10
    x, y = sine_lib.sample_data(jax.random.PRNGKey(0), task, 7)
    zero_value, _ = obj.evaluate(jax.random.PRNGKey(0), jnp.array([0.0, 1.0]), task, ())
    np.testing.assert_allclose(zero_value, -jnp.mean(y**2), rtol=1e-5)


def test_sine_family_validates():
    with pytest.raises(ValueError, match="num_shots"):
        envs.make("sine", num_shots=0)
