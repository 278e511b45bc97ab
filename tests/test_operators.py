"""Adaptation operators beyond the plain ES gradient (Sec. 3.3, A.3)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import esmaml_jax as ej
from esmaml_jax import adaptation, estimators, shaping


def _make(name, **settings):
    """The built-in operator ``name`` (the library has no name table: that is the app's)."""
    return getattr(adaptation, name)(**settings)

D = 6


def counting(f):
    """Query function that also counts its calls through the additive aux."""
    return lambda key, p: (f(p), {"queries": jnp.ones((), jnp.int32)})


def bumpy(p):
    # Non-convex, with many local optima: hill climbing must still never go downhill.
    return -jnp.sum(p**2) + jnp.sum(jnp.sin(5.0 * p))


@pytest.mark.parametrize("mode,evals", [("average", 1), ("average", 3), ("batch", 4)])
def test_hill_climb_is_monotone_and_spends_exactly_its_budget(mode, evals):
    # The reference's accounting: K iterations of E evaluations each, plus E for the pivot.
    op = adaptation.hill_climb(num_queries=20, sigma=0.3, parallel_evaluations=evals, mode=mode)
    assert op.num_queries == evals * 21

    @jax.jit
    def run(key, theta):
        adapted, info = op.adapt(key, theta, counting(bumpy), op.init_hparams(), ())
        return bumpy(adapted), bumpy(theta), info

    keys = jax.random.split(jax.random.PRNGKey(0), 200)
    thetas = jax.random.normal(jax.random.PRNGKey(1), (200, D))
    after, before, info = jax.vmap(run)(keys, thetas)
    assert bool(jnp.all(after >= before))
    assert bool(jnp.all(info["aux"]["queries"] == evals * 21))
    assert bool(jnp.all(info["best_value"] >= info["pre_value"]))  # exact, on its own queries
    np.testing.assert_allclose(info["best_value"], after, rtol=1e-5, atol=1e-5)
    assert float(jnp.mean(after > before)) > 0.5  # and it usually improves


def test_hill_climb_average_mode_averages_rollout_noise():
    # f = -|p|^2 + noise(key): with E evaluations per candidate the score's noise falls like
    # 1/sqrt(E), so the climb accepts fewer noise-driven moves and ends closer to the optimum.
    def noisy(key, p):
        return -jnp.sum(p**2) + 2.0 * jax.random.normal(key), {}

    theta = jnp.full(D, 1.0)

    def final_distance(evals):
        op = adaptation.hill_climb(num_queries=30, sigma=0.2, parallel_evaluations=evals)
        run = jax.vmap(lambda k: jnp.sum(op.adapt(k, theta, noisy, op.init_hparams(), ())[0]
                                         ** 2))
        return float(jnp.mean(run(jax.random.split(jax.random.PRNGKey(0), 400))))

    assert final_distance(16) < 0.8 * final_distance(1), (final_distance(16), final_distance(1))


def test_hill_climb_never_accepts_nan():
    f = lambda p: jnp.where(p[0] > 0, jnp.nan, -jnp.sum(p**2))
    op = adaptation.hill_climb(num_queries=10, sigma=0.5)
    theta = jnp.full(D, -0.3)
    adapted, info = op.adapt(jax.random.PRNGKey(0), theta, counting(f), op.init_hparams(), ())
    assert bool(jnp.isfinite(f(adapted))) and float(f(adapted)) >= float(f(theta))


def test_hill_climb_rejects_bad_settings():
    with pytest.raises(ValueError, match="mode"):
        adaptation.hill_climb(mode="greedy")
    with pytest.raises(ValueError, match="parallel_evaluations"):
        adaptation.hill_climb(parallel_evaluations=0)


def test_k_dpp_matches_enumeration_on_a_tiny_case():
    lk = jnp.array([[2.0, 0.5, 0.1, 0.0], [0.5, 1.0, 0.3, 0.2],
                    [0.1, 0.3, 1.5, 0.6], [0.0, 0.2, 0.6, 0.8]])
    subsets = list(itertools.combinations(range(4), 2))
    dets = np.array([np.linalg.det(np.asarray(lk)[np.ix_(s, s)]) for s in subsets])
    exact = dets / dets.sum()  # P(S) proportional to det(L_S), |S| = 2
    n = 40000
    draws = jax.jit(jax.vmap(lambda k: jnp.sort(estimators.sample_k_dpp(k, lk, 2))))(
        jax.random.split(jax.random.PRNGKey(0), n))
    draws = np.asarray(draws)
    emp = np.array([np.mean((draws[:, 0] == a) & (draws[:, 1] == b)) for a, b in subsets])
    # Binomial standard error is at most 0.0025 here.
    np.testing.assert_allclose(emp, exact, atol=0.01)
    assert np.all(draws[:, 0] != draws[:, 1])


def test_rbf_kernel_matches_float64_and_holds_no_pairwise_difference_array():
    # DPP-ES at K 20 on the paper's MLP(32) policy: 100 candidates of D = 162, bandwidth
    # (0.5 / sigma)^2 with sigma 0.1. Known answer: the kernel in float64.
    m, d, bw = 100, 162, (estimators.DPP_BANDWIDTH / 0.1) ** 2
    x = jax.random.normal(jax.random.PRNGKey(0), (m, d))
    x64 = np.asarray(x, np.float64)
    exact = np.exp(-((x64[:, None] - x64[None]) ** 2).sum(-1) / (2 * bw))
    compiled = ej.jit(estimators.rbf_kernel).lower(x, bw).compile()
    kernel = np.asarray(compiled(x, bw))
    np.testing.assert_array_equal(np.diag(kernel), 1.0)
    # float32 rounding of |x_i|^2 + |x_j|^2 - 2 x_i.x_j (|x|^2 about 162): relative error at
    # most 1.9e-6 over 5 draws, with AVX-512 and with --xla_cpu_max_isa=AVX; 2e-5 allowed.
    np.testing.assert_allclose(kernel, exact, rtol=2e-5, atol=1e-9)
    # The program keeps no [M, M, D] array of pairwise differences (6.5 MB here; a vmapped
    # 10-seed DPP K 20 run held 21 GB with one per sampled task and perturbation): XLA:CPU
    # fuses the broadcast-subtract-square-sum only through YNNPACK's reduce fusions, which
    # esmaml_jax.compiler_options() turns off.
    memory = compiled.memory_analysis()
    if memory is not None:  # a backend without the analysis
        assert memory.temp_size_in_bytes < m * m * d * 4 / 10, memory.temp_size_in_bytes


@pytest.mark.slow
def test_dpp_directions_are_more_diverse_than_iid():
    # Diversity under the kernel the k-DPP uses (the reference's RBF on sigma-scaled points).
    sigma = 0.1

    def logdet(x):
        kernel = estimators.rbf_kernel(sigma * x, estimators.DPP_BANDWIDTH**2)
        return jnp.linalg.slogdet(kernel + 1e-6 * jnp.eye(len(x)))[1]

    keys = jax.random.split(jax.random.PRNGKey(3), 100)
    dpp = jax.jit(jax.vmap(lambda k: logdet(estimators.dpp(k, 10, D, sigma, "selected"))))(keys)
    iid = jax.jit(jax.vmap(lambda k: logdet(estimators.gaussian(k, 10, D))))(keys)
    assert float(dpp.mean()) > float(iid.mean()) + 0.5
    assert estimators.dpp(keys[0], 10, D).shape == (10, D)


@pytest.mark.slow
def test_dpp_second_moment_chi_is_unbiased_selected_is_not():
    # The ES estimator is unbiased to first order iff E[g g^T] = I. The DPP prefers long
    # candidates: E[g g^T] = 1.33 I for the reference's selection at D = 6, sigma = 0.1, K = 20
    # (measured over 4000 draws). Redrawing the lengths (radial="chi") restores I exactly.
    keys = jax.random.split(jax.random.PRNGKey(0), 2000)

    def second_moment(radial):
        g = jax.jit(jax.vmap(lambda k: estimators.dpp(k, 20, D, 0.1, radial)))(keys)
        return np.asarray(jnp.einsum("nki,nkj->ij", g, g)) / (g.shape[0] * g.shape[1])

    chi, selected = second_moment("chi"), second_moment("selected")
    # Standard error of a diagonal entry: sqrt(2 / 40000) = 0.007 (a bit more: draws in a set
    # are dependent).
    np.testing.assert_allclose(chi, np.eye(D), atol=0.04)
    assert np.trace(selected) / D > 1.2
    with pytest.raises(ValueError, match="radial"):
        estimators.dpp(keys[0], 4, D, 0.1, "none")


W = jnp.array([1.0, -2.0, 0.5, 3.0, 0.0, -1.0])


def _rbo_grad(regression, key, f, k=20, lam=1e-4):
    op = adaptation.rbo(num_queries=k, sigma=0.1, step_size=1.0, regression=regression,
                        shaping=shaping.none, regularization=lam)
    _, info = op.adapt(key, jnp.zeros(D), counting(f), op.init_hparams(), ())
    return info["grad"]


@pytest.mark.parametrize("regression", ["ridge", "l1", "lasso"])
def test_rbo_recovers_a_linear_gradient_without_noise(regression):
    g = _rbo_grad(regression, jax.random.PRNGKey(0), lambda p: W @ p)
    np.testing.assert_allclose(g, W, atol=0.02)


@pytest.mark.slow
def test_rbo_l1_survives_corrupted_queries_where_mc_does_not():
    # 25% of the queries get an enormous additive noise (A.3.3). The key of the query point
    # decides (deterministically) whether it is corrupted.
    def corrupted(p):
        h = jnp.abs(jnp.sin(1e4 * jnp.sum(p * jnp.arange(1.0, D + 1.0)) + 1.0))
        noise = jnp.where(h < 0.38,  # P(|sin u| < 0.38) = 25%
                           1e4 * jnp.cos(1e3 * jnp.sum(p)), 0.0)
        return W @ p + noise

    keys = jax.random.split(jax.random.PRNGKey(5), 20)
    rbo_err = jax.vmap(lambda k: jnp.linalg.norm(
        _rbo_grad("l1", k, corrupted, k=40) - W))(keys)
    mc = adaptation.es_gradient(num_queries=40, sigma=0.1, step_size=1.0, shaping=shaping.none)

    def mc_err(k):
        adapted, _ = mc.adapt(k, jnp.zeros(D), counting(corrupted), mc.init_hparams(), ())
        return jnp.linalg.norm(adapted - W)

    mc_errs = jax.vmap(mc_err)(keys)
    # Measured: median errors about 0.006 (RBO-l1) and about 1e4 (MC) for |w| = 4.
    assert float(jnp.median(rbo_err)) < 1e-3 * float(jnp.median(mc_errs))
    assert float(jnp.median(rbo_err)) < 0.1


def _cos(a, b):
    return float(a @ b / (jnp.linalg.norm(a) * jnp.linalg.norm(b)))


@pytest.mark.parametrize("dim", [40, 162])
def test_l1_regression_with_fewer_queries_than_parameters(dim):
    # K = 20 < D (the paper's MLP regime, D = 162). Clean data: an exact fit exists, and the
    # minimum-norm one is what min-norm least squares finds; L1 must match it (before the fix,
    # IRLS gave cosine 0.03 to the true gradient against 0.36 and a 0.39 relative residual).
    for seed in range(5):
        kg, kz = jax.random.split(jax.random.PRNGKey(seed))
        g = jax.random.normal(kg, (dim,))
        z = 0.1 * jax.random.normal(kz, (20, dim))
        y = z @ g
        l1, dual = jax.jit(estimators.l1_regression)(z, y)
        lstsq = jnp.linalg.lstsq(z, y)[0]
        assert _cos(l1, g) >= _cos(lstsq, g) - 1e-3, (seed, _cos(l1, g), _cos(lstsq, g))
        np.testing.assert_allclose(l1, lstsq, atol=1e-3 * float(jnp.linalg.norm(lstsq)))
        assert float(estimators.l1_duality_gap(z, y, l1, dual)) < 1e-4


@pytest.mark.parametrize("k,dim", [(40, 6), (200, 40)])
def test_l1_regression_ignores_a_quarter_of_corrupted_queries(k, dim):
    # K > D, 25% of the measurements replaced by values of size 1e4: LP decoding recovers the
    # gradient (cosine > 0.99) where ridge regression and the MC estimator are lost.
    worst_l1, best_other = 1.0, -1.0
    for seed in range(10):
        kg, kz, kc, kv = jax.random.split(jax.random.PRNGKey(seed), 4)
        g = jax.random.normal(kg, (dim,))
        z = 0.1 * jax.random.normal(kz, (k, dim))
        bad = jax.random.permutation(kc, k)[: k // 4]
        y = (z @ g).at[bad].set(1e4 * jax.random.normal(kv, (k // 4,)))
        l1, dual = jax.jit(estimators.l1_regression)(z, y)
        ridge = jnp.linalg.solve(z.T @ z + 1e-4 * jnp.eye(dim), z.T @ y)
        mc = z.T @ y / (k * 0.1**2)
        worst_l1 = min(worst_l1, _cos(l1, g))
        best_other = max(best_other, abs(_cos(ridge, g)), abs(_cos(mc, g)))
        assert float(estimators.l1_duality_gap(z, y, l1, dual)) < 1e-2
    assert worst_l1 > 0.99 and best_other < 0.9, (worst_l1, best_other)


def test_l1_duality_gap_detects_a_wrong_answer():
    z = 0.1 * jax.random.normal(jax.random.PRNGKey(0), (40, 6))
    y = z @ W
    l1, dual = estimators.l1_regression(z, y)
    assert float(estimators.l1_duality_gap(z, y, l1, dual)) < 1e-4
    assert float(estimators.l1_duality_gap(z, y, l1 + 0.1, dual)) > 1e-2


def _low_rank_problem(dim=40):
    basis = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(0), (dim, 2)))[0]
    return basis, basis @ jnp.array([3.0, -2.0])


def test_asebo_projection_learns_a_low_rank_gradient_subspace():
    # f(theta) = w . theta with w in a 2-dimensional subspace of R^40: after a few steps the
    # active subspace holds w and the estimate beats isotropic sampling with the same K.
    dim, k = 40, 10
    _, w = _low_rank_problem(dim)
    f = counting(lambda p: w @ p)
    op = adaptation.asebo(num_queries=k, sigma=0.1, step_size=1.0, shaping=shaping.none, warmup=2,
                          per_step=1, form="projection")
    iso = adaptation.es_gradient(num_queries=k, sigma=0.1, step_size=1.0, shaping=shaping.none)
    hp, state = op.init_hparams(), op.init_state(dim)
    theta = jnp.zeros(dim)

    @jax.jit
    def one(state, key):
        _, info = op.adapt(key, theta, f, hp, state)
        new = op.update_state(state, {"grad": info["grad"][None]})
        return new, jnp.linalg.norm(info["grad"] - w), info["num_used"]

    keys = jax.random.split(jax.random.PRNGKey(1), 30)
    errs = []
    for kk in keys:
        state, e, used = one(state, kk)
        errs.append(float(e))
        assert int(used) == k
    iso_err = jax.vmap(lambda kk: jnp.linalg.norm(
        iso.adapt(kk, theta, f, iso.init_hparams(), ())[0] - w))(keys)
    # Unbiased inside the subspace. Measured: error about 3.4 against 6.7 for isotropic
    # sampling (|w| = 3.6).
    assert np.mean(errs[-10:]) < 0.7 * float(iso_err.mean()), (errs, iso_err.mean())


@pytest.mark.slow
def test_asebo_published_samples_in_the_subspace_and_spends_its_rank():
    # With a history that spans w's 2-dimensional subspace and a last estimate inside it, the
    # published C puts almost all samples there (a = min_mix) and uses max(r, min_samples) = 2
    # of the K = 10 directions; the estimate (C grad f) points closer to w (measured mean cosine
    # 0.74; two samples give a rough second moment even inside the subspace) than isotropic ES
    # with all 10 directions (about 0.43 in R^40).
    dim, k = 40, 10
    basis, w = _low_rank_problem(dim)
    f = counting(lambda p: w @ p)
    op = adaptation.asebo(num_queries=k, sigma=0.1, step_size=1.0, shaping=shaping.none, warmup=2,
                          history=4, form="published")
    state = op.init_state(dim)
    state = state._replace(history=state.history.at[:2].set(basis.T * 2.0),
                           count=jnp.int32(2), last_grad=w)
    iso = adaptation.es_gradient(num_queries=k, sigma=0.1, step_size=1.0, shaping=shaping.none)
    cos = lambda g: jnp.dot(g, w) / (jnp.linalg.norm(g) * jnp.linalg.norm(w))
    keys = jax.random.split(jax.random.PRNGKey(1), 50)
    info = jax.vmap(lambda kk: op.adapt(kk, jnp.zeros(dim), f, op.init_hparams(), state)[1])(keys)
    iso_cos = jax.vmap(lambda kk: cos(iso.adapt(kk, jnp.zeros(dim), f, iso.init_hparams(),
                                                ())[0]))(keys)
    assert set(np.asarray(info["num_used"]).tolist()) == {2}
    published = float(jnp.mean(jax.vmap(cos)(info["grad"])))
    assert published > 0.65 and published > float(iso_cos.mean()) + 0.2, (published, iso_cos)


def test_asebo_published_covariance_is_isotropic_before_warmup_and_rank_one_after():
    # C = a I + (1 - a) (D / r) U U^T: the identity while cold; with a history along one axis
    # and a last gradient inside it (a = min_mix), C = 0.05 I + 0.95 D e e^T. For a linear f the
    # forward-FD estimate with many directions is C grad f, which reads C off column by column.
    dim, k = 8, 20000
    op = adaptation.asebo(num_queries=k, warmup=1, min_mix=0.05, history=4, shaping=shaping.none,
                          adaptive_samples=False)
    cold = op.init_state(dim)
    axis = jnp.zeros(dim).at[3].set(1.0)
    warm = cold._replace(history=cold.history.at[0].set(axis), count=jnp.int32(1),
                         last_grad=axis)
    expect_warm = 0.05 * jnp.eye(dim) + 0.95 * dim * jnp.outer(axis, axis)
    for state, expect in ((cold, jnp.eye(dim)), (warm, expect_warm)):
        for col in (0, 3):
            c = jnp.zeros(dim).at[col].set(1.0)
            _, info = op.adapt(jax.random.PRNGKey(col), jnp.zeros(dim),
                               counting(lambda p, c=c: c @ p),
                               op.init_hparams(), state)
            np.testing.assert_allclose(info["grad"], expect[:, col],
                                       atol=0.05 * float(jnp.max(expect)) + 0.03)


OPERATORS = {
    "es_gradient": lambda: adaptation.es_gradient(num_queries=4),
    "es_gradient_dpp": lambda: adaptation.es_gradient(num_queries=4, sampler=estimators.dpp),
    "es_gradient_orthogonal": lambda: adaptation.es_gradient(num_queries=4,
                                                             sampler=estimators.orthogonal),
    "es_gradient_antithetic": lambda: adaptation.es_gradient(num_queries=4,
                                                             estimator=estimators.antithetic),
    "hill_climb": lambda: adaptation.hill_climb(num_queries=4),
    "hill_climb_batch": lambda: adaptation.hill_climb(num_queries=4, parallel_evaluations=2,
                                                      mode="batch"),
    "rbo": lambda: adaptation.rbo(num_queries=4),
    "rbo_lasso": lambda: adaptation.rbo(num_queries=4, regression="lasso", iterations=5),
    "asebo": lambda: adaptation.asebo(num_queries=4, warmup=1),
    "identity": adaptation.identity,
}
QUICK = {"es_gradient", "hill_climb", "rbo", "identity"}  # the rest: -m slow (CI runs them)


@pytest.mark.parametrize("name", [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(OPERATORS)])
def test_every_operator_runs_in_the_fused_step_under_vmap(name):
    import envs
    import esmaml_jax as ej

    op = OPERATORS[name]()
    fam = envs.make("four_corners", horizon=5)
    algo = ej.zero_order(ej.rl_objective(fam, ej.policies.linear(2, 2)), op,
                         num_perturbations=3, tasks_per_perturbation=2)
    # Rollouts are counted from the operator's declared query cost.
    assert algo.rollouts_per_step == 2 * 3 * 2 * (op.num_queries + 1)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    states = jax.vmap(algo.init)(keys)
    step = jax.jit(jax.vmap(algo.step))
    states, metrics = step(states, keys)
    states, metrics = step(states, keys)  # operator state (ASEBO history) flows between steps
    assert bool(jnp.all(jnp.isfinite(states.params)))
    assert float(states.norm.count[0]) == 2 * algo.rollouts_per_step * 5
    if name == "asebo":
        assert int(states.adapt_state.count[0]) > 0


def test_corrupt_queries_hits_the_fraction_asked_with_noise_of_the_scale_asked():
    values = jnp.zeros(20_000)
    out = adaptation.corrupt_queries(values, jax.random.PRNGKey(0), 0.25, 1e4)
    hit = np.asarray(out != 0.0)
    # binomial(20000, 0.25): mean 5000, sd 61
    assert 4750 < hit.sum() < 5250
    np.testing.assert_allclose(np.std(np.asarray(out)[hit]), 1e4, rtol=0.05)
    assert adaptation.corrupt_queries(values, jax.random.PRNGKey(0), 0.0, 1e4) is values


@pytest.mark.parametrize("name", ["es_gradient", "rbo"])
def test_corruption_reaches_the_queries_and_never_the_centre(name):
    flat = lambda p: jnp.float32(3.0)  # every clean finite difference is 0, so is the step
    kw = {"regression": "l1"} if name == "rbo" else {"shaping": shaping.none}
    clean = _make(name, num_queries=8, **kw)
    dirty = _make(name, num_queries=8, corrupt_fraction=1.0, corrupt_scale=10.0, **kw)
    key, theta = jax.random.PRNGKey(1), jnp.zeros(D)
    a_clean, i_clean = clean.adapt(key, theta, counting(flat), clean.init_hparams(), ())
    a_dirty, i_dirty = dirty.adapt(key, theta, counting(flat), dirty.init_hparams(), ())
    assert float(jnp.abs(a_clean).max()) == 0.0 and float(jnp.abs(a_dirty).max()) > 0.0
    assert float(i_clean["pre_value"]) == float(i_dirty["pre_value"]) == 3.0  # the centre
    none = _make(name, num_queries=8, corrupt_fraction=0.0, **kw)
    a_none, _ = none.adapt(key, theta + 0.1, counting(bumpy), none.init_hparams(), ())
    a_ref, _ = clean.adapt(key, theta + 0.1, counting(bumpy), clean.init_hparams(), ())
    np.testing.assert_array_equal(a_none, a_ref)  # fraction 0: today's operator, bit for bit


def test_a_quarter_of_corrupted_queries_breaks_mc_but_not_rbo_l1():
    """A.3.3's noise test through the operators' own option: 25% of the K queries get additive
    noise of scale 1e4; on a linear f the L1 regression still recovers the gradient."""
    lin = counting(lambda p: W @ p)
    rbo = adaptation.rbo(num_queries=40, sigma=0.1, step_size=1.0, regression="l1",
                         shaping=shaping.none, corrupt_fraction=0.25, corrupt_scale=1e4)
    mc = adaptation.es_gradient(num_queries=40, sigma=0.1, step_size=1.0, shaping=shaping.none,
                                corrupt_fraction=0.25, corrupt_scale=1e4)
    keys = jax.random.split(jax.random.PRNGKey(5), 20)
    err = lambda op: jax.vmap(lambda k: jnp.linalg.norm(
        op.adapt(k, jnp.zeros(D), lin, op.init_hparams(), ())[0] - W))(keys)
    rbo_err, mc_err = err(rbo), err(mc)
    assert float(jnp.median(rbo_err)) < 0.1
    assert float(jnp.median(mc_err)) > 100.0


@pytest.mark.parametrize("bad", [{"corrupt_fraction": -0.1}, {"corrupt_fraction": 1.5},
                                 {"corrupt_scale": -1.0}, {"corrupt_fraction": float("nan")}])
def test_corruption_settings_are_checked(bad):
    for name in ("es_gradient", "rbo"):
        _make(name, corrupt_fraction=0.25, corrupt_scale=1e4)  # good ones pass
        with pytest.raises(ValueError, match="corrupt"):
            _make(name, **bad)
