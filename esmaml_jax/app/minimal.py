"""A minimal fused ES-MAML step (Alg. 3) on four corners in plain jnp: the benchmark's reference.

No Env/State framework, no observation normalization, no task pytree, no aux statistics: the
point-mass dynamics, the sparse four-corners reward and a linear or one-hidden-layer tanh policy
written directly against batched arrays. It runs the same rollouts per meta-step as the
library's paper-default step (P antithetic directions, one task each, K forward-FD inner queries
plus the centre, one evaluation of the adapted policy: 2 P (K + 2) episodes of H steps) and the
same arithmetic (z-scored forward-FD inner step, z-scored antithetic outer step, SGD).

It is what this machine can do for that algorithm with no abstraction around it (each policy's
rollouts in the faster of the two layouts measured, see `returns`); `bench.run` times the
library's fused step against it. It is not part of the library's API.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from esmaml_jax import paper

CORNERS = jnp.array([[2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]])


def num_params(hidden: int | None) -> int:
    """D of the linear (hidden None) or one-hidden-layer policy on four corners."""
    return 6 if hidden is None else 2 * hidden + hidden + hidden * 2 + 2


def _dense(x, w, b, last: bool):
    """One layer with one weight matrix per rollout, as a sum of I broadcast products (on a CPU
    much faster than a batched dot; see `esmaml_jax.policies`). Batch axis first: x [N, I],
    w [N, I, O], b [N, O]; ``last``: x [I, N], w [I, O, N], b [O, N]."""
    out = b
    for i in range(x.shape[0 if last else 1]):
        out = out + (x[i][None, :] * w[i] if last else x[:, i:i + 1] * w[:, i])
    return out


def _layers(params, hidden, last: bool):
    """The policy's layers [(w, b)] of params [N, D], sliced once outside the time loop. The
    flat layout is the library's (flax's ravel order: per layer the bias, then the kernel), so
    the same vectors mean the same policies (tested)."""
    sizes = [2, 2] if hidden is None else [2, hidden, 2]
    layers, at = [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        b = params[:, at: at + fan_out]
        w = params[:, at + fan_out: at + fan_out + fan_in * fan_out].reshape(-1, fan_in, fan_out)
        layers.append((jnp.moveaxis(w, 0, -1), b.T) if last else (w, b))
        at += fan_out + fan_in * fan_out
    return layers


def returns(params, goals, horizon: int, hidden: int | None):
    """Episode returns [N] of params [N, D] on corner goals [N, 2] (start at the origin).

    With a hidden layer the rollouts run with the batch axis last (arrays [..., N]; the library
    computes its MLPs so on a CPU: `policies.bind_many`), the linear policy with it first: the
    faster layout for each, measured here in the whole step (MLP(32) 16.7 -> 9.8 ms; linear
    1.19 -> 1.48 ms, slower, batch-last)."""
    last = hidden is not None
    layers = _layers(params, hidden, last)
    axis = 0 if last else -1
    goals = goals.T if last else goals

    def body(carry, _):
        pos, ret = carry
        x = pos
        for w, b in layers:
            x = jnp.tanh(_dense(x, w, b, last))
        pos = jnp.clip(pos + jnp.clip(x, -0.1, 0.1), -5.0, 5.0)
        d_sq = jnp.sum((pos - goals) ** 2, axis=axis)
        return (pos, ret - 4.0 + jnp.maximum(0.0, 4.0 - d_sq)), None

    # unroll=2 as the library's pure-JAX envs (`envs.base.TaskEnv.rollout_unroll`)
    (_, ret), _ = jax.lax.scan(body, (jnp.zeros_like(goals), jnp.zeros(params.shape[0])),
                               None, length=horizon, unroll=2)
    return ret


def _z(v, axis):
    return (v - v.mean(axis, keepdims=True)) / jnp.maximum(v.std(axis, keepdims=True), 1e-8)


def step(theta, key, *, num_perturbations: int = paper.NUM_PERTURBATIONS,
         num_queries: int = paper.NUM_QUERIES, horizon: int = 100, hidden: int | None = None,
         sigma: float = paper.SIGMA, inner_sigma: float = paper.SIGMA,
         alpha: float = paper.INNER_STEP_SIZE, lr: float = paper.OUTER_LEARNING_RATE):
    """One meta-step: theta [D] -> (new theta [D], mean adapted return [])."""
    p, k, d = num_perturbations, num_queries, theta.shape[0]
    k_eps, k_task, k_in = jax.random.split(key, 3)
    eps = jax.random.normal(k_eps, (p, d))
    points = jnp.concatenate([theta + sigma * eps, theta - sigma * eps])  # [2P, D]
    goals = CORNERS[jax.random.randint(k_task, (p,), 0, 4)]
    goals = jnp.concatenate([goals, goals])  # antithetic pairs share their task
    g = jax.random.normal(k_in, (p, k, d))
    g = jnp.concatenate([g, g])  # [2P, K, D]
    queries = jnp.concatenate([points[:, None], points[:, None] + inner_sigma * g], axis=1)
    vals = returns(queries.reshape(-1, d), jnp.repeat(goals, k + 1, axis=0), horizon, hidden)
    vals = _z(vals.reshape(2 * p, k + 1), axis=1)  # the centre z-scored with the queries
    inner = jnp.einsum("nk,nkd->nd", vals[:, 1:] - vals[:, :1], g) / (k * inner_sigma)
    adapted = points + alpha * inner
    post = returns(adapted, goals, horizon, hidden)
    w = _z(post, axis=0)
    grad = jnp.einsum("p,pd->d", (w[:p] - w[p:]) / 2.0, eps) / (p * sigma)
    return theta + lr * grad, post.mean()
