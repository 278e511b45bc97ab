"""PG-MAML against known answers: a one-step linear-Gaussian bandit whose expected return, its
gradient and the exact MAML objective are closed-form; TRPO's pieces on known problems; learning
on navigation_2d; bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import envs
from envs.base import State, TaskEnv, TaskFamily
from esmaml_jax import pg, policies
from esmaml_jax.algorithms import pg_maml

A = 2  # action size
C = jnp.array([0.6, -0.3])  # the task: the target action
THETA = jnp.array([0.1, 0.2, -1.0, -0.7])  # [mu (2), log_std (2)]


class Bandit(TaskEnv):
    """One step: observation 1, reward -|a - c|^2, then the episode ends."""

    @property
    def observation_size(self) -> int:
        return 1

    @property
    def action_size(self) -> int:
        return A

    def reset_task(self, rng, task):
        zero = jnp.zeros(())
        return State(pipeline_state=None, obs=jnp.ones(1), reward=zero, done=zero,
                     metrics={}, info={"task": task})

    def step(self, state, action):
        r = -jnp.sum((action - state.info["task"]) ** 2)
        return state.replace(reward=r, done=jnp.ones(()))

    def sample_tasks(self, key, num):
        return jnp.broadcast_to(C, (num, A))


FAMILY = TaskFamily("bandit", Bandit(), 1, 1, A, train_tasks=C[None], test_tasks=C[None])
# mean network: the action mean is the parameter itself (no observation dependence)
MEAN = policies.from_apply(lambda p, obs: p, jnp.zeros(A))
GAUSS = policies.gaussian(MEAN, A)


def expected_return(theta):
    """V(theta) = E[-|a - c|^2] = -|mu - c|^2 - sum sigma^2."""
    mu, log_std = theta[:A], theta[A:]
    return -jnp.sum((mu - C) ** 2) - jnp.sum(jnp.exp(2 * log_std))


def maml_objective(theta, alpha):
    """J(theta) = V(theta + alpha grad V(theta)): the exact MAML objective."""
    return expected_return(theta + alpha * jax.grad(expected_return)(theta))


def _algo(**kw):
    settings = dict(num_tasks=1, num_queries=20, step_size=0.2, outer="vpg", discount=1.0,
                    baseline="none", normalize_advantages=False, normalize_observations=False,
                    optimizer=optax.sgd(1.0))
    return pg_maml(FAMILY, MEAN, **{**settings, **kw})


def _inner_gradients(num_queries, num_keys, seed=0):
    sample = pg.sampler(FAMILY, GAUSS, 1, False)

    def one(key):
        batch = sample(key, THETA, C, None, num_queries)
        adv = pg.advantages(batch, 1.0, "none", normalize=False)
        return jax.grad(pg.inner_objective, argnums=1)(GAUSS, THETA, batch, adv)

    return np.asarray(jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(seed),
                                                              num_keys)))


def test_inner_policy_gradient_is_unbiased_and_shrinks_like_one_over_sqrt_k():
    exact = np.asarray(jax.grad(expected_return)(THETA))
    rms = {}
    for k in (10, 40):
        g = _inner_gradients(k, 4000, seed=k)
        se = g.std(axis=0) / np.sqrt(len(g))
        z = (g.mean(axis=0) - exact) / se
        assert np.all(np.abs(z) < 4.5), (k, z)
        rms[k] = np.sqrt(np.mean(np.sum((g - exact) ** 2, axis=1)))
    # 4x the trajectories: half the error (1/sqrt(K)), within sampling noise
    assert 1.8 < rms[10] / rms[40] < 2.2, rms


def test_the_inner_step_carries_the_exact_hessian_in_expectation():
    """E[d theta' / d theta] = I + alpha grad^2 V(theta) for DiCE and LVC (equal at H = 1);
    the first-order form gives I."""
    alpha, k = 0.2, 20
    sample = pg.sampler(FAMILY, GAUSS, 1, False)
    exact = np.eye(4) + alpha * np.asarray(jax.hessian(expected_return)(THETA))

    def jac(key, kind):
        batch = sample(key, THETA, C, None, k)
        adv = pg.advantages(batch, 1.0, "none", normalize=False)
        return jax.jacfwd(lambda p: pg.adapt(GAUSS, p, batch, adv, alpha, kind))(THETA)

    keys = jax.random.split(jax.random.PRNGKey(3), 20000)
    for kind in ("dice", "lvc"):
        j = np.asarray(jax.jit(jax.vmap(lambda kk, kind=kind: jac(kk, kind)))(keys))
        se = j.std(axis=0) / np.sqrt(len(j)) + 1e-9
        z = (j.mean(axis=0) - exact) / se
        assert np.all(np.abs(z) < 4.5), (kind, j.mean(axis=0), exact)
    j = np.asarray(jax.jit(jax.vmap(lambda kk: jac(kk, "first_order")))(keys[:10]))
    np.testing.assert_allclose(j, np.broadcast_to(np.eye(4), j.shape), atol=1e-6)


def _meta_steps(meta_gradient, num_keys=8000, alpha=0.1, k=400):
    """The VPG step of the real algorithm with SGD(1): new - old = the meta-gradient estimate."""
    algo = _algo(meta_gradient=meta_gradient, step_size=alpha, num_queries=k)
    state = algo.init(jax.random.PRNGKey(0)).replace(params=THETA)
    state = state.replace(opt_state=optax.sgd(1.0).init(THETA))
    new = jax.jit(jax.vmap(lambda key: algo.step(state, key)[0].params))(
        jax.random.split(jax.random.PRNGKey(1), num_keys))
    return np.asarray(new) - np.asarray(THETA)


class TwoStep(Bandit):
    """Two steps; the only reward, at the second, is -|a_1 + a_2 - c|^2: the steps interact."""

    def reset_task(self, rng, task):
        state = super().reset_task(rng, task)
        return state.replace(info={"task": task, "sum": jnp.zeros(A), "t": jnp.zeros(())})

    def step(self, state, action):
        total = state.info["sum"] + action
        last = state.info["t"] >= 1
        r = jnp.where(last, -jnp.sum((total - state.info["task"]) ** 2), 0.0)
        info = {**state.info, "sum": total, "t": state.info["t"] + 1}
        return state.replace(reward=r, done=last.astype(jnp.float32), info=info)


def test_dice_keeps_the_cross_time_hessian_terms_that_lvc_drops():
    """Two interacting steps: V = -|2 mu - c|^2 - 2 sum sigma^2. DiCE's E[d theta'/d theta] is
    I + alpha grad^2 V; LVC's misses the cross terms between the steps' scores (ProMP's
    trade of bias for variance), visibly on the mean block."""
    family = TaskFamily("two_step", TwoStep(), 2, 1, A, train_tasks=C[None], test_tasks=C[None])
    sample = pg.sampler(family, GAUSS, 2, False)
    alpha, k = 0.05, 20

    def value(theta):
        mu, log_std = theta[:A], theta[A:]
        return -jnp.sum((2 * mu - C) ** 2) - 2 * jnp.sum(jnp.exp(2 * log_std))

    exact = np.eye(4) + alpha * np.asarray(jax.hessian(value)(THETA)) / 2  # (K H), H = 2

    def jac(key, kind):
        batch = sample(key, THETA, C, None, k)
        adv = pg.advantages(batch, 1.0, "none", normalize=False)
        return jax.jacfwd(lambda p: pg.adapt(GAUSS, p, batch, adv, alpha, kind))(THETA)

    keys = jax.random.split(jax.random.PRNGKey(4), 20000)
    z = {}
    for kind in ("dice", "lvc"):
        j = np.asarray(jax.jit(jax.vmap(lambda kk, kind=kind: jac(kk, kind)))(keys))
        z[kind] = (j.mean(axis=0) - exact) / (j.std(axis=0) / np.sqrt(len(j)) + 1e-9)
    assert np.all(np.abs(z["dice"]) < 4.5), z["dice"]
    assert np.max(np.abs(z["lvc"][:A, :A])) > 10, z["lvc"]


# The inner step's direction and its Hessian term come from the same K trajectories (as in every
# PG-MAML code), so E[(I + alpha H^) grad V(theta')] differs from the exact meta-gradient by
# O(alpha^2 / K): at alpha = 0.1 it is 0.02 at K = 100 and 0.004 at K = 400 (below 3 standard
# errors of 8000 steps). The first-order form's gap, 0.16 on each mean coordinate, does not
# shrink with K.
@pytest.mark.parametrize("meta_gradient", ["dice", "lvc"])
def test_meta_gradient_matches_autodiff_of_the_exact_maml_objective(meta_gradient):
    alpha = 0.1
    exact = np.asarray(jax.grad(maml_objective)(THETA, alpha))
    steps = _meta_steps(meta_gradient, alpha=alpha)
    se = steps.std(axis=0) / np.sqrt(len(steps))
    z = (steps.mean(axis=0) - exact) / se
    assert np.all(np.abs(z) < 4.5), (steps.mean(axis=0), exact, z)


def test_first_order_meta_gradient_misses_the_second_order_term():
    alpha = 0.1
    exact = np.asarray(jax.grad(maml_objective)(THETA, alpha))
    steps = _meta_steps("first_order", alpha=alpha)
    se = steps.std(axis=0) / np.sqrt(len(steps))
    z = (steps.mean(axis=0) - exact) / se
    assert np.max(np.abs(z)) > 20, z


def test_conjugate_gradient_solves_a_known_spd_system():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(8, 8))
    a = jnp.asarray(m @ m.T + 0.5 * np.eye(8), jnp.float32)
    b = jnp.asarray(rng.normal(size=8), jnp.float32)
    x = pg.conjugate_gradient(lambda v: a @ v, b, iters=30, residual_tol=1e-12)
    np.testing.assert_allclose(np.asarray(a @ x), np.asarray(b), atol=1e-3)
    # few iterations: a partial solve, as TRPO uses it (still a descent direction)
    x2 = pg.conjugate_gradient(lambda v: a @ v, b, iters=2)
    assert float(jnp.dot(x2, b)) > 0


def test_line_search_rejects_a_step_that_lowers_the_surrogate_and_backtracks_into_the_kl_bound():
    surrogate = lambda x: -jnp.sum((x - 1.0) ** 2)  # maximal at 1
    kl = lambda x: jnp.sum(x**2)  # "distance" from the old params 0
    both = lambda x: (surrogate(x), kl(x))
    x0 = jnp.zeros(2)
    # away from the optimum: every scaled step lowers the surrogate -> rejected, params kept
    new, accepted, j, d = pg.line_search(both, x0, -jnp.ones(2), max_kl=10.0)
    assert not bool(accepted) and int(j) == 15 and float(d) == 0.0
    np.testing.assert_array_equal(np.asarray(new), np.asarray(x0))
    # towards it but too far for the KL bound: shrinks by 0.8^j until kl <= 0.5
    new, accepted, j, d = pg.line_search(both, x0, 2 * jnp.ones(2), max_kl=0.5)
    assert bool(accepted) and float(kl(new)) <= 0.5 and float(surrogate(new)) > -2.0
    # the accepted candidate's KL, as the search computed it (its point to float rounding)
    np.testing.assert_allclose(float(d), float(kl(new)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(new), 0.8 ** int(j) * 2 * np.ones(2), rtol=1e-6)
    assert float(kl(new / 0.8)) > 0.5  # the previous, longer candidate broke the bound
    # no first-order gain expected (g . step <= 0): no candidate is even tried
    new, accepted, j, _ = pg.line_search(both, x0, 2 * jnp.ones(2), max_kl=0.5,
                                      expected_improvement=jnp.float32(0.0))
    assert not bool(accepted) and int(j) == 15


@pytest.mark.slow
def test_trpo_steps_respect_the_kl_bound_and_move():
    fam = envs.make("navigation_2d")
    pol = policies.mlp(2, 2, (16,))
    algo = pg_maml(fam, pol, num_tasks=4, num_queries=8, max_kl=0.01)
    state = algo.init(jax.random.PRNGKey(0))
    step = jax.jit(algo.step)
    moved = 0
    for i in range(6):
        new, m = step(state, jax.random.PRNGKey(i))
        assert float(m["kl"]) <= 0.01 * (1 + 1e-4)
        if not bool(m["line_search_rejected"]):
            moved += 1
            assert float(m["kl"]) > 0
            assert not np.array_equal(np.asarray(new.params), np.asarray(state.params))
        state = new
    assert moved >= 4


@pytest.mark.parametrize("outer", [pytest.param("trpo", marks=pytest.mark.slow), "vpg"])
def test_pg_maml_learns_navigation(outer):
    """Post-adaptation test return of navigation_2d rises by far more than a sign error (or no
    learning) could give: the initial policy scores about -108; 40 steps reach -74 (VPG) and above
    -60 (TRPO); a descending (sign-flipped) VPG ends at -215."""
    fam = envs.make("navigation_2d")
    pol = policies.mlp(2, 2, (32,))
    opt = optax.adam(1e-2) if outer == "vpg" else None
    algo = pg_maml(fam, pol, num_tasks=10, num_queries=10, outer=outer, optimizer=opt)
    state = algo.init(jax.random.PRNGKey(0))
    evaluate = jax.jit(algo.evaluate, static_argnames=("num_tasks", "num_repeats"))
    before = float(evaluate(state, jax.random.PRNGKey(9), num_repeats=4)["post_mean"])
    run = jax.jit(lambda s, k: jax.lax.scan(algo.step, s, jax.random.split(k, 40)))
    state, m = run(state, jax.random.PRNGKey(1))
    after = evaluate(state, jax.random.PRNGKey(9), num_repeats=4)
    assert float(after["post_mean"]) > before + 25, (before, float(after["post_mean"]))
    if outer == "trpo":  # adaptation helps (VPG's 40 steps mostly improve the meta-policy)
        assert float(after["post_mean"]) > float(after["pre_mean"]) + 5


@pytest.mark.parametrize("kwargs, message", [
    ({"num_queries": 0}, "num_queries"),
    ({"max_kl": 0.0}, "max_kl must be > 0"),
    ({"max_kl": -1.0}, "max_kl must be > 0"),
    ({"outer": "adam"}, "unknown outer update 'adam'"),
    ({"meta_gradient": "maml"}, "unknown meta_gradient"),
    ({"num_tasks": 0}, "num_tasks"),
    ({"init_std": 0.0}, "init_std"),
    ({"outer": "trpo", "optimizer": optax.adam(1e-3)}, "TRPO outer step takes no optimizer"),
])
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message) as e:
        pg_maml(envs.make("navigation_2d"), policies.linear(2, 2), **kwargs)
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_fisher_vector_product_is_the_hessian_of_the_kl_through_the_inner_step():
    """The Gauss-Newton form TRPO uses equals autodiff's Hessian-vector product of the mean KL
    (differentiated twice through the inner step) at the old parameters."""
    fam = envs.make("navigation_2d")
    stoch = policies.gaussian(policies.mlp(2, 2, (8,)), 2, init_std=0.5)
    sample = pg.sampler(fam, stoch, 20, False)
    theta = stoch.init(jax.random.PRNGKey(0)) + 0.3 * jax.random.normal(
        jax.random.PRNGKey(1), (stoch.num_params,))
    tasks = fam.sample_train_tasks(jax.random.PRNGKey(2), 3)
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    pre = jax.vmap(lambda k, t: sample(k, theta, t, None, 4))(keys, tasks)

    def adapted(params):
        return jax.vmap(lambda b: pg.adapt(stoch, params, b, pg.advantages(b, 0.99), 0.1))(pre)

    old = adapted(theta)
    post = jax.vmap(lambda k, t, p: sample(k, p, t, None, 4))(keys, tasks, old)
    kl = lambda p: jnp.mean(jax.vmap(lambda o, n, b: pg.mean_kl(stoch, o, n, b))(
        old, adapted(p), post))
    v = jax.random.normal(jax.random.PRNGKey(4), theta.shape)
    exact = jax.jvp(jax.grad(kl), (theta,), (v,))[1]
    got = pg.fisher_vector_product(stoch, adapted, theta, post)(v)
    np.testing.assert_allclose(np.asarray(got), np.asarray(exact), rtol=1e-3,
                               atol=1e-4 * float(jnp.abs(exact).max()))


@pytest.mark.parametrize("make", [
    lambda: policies.mlp(3, 2, (8, 5)),
    lambda: policies.linear(3, 2),
    # a policy that only takes one observation: apply_many falls back to vmap
    lambda: policies.from_apply(lambda p, o: jnp.tanh(o @ p["w"]), {"w": jnp.ones((3, 2))}),
], ids=["mlp", "linear", "from_apply"])
@pytest.mark.slow
def test_batched_policy_forms_equal_the_per_observation_ones(make):
    """PG-MAML evaluates the Gaussian policy on a whole [K, H, O] batch at once (a matrix
    product per layer under one parameter vector); it must give what the policy gives one
    observation at a time, for policies that take a batch and for those that do not."""
    stoch = policies.gaussian(make(), 2, init_std=0.7)
    theta = stoch.init(jax.random.PRNGKey(0)) + 0.3 * jax.random.normal(
        jax.random.PRNGKey(1), (stoch.num_params,))
    other = theta + 0.1 * jax.random.normal(jax.random.PRNGKey(2), theta.shape)
    obs = jax.random.normal(jax.random.PRNGKey(3), (4, 6, 3))
    act = jax.random.normal(jax.random.PRNGKey(4), (4, 6, 2))
    each = jax.vmap(jax.vmap(lambda o: stoch.mean(theta, o)))(obs)
    np.testing.assert_allclose(stoch.mean_many(theta, obs), each, rtol=1e-5, atol=1e-6)
    lp = jax.vmap(jax.vmap(lambda o, a: stoch.log_prob(theta, o, a)))(obs, act)
    np.testing.assert_allclose(stoch.log_prob_many(theta, obs, act), lp, rtol=1e-5, atol=1e-5)
    log_std_o, log_std_n = stoch.log_std(theta), stoch.log_std(other)
    mu_n = jax.vmap(jax.vmap(lambda o: stoch.mean(other, o)))(obs)
    var_o, var_n = jnp.exp(2 * log_std_o), jnp.exp(2 * log_std_n)
    kl = jnp.sum(log_std_n - log_std_o + (var_o + (each - mu_n) ** 2) / (2 * var_n) - 0.5, -1)
    np.testing.assert_allclose(stoch.kl_many(theta, other, obs), kl, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stoch.kl(theta, other, obs[0, 0]), kl[0, 0], rtol=1e-5)
    # and the gradients through them (PG-MAML differentiates these, up to third order)
    g_many = jax.grad(lambda p: jnp.sum(stoch.log_prob_many(p, obs, act)))(theta)
    g_each = jax.grad(lambda p: jnp.sum(jax.vmap(jax.vmap(
        lambda o, a: stoch.log_prob(p, o, a)))(obs, act)))(theta)
    np.testing.assert_allclose(g_many, g_each, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("flags, message", [
    (["-K", "0"], "num_queries (K trajectories per adaptation) must be an integer >= 1"),
    (["--max-kl", "0"], "max_kl must be > 0"),
    (["--max-kl", "-0.1"], "max_kl must be > 0"),
    (["--outer", "adam"], "unknown outer update 'adam'; known: trpo, vpg"),
    (["--lr", "0.1"], "TRPO outer step takes no optimizer"),
    (["--inner-sigma", "0.1"], "adaptation setting(s) sigma do not apply"),
])
def test_cli_bad_pg_settings_exit_2_with_one_line(tmp_path, capsys, flags, message):
    from esmaml_jax.app import cli

    out = tmp_path / "run"
    assert cli.main(["train", "--algorithm", "pg_maml", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.slow
def test_pg_maml_run_resumes_bit_identically_and_evaluates(tmp_path, capsys):
    """PG-MAML through the app: run directory, checkpoints (TRPO's empty optimizer state
    included), an interrupted run resumed equals the straight one; eval states the mode."""
    from esmaml_jax.app import Config, cli, train

    config = Config.from_json({
        "env": {"name": "navigation_2d"}, "objective": {"horizon": 5},
        "algorithm": {"name": "pg_maml", "num_tasks": 2},
        "adaptation": {"name": "policy_gradient", "num_queries": 2},
        "run": {"num_steps": 4, "steps_per_chunk": 2, "eval_repeats": 1}})
    quiet = dict(progress=False, log=lambda *a: None, checkpoint_every=2)
    train(config, tmp_path / "straight", **quiet)
    train(config, tmp_path / "cut", should_stop=lambda done: done >= 2, **quiet)
    train(None, tmp_path / "cut", resume=True, **quiet)
    assert np.array_equal(np.load(tmp_path / "cut" / "params.npy"),
                          np.load(tmp_path / "straight" / "params.npy"))
    assert cli.main(["eval", str(tmp_path / "cut"), "--no-save", "--repeats", "1"]) == 0
    assert "stochastic Gaussian policy (algorithm.evaluation)" in capsys.readouterr().out


def _primitives(jaxpr):
    """The primitive names of a jaxpr, inside scan / while / cond / pjit bodies too."""
    for eqn in jaxpr.eqns:
        yield eqn.primitive.name
        for sub in eqn.params.values():
            for inner in (sub if isinstance(sub, (tuple, list)) else (sub,)):
                inner = getattr(inner, "jaxpr", inner)
                if hasattr(inner, "eqns"):
                    yield from _primitives(inner)


def test_pg_log_likelihoods_are_one_matrix_product_per_layer():
    """PG-MAML's log-likelihoods of a task's K x H states under one parameter vector go
    through the network once, as one matrix product per layer. (Per-state evaluation takes the
    layer's unrolled per-rollout form, whose third-order derivatives made the TRPO meta-step
    2.5x slower, 405 -> 1003 ms on navigation_2d, MLP(32), n 40, until this was found.)"""
    stoch = policies.gaussian(policies.mlp(2, 2, (32,)), 2)
    fam = envs.make("navigation_2d")
    theta = stoch.init(jax.random.PRNGKey(0))
    task = jax.tree.map(lambda x: x[0], fam.sample_train_tasks(jax.random.PRNGKey(2), 1))
    batch = pg.sampler(fam, stoch, 10, False)(jax.random.PRNGKey(1), theta, task, None, 4)

    jaxpr = jax.make_jaxpr(lambda p: pg.log_probs(stoch, p, batch))(theta).jaxpr
    names = list(_primitives(jaxpr))
    assert names.count("dot_general") == 2  # hidden and output layer, once each


def test_spd_solve_solves_known_systems_batched_and_flags_indefinite_ones():
    """The baseline's solver (plain XLA ops, no LAPACK) against a known answer: a x = b for
    a = m^T m + I with x drawn first, one system and a vmapped batch; an indefinite matrix
    gives NaN (which fit_baseline turns into no baseline), not a wrong finite answer."""
    m = jax.random.normal(jax.random.PRNGKey(0), (4, 30, 12))
    a = jnp.einsum("bki,bkj->bij", m, m) + jnp.eye(12)
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 12))
    b = jnp.einsum("bij,bj->bi", a, x)
    np.testing.assert_allclose(pg.spd_solve(a[0], b[0]), x[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(jax.vmap(pg.spd_solve)(a, b), x, rtol=1e-4, atol=1e-4)
    assert not np.all(np.isfinite(pg.spd_solve(-a[0], b[0])))


def test_pg_maml_step_runs_no_lapack_kernel():
    """No LAPACK kernel in PG-MAML's meta-step: jaxlib 0.10's CPU LAPACK kernels can deadlock
    XLA's thread pool inside such programs (a TRPO run hung with both pool threads in
    lapack_sgetrf_ffi)."""
    fam = envs.make("navigation_2d")
    algo = pg_maml(fam, policies.linear(2, 2), num_tasks=2, num_queries=2, horizon=5)
    state = algo.init(jax.random.PRNGKey(0))
    jaxpr = jax.make_jaxpr(algo.step)(state, jax.random.PRNGKey(1)).jaxpr
    lapack = {"lu", "cholesky", "eigh", "svd", "qr", "triangular_solve", "schur", "eig",
              "lu_pivots_to_permutation", "householder_product", "tridiagonal_solve"}

    found = set(_primitives(jaxpr))
    assert "while" in found  # the walk reaches inside TRPO's loops
    assert not found & lapack, found & lapack
