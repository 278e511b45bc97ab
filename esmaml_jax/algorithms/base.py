"""What every ES-MAML algorithm shares: its state, its interface, and evaluation on test tasks."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from esmaml_jax import paper
from esmaml_jax.adaptation import Adaptation, adapt_batch
from esmaml_jax.objectives import Objective, batch_evaluator, batch_of_one, query_batch
from esmaml_jax.types import Array, Key, PyTree


@struct.dataclass
class MetaState:
    """Everything a meta-step reads and writes; a pytree (vmap it for many seeds at once).

    ``hparams`` holds the continuous settings as arrays: ``sigma`` (outer smoothing) and
    ``adapt`` (the operator's, e.g. inner sigma and step size). Change them with ``replace`` or
    vmap over them; they are traced, so no recompilation. The outer learning rate lives in the
    optax state (use ``optax.inject_hyperparams`` to sweep it).
    """

    params: Array  # [D] meta-policy (flat)
    opt_state: PyTree
    norm: PyTree  # frozen during a step (e.g. RunningStats of observations)
    adapt_state: PyTree  # operator memory across meta-steps (e.g. ASEBO's gradient history)
    hparams: dict
    step: Array  # [] int32

    def replace(self, **changes) -> MetaState:
        """A copy with ``changes`` (typed, for type checkers; flax's replace does the same)."""
        return dataclasses.replace(self, **changes)


class Algorithm(NamedTuple):
    """``init(key) -> MetaState``; ``step(state, key) -> (state, metrics)`` (pure, jit it);
    ``evaluate(state, key, num_tasks=None, num_repeats=1) -> dict`` (pure; num_* static);
    ``adapt(state, key, task) -> params`` (pure): the meta-policy adapted to one task, as
    test-time adaptation does it. ``objective`` is f_T of the (deterministic) policy the
    parameters describe; ``adaptation`` the blackbox operator (None for PG-MAML, whose inner
    step needs trajectories, not values)."""

    init: Callable[[Key], MetaState]
    step: Callable[[MetaState, Key], tuple[MetaState, dict]]
    evaluate: Callable[..., dict]
    objective: Objective
    adaptation: Adaptation | None
    rollouts_per_step: int
    env_steps_per_step: int
    adapt: Callable[[MetaState, Key, Any], Array]
    # ((flat batch size, executions per meta-step), ...): the batches of queries one meta-step
    # evaluates, largest first, as the algorithm lays them out (empty: not declared)
    rollout_batches: tuple[tuple[int, int], ...] = ()


def adapter(objective: Objective, adaptation: Adaptation) -> Callable[[MetaState, Key, Any],
                                                                       Array]:
    """``adapt(state, key, task)`` for a blackbox operator: U(theta, T) with f_T bound."""

    def adapt(state: MetaState, key: Key, task) -> Array:
        one = batch_of_one(task)
        adapted, _, _ = adapt_batch(adaptation, key[None], state.params[None],
                                    query_batch(objective, one, state.norm),
                                    state.hparams["adapt"], state.adapt_state)
        return adapted[0]

    return adapt


def batch_counts(*batches: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """(size, executions) pairs merged by size (sizes 0 dropped), largest first."""
    counts: dict[int, int] = {}
    for size, times in batches:
        if size > 0 and times > 0:
            counts[size] = counts.get(size, 0) + times
    return tuple(sorted(counts.items(), reverse=True))


def default_optimizer() -> optax.GradientTransformation:
    """Plain SGD with the paper's outer step size 0.01 (A.7.2)."""
    return optax.sgd(paper.OUTER_LEARNING_RATE)


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    return int(value)


def check_sigma(value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"sigma must be > 0 and finite, got {value}")


def init_state(objective: Objective, adaptation: Adaptation, optimizer, key: Key,
               hparams: dict) -> MetaState:
    params = objective.init_params(key)
    return MetaState(
        params=params,
        opt_state=optimizer.init(params),
        norm=objective.init_norm(),
        adapt_state=adaptation.init_state(objective.num_params),
        hparams={**hparams, "adapt": adaptation.init_hparams()},
        step=jnp.zeros((), jnp.int32),
    )


def outer_update(optimizer: optax.GradientTransformation, state: MetaState, grad: Array,
                 objective_value: Array, ok: Array) -> tuple[Array, PyTree]:
    """The outer update every algorithm shares: one optimizer step ASCENDING ``grad``.

    optax minimises, so the optimizer gets ``-grad``; an optimizer that takes extra arguments
    (``optax.GradientTransformationExtraArgs``, e.g. ``optax.contrib.reduce_on_plateau``) also
    gets ``value=-objective_value`` (the step's meta-objective estimate as a loss). When ``ok`` is
    False (no finite direction at all) nothing changes, not even the optimizer's moments.
    Returns (params, opt_state).
    """
    if isinstance(optimizer, optax.GradientTransformationExtraArgs):
        updates, opt_state = optimizer.update(-grad, state.opt_state, state.params,
                                              value=-objective_value)
    else:
        updates, opt_state = optimizer.update(-grad, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)
    return keep(params, state.params), keep(opt_state, state.opt_state)


def sum_aux(*trees: PyTree) -> PyTree:
    """Sum additive statistics over every leading axis (all queries), across several trees."""
    total = None
    for tree, batch_ndim in trees:
        if tree is None:
            continue
        s = jax.tree.map(lambda x, b=batch_ndim: jnp.sum(x, axis=tuple(range(b))), tree)
        total = s if total is None else jax.tree.map(jnp.add, total, s)
    return total


def update_norm(objective: Objective, norm: PyTree, aux: PyTree) -> tuple[PyTree, Array]:
    """Merge a step's statistics into the normalizer, unless a diverged rollout made them
    non-finite (then the old statistics are kept). Returns (norm, skipped [] bool)."""
    if aux is None:
        return norm, jnp.zeros((), bool)
    finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(aux)] or
                               [jnp.bool_(True)]))
    new = objective.update_norm(norm, aux)
    return jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, norm), ~finite


def finite_mean(x: Array) -> Array:
    ok = jnp.isfinite(x)
    return jnp.sum(jnp.where(ok, x, 0.0)) / jnp.maximum(jnp.sum(ok), 1)


def evaluation_draw(objective: Objective, key: Key, num_tasks: int | None = None,
              num_repeats: int = 1) -> tuple:
    """(tasks, keys [N, num_repeats, 3]): what `evaluate` draws from ``key``, the test tasks and
    one key triple per (task, adaptation). Items ``i:j`` of the repeat axis of a draw with R
    repeats are exactly what a run over those repeats evaluates, so an evaluation of R
    repeats can be run as several calls of one compiled program over slices of it."""
    k_tasks, k_rest = jax.random.split(key)
    tasks = objective.sample_test_tasks(k_tasks, num_tasks)
    n = jax.tree.leaves(tasks)[0].shape[0]
    return tasks, jax.random.split(k_rest, (n, num_repeats, 3))


def evaluate(objective: Objective, adaptation: Adaptation, state: MetaState, key: Key,
             num_tasks: int | None = None, num_repeats: int = 1, draw=None) -> dict:
    """Pre- and post-adaptation returns of the meta-policy on held-out test tasks.

    For each test task and each of ``num_repeats`` independent adaptations: pre = f_T(theta),
    post = f_T(U(theta, T)). Returns ``pre``/``post`` [N, R] and their means. ``draw``: the
    (tasks, keys) of `evaluation_draw` to use instead of drawing them from ``key``.
    """
    tasks, keys = draw if draw is not None else evaluation_draw(objective, key, num_tasks,
                                                          num_repeats)

    n, r = keys.shape[:2]
    flat_tasks = jax.tree.map(lambda t: jnp.repeat(t, r, axis=0), tasks)  # task-major, [N R]
    k = keys.reshape(n * r, *keys.shape[2:])
    theta = jnp.broadcast_to(state.params, (n * r, state.params.shape[0]))
    evaluate_batch = batch_evaluator(objective)
    pre, _ = evaluate_batch(k[:, 0], theta, flat_tasks, state.norm)
    adapted, _, _ = adapt_batch(adaptation, k[:, 1], theta,
                                query_batch(objective, flat_tasks, state.norm),
                                state.hparams["adapt"], state.adapt_state)
    post, _ = evaluate_batch(k[:, 2], adapted, flat_tasks, state.norm)
    pre, post = pre.reshape(n, r), post.reshape(n, r)
    return {"pre": pre, "post": post, "pre_mean": finite_mean(pre),
            "post_mean": finite_mean(post)}
