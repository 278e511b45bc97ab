"""Blackbox objectives f_T(theta) (Sec. 3.2: "we treat f_T as a blackbox").

An `Objective` bundles everything the algorithms need and nothing about ES:

- ``evaluate(key, params [D], task, norm) -> (value [], aux)``: one query of f_T. ``aux`` is a
  pytree of ADDITIVE statistics (observation moments for RL) that the algorithm sums over every
  query of a meta-step and feeds to ``update_norm`` after the step.
- ``evaluate_batch(keys [N], params [N, D], tasks [N], norm) -> (values [N], aux [N, ...])``:
  N queries as one flat batch (optional; `batch_evaluator` gives it or the vmap of
  ``evaluate``). The algorithms gather every query of a round into one such batch.
- ``init_params(key) -> [D]``, ``num_params``.
- ``sample_train_tasks(key, n)`` / ``sample_test_tasks(key, n | None)``: task batches.
- ``init_norm()`` / ``update_norm(norm, aux_sum)``: state frozen during a meta-step (e.g. the
  running observation statistics shared by every rollout, A.7.1).
- ``steps_per_query``: environment steps one query costs (the horizon; 0 if not an MDP), so the
  meta-step can count env steps statically and truthfully.

`rl_objective` builds one from a task family and a policy; `blackbox_objective` from any pure
function ``f(params, task, key) -> value`` (the task "need not even be an MDP").
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from esmaml_jax import policies, vma
from esmaml_jax.normalization import Moments, RunningStats
from esmaml_jax.policies import Policy
from esmaml_jax.types import Array, Key, Params, PyTree, Task


class Objective(NamedTuple):
    evaluate: Callable[[Key, Params, Task, PyTree], tuple[Array, PyTree]]
    init_params: Callable[[Key], Params]
    num_params: int
    sample_train_tasks: Callable[[Key, int], Task]
    sample_test_tasks: Callable[[Key, int | None], Task]
    init_norm: Callable[[], PyTree]
    update_norm: Callable[[PyTree, PyTree], PyTree]
    steps_per_query: int = 0
    rollout: Callable[..., Any] | None = None  # (key, params, task, norm) -> trajectory, for plots
    states: Callable[..., Any] | None = None  # (key, params, task, norm) -> env States [H + 1]
    # (keys [N], params [N, D], tasks [N], norm) -> (values [N], aux [N, ...]); None: the
    # vmap of ``evaluate`` (`batch_evaluator`)
    evaluate_batch: Callable[..., tuple[Array, PyTree]] | None = None


def batch_evaluator(objective: Objective) -> Callable[..., tuple[Array, PyTree]]:
    """``(keys [N], params [N, D], tasks [N], norm) -> (values [N], aux [N, ...])``: N queries
    as one flat batch, each with its own key, parameters and task; exactly ``jax.vmap`` of
    ``objective.evaluate`` in meaning. The algorithms evaluate everything through this."""
    if objective.evaluate_batch is not None:
        return objective.evaluate_batch
    return jax.vmap(objective.evaluate, in_axes=(0, 0, 0, None))


def query_batch(objective: Objective, tasks: Task, norm: PyTree
                ) -> Callable[[Key, Array], tuple[Array, PyTree]]:
    """``(keys [B, Q], points [B, Q, D]) -> (values [B, Q], summed aux)``: Q queries of each of B
    items, item b's on ``tasks[b]``, evaluated as ONE flat batch of B Q (what an adaptation
    operator's round asks; `esmaml_jax.adaptation.adapt_batch`)."""
    evaluate = batch_evaluator(objective)

    def query(keys, points):
        b, q = points.shape[:2]
        flat = lambda x: x.reshape(b * q, *x.shape[2:])
        rep = jax.tree.map(lambda t: jnp.repeat(t, q, axis=0), tasks)
        values, aux = evaluate(flat(keys), flat(points), rep, norm)
        return values.reshape(b, q), sum_leading(aux)

    return query


def sum_leading(tree: PyTree) -> PyTree:
    """Additive statistics summed over the leading (batch) axis."""
    return jax.tree.map(lambda x: jnp.sum(x, axis=0), tree)


def _keep(norm: PyTree, aux: PyTree) -> PyTree:
    return norm


def rl_objective(family, policy: Policy, horizon: int | None = None,
                 normalize_observations: bool = True, unroll: int | None = None) -> Objective:
    """Episode return of ``policy`` on a task of ``family`` over a fixed horizon.

    The rollout is a ``lax.scan`` of exactly ``horizon`` steps with a done mask: once an episode
    ends, later rewards (and observations, for the statistics) are masked out, so batch shapes
    never change. The policy sees observations normalized by the frozen running statistics.
    ``evaluate_batch`` runs a flat batch of N episodes: one scan over time around one
    ``jax.vmap`` of the env step, and the N policies applied together (`policies.bind_many`;
    on a CPU an MLP runs with the batch axis last, chosen per platform by
    ``lax.platform_dependent``). ``unroll``: env steps per iteration of the rollout loop (same
    numbers; default: the env's ``rollout_unroll``, 2 for pure-JAX envs and 1 for Brax physics,
    see `envs.base.TaskEnv`).
    """
    horizon = int(family.horizon if horizon is None else horizon)
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    unroll = int(getattr(family.env, "rollout_unroll", 1) if unroll is None else unroll)
    if unroll < 1:
        raise ValueError(f"unroll must be >= 1, got {unroll}")
    obs_size = family.observation_size
    _check_fits(policy, obs_size, family.action_size)
    r = _Rollout(family, policy, horizon, unroll, normalize_observations)

    def update_norm(norm: RunningStats, aux) -> RunningStats:
        return norm.merge(aux["obs"]) if normalize_observations else norm

    return Objective(
        evaluate=functools.partial(_evaluate_one, r),
        init_params=policy.init,
        num_params=policy.num_params,
        sample_train_tasks=family.sample_train_tasks,
        sample_test_tasks=family.sample_test_tasks,
        init_norm=lambda: RunningStats.zeros(obs_size),
        update_norm=update_norm,
        steps_per_query=horizon,
        rollout=functools.partial(_rollout, r),
        states=functools.partial(_states, r),
        evaluate_batch=functools.partial(_evaluate_batch, r),
    )


class _Rollout(NamedTuple):
    """What `rl_objective`'s rollouts close over: the family, the policy, the horizon, the
    loop's unroll and whether observations are normalized."""
    family: Any
    policy: Policy
    horizon: int
    unroll: int
    normalize_observations: bool


def _episodes(r: _Rollout, keys, params, tasks, norm: RunningStats, record: str | None,
              batch_last: bool = False):
    """N episodes. record: None, "obs" (observations) or "states" (whole env states).
    ``batch_last``: every array of the rollout [..., N] (the env stepped by ``jax.vmap`` with
    ``in_axes=-1, out_axes=-1``, the policy's `Policy.bind_batch_last`): on a CPU, contiguous
    rows of N numbers instead of rows of a point's 2 coordinates."""
    family, policy = r.family, r.policy
    bind_last = policy.bind_batch_last
    batch_last = batch_last and bind_last is not None
    ax = -1 if batch_last else 0
    state = jax.vmap(family.reset, out_axes=ax)(keys, tasks)
    if bind_last is not None and batch_last:
        act = bind_last(params)
    else:
        act = policies.bind_many(policy, params)  # layers prepared once
    n = params.shape[0]
    # An env that never ends an episode (its ``done`` a constant, e.g. the point-mass tasks)
    # keeps ONE alive flag for the whole batch, which XLA folds: measured 1.5x faster per
    # linear four-corners meta-step than a per-rollout mask.
    ends = _done_varies(family, state, act(state.obs), ax)
    step = jax.vmap(_split_done(family.env.step), in_axes=(ax, ax),
                    out_axes=(ax, ax if ends else None))
    col = (lambda v: v[None, :]) if batch_last else (lambda v: v[:, None])
    stat = (lambda v: v[:, None]) if batch_last else (lambda v: v)

    def body(carry, _):
        state, ret, alive, moments = carry
        w = col(alive) if ends else alive
        seen = jnp.where(w > 0, state.obs, 0.0)
        moments = Moments(moments.count + alive, moments.total + w * seen,
                          moments.total_sq + w * seen**2)
        obs = ((state.obs - stat(norm.mean)) / stat(norm.std) if r.normalize_observations
               else state.obs)
        nxt, done = step(state, act(obs))
        ret = ret + jnp.where(alive > 0, nxt.reward, 0.0)
        alive = alive * (1.0 - done)
        out = {None: None, "obs": nxt.obs, "states": nxt}[record]
        return vma.like((nxt, ret, alive, moments), *inputs), out

    obs_size = family.observation_size
    shape = (obs_size, n) if batch_last else (n, obs_size)
    zeros = Moments(jnp.zeros(n), jnp.zeros(shape), jnp.zeros(shape))
    # (under a user's shard_map the carry varies as the inputs do, constants included)
    inputs = (keys, params, tasks, norm)
    alive = jnp.ones(n if ends else ())
    init = vma.like((state, jnp.zeros(n), alive, zeros), *inputs)
    (_, ret, _, moments), seq = jax.lax.scan(body, init, None, length=r.horizon,
                                               unroll=r.unroll)
    if batch_last:
        moments = Moments(moments.count, moments.total.T, moments.total_sq.T)
    return ret, moments, state, seq


def _done_varies(family, state, action, axis: int) -> bool:
    """Whether the env's ``done`` depends on the state (vmap says so: an output that does not
    depend on the batch may stay unbatched, ``out_axes=None``)."""
    try:
        jax.eval_shape(jax.vmap(lambda s, a: family.env.step(s, a).done,
                                in_axes=(axis, axis), out_axes=None), state, action)
    except ValueError:
        return True
    return False


def _returns(r: _Rollout, keys, params, tasks, norm, batch_last=False):
    ret, moments, _, _ = _episodes(r, keys, params, tasks, norm, None, batch_last)
    return ret, {"obs": moments}


def _evaluate_batch(r: _Rollout, keys, params, tasks, norm):
    if r.policy.bind_batch_last is None:
        return _returns(r, keys, params, tasks, norm)
    # the batch-last MLP where it pays (a CPU); only the chosen branch is compiled
    return jax.lax.platform_dependent(
        keys, params, tasks, norm, cpu=functools.partial(_returns, r, batch_last=True),
        default=functools.partial(_returns, r))


def _evaluate_one(r: _Rollout, key, params, task, norm):
    return _first(_evaluate_batch(r, key[None], params[None], batch_of_one(task), norm))


def _rollout(r: _Rollout, key, params, task, norm):
    """Observations along one episode: [horizon + 1, O] (the first is the reset's)."""
    _, _, first, obs_seq = _episodes(r, key[None], params[None], batch_of_one(task), norm, "obs")
    return jnp.concatenate([first.obs, obs_seq[:, 0]])


def _states(r: _Rollout, key, params, task, norm):
    """The env states along one episode, stacked [horizon + 1] (the first is the reset's),
    with its return: (states, return). For pictures and Brax's HTML viewer."""
    ret, _, first, seq = _episodes(r, key[None], params[None], batch_of_one(task), norm,
                                   "states")
    return jax.tree.map(lambda a, b: jnp.concatenate([a, b[:, 0]]), first, seq), ret[0]


def _check_fits(policy: Policy, observation_size: int, action_size: int) -> None:
    """A one-line error when ``policy`` does not map the family's observations to its actions
    (found by shapes alone, ``jax.eval_shape``)."""
    params = jax.ShapeDtypeStruct((policy.num_params,), jnp.float32)
    try:
        out = jax.eval_shape(policy.apply, params, jax.ShapeDtypeStruct((observation_size,),
                                                                        jnp.float32))
    except Exception as e:  # flax's ScopeParamShapeError, a shape error of the user's apply
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"the policy does not take the task family's observations of size "
                         f"{observation_size} ({type(e).__name__}: {first[:160]})") from None
    if out.shape != (action_size,):
        raise ValueError(f"the policy's actions have shape {tuple(out.shape)}, the task "
                         f"family's action size is {action_size}")


def _split_done(step: Callable) -> Callable:
    """``step`` returning (state, done) apart, so ``vmap`` may leave ``done`` unbatched."""
    def split(state, action):
        nxt = step(state, action)
        return nxt, nxt.done

    return split


def batch_of_one(tree: PyTree) -> PyTree:
    """A batch of one: a leading axis of size 1 on every leaf."""
    return jax.tree.map(lambda x: jnp.asarray(x)[None], tree)


def _first(tree: PyTree) -> PyTree:
    return jax.tree.map(lambda x: x[0], tree)


def regression_objective(family, model: Policy, num_shots: int | None = None) -> Objective:
    """Supervised few-shot regression (A.6): f_T(theta) = -MSE of ``model`` on K points of task
    T, drawn with the query key (so queries that share a key share the K-shot set).

    ``family`` provides ``sample_train_tasks``, ``sample_test_tasks`` and ``sample_data(key,
    task, n) -> (x [n, I], y [n, O])`` (e.g. `envs.sine`).
    """
    k = int(family.num_shots if num_shots is None else num_shots)
    if k < 1:
        raise ValueError(f"num_shots must be >= 1, got {k}")
    sample_data = family.sample_data

    def evaluate(key, params, task, norm):
        x, y = sample_data(key, task, k)
        pred = jax.vmap(lambda xi: model.apply(params, xi))(x)
        return -jnp.mean((pred - y) ** 2), {}

    return Objective(
        evaluate=evaluate,
        init_params=model.init,
        num_params=model.num_params,
        sample_train_tasks=family.sample_train_tasks,
        sample_test_tasks=family.sample_test_tasks,
        init_norm=lambda: (),
        update_norm=_keep,
        steps_per_query=0,
    )


def blackbox_objective(fn: Callable[[Params, Task, Key], Array],
                       init_params: Callable[[Key], Params] | Params,
                       sample_tasks: Callable[[Key, int], Task],
                       test_tasks: Task | None = None) -> Objective:
    """Any pure ``fn(params [D], task, key) -> value []`` (to MAXIMISE) as an objective.

    ``init_params`` is a flat vector or a function of a key; ``test_tasks`` a fixed held-out batch
    (default: fresh samples from ``sample_tasks``).
    """
    if callable(init_params):
        init = init_params
        num_params = int(jax.eval_shape(init, jax.random.PRNGKey(0)).shape[0])
    else:
        flat = jnp.asarray(init_params)
        init = lambda key: flat
        num_params = int(flat.shape[0])

    def sample_test(key, num=None):
        if test_tasks is not None:
            return test_tasks
        return sample_tasks(key, 20 if num is None else num)

    return Objective(
        evaluate=lambda key, params, task, norm: (fn(params, task, key), {}),
        init_params=init,
        num_params=num_params,
        sample_train_tasks=sample_tasks,
        sample_test_tasks=sample_test,
        init_norm=lambda: (),
        update_norm=_keep,
        steps_per_query=0,
    )
