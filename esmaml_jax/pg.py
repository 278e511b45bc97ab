"""Policy-gradient pieces of PG-MAML, as pure functions: sampling trajectories of a Gaussian
policy, returns and a fitted baseline, the inner surrogate objectives whose derivatives (of every
order) are the policy-gradient estimators, conjugate gradient and the TRPO line search.

Conventions (those of ProMP and Taming MAML, so their step sizes carry over): a surrogate is a
sum over the time steps of every trajectory divided by K x H (the number of samples when no
episode ends early; dividing by a constant keeps every estimator unbiased), advantages use
discounted returns-to-go G_t minus a per-task linear feature baseline, optionally normalized
per task.

The inner objective decides what the meta-gradient gets right (Rothfuss et al. 2019; Farquhar
et al. 2019). With l_t = log pi(a_t | s_t), L_<t = sum_{t' < t} l_t' and the magic box
[x] = exp(x - stop_gradient(x)) (value 1, derivative [x] dx):

- ``"dice"``: sum_t [L_<t] ([l_t] - 1) A_t (Loaded DiCE). Its gradient is the usual policy
  gradient and its Hessian an UNBIASED estimate of the Hessian of the expected return, with the
  baseline kept at every order (a baseline b(s_t) multiplies ([l_t] - 1), whose derivatives of
  every order vanish in expectation over a_t). The default.
- ``"lvc"``: sum_t ([l_t] - 1) A_t (ProMP's low-variance curvature): the same gradient; the
  Hessian drops the cross terms between time steps (biased for H > 1, lower variance).
- ``"first_order"``: the inner step is treated as a constant (FO-MAML): no second-order term.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from esmaml_jax.normalization import Moments
from esmaml_jax.policies import GaussianPolicy
from esmaml_jax.types import Array, Key, Params

META_GRADIENTS = ("dice", "lvc", "first_order")
BASELINES = ("linear", "none")


class Batch(NamedTuple):
    """K trajectories of one task, fixed length H (steps after an episode ends are masked).

    obs [K, H, O]: the (normalized) observations the policy saw; actions [K, H, A];
    rewards [K, H] (0 after the end); alive [K, H] (1 where the step was taken);
    returns [K] (undiscounted episode returns); moments: raw-observation statistics (summed).
    """

    obs: Array
    actions: Array
    rewards: Array
    alive: Array
    returns: Array
    moments: Moments


def sampler(family, policy: GaussianPolicy, horizon: int, normalize_observations: bool):
    """``sample(key, params, task, norm, num) -> Batch`` of ``num`` episodes of ``family``."""

    def episode(key: Key, params: Params, task, norm):
        k_reset, k_noise = jax.random.split(key)
        state = family.reset(k_reset, task)
        noise = jax.random.normal(k_noise, (horizon, policy.action_size))

        def body(carry, eps):
            state, alive, moments = carry
            moments = moments.add(jnp.where(alive > 0, state.obs, 0.0), alive)
            obs = norm.normalize(state.obs) if normalize_observations else state.obs
            action = policy.sample(params, obs, eps)
            nxt = family.env.step(state, action)
            reward = jnp.where(alive > 0, nxt.reward, 0.0)
            out = (obs, action, reward, alive)
            return (nxt, alive * (1.0 - nxt.done), moments), out

        init = (state, jnp.ones(()), Moments.zeros(family.observation_size))
        (_, _, moments), (obs, act, rew, alive) = jax.lax.scan(body, init, noise)
        return obs, act, rew, alive, moments

    def sample(key: Key, params: Params, task, norm, num: int) -> Batch:
        obs, act, rew, alive, moments = jax.vmap(
            lambda k: episode(k, params, task, norm))(jax.random.split(key, num))
        moments = jax.tree.map(lambda x: jnp.sum(x, axis=0), moments)
        return Batch(obs, act, rew, alive, rew.sum(axis=1), moments)

    return sample


def returns_to_go(rewards: Array, discount: float | Array) -> Array:
    """G_t = sum_{t' >= t} discount^(t' - t) r_t' along the last axis."""

    def body(g, r):
        g = r + discount * g
        return g, g

    _, g = jax.lax.scan(body, jnp.zeros(rewards.shape[:-1]), jnp.moveaxis(rewards, -1, 0),
                        reverse=True)
    return jnp.moveaxis(g, 0, -1)


def baseline_features(obs: Array) -> Array:
    """ProMP's linear feature baseline features of [K, H, O] observations: [K, H, 2 O + 4]
    (o, o^2 with o clipped to +-10, t/100 and its square and cube, 1)."""
    o = jnp.clip(obs, -10.0, 10.0)
    k, h = obs.shape[:2]
    t = jnp.broadcast_to((jnp.arange(h) / 100.0)[None, :, None], (k, h, 1))
    return jnp.concatenate([o, o**2, t, t**2, t**3, jnp.ones_like(t)], axis=-1)


def fit_baseline(batch: Batch, targets: Array, reg: float = 1e-5) -> Array:
    """Values b(s_t) [K, H] of a ridge regression of ``targets`` [K, H] on the features of the
    batch's own steps (fitted per task on the steps taken)."""
    feats = baseline_features(batch.obs)
    f = feats.reshape(-1, feats.shape[-1])
    w = batch.alive.reshape(-1)
    y = targets.reshape(-1)
    a = (f * w[:, None]).T @ f + reg * jnp.eye(f.shape[-1])
    coef = spd_solve(a, (f * w[:, None]).T @ y)
    return jnp.where(jnp.all(jnp.isfinite(coef)), feats @ coef, 0.0)


def spd_solve(a: Array, b: Array) -> Array:
    """x with a x = b for a symmetric positive-definite [n, n] ``a`` (Cholesky, then two
    triangular solves), in plain XLA ops: n sequential steps of O(n^2) work.

    Not ``jnp.linalg.solve``: on a CPU, jaxlib 0.10's LAPACK kernels split a batch of systems
    into tasks on XLA's intra-op thread pool and block until they are done; inside a program
    whose other threads are blocked too (PG-MAML's vmapped per-task baselines, inside the seeds'
    lax.map and TRPO's while loops) every pool thread ends up waiting and the process hangs
    (seen twice: a native stack of the hung TRPO run has both pool threads in
    lapack_sgetrf_ffi -> ParallelBatchMap -> BlockingCounter::Wait). A non-positive pivot gives
    NaN, which `fit_baseline` turns into no baseline."""
    n = a.shape[-1]
    idx = jnp.arange(n)

    def factor(j, low):
        col = a[:, j] - low @ low[j]  # columns >= j of low are still 0
        d = jnp.sqrt(col[j])
        return low.at[:, j].set(jnp.where(idx > j, col / d, jnp.where(idx == j, d, 0.0)))

    low = jax.lax.fori_loop(0, n, factor, jnp.zeros_like(a))

    def forward(i, y):  # low y = b
        return y.at[i].set((b[i] - low[i] @ y) / low[i, i])

    def backward(k, x):  # low^T x = y
        i = n - 1 - k
        return x.at[i].set((y[i] - low[:, i] @ x) / low[i, i])

    y = jax.lax.fori_loop(0, n, forward, jnp.zeros_like(b))
    return jax.lax.fori_loop(0, n, backward, jnp.zeros_like(b))


def advantages(batch: Batch, discount: float | Array, baseline: str = "linear",
               normalize: bool = True) -> Array:
    """A_t = G_t - b(s_t) [K, H] (0 where no step was taken); normalized over the batch's steps
    when ``normalize``. Constants (no gradient flows through them)."""
    g = returns_to_go(batch.rewards, discount)
    if baseline == "linear":
        g = g - fit_baseline(batch, g)
    elif baseline != "none":
        raise ValueError(f"unknown baseline {baseline!r}; known: {', '.join(BASELINES)}")
    w = batch.alive
    if normalize:
        n = jnp.maximum(w.sum(), 1.0)
        mean = (g * w).sum() / n
        std = jnp.sqrt(((g - mean) ** 2 * w).sum() / n)
        g = (g - mean) / (std + 1e-8)
    return jax.lax.stop_gradient(g * w)


def log_probs(policy: GaussianPolicy, params: Params, batch: Batch) -> Array:
    """log pi(a_t | s_t) [K, H] of the batch's actions under ``params``."""
    return policy.log_prob_many(params, batch.obs, batch.actions) * batch.alive


def _box(x: Array) -> Array:
    return jnp.exp(x - jax.lax.stop_gradient(x))


def inner_objective(policy: GaussianPolicy, params: Params, batch: Batch, adv: Array,
                    kind: str = "dice") -> Array:
    """The inner surrogate (value 0; see the module docstring for its derivatives)."""
    lp = log_probs(policy, params, batch)
    scale = 1.0 / (adv.shape[0] * adv.shape[1])
    if kind == "dice":
        before = jnp.cumsum(lp, axis=1) - lp  # L_<t
        return jnp.sum(_box(before) * (_box(lp) - 1.0) * adv) * scale
    if kind in ("lvc", "first_order"):
        return jnp.sum((_box(lp) - 1.0) * adv) * scale
    raise ValueError(f"unknown meta-gradient estimator {kind!r}; known: "
                     f"{', '.join(META_GRADIENTS)}")


def adapt(policy: GaussianPolicy, params: Params, batch: Batch, adv: Array, step_size: Array,
          kind: str = "dice") -> Params:
    """theta' = theta + alpha * grad(inner objective): differentiable in ``params`` as ``kind``
    says (``"first_order"``: the step is a constant)."""
    g = jax.grad(inner_objective, argnums=1)(policy, params, batch, adv, kind)
    if kind == "first_order":
        g = jax.lax.stop_gradient(g)
    return params + step_size * g


def outer_objective(policy: GaussianPolicy, params: Params, batch: Batch, adv: Array,
                    old_log_probs: Array) -> Array:
    """The importance-weighted surrogate sum_t pi(a_t|s_t) / pi_old(a_t|s_t) A_t / (K H) of
    trajectories sampled from pi_old: its gradient at params = old is the policy gradient."""
    ratio = jnp.exp(log_probs(policy, params, batch) - old_log_probs)
    return jnp.sum(ratio * adv) / (adv.shape[0] * adv.shape[1])


def mean_kl(policy: GaussianPolicy, old: Params, new: Params, batch: Batch) -> Array:
    """Mean over the batch's steps of KL(pi_old || pi_new)."""
    kl = policy.kl_many(old, new, batch.obs)
    return (kl * batch.alive).sum() / jnp.maximum(batch.alive.sum(), 1.0)


def fisher_vector_product(policy: GaussianPolicy, adapted: Callable[[Params], Array],
                          params: Params, batches: Batch, damping: float | Array = 0.0
                          ) -> Callable[[Array], Array]:
    """v -> F v + damping v with F the Hessian at ``params`` of
    kl(theta) = mean over tasks i of `mean_kl`(adapted(params)_i, adapted(theta)_i, batch_i),
    ``adapted(theta) -> [T, D]`` the post-adaptation parameters of T tasks and ``batches`` their
    stacked post-adaptation batches.

    Computed as J^T M J: J the Jacobian of the adapted policies' (mean, log-std) at the batches'
    states, M the Gaussian Fisher metric (the KL's Hessian in those outputs; the KL's gradient
    term vanishes at the old params, so this IS the Hessian there). That is second order where
    differentiating kl twice through the inner step is third order, and it is linearized once,
    so each conjugate-gradient iteration only applies the stored linear maps.
    """
    num_t = batches.alive.shape[0]

    def outputs(theta):
        new = adapted(theta)
        means = jax.vmap(lambda p, b: policy.mean_many(p, b.obs))(new, batches)
        return means, jax.vmap(policy.log_std)(new)

    (_, log_std), jvp = jax.linearize(outputs, params)
    vjp = jax.linear_transpose(jvp, params)
    w = batches.alive / jnp.maximum(batches.alive.sum(axis=(1, 2), keepdims=True), 1.0)
    w = w / num_t  # the mean over each task's steps, then over tasks
    inv_var = jnp.exp(-2 * log_std)[:, None, None, :]  # [T, 1, 1, A]

    def fvp(v: Array) -> Array:
        d_mean, d_log_std = jvp(v)
        return vjp((d_mean * w[..., None] * inv_var, d_log_std * (2.0 / num_t)))[0] + damping * v

    return fvp


def conjugate_gradient(matvec: Callable[[Array], Array], b: Array, iters: int = 10,
                       residual_tol: float = 1e-10) -> Array:
    """Approximately solve A x = b for symmetric positive-definite A given as ``matvec``
    (``iters`` iterations at most, stopping once |r|^2 < residual_tol), as TRPO does."""

    def body(carry):
        i, x, r, p, rr = carry
        ap = matvec(p)
        alpha = rr / jnp.maximum(jnp.dot(p, ap), 1e-30)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = jnp.dot(r, r)
        p = r + (rr_new / jnp.maximum(rr, 1e-30)) * p
        return i + 1, x, r, p, rr_new

    def cond(carry):
        i, _, _, _, rr = carry
        return (i < iters) & (rr >= residual_tol)

    x0 = jnp.zeros_like(b)
    _, x, _, _, _ = jax.lax.while_loop(cond, body, (0, x0, b, b, jnp.dot(b, b)))
    return x


def line_search(surrogate_and_kl: Callable[[Array], tuple[Array, Array]], params: Array,
                full_step: Array, max_kl: float | Array, max_steps: int = 15,
                backtrack_ratio: float = 0.8, expected_improvement: Array | None = None
                ) -> tuple[Array, Array, Array, Array]:
    """Backtracking line search of TRPO: the first of params + ratio^j full_step (j = 0, 1, ...,
    max_steps - 1) that raises the surrogate and keeps kl <= max_kl, where
    ``surrogate_and_kl(params) -> (surrogate, kl)``. When the first-order ``expected_improvement``
    (g . full_step) is not positive no candidate is tried (nothing to gain: e.g. a zero
    gradient on a sparse reward). Returns (params, accepted [] bool, j, kl) with params
    unchanged and kl 0 when none qualifies (j = max_steps); kl is the accepted candidate's, as
    the search computed it (no second evaluation)."""
    base = surrogate_and_kl(params)[0]

    def try_step(j):
        s, d = surrogate_and_kl(params + backtrack_ratio ** j * full_step)
        good = jnp.isfinite(s) & jnp.isfinite(d) & (s > base) & (d <= max_kl)
        return good & (j < max_steps), d

    def cond(carry):
        j, good, _ = carry
        return (j < max_steps) & ~good

    def body(carry):
        j = carry[0] + 1
        return (j, *try_step(j))

    start = jnp.zeros((), jnp.int32)
    if expected_improvement is not None:
        start = jnp.where(expected_improvement > 0, start, max_steps)
    j, accepted, kl = jax.lax.while_loop(cond, body, (start, *try_step(start)))
    new = params + jnp.where(accepted, backtrack_ratio ** j, 0.0) * full_step
    return new, accepted, j, jnp.where(accepted, kl, 0.0)
