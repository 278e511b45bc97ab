"""Zero-order ES-MAML: Alg. 2 (any adaptation operator) and Alg. 3 (ES-gradient adaptation).

The whole meta-step is one pure function of (state, key). Under ``jax.jit`` it is one XLA
program: sample P directions g_i and P x T tasks, adapt every perturbed meta-policy
theta + sigma g_i (and theta - sigma g_i when antithetic) to each of its T tasks, evaluate the
adapted policies, and take an outer ES step on the task-averaged adapted returns (Eq. 6):

    grad J~(theta) ~= 1/(sigma n) sum_i f_Ti(U(theta + sigma g_i, T_i)) g_i        (Alg. 2, line 6)

Antithetic pairs +g/-g share their tasks and every rollout key (common random numbers). We
MAXIMISE return; optax minimises, so the optimizer receives the negated ES gradient.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from esmaml_jax import estimators, paper
from esmaml_jax import shaping as shaping_lib
from esmaml_jax.adaptation import Adaptation, adapt_batch, draws_shared, hparam
from esmaml_jax.algorithms import base
from esmaml_jax.algorithms.base import Algorithm, MetaState
from esmaml_jax.objectives import Objective, batch_evaluator, query_batch


def zero_order(objective: Objective, adaptation: Adaptation, *,
               num_perturbations: int = paper.NUM_PERTURBATIONS,
               tasks_per_perturbation: int = 1, sigma: float = paper.SIGMA,
               optimizer: optax.GradientTransformation | None = None,
               estimator: estimators.Estimator = estimators.antithetic,
               shaping: shaping_lib.Shaper = shaping_lib.zscore,
               sampler: estimators.Sampler = estimators.gaussian, chunk_size: int | None = None,
               mesh: jax.sharding.Mesh | None = None) -> Algorithm:
    """Build the zero-order ES-MAML algorithm.

    Args:
      objective: the blackbox f_T (see `esmaml_jax.objectives`).
      adaptation: the operator U(theta, T) (see `esmaml_jax.adaptation`).
      num_perturbations: P outer directions per meta-step.
      tasks_per_perturbation: T tasks per perturbed policy (its value: the mean over them).
      sigma: outer smoothing radius (initial value; traced, in ``state.hparams["sigma"]``).
      optimizer: optax transformation for the outer update (default: SGD 0.01, A.7.2); one
        taking extra arguments (``optax.contrib.reduce_on_plateau``) gets ``value=`` the
        negated mean post-adaptation return (a loss: optax minimises).
      estimator: `estimators.antithetic` (default), `forward_fd` or `vanilla`.
      shaping: fitness shaping of the outer values (`shaping.zscore`, `centered_rank`, `none`).
      sampler: outer direction sampler (`estimators.gaussian` or `orthogonal`).
      chunk_size: process the perturbation axis in chunks of this many directions inside the
        same program (``lax.map``), bounding memory; None evaluates all at once.
      mesh: shard the perturbation axis over ALL the devices of this mesh (every axis of it,
        e.g. ``jax.sharding.Mesh(jax.devices(), ("p",))``, or a ``("data", "p")`` grid); only
        the final reductions (gradient, statistics) cross devices. Works across hosts after
        ``jax.distributed.initialize()``. Best with P a multiple of the device count.
    Rollouts per step: S P T (Q + 1) (S = 2 if antithetic, Q the operator's queries), plus
    T (Q + 1) for forward_fd's centre."""
    num_p = base.check_positive_int("num_perturbations", num_perturbations)
    num_t = base.check_positive_int("tasks_per_perturbation", tasks_per_perturbation)
    if chunk_size is not None:
        chunk_size = base.check_positive_int("chunk_size", chunk_size)
    base.check_sigma(sigma)
    estimators.checked(estimator, shaping, sampler)
    optimizer = optimizer or base.default_optimizer()
    sizes = _Sizes(num_p, estimator.signs, num_t, chunk_size)
    batches = _batches(adaptation, sizes, estimator.uses_center)
    rollouts = sum(size * times for size, times in batches)
    score_alone = functools.partial(_score, objective, adaptation, batch_evaluator(objective))
    score = functools.partial(score_alone, shared=(sizes.signs, num_t))  # pairs share keys

    def init(key) -> MetaState:
        return base.init_state(objective, adaptation, optimizer, key,
                               {"sigma": hparam(sigma)})

    def step(state: MetaState, key) -> tuple[MetaState, dict]:
        k_eps, k_task, k_adapt, k_eval, k_center = jax.random.split(key, 5)
        theta, sig = state.params, state.hparams["sigma"]
        eps = sampler(k_eps, num_p, theta.shape[0], sig)  # Alg. 3, line 2
        items = _items(objective, estimator, sizes, theta, eps, sig, k_task, k_adapt, k_eval)
        if mesh is not None:
            items = jax.tree.map(functools.partial(_shard_leading, mesh), items)
        if chunk_size is None:
            values, infos, total_aux = score(state, items)
        else:
            values, infos, total_aux = _chunked(functools.partial(score, state), items, sizes)
        # values [P S T]: a direction's value is its mean over tasks (NaN if any is NaN).
        values = values.reshape(num_p, sizes.signs, num_t)
        per_dir = values.mean(axis=2).T.reshape((2, num_p) if sizes.signs == 2 else (-1,))
        center = None
        if estimator.uses_center:
            center, c_aux = _center(objective, score_alone, state, k_center, num_t)
            total_aux = base.sum_aux((total_aux, 0), (c_aux, 0))
        grad, num_valid = estimators.estimate(per_dir, eps, sig, estimator, shaping, center)
        return _update(objective, adaptation, optimizer, state, grad, num_valid, values,
                       infos, total_aux)

    return Algorithm(
        init=init,
        step=step,
        evaluate=functools.partial(base.evaluate, objective, adaptation),
        objective=objective,
        adaptation=adaptation,
        rollouts_per_step=rollouts,
        env_steps_per_step=rollouts * objective.steps_per_query,
        adapt=base.adapter(objective, adaptation),
        rollout_batches=base.batch_counts(*batches),
    )


class _Sizes(NamedTuple):
    """The step's static sizes: P directions, S signs (2 when antithetic), T tasks each, and
    the directions per chunk (None: all at once)."""
    p: int
    signs: int
    t: int
    chunk: int | None


def _batches(adaptation: Adaptation, n: _Sizes, uses_center: bool) -> list[tuple[int, int]]:
    """(rollout batch size, executions) of every batch a step evaluates."""
    q, rounds = adaptation.round_size, adaptation.num_rounds

    def batches_of(items: int, times: int = 1) -> list[tuple[int, int]]:
        return [(items * q, rounds * times), (items, times)]  # the rounds, then f(U(.))

    per_dir = n.signs * n.t
    if n.chunk is None:
        batches = batches_of(n.p * per_dir)
    else:
        batches = (batches_of(n.chunk * per_dir, n.p // n.chunk)
                   + batches_of((n.p % n.chunk) * per_dir))
    return batches + (batches_of(n.t) if uses_center else [])


def _score(objective: Objective, adaptation: Adaptation, evaluate, state: MetaState, items,
           shared: tuple[int, int] = (1, 1)):
    """f_T(U(point, T)) for a flat batch of B items (point [B, D], task [B], adaptation and
    evaluation keys [B]; Alg. 3, lines 4-6): every round of the operator's queries and the
    evaluation of the adapted points are each ONE flat batch of rollouts. ``shared`` (S, T):
    the items are [directions, S, T] blocks whose S signs share adaptation keys, so the
    operator's key-only ``draw`` runs once per direction and task (`draws_shared`)."""
    points, tasks, k_adapt, k_eval = items
    drawn = None
    if adaptation.draw is not None and shared[0] > 1:
        drawn = draws_shared(adaptation, k_adapt, points.shape[-1], state.hparams["adapt"],
                             *shared)
    adapted, info, aux = adapt_batch(adaptation, k_adapt, points,
                                     query_batch(objective, tasks, state.norm),
                                     state.hparams["adapt"], state.adapt_state, drawn)
    values, eval_aux = evaluate(k_eval, adapted, tasks, state.norm)
    return values, info, base.sum_aux((aux, 0), (eval_aux, 1))


def _items(objective: Objective, estimator, n: _Sizes, theta, eps, sig, k_task, k_adapt,
           k_eval):
    """The P S T items (point, task, adaptation key, evaluation key), direction-major (a
    direction's items are contiguous: chunks and device shards split between directions);
    antithetic pairs share their tasks and keys."""
    dim = theta.shape[0]
    points = estimators.perturbed_points(theta, eps, sig, estimator)
    points = points.reshape(n.signs, n.p, dim).swapaxes(0, 1)  # [P, S, D]
    tasks = jax.tree.map(lambda x: x.reshape(n.p, n.t, *x.shape[1:]),
                         objective.sample_train_tasks(k_task, n.p * n.t))
    ka = jax.random.split(k_adapt, (n.p, n.t))
    ke = jax.random.split(k_eval, (n.p, n.t))
    spread = lambda x, axis: jnp.broadcast_to(
        jnp.expand_dims(x, axis), (n.p, n.signs, n.t, *x.shape[2:])).reshape(-1, *x.shape[2:])
    return (spread(points, 2), jax.tree.map(lambda t: spread(t, 1), tasks),
            spread(ka, 1), spread(ke, 1))


def _shard_leading(mesh, x):
    # every axis of the mesh: a (1, 4) or (2, 2) grid shards over its 4 devices
    spec = jax.sharding.PartitionSpec(tuple(mesh.axis_names))
    return jax.lax.with_sharding_constraint(x, jax.sharding.NamedSharding(mesh, spec))


def _chunked(fn, items, n: _Sizes):
    """``fn`` over the items in chunks of ``n.chunk`` directions (``lax.map``: one chunk in
    memory at a time), the remainder in one more call; results concatenated, aux summed."""
    per, chunk = n.signs * n.t, n.chunk
    assert chunk is not None
    full = (n.p // chunk) * chunk * per
    head = jax.tree.map(lambda x: x[:full].reshape(-1, chunk * per, *x.shape[1:]), items)
    values, infos, aux = jax.lax.map(fn, head)
    flat = lambda x: x.reshape(-1, *x.shape[2:])
    values, infos, aux = flat(values), jax.tree.map(flat, infos), base.sum_aux((aux, 1))
    if full < n.p * per:
        v, i, a = fn(jax.tree.map(lambda x: x[full:], items))
        values = jnp.concatenate([values, v])
        infos = jax.tree.map(lambda x, y: jnp.concatenate([x, y]), infos, i)
        aux = base.sum_aux((aux, 0), (a, 0))
    return values, infos, aux


def _center(objective: Objective, score, state: MetaState, key, num_t: int):
    """(f(theta) averaged over ``num_t`` fresh tasks, its statistics): forward_fd's centre."""
    theta = state.params
    c_tasks = objective.sample_train_tasks(key, num_t)
    kc = jax.random.split(key, (2, num_t))
    c_vals, _, c_aux = score(state, (jnp.broadcast_to(theta, (num_t, theta.shape[0])), c_tasks,
                                     kc[0], kc[1]))
    return c_vals.mean(), c_aux


def _update(objective: Objective, adaptation: Adaptation, optimizer, state: MetaState, grad,
            num_valid, values, infos, total_aux) -> tuple[MetaState, dict]:
    """The outer step and the step's metrics. A step in which every direction diverged
    changes nothing (not even optimizer moments)."""
    ok = num_valid > 0
    new_params, opt_state = base.outer_update(optimizer, state, grad, base.finite_mean(values),
                                              ok)
    norm, norm_skipped = base.update_norm(objective, state.norm, total_aux)
    new_state = state.replace(
        params=new_params,
        opt_state=opt_state,
        norm=norm,
        adapt_state=adaptation.update_state(state.adapt_state, infos),
        step=state.step + 1,
    )
    metrics = {
        "pre_return": base.finite_mean(infos["pre_value"]),
        "post_return": base.finite_mean(values),
        "num_valid_directions": num_valid,
        "num_nonfinite": jnp.sum(~jnp.isfinite(values)).astype(jnp.int32),
        "skipped_update": ~ok,
        "norm_skipped": norm_skipped,
        "grad_norm": jnp.linalg.norm(grad),
    }
    return new_state, metrics
