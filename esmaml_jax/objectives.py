"""Blackbox objectives f_T(theta) (Sec. 3.2: "we treat f_T as a blackbox").

An `Objective` bundles everything the algorithms need and nothing about ES:

- ``evaluate(key, params [D], task, norm) -> (value [], aux)``: one query of f_T. ``aux`` is a
  pytree of ADDITIVE statistics (observation moments for RL) that the algorithm sums over every
  query of a meta-step and feeds to ``update_norm`` after the step.
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

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from esmaml_jax import internals, policies
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


def _keep(norm: PyTree, aux: PyTree) -> PyTree:
    return norm


def rl_objective(family, policy: Policy, horizon: int | None = None,
                 normalize_observations: bool = True, flat_batching: bool = True,
                 unroll: int | None = None) -> Objective:
    """Episode return of ``policy`` on a task of ``family`` over a fixed horizon.

    The rollout is a ``lax.scan`` of exactly ``horizon`` steps with a done mask: once an episode
    ends, later rewards (and observations, for the statistics) are masked out, so batch shapes
    never change. The policy sees observations normalized by the frozen running statistics.
    ``flat_batching`` (default): however many vmaps the algorithm stacks around ``evaluate``,
    its rollouts run as one flat batch (`esmaml_jax.batching.flat_vmap`; same values, up to 2x
    faster on a CPU); False gives the plain nested vmaps. ``unroll``: env steps per iteration
    of the rollout loop (same numbers; default: the env's ``rollout_unroll``, 2 for pure-JAX
    envs and 1 for Brax physics, see `envs.base.TaskEnv`).
    """
    horizon = int(family.horizon if horizon is None else horizon)
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    unroll = int(getattr(family.env, "rollout_unroll", 1) if unroll is None else unroll)
    if unroll < 1:
        raise ValueError(f"unroll must be >= 1, got {unroll}")
    obs_size = family.observation_size

    def episode(key, params, task, norm: RunningStats, record: str | None):
        """record: None, "obs" (observations) or "states" (whole env states)."""
        state = family.reset(key, task)
        act = policies.bind(policy, params)  # layers sliced once per episode, not per step

        def body(carry, _):
            state, ret, alive, moments = carry
            moments = moments.add(jnp.where(alive > 0, state.obs, 0.0), alive)
            obs = norm.normalize(state.obs) if normalize_observations else state.obs
            nxt = family.env.step(state, act(obs))
            ret = ret + jnp.where(alive > 0, nxt.reward, 0.0)
            alive = alive * (1.0 - nxt.done)
            out = {None: None, "obs": nxt.obs, "states": nxt}[record]
            return (nxt, ret, alive, moments), out

        init = (state, jnp.zeros(()), jnp.ones(()), Moments.zeros(obs_size))
        (_, ret, _, moments), seq = jax.lax.scan(body, init, None, length=horizon,
                                                   unroll=unroll)
        return ret, moments, state, seq

    def one_episode(norm, item):
        key, params, task = item
        ret, moments, _, _ = episode(key, params, task, norm, record=None)
        return ret, {"obs": moments}

    # Stacked vmaps (directions x signs x tasks x queries) run as ONE flat batch of rollouts:
    # on a CPU, nested batch shapes cost up to several times more (`esmaml_jax.batching`).
    # The flat batch uses JAX internals; `internals.flat_vmap` falls back to plain vmap.
    flat_episode = (internals.flat_vmap(one_episode,
                                        batch_last=getattr(family.env, "batch_last", True))
                    if flat_batching else one_episode)

    def evaluate(key, params, task, norm):
        return flat_episode(norm, (key, params, task))

    def rollout(key, params, task, norm):
        """Observations along one episode: [horizon + 1, O] (the first is the reset's)."""
        _, _, first, obs_seq = episode(key, params, task, norm, record="obs")
        return jnp.concatenate([first.obs[None], obs_seq])

    def states(key, params, task, norm):
        """The env states along one episode, stacked [horizon + 1] (the first is the reset's),
        with its return: (states, return). For pictures and Brax's HTML viewer."""
        ret, _, first, seq = episode(key, params, task, norm, record="states")
        return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, seq), ret

    def update_norm(norm: RunningStats, aux) -> RunningStats:
        return norm.merge(aux["obs"]) if normalize_observations else norm

    return Objective(
        evaluate=evaluate,
        init_params=policy.init,
        num_params=policy.num_params,
        sample_train_tasks=family.sample_train_tasks,
        sample_test_tasks=family.sample_test_tasks,
        init_norm=lambda: RunningStats.zeros(obs_size),
        update_norm=update_norm,
        steps_per_query=horizon,
        rollout=rollout,
        states=states,
    )


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
