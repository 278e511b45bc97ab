"""First-order ES-MAML (Alg. 4, Alg. 5): the ES Hessian and the meta-gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import esmaml_jax as ej
from esmaml_jax import estimators

D = 5
A = jnp.array([[2.0, 0.3, 0.0, 0.1, 0.0], [0.3, 1.0, 0.2, 0.0, 0.0], [0.0, 0.2, -1.0, 0.0, 0.4],
               [0.1, 0.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.4, 0.0, 1.5]])
B = jnp.arange(1.0, D + 1.0) / D
THETA = jnp.array([0.2, -0.1, 0.3, 0.0, 0.5])
SIGMA = 0.1


def quadratic(p):
    return 0.5 * p @ A @ p + B @ p


def hessian_estimate(key, n, antithetic):
    eps = jax.random.normal(key, (n, D))
    plus = jax.vmap(quadratic)(THETA + SIGMA * eps)
    if antithetic:
        minus = jax.vmap(quadratic)(THETA - SIGMA * eps)
        return estimators.es_hessian(jnp.stack([plus, minus]), eps, SIGMA, quadratic(THETA))
    return estimators.es_hessian(plus, eps, SIGMA)


@pytest.mark.parametrize("antithetic", [False, True])
def test_es_hessian_converges_to_a(antithetic):
    # The smoothing of a quadratic has Hessian exactly A. Error of the mean of N terms ~ 1/sqrt(N):
    # 16x the samples should cut it about 4x (allow 2.5x for the noise of one draw per N).
    errs = {}
    for n in (2000, 32000):
        keys = jax.random.split(jax.random.PRNGKey(n), 8)
        errs[n] = float(jnp.mean(jax.vmap(
            lambda k, n=n: jnp.linalg.norm(hessian_estimate(k, n, antithetic) - A))(keys)))
    assert errs[32000] < errs[2000] / 2.5, errs  # measured ratio about 3.8 (plain)
    if antithetic:  # the plain estimate carries f(theta) / sigma^2 noise: still 2.8 at 32000
        assert errs[32000] < 0.2 * float(jnp.linalg.norm(A)), errs


def test_antithetic_hessian_has_lower_variance():
    keys = jax.random.split(jax.random.PRNGKey(0), 32)
    err = lambda anti: float(jnp.mean(jax.vmap(
        lambda k: jnp.linalg.norm(hessian_estimate(k, 200, anti) - A))(keys)))
    # Alg. 4 carries f(theta + sigma g) ~ f(theta) / sigma^2 into every term; the control variate
    # removes it. Measured: the plain estimate's error is dozens of times larger here.
    assert err(True) < 0.2 * err(False)


@pytest.mark.parametrize("antithetic", [False, True])
def test_matrix_free_product_equals_explicit(antithetic):
    key = jax.random.PRNGKey(1)
    eps = jax.random.normal(key, (30, D))
    plus = jax.vmap(quadratic)(THETA + SIGMA * eps)
    values = jnp.stack([plus, jax.vmap(quadratic)(THETA - SIGMA * eps)]) if antithetic else plus
    center = quadratic(THETA) if antithetic else None
    v = jnp.arange(1.0, D + 1.0)
    explicit = estimators.es_hessian(values, eps, SIGMA, center) @ v
    free = estimators.hessian_vector_product(values, eps, SIGMA, v, center)
    np.testing.assert_allclose(free, explicit, rtol=1e-4, atol=1e-4)


CENTERS = jnp.array([[1.0, 0.0, -1.0, 0.5, 0.0], [0.0, 2.0, 0.0, -0.5, 1.0]])
ALPHA = 0.3


def task_f(p, c, key=None):
    return -0.5 * jnp.sum((p - c) ** 2)


def fo_gradient(hessian, num_queries, key):
    obj = ej.blackbox_objective(task_f, THETA, lambda k, n: jnp.tile(CENTERS, (n // 2, 1)),
                                CENTERS)
    algo = ej.first_order(obj, num_tasks=2, num_queries=num_queries, sigma=SIGMA,
                          step_size=ALPHA, hessian=hessian, hessian_estimator="antithetic",
                          shaping=ej.shaping.none, optimizer=optax.sgd(1.0))
    state = algo.init(key)
    new, _ = jax.jit(algo.step)(state, key)
    return new.params - state.params


def test_first_order_meta_gradient_matches_autodiff():
    # f~_T = f_T - sigma^2 D / 2 for this quadratic, so grad f~_T(theta) = c_T - theta exactly and
    # J(theta) = mean_T f~_T(theta + alpha grad f~_T(theta)) can be differentiated by autodiff.
    def j(theta):
        per = lambda c: task_f(theta + ALPHA * jax.grad(task_f)(theta, c), c)
        return jnp.mean(jax.vmap(per)(CENTERS))

    true = jax.grad(j)(THETA)  # = (1 - alpha) * mean_T grad f~(theta')
    no_hessian_target = true / (1 - ALPHA)  # FO-NoHessian drops the (I + alpha H) factor
    n = 20000
    # Forward-FD error of the mean of n terms ~ |f| sqrt(D / n) / sigma relative to the signal.
    tol = 0.1 * float(jnp.linalg.norm(true))
    fo = fo_gradient(True, n, jax.random.PRNGKey(0))
    np.testing.assert_allclose(fo, true, atol=tol)
    nohess = fo_gradient(False, n, jax.random.PRNGKey(0))
    np.testing.assert_allclose(nohess, no_hessian_target, atol=tol)
    # and the two variants differ by the Hessian term, more than the estimation noise:
    assert float(jnp.linalg.norm(fo - nohess)) > 2 * tol


def test_bad_hessian_estimator():
    obj = ej.blackbox_objective(task_f, THETA, lambda k, n: jnp.tile(CENTERS, (n // 2, 1)))
    with pytest.raises(ValueError, match="unknown Hessian estimator"):
        ej.first_order(obj, hessian_estimator="exact")
    with pytest.raises(ValueError, match="num_queries"):
        ej.first_order(obj, num_queries=0)


def test_hessian_queries():
    obj = ej.blackbox_objective(task_f, THETA, lambda k, n: jnp.tile(CENTERS, (n // 2, 1)))
    with pytest.raises(ValueError, match="at least num_queries"):
        ej.first_order(obj, num_queries=20, hessian_queries=10, hessian_samples="shared")
    ej.first_order(obj, num_queries=20, hessian_queries=10)  # independent: any K_H
    with pytest.raises(ValueError, match="hessian_queries"):
        ej.first_order(obj, hessian_queries=0)
    algo = ej.first_order(obj, num_tasks=2, num_queries=4, hessian_queries=9,
                          hessian_estimator="antithetic", hessian_samples="shared")
    assert algo.rollouts_per_step == 2 * ((9 + 1) + (4 + 1) + 9)
    state, metrics = jax.jit(algo.step)(algo.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    assert bool(jnp.all(jnp.isfinite(state.params))) and int(metrics["num_nonfinite"]) == 0
    # FO-NoHessian ignores it (no Hessian queries are spent)
    no_h = ej.first_order(obj, num_tasks=2, num_queries=4, hessian=False, hessian_queries=9)
    assert no_h.rollouts_per_step == 2 * 2 * (4 + 1)


# --- Alg. 5 unbiasedness at the paper's K (raw returns, so the exact answer is known) ---------
A_DIAG = jnp.diag(jnp.array([1.0, 0.5, 2.0, 1.5, 0.8]))
BIAS_KEYS = 20000


def offset_task(p, c, offset):
    return -0.5 * (p - c) @ A_DIAG @ (p - c) + offset


def exact_meta_gradient():
    """grad_theta mean_T f~_T(theta + alpha grad f~_T(theta)). The smoothing of a quadratic only
    adds a constant, so f~'s derivatives are f's and autodiff gives the exact target."""
    grad = lambda th, c: jax.grad(offset_task)(th, c, 0.0)
    j = lambda th: jnp.mean(jax.vmap(lambda c: offset_task(th + ALPHA * grad(th, c), c, 0.0))(
        CENTERS))
    return np.asarray(jax.grad(j)(THETA))


def mean_fo_step(offset, estimator, samples):
    """Mean and standard error over BIAS_KEYS keys of one FO-Hessian step (K = K_H = 20)."""
    obj = ej.blackbox_objective(lambda p, c, key: offset_task(p, c, offset), THETA,
                                lambda k, n: jnp.tile(CENTERS, (n // 2, 1)))
    algo = ej.first_order(obj, num_tasks=2, num_queries=20, sigma=SIGMA, step_size=ALPHA,
                          hessian_estimator=estimator, hessian_samples=samples,
                          shaping=ej.shaping.none, optimizer=optax.sgd(1.0))
    state = algo.init(jax.random.PRNGKey(0))
    steps = np.asarray(jax.jit(jax.vmap(lambda k: algo.step(state, k)[0].params - state.params))(
        jax.random.split(jax.random.PRNGKey(1), BIAS_KEYS)))
    return steps.mean(0), steps.std(0) / np.sqrt(BIAS_KEYS)


@pytest.mark.parametrize("estimator", ["mc", "antithetic"])
def test_fo_hessian_step_is_unbiased(estimator):
    # E[(I + alpha H) d2] = (I + alpha A) grad f~(theta') exactly when H is independent of d1
    # (Alg. 5). Measured with 20000 keys: |z| <= 2.1 for both estimators.
    target = exact_meta_gradient()
    mean, se = mean_fo_step(0.0, estimator, "independent")
    assert np.all(np.abs(mean - target) < 4 * se + 1e-4), (mean, target, se)


def test_fo_hessian_step_is_invariant_to_a_constant_offset():
    # Adding c to every return changes nothing in expectation (MC Hessian, raw returns).
    # Before the fix (samples shared with d1) the mean step moved by 15-30 standard errors.
    m0, s0 = mean_fo_step(0.0, "mc", "independent")
    for offset in (10.0, -10.0):
        m, s = mean_fo_step(offset, "mc", "independent")
        assert np.all(np.abs(m - m0) < 4 * np.sqrt(s**2 + s0**2)), (offset, m, m0)


@pytest.mark.parametrize("estimator", ["mc", "antithetic"])
def test_shared_samples_are_the_biased_reference_form(estimator):
    # The released code's sharing of d1's directions with H: biased (measured |z| up to 110), and
    # for MC the bias depends on the returns' offset. Kept as an option; this pins the reason.
    target = exact_meta_gradient()
    mean, se = mean_fo_step(0.0, estimator, "shared")
    assert np.max(np.abs(mean - target) / se) > 10
    if estimator == "mc":
        shifted, se2 = mean_fo_step(10.0, estimator, "shared")
        assert np.max(np.abs(shifted - mean) / np.sqrt(se**2 + se2**2)) > 10


def test_query_accounting_per_sampling_mode():
    obj = ej.blackbox_objective(task_f, THETA, lambda k, n: jnp.tile(CENTERS, (n // 2, 1)))
    make = lambda **kw: ej.first_order(obj, num_tasks=2, num_queries=4, hessian_queries=9, **kw)
    assert make().rollouts_per_step == 2 * (2 * 5 + 9)
    assert make(hessian_estimator="antithetic").rollouts_per_step == 2 * (2 * 5 + 2 * 9 + 1)
    assert make(hessian_samples="shared").rollouts_per_step == 2 * (10 + 5)
    with pytest.raises(ValueError, match="hessian_samples"):
        make(hessian_samples="both")
