"""Adaptation operators U(theta, T) (Sec. 3.3): pure functions, built by factories.

Like an optax transformation, an operator is a NamedTuple of pure functions made by a factory that
closes over static choices (number of queries K, estimator type). Continuous settings (sigma,
step size) live in a ``hparams`` dict that the algorithm keeps in its state, so a sweep can vmap
over them without recompiling.

An operator is an ask/tell loop of ``num_rounds`` rounds of ``round_size`` queries each (static):

- ``start(key, theta [D], hparams, op_state) -> carry``
- ``ask(carry, round, hparams, op_state) -> (carry, keys [Q], points [Q, D])``: the round's
  queries, each with its rollout key (queries that share a key share their randomness: common
  random numbers);
- ``tell(carry, round, values [Q], grads, hparams, op_state) -> carry`` (``grads`` [Q, D] the
  gradients of the values when ``uses_gradients``, else None);
- ``finish(carry, hparams, op_state) -> (adapted [D], info)`` with ``info["pre_value"]`` (f at
  the unadapted theta when the operator measured it, else NaN) and operator-specific entries.

`adapt_batch` runs B operators at once (one per item: a perturbed policy and its task) with each
round's B Q queries evaluated as ONE flat batch, so an algorithm's rollouts never nest under
several ``vmap`` axes (on a CPU a nested batch shape costs up to several times more). The method
``Adaptation.adapt(key, params, f, hparams, op_state)`` is the same for one item with a
one-query function ``f(key, params) -> (value, aux)``: ``(adapted, info)``, ``info["aux"]`` the
summed additive statistics of its queries (None when it made none). ``num_queries`` is the
static number of objective evaluations one call spends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from esmaml_jax import estimators, linalg, paper, vma
from esmaml_jax import shaping as shaping_lib
from esmaml_jax.objectives import sum_leading
from esmaml_jax.types import Array, Key, Params, PyTree

QueryFn = Callable[[Key, Params], tuple[Array, PyTree]]
# (keys [B, Q], points [B, Q, D]) -> (values [B, Q], aux summed over the B Q queries)
BatchQueryFn = Callable[[Array, Array], tuple[Array, PyTree]]


class Adaptation(NamedTuple):
    name: str
    start: Callable[..., PyTree]
    ask: Callable[..., tuple[PyTree, Array, Array]]
    tell: Callable[..., PyTree]
    finish: Callable[..., tuple[Params, dict]]
    init_hparams: Callable[[], dict]
    num_rounds: int
    round_size: int
    uses_gradients: bool = False
    init_state: Callable[[int], PyTree] = lambda num_params: ()
    update_state: Callable[[PyTree, Any], PyTree] = lambda state, infos: state

    @property
    def num_queries(self) -> int:
        """Objective evaluations one call spends (rounds x queries per round)."""
        return self.num_rounds * self.round_size

    def adapt(self, key: Key, params: Params, f: QueryFn, hparams: dict,
              state: PyTree) -> tuple[Params, dict]:
        """U(params, T) for one item, ``f(key, params) -> (value, aux)`` one query of f_T."""
        def query(keys, points):
            values, aux = jax.vmap(jax.vmap(f))(keys, points)
            return values, jax.tree.map(lambda x: jnp.sum(x, axis=(0, 1)), aux)

        adapted, info, aux = adapt_batch(self, key[None], params[None], query, hparams, state)
        return adapted[0], {**jax.tree.map(lambda x: x[0], info), "aux": aux}


def adapt_batch(op: Adaptation, keys: Array, params: Array, query: BatchQueryFn,
                hparams: dict, state: PyTree) -> tuple[Array, dict, PyTree]:
    """U of B items at once: keys [B], params [B, D] -> (adapted [B, D], info (each [B, ...]),
    aux summed over every query, or None when the operator made none).

    ``query(keys [B, Q], points [B, Q, D]) -> (values [B, Q], summed aux)`` evaluates one round
    (item b's queries on item b's task; `esmaml_jax.objectives.query_batch` builds it): a
    ``lax.scan`` over the ``num_rounds`` rounds, each one flat batch.
    """
    carry = jax.vmap(op.start, (0, 0, None, None))(keys, params, hparams, state)
    inputs = (keys, params, hparams, state)
    carry = vma.like(carry, *inputs)  # (under a user's shard_map: see `esmaml_jax.vma`)
    aux = None
    if op.num_rounds > 0:
        def round_(carry, r):
            carry, qkeys, points = jax.vmap(op.ask, (0, None, None, None))(carry, r, hparams,
                                                                           state)
            if op.uses_gradients:
                def summed(pts):
                    values, aux = query(qkeys, pts)
                    return jnp.sum(values), (values, aux)

                grads, (values, aux) = jax.grad(summed, has_aux=True)(points)
            else:
                (values, aux), grads = query(qkeys, points), None
            carry = jax.vmap(op.tell, (0, None, 0, 0 if op.uses_gradients else None, None,
                                       None))(carry, r, values, grads, hparams, state)
            return vma.like(carry, *inputs), aux

        if op.num_rounds == 1:  # no loop around a single round
            carry, aux = round_(carry, jnp.zeros((), jnp.int32))
        else:
            carry, aux = jax.lax.scan(round_, carry, jnp.arange(op.num_rounds))
            aux = sum_leading(aux)
    adapted, info = jax.vmap(op.finish, (0, None, None))(carry, hparams, state)
    return adapted, info, aux


def _check_positive(name: str, value, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not (ok and math.isfinite(value)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound} and finite, got {value}")


def hparam(x: float) -> Array:
    """A hyperparameter as an array of jax.numpy's default float (float64 under x64)."""
    return jnp.asarray(x, dtype=float)


def _check_count(name: str, value) -> int:
    if int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    return int(value)


def corrupt_queries(values: Array, key: Key, fraction: float, scale: float) -> Array:
    """A.3.3's noisy queries: each of ``values`` (one per query point) gets, with probability
    ``fraction``, an additive Gaussian noise of standard deviation ``scale`` (independently per
    query). ``fraction`` 0 returns ``values`` itself."""
    if fraction == 0:
        return values
    k_hit, k_noise = jax.random.split(key)
    hit = jax.random.uniform(k_hit, values.shape) < fraction
    return jnp.where(hit, values + scale * jax.random.normal(k_noise, values.shape), values)


def _check_corruption(fraction, scale) -> None:
    if not (0.0 <= fraction <= 1.0):
        raise ValueError(f"corrupt_fraction must be in [0, 1], got {fraction}")
    _check_positive("corrupt_scale", scale, allow_zero=True)


# the key of a corruption draw: folded from the query key, so the other draws are unchanged
_CORRUPT_STREAM = 0xC0


def _nan() -> Array:
    return jnp.full((), jnp.nan)


def _shared_key(key: Key, num: int) -> Array:
    """``key`` once per query of a round (they share it: common random numbers)."""
    return jnp.broadcast_to(key, (num, *key.shape))


def _no_queries(name: str) -> Callable:
    def never(*args):
        raise AssertionError(f"{name} makes no queries")

    return never


def identity() -> Adaptation:
    """U(theta, T) = theta: plain ES on the average task (no queries)."""
    return Adaptation(
        "identity",
        start=lambda key, params, hparams, state: params,
        ask=_no_queries("identity"), tell=_no_queries("identity"),
        finish=lambda params, hparams, state: (params, {"pre_value": _nan()}),
        init_hparams=lambda: {}, num_rounds=0, round_size=0)


def es_gradient(num_queries: int = paper.NUM_QUERIES, sigma: float = paper.SIGMA,
                step_size: float = paper.INNER_STEP_SIZE,
                estimator: estimators.Estimator = estimators.forward_fd,
                shaping: shaping_lib.Shaper = shaping_lib.zscore,
                sampler: estimators.Sampler = estimators.gaussian, num_steps: int = 1,
                corrupt_fraction: float = 0.0,
                corrupt_scale: float = 1e3) -> Adaptation:
    """U(theta, T) = theta + alpha * ESGRAD(f_T, theta, K, sigma) (Alg. 3, lines 4-5).

    ``num_steps`` > 1 repeats the step from the adapted point (one round each). All queries of
    one step share the rollout key (common random numbers). Query cost per call:
    ``num_steps * (K + 1)`` for forward_fd (the +1 is the centre f(theta), evaluated in the same
    batch), ``num_steps * K`` otherwise; antithetic needs an even K (K/2 directions).
    ``corrupt_fraction`` > 0 simulates noisy data as A.3.3 does: that fraction of the queries
    f(theta + sigma g) (never the centre) gets additive noise of scale ``corrupt_scale``
    (`corrupt_queries`).
    """
    k = _check_count("num_queries (K)", num_queries)
    num_steps = _check_count("num_steps", num_steps)
    _check_positive("inner sigma", sigma)
    _check_positive("step size (alpha)", step_size, allow_zero=True)
    estimators.checked(estimator, shaping, sampler)
    n = estimators.num_directions(estimator, k)
    shaper, sample, use_center = shaping, sampler, estimator.uses_center
    _check_corruption(corrupt_fraction, corrupt_scale)
    per_round = k + (1 if use_center else 0)

    def start(key, params, hparams, state):
        eps = jnp.zeros((n, params.shape[0]), params.dtype)
        return {"theta": params, "keys": jax.random.split(key, num_steps), "eps": eps,
                "pre": _nan()}

    def ask(carry, r, hparams, state):
        theta = carry["theta"]
        k_eps, k_eval = jax.random.split(carry["keys"][r])
        eps = sample(k_eps, n, theta.shape[0], hparams["sigma"])
        points = estimators.perturbed_points(theta, eps, hparams["sigma"], estimator)
        points = points.reshape(-1, theta.shape[0])
        if use_center:  # the centre rides in the same batch (one call site)
            points = jnp.concatenate([points, theta[None]])
        return {**carry, "eps": eps}, _shared_key(k_eval, per_round), points

    def tell(carry, r, values, grads, hparams, state):
        center = values[-1] if use_center else None
        values = values[:-1] if use_center else values
        values = corrupt_queries(values, jax.random.fold_in(carry["keys"][r], _CORRUPT_STREAM),
                                 corrupt_fraction, corrupt_scale)
        eps = carry["eps"]
        grad, _ = estimators.estimate(values, eps, hparams["sigma"], estimator, shaper, center)
        pre = jnp.where(r == 0, center, carry["pre"]) if use_center else carry["pre"]
        return {**carry, "theta": carry["theta"] + hparams["step_size"] * grad,  # line 5
                "pre": pre}

    return Adaptation(
        "es_gradient", start, ask, tell,
        finish=lambda carry, hparams, state: (carry["theta"], {"pre_value": carry["pre"]}),
        init_hparams=lambda: {"sigma": hparam(sigma), "step_size": hparam(step_size)},
        num_rounds=num_steps, round_size=per_round)


HILL_CLIMB_MODES = ("average", "batch")


def hill_climb(num_queries: int = paper.NUM_QUERIES, sigma: float = paper.SIGMA,
               parallel_evaluations: int = 1,
               mode: str = "average") -> Adaptation:
    """Hill climbing (Sec. 3.3.2): U(theta, T) ~ argmax of f_T near theta, monotone by design.

    The authors' HillClimbAdaptation, with its query accounting: the pivot theta, then K
    iterations (a ``lax.scan``), each spending E = ``parallel_evaluations`` queries:

    - ``mode="average"`` (the reference's default): one candidate best + sigma g, evaluated E
      times (rollout keys of its own each) and scored by the mean; the pivot is scored the same
      way. E > 1 averages out rollout noise in stochastic tasks.
    - ``mode="batch"``: E candidates best + sigma g_j, the best of them competes (the pivot is
      still scored by the mean of E evaluations, as in the reference).

    A candidate replaces the best point only if STRICTLY better (a NaN never wins), so the
    returned policy never scores below the pivot on the queries it saw. Query cost: E (K + 1).
    """
    k = _check_count("num_queries (K)", num_queries)
    e = _check_count("parallel_evaluations", parallel_evaluations)
    _check_positive("hill-climbing sigma", sigma)
    if mode not in HILL_CLIMB_MODES:
        raise ValueError(f"unknown hill-climbing mode {mode!r}; known: "
                         f"{', '.join(HILL_CLIMB_MODES)}")
    average = mode == "average"

    num_candidates = 1 if average else e

    def start(key, params, hparams, state):
        k_pivot, k_iter = jax.random.split(key)
        cand = jnp.zeros((num_candidates, params.shape[0]), params.dtype)
        return {"best": params, "best_value": jnp.full((), -jnp.inf), "pre": _nan(),
                "pivot_key": k_pivot, "keys": jax.random.split(k_iter, k), "cand": cand,
                "accepted": jnp.zeros((), jnp.int32)}

    def ask(carry, r, hparams, state):
        """Round 0 scores the pivot (E keys of its own); round i >= 1 is iteration i."""
        best = carry["best"]
        k_eps, k_eval = jax.random.split(carry["keys"][jnp.maximum(r - 1, 0)])
        noise = jax.random.normal(k_eps, (num_candidates, best.shape[0]))
        cand = best + hparams["sigma"] * noise
        if average:  # one candidate, E evaluations with keys of their own
            keys = jax.random.split(jnp.where(r == 0, carry["pivot_key"], k_eval), e)
            points = jnp.broadcast_to(jnp.where(r == 0, best, cand[0]), (e, best.shape[0]))
        else:  # E candidates sharing one key; the pivot still scored by E evaluations
            keys = jnp.where(r == 0, jax.random.split(carry["pivot_key"], e),
                             _shared_key(k_eval, e))
            points = jnp.where(r == 0, jnp.broadcast_to(best, cand.shape), cand)
        return {**carry, "cand": cand}, keys, points

    def tell(carry, r, values, grads, hparams, state):
        if average:
            values = jnp.mean(values, keepdims=True)
        pivot = jnp.mean(values)
        i = jnp.argmax(jnp.where(jnp.isfinite(values), values, -jnp.inf))
        better = (values[i] > carry["best_value"]) & (r > 0)
        best = jnp.where(better, carry["cand"][i], carry["best"])
        best_value = jnp.where(better, values[i], carry["best_value"])
        first = jnp.where(jnp.isfinite(pivot), pivot, -jnp.inf)
        return {**carry, "best": best,
                "best_value": jnp.where(r == 0, first, best_value),
                "pre": jnp.where(r == 0, pivot, carry["pre"]),
                "accepted": carry["accepted"] + better.astype(jnp.int32)}

    def finish(carry, hparams, state):
        return carry["best"], {"pre_value": carry["pre"], "best_value": carry["best_value"],
                               "num_accepted": carry["accepted"]}

    return Adaptation("hill_climb", start, ask, tell, finish,
                      init_hparams=lambda: {"sigma": hparam(sigma)}, num_rounds=k + 1,
                      round_size=e)


def _ridge(z: Array, y: Array, lam: Array) -> Array:
    """argmin_g |Z g - y|^2 + lam |g|^2, solved in the smaller of the primal/dual spaces."""
    n, d = z.shape
    if n < d:
        return z.T @ linalg.solve(z @ z.T + lam * jnp.eye(n), y)
    return linalg.solve(z.T @ z + lam * jnp.eye(d), z.T @ y)


def _lasso(z: Array, y: Array, lam: Array, iterations: int) -> Array:
    """argmin_g 0.5 |Z g - y|^2 + lam |g|_1 by ISTA (fixed iterations, jittable)."""
    step = 1.0 / (linalg.spectral_norm(z) ** 2 + 1e-12)

    def body(g, _):
        g = g - step * (z.T @ (z @ g - y))
        return vma.like(jnp.sign(g) * jnp.maximum(jnp.abs(g) - step * lam, 0.0), z, y, lam), None

    g, _ = jax.lax.scan(body, vma.like(jnp.zeros(z.shape[1]), z, y, lam), None,
                        length=iterations)
    return g


RBO_REGRESSIONS = ("ridge", "lasso", "l1")


def rbo(num_queries: int = paper.NUM_QUERIES, sigma: float = paper.SIGMA,
        step_size: float = paper.INNER_STEP_SIZE,
        regression: str = "ridge", regularization: float = 0.01,
        shaping: shaping_lib.Shaper = shaping_lib.zscore,
        iterations: int = 300, corrupt_fraction: float = 0.0,
        corrupt_scale: float = 1e3) -> Adaptation:
    """Regression-based gradient (RBO, A.3.2): f(theta + d) - f(theta) ~ grad . d, so the
    gradient is recovered by regularized regression from the K finite differences.

    ``regression``: "ridge" (L2 loss + L2 penalty, closed form), "lasso" (L2 loss + L1 penalty,
    ISTA) or "l1" (L1 loss, no penalty: the LP decoding of the authors' code, robust to a
    fraction of arbitrarily corrupted queries when K > D; ADMM, see
    `estimators.l1_regression`; ``regularization`` is not used by it). ``iterations`` is the
    ISTA / ADMM iteration count. ``corrupt_fraction`` / ``corrupt_scale``: A.3.3's noisy
    queries, as in `es_gradient` (the pivot is never corrupted).
    U(theta, T) = theta + alpha * g_hat. Query cost: K + 1 (the pivot).
    """
    k = _check_count("num_queries (K)", num_queries)
    _check_positive("rbo sigma", sigma)
    _check_positive("step size (alpha)", step_size, allow_zero=True)
    _check_positive("regularization", regularization, allow_zero=True)
    iterations = _check_count("iterations", iterations)
    if regression not in RBO_REGRESSIONS:
        raise ValueError(f"unknown RBO regression {regression!r}; known: "
                         f"{', '.join(RBO_REGRESSIONS)}")
    shaper = shaping
    estimators.checked(estimators.forward_fd, shaper)
    _check_corruption(corrupt_fraction, corrupt_scale)

    def gradient(z, dy, lam):
        if regression == "ridge":
            return _ridge(z, dy, lam)
        if regression == "lasso":
            return _lasso(z, dy, lam, iterations)
        return estimators.l1_regression(z, dy, iterations)[0]

    def start(key, params, hparams, state):
        return {"theta": params, "key": key, "dirs": jnp.zeros((k, params.shape[0])),
                "grad": jnp.zeros_like(params), "pre": _nan()}

    def ask(carry, r, hparams, state):
        theta = carry["theta"]
        k_eps, k_eval = jax.random.split(carry["key"])
        dirs = hparams["sigma"] * jax.random.normal(k_eps, (k, theta.shape[0]))
        points = jnp.concatenate([theta + dirs, theta[None]])  # the pivot rides along
        return {**carry, "dirs": dirs}, _shared_key(k_eval, k + 1), points

    def tell(carry, r, values, grads, hparams, state):
        center, values = values[k], values[:k]
        values = corrupt_queries(values, jax.random.fold_in(carry["key"], _CORRUPT_STREAM),
                                 corrupt_fraction, corrupt_scale)
        shaped, valid = shaper(jnp.concatenate([values, center[None]]))
        ok = valid[:k] & valid[k]
        dy = jnp.where(ok, shaped[:k] - shaped[k], 0.0)
        z = jnp.where(ok[:, None], carry["dirs"], 0.0)  # dropped rows constrain nothing
        g = gradient(z, dy, hparams["regularization"])
        return {**carry, "theta": carry["theta"] + hparams["step_size"] * g, "grad": g,
                "pre": center}

    def finish(carry, hparams, state):
        return carry["theta"], {"pre_value": carry["pre"], "grad": carry["grad"]}

    return Adaptation("rbo", start, ask, tell, finish,
                      init_hparams=lambda: {"sigma": hparam(sigma),
                                            "step_size": hparam(step_size),
                                            "regularization": hparam(regularization)},
                      num_rounds=1, round_size=k + 1)


class AseboState(NamedTuple):
    """Gradient history (ring buffer) [H, D], entries filled [], previous estimate [D]."""

    history: Array
    count: Array  # type: ignore[assignment]  # (a field named like tuple.count)
    last_grad: Array


def _active_subspace(history: Array, count: Array, explained: float) -> tuple[Array, Array]:
    """Orthonormal basis [D, H] (masked: unused columns zero) of the top principal directions of
    the filled history rows (uncentered: the gradients' second moment) that explain
    ``explained`` of their energy, and its rank r [] (fixed shapes for jit)."""
    rows = jnp.arange(history.shape[0]) < count
    g = jnp.where(rows[:, None], history, 0.0)
    lam, v = linalg.eigh(g @ g.T)  # ascending, [H]
    lam, v = lam[::-1], v[:, ::-1]
    lam = jnp.maximum(lam, 0.0)
    cum = jnp.cumsum(lam) / jnp.maximum(jnp.sum(lam), 1e-30)
    keep = (jnp.concatenate([jnp.zeros(1), cum[:-1]]) < explained) & (lam > 1e-12 * lam[0])
    u = (g.T @ v) / jnp.sqrt(jnp.maximum(lam, 1e-30))  # [D, H] orthonormal where kept
    return u * keep, jnp.sum(keep)


ASEBO_FORMS = ("published", "projection")


def asebo(num_queries: int = paper.NUM_QUERIES, sigma: float = paper.SIGMA,
          step_size: float = paper.INNER_STEP_SIZE,
          history: int = 32, explained_variance: float = 0.95, min_mix: float = 0.05,
          warmup: int = 4, per_step: int = 4, shaping: shaping_lib.Shaper = shaping_lib.zscore,
          form: str = "published",
          adaptive_samples: bool = True, min_samples: int = 2) -> Adaptation:
    """Active-subspace ES (ASEBO, Choromanski et al., 2019; A.3.1) as an adaptation operator.

    U (rank r) spans the principal directions of recent gradient estimates that explain
    ``explained_variance`` of their energy; a in [min_mix, 1] is the isotropic share.

    - ``form="published"``: directions ~ N(0, C), C = a I + (1 - a) (D / r) U U^T (ASEBO's
      (a/D) I + ((1 - a)/r) U U^T, scaled by D so that a = 1 is the isotropic ES of
      `es_gradient` at the same sigma); a = |g_perp| / |g_U| from the last estimate's split
      (clipped); with ``adaptive_samples`` the estimate uses only the first
      max(r, min_samples) of the K directions (ASEBO's samples-follow-the-rank rule). The
      forward-FD estimate is then C grad f (the published preconditioned direction).
    - ``form="projection"``: our earlier variant, C = P + a (I - P) with P = U U^T and
      a = |g_perp|^2 / |g|^2; the subspace part of the gradient is estimated without bias and
      the rest shrunk by a; always all K directions.

    Forward-FD, shaped values; K + 1 queries per call either way (static shapes: the fused
    program evaluates all K, ``info["num_used"]`` says how many the estimate used). The history
    is operator state carried across meta-steps: after each meta-step ``update_state`` appends
    ``per_step`` of the step's inner gradient estimates. Until ``warmup`` entries exist,
    sampling is isotropic with all K directions.
    """
    k = _check_count("num_queries (K)", num_queries)
    _check_positive("asebo sigma", sigma)
    hist = _check_count("history", history)
    per_step = min(_check_count("per_step", per_step), hist)
    min_samples = _check_count("min_samples", min_samples)
    if not 0 < explained_variance <= 1 or not 0 < min_mix <= 1:
        raise ValueError("explained_variance and min_mix must be in (0, 1]")
    if form not in ASEBO_FORMS:
        raise ValueError(f"unknown ASEBO form {form!r}; known: {', '.join(ASEBO_FORMS)}")
    shaper = shaping
    estimators.checked(estimators.forward_fd, shaper)
    published = form == "published"

    def init_state(num_params):
        return AseboState(jnp.zeros((hist, num_params)), jnp.zeros((), jnp.int32),
                          jnp.zeros(num_params))

    def directions(key, state, dim):
        """(eps [K, D], number of directions the estimate uses [])."""
        basis, rank = _active_subspace(state.history, state.count, explained_variance)
        g = state.last_grad
        inside = basis @ (basis.T @ g)
        warm = state.count >= warmup
        k_iso, k_sub = jax.random.split(key)
        z = jax.random.normal(k_iso, (k, dim))
        r = jnp.maximum(rank, 1).astype(jnp.float32)
        if published:
            ratio = jnp.linalg.norm(g - inside) / jnp.maximum(jnp.linalg.norm(inside), 1e-30)
            mix = jnp.where(warm, jnp.clip(ratio, min_mix, 1.0), 1.0)
            w = jax.random.normal(k_sub, (k, basis.shape[1]))
            eps = jnp.sqrt(mix) * z + jnp.sqrt((1.0 - mix) * dim / r) * (w @ basis.T)
            used = jnp.where(warm & adaptive_samples,
                             jnp.clip(jnp.maximum(rank, min_samples), 1, k), k)
            return eps, used
        outside = jnp.sum((g - inside) ** 2) / jnp.maximum(jnp.sum(g**2), 1e-30)
        mix = jnp.where(warm, jnp.clip(outside, min_mix, 1.0), 1.0)
        zp = (z @ basis) @ basis.T * warm
        return zp + jnp.sqrt(mix) * (z - zp), jnp.int32(k)

    def start(key, params, hparams, state):
        return {"theta": params, "key": key, "eps": jnp.zeros((k, params.shape[0])),
                "used": jnp.int32(k), "grad": jnp.zeros_like(params), "pre": _nan()}

    def ask(carry, r, hparams, state):
        theta = carry["theta"]
        k_eps, k_eval = jax.random.split(carry["key"])
        eps, used = directions(k_eps, state, theta.shape[0])
        points = jnp.concatenate([theta + hparams["sigma"] * eps, theta[None]])
        return ({**carry, "eps": eps, "used": jnp.asarray(used, jnp.int32)},
                _shared_key(k_eval, k + 1), points)

    def tell(carry, r, values, grads, hparams, state):
        center, values = values[k], values[:k]
        values = jnp.where(jnp.arange(k) < carry["used"], values, jnp.nan)  # unused: dropped
        grad, _ = estimators.estimate(values, carry["eps"], hparams["sigma"], estimators.forward_fd,
                                      shaper, center)
        return {**carry, "theta": carry["theta"] + hparams["step_size"] * grad, "grad": grad,
                "pre": center}

    def finish(carry, hparams, state):
        return carry["theta"], {"pre_value": carry["pre"], "grad": carry["grad"],
                                "num_used": carry["used"]}

    def update_state(state: AseboState, infos) -> AseboState:
        grads = infos["grad"].reshape(-1, state.history.shape[1])[:per_step]
        finite = jnp.all(jnp.isfinite(grads), axis=1)
        grads = jnp.where(finite[:, None], grads, 0.0)
        history = jnp.roll(state.history, grads.shape[0], axis=0).at[: grads.shape[0]].set(grads)
        count = jnp.minimum(state.count + grads.shape[0], hist)
        return AseboState(history, count, grads.mean(0))

    return Adaptation("asebo", start, ask, tell, finish,
                      init_hparams=lambda: {"sigma": hparam(sigma),
                                            "step_size": hparam(step_size)},
                      num_rounds=1, round_size=k + 1, init_state=init_state,
                      update_state=update_state)


def autodiff_gradient(step_size: float = 0.01, num_steps: int = 1) -> Adaptation:
    """U(theta, T) = theta + alpha * grad f_T(theta) by ``jax.grad``, ``num_steps`` times, for
    differentiable objectives ("when gradients are available, use them", A.6). All steps use the
    same query key, i.e. the same K-shot data in the supervised case (the MAML convention).
    Query cost: ``num_steps`` gradient evaluations. The returned ``pre_value`` is f_T(theta).
    """
    num_steps = _check_count("num_steps", num_steps)
    _check_positive("step size (alpha)", step_size, allow_zero=True)

    def start(key, params, hparams, state):
        return {"theta": params, "key": key, "pre": _nan()}

    def ask(carry, r, hparams, state):
        return carry, carry["key"][None], carry["theta"][None]

    def tell(carry, r, values, grads, hparams, state):
        return {**carry, "theta": carry["theta"] + hparams["step_size"] * grads[0],
                "pre": jnp.where(r == 0, values[0], carry["pre"])}

    return Adaptation("autodiff_gradient", start, ask, tell,
                      finish=lambda carry, hparams, state: (carry["theta"],
                                                            {"pre_value": carry["pre"]}),
                      init_hparams=lambda: {"step_size": hparam(step_size)},
                      num_rounds=num_steps, round_size=1, uses_gradients=True)


def dpp_es(num_queries: int = paper.NUM_QUERIES, sigma: float = paper.SIGMA,
           step_size: float = paper.INNER_STEP_SIZE,
           estimator: estimators.Estimator = estimators.forward_fd,
           shaping: shaping_lib.Shaper = shaping_lib.zscore, radial: str = "chi") -> Adaptation:
    """DPP-ES (Sec. 3.3.1): the ES-gradient step with directions chosen by a k-DPP with the
    authors' kernel (`estimators.dpp`). ``radial="chi"`` redraws the chosen directions' lengths
    so the estimator stays unbiased; ``"selected"`` uses the chosen candidates as the reference
    does (the gradient is then overestimated by E[|g|^2] / D, 1.33x at D = 6, sigma = 0.1)."""
    if radial not in ("chi", "selected"):
        raise ValueError(f"unknown DPP radial mode {radial!r}; known: chi, selected")
    sampler = estimators.dpp if radial == "chi" else estimators.dpp_reference
    op = es_gradient(num_queries, sigma, step_size, estimator, shaping, sampler=sampler)
    return op._replace(name="dpp_es")
