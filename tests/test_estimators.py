"""ES-gradient estimators and samplers against functions whose gradients are known."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from esmaml_jax import estimators, shaping

D = 8
THETA = jnp.linspace(-1.0, 1.0, D)
W = jnp.arange(1.0, D + 1.0) / D
A = jnp.diag(jnp.arange(1.0, D + 1.0)) + 0.1  # symmetric
B = jnp.ones(D)


def linear_f(theta):
    return W @ theta


def quadratic_f(theta):
    return 0.5 * theta @ A @ theta + B @ theta


def _grad(key, f, n, estimator, sigma=0.1, sampler=estimators.gaussian):
    g, valid = estimators.es_gradient(key, f, THETA, n, sigma, estimator, sampler=sampler)
    return g, valid


def test_antithetic_on_constant_is_exactly_zero(key):
    g, valid = _grad(key, lambda t: jnp.float32(3.7), 64, estimators.antithetic)
    assert valid == 64
    assert jnp.all(g == 0.0)


@pytest.mark.parametrize("sampler", [estimators.gaussian, estimators.orthogonal])
def test_antithetic_on_linear_recovers_weights(key, sampler):
    # (f(t + s g) - f(t - s g)) / (2 s) g = (w . g) g, whose mean is w and whose per-coordinate
    # standard deviation is about |w|: the error of the mean of n shrinks like |w| sqrt(D / n).
    for n in (256, 4096):
        g, _ = _grad(key, linear_f, n, estimators.antithetic, sampler=sampler)
        err = jnp.linalg.norm(g - W)
        assert err < 3.0 * jnp.linalg.norm(W) * np.sqrt(D / n), (n, err)


def test_antithetic_on_quadratic_recovers_a_theta_plus_b(key):
    # The smoothing of a quadratic has the same gradient A theta + b; antithetic differences
    # cancel the even (curvature) terms exactly.
    true = A @ THETA + B
    g, _ = _grad(key, quadratic_f, 8192, estimators.antithetic)
    assert jnp.linalg.norm(g - true) < 3.0 * jnp.linalg.norm(true) * np.sqrt(D / 8192)


def test_forward_fd_and_vanilla_agree_in_expectation():
    # Both are unbiased for grad f~; averaged over many independent keys they meet the truth
    # (vanilla's variance carries the f(theta)^2 term, hence its looser bound).
    true = A @ THETA + B
    keys = jax.random.split(jax.random.PRNGKey(1), 64)
    est = lambda kind: jax.vmap(lambda k: _grad(k, quadratic_f, 512, kind)[0])(keys).mean(0)
    fd, van = est(estimators.forward_fd), est(estimators.vanilla)
    n_total = 64 * 512
    scale = jnp.linalg.norm(true) * np.sqrt(D / n_total)
    assert jnp.linalg.norm(fd - true) < 4.0 * scale
    assert jnp.linalg.norm(van - true) < 4.0 * scale * (1 + abs(float(quadratic_f(THETA))) / 0.1)
    assert jnp.linalg.norm(fd - van) < jnp.linalg.norm(van - true) + jnp.linalg.norm(fd - true)


def test_nonfinite_values_are_dropped():
    eps = jnp.eye(4)
    values = jnp.array([[1.0, jnp.nan, 3.0, 4.0], [0.0, 0.0, jnp.inf, 1.0]])
    g, valid = estimators.estimate(values, eps, 1.0, estimators.antithetic)
    assert int(valid) == 2  # pairs 1 and 2 are dropped, not zeroed into the average
    np.testing.assert_allclose(g, jnp.array([0.5, 0.0, 0.0, 1.5]) / 2)


def test_forward_fd_requires_center():
    with pytest.raises(ValueError, match="centre"):
        estimators.estimate(jnp.ones(3), jnp.eye(3), 1.0, estimators.forward_fd)


def test_orthogonal_sampler_blocks_are_orthogonal_and_isotropic(key):
    eps = estimators.orthogonal(key, 2 * D + 3, D)
    assert eps.shape == (2 * D + 3, D)
    block = eps[:D]
    gram = block @ block.T
    np.testing.assert_allclose(gram - jnp.diag(jnp.diag(gram)), 0.0, atol=1e-4)
    # Marginally N(0, I): E[eps eps^T] = I.
    many = estimators.orthogonal(jax.random.PRNGKey(3), 4000 * D, D)
    np.testing.assert_allclose(many.T @ many / many.shape[0], jnp.eye(D), atol=0.05)


def test_names_instead_of_objects_are_rejected_with_a_pointer():
    """The library takes estimators, shapers and samplers as objects (the app's registry maps
    config names to them); a name is a one-line error saying what to pass."""
    with pytest.raises(TypeError, match=r"estimators\.antithetic, not its name"):
        estimators.checked("antithetic")
    with pytest.raises(TypeError, match=r"shaping\.zscore, not its name"):
        estimators.checked(estimators.antithetic, "zscore")
    with pytest.raises(TypeError, match=r"estimators\.gaussian, not its name"):
        estimators.checked(estimators.antithetic, shaping.zscore, "sobol")
    with pytest.raises(ValueError, match="even"):
        estimators.num_directions(estimators.antithetic, 5)


def test_zscore_invariant_to_offset_and_scale():
    v = jnp.array([1.0, 5.0, -2.0, 7.0])
    a, _ = shaping.zscore(v)
    b, _ = shaping.zscore(3.0 * v + 100.0)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(a.mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(a.std(), 1.0, atol=1e-5)


def test_zscore_of_constant_is_zero_not_nan():
    s, valid = shaping.zscore(jnp.full(5, -400.0))
    assert jnp.all(s == 0.0) and jnp.all(valid)


def test_centered_rank_ignores_nonfinite():
    s, valid = shaping.centered_rank(jnp.array([10.0, jnp.nan, -3.0, 2.0]))
    np.testing.assert_allclose(s, [0.5, 0.0, -0.5, 0.0])
    assert valid.tolist() == [True, False, True, True]
