"""The zero-order ES-MAML meta-step (Alg. 2/3): numerics, invariances, purity."""

import chex
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import envs
import esmaml_jax as ej
from esmaml_jax import adaptation

D = 4
CENTERS = jnp.array([[1.0, 0.0, -1.0, 0.5], [0.0, 2.0, 0.0, -0.5], [-1.0, -1.0, 1.0, 0.0]])
THETA0 = jnp.array([0.3, -0.2, 0.1, 0.4])
FIXED_INNER = jax.random.PRNGKey(42)


def quadratic_task(params, task, key):
    return -0.5 * jnp.sum((params - task) ** 2)


def quadratic_objective():
    # Every perturbation is scored on all three tasks (deterministic task sets).
    return ej.blackbox_objective(quadratic_task, THETA0,
                                 lambda key, n: jnp.tile(CENTERS, (n // 3, 1)), CENTERS)


def fixed_key(op):
    """The same operator with its inner key pinned, so U(., T) is a deterministic function
    (its key-only draws too: `Adaptation.draw`)."""
    return op._replace(start=lambda key, *args: op.start(FIXED_INNER, *args),
                       draw=lambda key, *args: op.draw(FIXED_INNER, *args))


INNER = adaptation.es_gradient(num_queries=8, sigma=0.1, step_size=0.3, shaping=ej.shaping.none)


def meta_gradient(num_perturbations, key):
    algo = ej.zero_order(quadratic_objective(), fixed_key(INNER),
                         num_perturbations=num_perturbations, tasks_per_perturbation=3,
                         sigma=0.1, optimizer=optax.sgd(1.0), shaping=ej.shaping.none)
    state = algo.init(key)
    new, _ = jax.jit(algo.step)(state, key)
    return new.params - state.params  # SGD(1) on -grad: the ES meta-gradient itself


def true_meta_gradient(num_samples=200_000):
    # J~(theta) = E_g mean_T f_T(U_T(theta + sigma g)); autodiff differentiates straight through
    # the zero-order inner step (its key is fixed), and we average over many g.
    def j(theta):
        def per_task(c):
            f = lambda k, p: (quadratic_task(p, c, k), {})
            adapted, _ = INNER.adapt(FIXED_INNER, theta, f, INNER.init_hparams(), ())
            return quadratic_task(adapted, c, None)
        return jnp.mean(jax.vmap(per_task)(CENTERS))

    g = jax.random.normal(jax.random.PRNGKey(7), (num_samples, D))
    return jax.vmap(jax.grad(j))(THETA0 + 0.1 * g).mean(0)


def test_meta_gradient_matches_autodiff_of_the_smoothed_objective():
    true = true_meta_gradient()
    errors = {}
    for n in (250, 4000):
        est = meta_gradient(n, jax.random.PRNGKey(n))
        errors[n] = float(jnp.linalg.norm(est - true) / jnp.linalg.norm(true))
        # Antithetic ES error of the mean of n terms: about sqrt(D / n) relative.
        assert errors[n] < 3.0 * np.sqrt(D / n), errors
    assert errors[4000] < errors[250]


@pytest.fixture(scope="module")
def nav_algo():
    fam = envs.make("four_corners", horizon=10)
    pol = ej.policies.mlp(2, 2, (8,))
    obj = ej.rl_objective(fam, pol)
    return ej.zero_order(obj, adaptation.es_gradient(num_queries=4), num_perturbations=6,
                         tasks_per_perturbation=2)


@pytest.mark.slow
def test_step_traces_once_and_runs_in_scan(nav_algo):
    step = jax.jit(chex.assert_max_traces(nav_algo.step, n=1))
    state = nav_algo.init(jax.random.PRNGKey(0))
    for i in range(3):
        state, metrics = step(state, jax.random.PRNGKey(i))
    assert int(state.step) == 3
    assert set(metrics) >= {"pre_return", "post_return", "num_valid_directions"}
    # The same step inside lax.scan gives the same result as the Python loop.
    scanned, _ = jax.jit(lambda s, ks: jax.lax.scan(nav_algo.step, s, ks))(
        nav_algo.init(jax.random.PRNGKey(0)), jnp.stack([jax.random.PRNGKey(i) for i in range(3)]))
    np.testing.assert_allclose(scanned.params, state.params, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_vmapped_step_equals_python_loop(nav_algo):
    seeds = jnp.arange(3)
    init_keys = jax.vmap(jax.random.PRNGKey)(seeds)
    step_keys = jax.vmap(jax.random.PRNGKey)(seeds + 100)
    states = jax.vmap(nav_algo.init)(init_keys)
    batched, metrics = jax.jit(jax.vmap(nav_algo.step))(states, step_keys)
    step = jax.jit(nav_algo.step)
    for i in range(3):
        single, m = step(nav_algo.init(init_keys[i]), step_keys[i])
        np.testing.assert_allclose(batched.params[i], single.params, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(batched.norm.mean[i], single.norm.mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(metrics["post_return"][i], m["post_return"], rtol=1e-5)


def test_observation_statistics_are_updated_from_all_rollouts(nav_algo):
    state = nav_algo.init(jax.random.PRNGKey(0))
    new, _ = jax.jit(nav_algo.step)(state, jax.random.PRNGKey(1))
    # four_corners never ends early: every rollout contributes horizon observations.
    assert float(new.norm.count) == nav_algo.rollouts_per_step * 10


def test_same_seed_same_numbers(nav_algo):
    step = jax.jit(nav_algo.step)
    a, _ = step(nav_algo.init(jax.random.PRNGKey(5)), jax.random.PRNGKey(6))
    b, _ = step(nav_algo.init(jax.random.PRNGKey(5)), jax.random.PRNGKey(6))
    assert jnp.array_equal(a.params, b.params)


def test_nonfinite_returns_never_reach_the_parameters():
    # A task family whose objective is NaN for every policy: the step must be skipped.
    obj = ej.blackbox_objective(lambda p, t, k: jnp.nan * jnp.sum(p), jnp.ones(3),
                                lambda key, n: jnp.zeros(n))
    algo = ej.zero_order(obj, adaptation.identity(), num_perturbations=4,
                         optimizer=optax.adam(0.1))
    state = algo.init(jax.random.PRNGKey(0))
    new, m = jax.jit(algo.step)(state, jax.random.PRNGKey(1))
    assert jnp.array_equal(new.params, state.params)
    assert bool(m["skipped_update"]) and int(m["num_nonfinite"]) == 8


def test_partially_nonfinite_returns_are_dropped():
    # NaN whenever the first coordinate is positive: about half the directions are dropped,
    # the rest still give a finite step. (Vanilla: with antithetic pairs around theta = 0 exactly
    # one of each pair would be NaN, and every pair would rightly be dropped.)
    f = lambda p, t, k: jnp.where(p[0] > 0, jnp.nan, -jnp.sum((p - 1.0) ** 2))
    obj = ej.blackbox_objective(f, jnp.zeros(3), lambda key, n: jnp.zeros(n))
    algo = ej.zero_order(obj, adaptation.identity(), num_perturbations=64, shaping=ej.shaping.none,
                         estimator=ej.estimators.vanilla)
    new, m = jax.jit(algo.step)(algo.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    assert 0 < int(m["num_valid_directions"]) < 64
    assert bool(jnp.all(jnp.isfinite(new.params))) and not bool(m["skipped_update"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_perturbations=0), "num_perturbations"),
    (dict(sigma=-0.1), "sigma"),
    (dict(estimator="central"), "estimators.antithetic, not its name"),
    (dict(shaping="rank"), "shaping.zscore, not its name"),
    (dict(sampler=None), "sampler must be a callable"),
    (dict(tasks_per_perturbation=2.5), "tasks_per_perturbation"),
])
def test_bad_configuration_is_rejected(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ej.zero_order(quadratic_objective(), adaptation.identity(), **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_queries=0), "num_queries"),
    (dict(sigma=0.0), "sigma"),
    (dict(estimator=ej.estimators.antithetic, num_queries=5), "even"),
])
def test_bad_operator_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        adaptation.es_gradient(**kwargs)


def test_unknown_component_names_are_one_line_errors_of_the_registry():
    from esmaml_jax.app import registry

    for kind, name in (("adaptation", "newton"), ("estimator", "central"),
                       ("sampler", "sobol"), ("shaping", "rank")):
        with pytest.raises(ValueError, match=f"unknown {kind} '{name}'; known: "):
            registry.lookup(kind, name)


@pytest.mark.slow
def test_chunked_perturbation_axis_equals_unchunked():
    fam = envs.make("four_corners", horizon=10)
    obj = ej.rl_objective(fam, ej.policies.mlp(2, 2, (8,)))
    op = adaptation.es_gradient(num_queries=4)
    whole = ej.zero_order(obj, op, num_perturbations=6, tasks_per_perturbation=2)
    chunked = ej.zero_order(obj, op, num_perturbations=6, tasks_per_perturbation=2,
                            chunk_size=4)  # 6 = 4 + a remainder of 2
    state = whole.init(jax.random.PRNGKey(0))
    a, ma = jax.jit(whole.step)(state, jax.random.PRNGKey(1))
    b, mb = jax.jit(chunked.step)(state, jax.random.PRNGKey(1))
    np.testing.assert_allclose(a.params, b.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.norm.mean, b.norm.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ma["post_return"], mb["post_return"], rtol=1e-5)


@pytest.mark.slow
def test_outer_optimizer_with_extra_args_gets_the_objective_value():
    # optax.contrib.reduce_on_plateau needs update(..., value=): it used to fail with
    # "missing 1 required keyword-only argument: 'value'". It must now run, and see a loss
    # (the negated post-adaptation return), so a plateau shrinks its scale.
    fam = envs.make("four_corners", horizon=5)
    obj = ej.rl_objective(fam, ej.policies.linear(2, 2))
    opt = optax.chain(optax.sgd(0.01),
                      optax.contrib.reduce_on_plateau(patience=1, factor=0.5, cooldown=0))
    for algo in (ej.zero_order(obj, adaptation.es_gradient(num_queries=2), num_perturbations=2,
                               optimizer=opt),
                 ej.first_order(obj, num_tasks=2, num_queries=2, optimizer=opt)):
        state = algo.init(jax.random.PRNGKey(0))
        step = jax.jit(algo.step)
        for i in range(6):
            state, metrics = step(state, jax.random.PRNGKey(i))
        plateau = state.opt_state[1]
        assert bool(jnp.all(jnp.isfinite(state.params)))
        # a real loss was seen: the best value is finite (the initial is +inf)
        assert np.isfinite(float(plateau.best_value)), plateau
        # four corners from the zero policy, horizon 5: the return is constant (-20) so the loss
        # plateaus and the scale must have been cut
        assert float(plateau.scale) < 1.0, plateau


def _eigh_matrices(jaxpr, times=1):
    """[(matrix shape, how many of them one call decomposes)] for every eigh in ``jaxpr`` (a
    batched eigh counts its batch, one inside a scan or map its trip count)."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "eigh":
            shape = eqn.invars[0].aval.shape
            found.append((shape[-2:], times * int(np.prod(shape[:-2], dtype=int))))
        inner = times * (eqn.params["length"] if eqn.primitive.name == "scan" else 1)
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(sub, jax.extend.core.ClosedJaxpr):
                    found += _eigh_matrices(sub.jaxpr, inner)
                elif isinstance(sub, jax.extend.core.Jaxpr):
                    found += _eigh_matrices(sub, inner)
    return found


@pytest.mark.parametrize("estimator", ["antithetic", "forward_fd"])
def test_dpp_es_samples_each_inner_k_dpp_once_per_direction_and_task(estimator):
    """Antithetic pairs share their adaptation keys (common random numbers), and DPP-ES's inner
    directions depend on the key alone: one k-DPP (one eigendecomposition of its kernel) per
    direction and task, P T of them, not one per adapted point (S P T); the meta-step's numbers
    are those of drawing per point (within float32 rounding: the eigh batches differ)."""
    p, t, k = 2, 3, 4  # T a multiple of 3: quadratic_objective's tasks come in threes
    est = getattr(ej.estimators, estimator)
    op = adaptation.dpp_es(num_queries=k, sigma=0.1, step_size=0.3)
    algos = [ej.zero_order(quadratic_objective(), o, num_perturbations=p,
                           tasks_per_perturbation=t, estimator=est, optimizer=optax.sgd(0.1))
             for o in (op, op._replace(draw=None))]
    state = algos[0].init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    counts = {n for shape, n in _eigh_matrices(jax.make_jaxpr(algos[0].step)(state, key).jaxpr)
              if shape == (5 * k, 5 * k)}
    centre = {t} if estimator == "forward_fd" else set()  # its centre: T more points, apart
    assert counts == {p * t} | centre
    per_point = {n for shape, n in _eigh_matrices(jax.make_jaxpr(algos[1].step)(state,
                 key).jaxpr) if shape == (5 * k, 5 * k)}
    signs = 2 if estimator == "antithetic" else 1
    assert per_point == {signs * p * t} | centre
    if estimator == "forward_fd":
        return  # no pairs: the same program either way
    (s0, i0), (s1, i1) = (jax.jit(a.step)(state, key) for a in algos)
    np.testing.assert_allclose(s0.params, s1.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(i0["post_return"], i1["post_return"], rtol=1e-5)
