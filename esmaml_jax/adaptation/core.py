"""The operator type, the batched ask/tell driver and the helpers every operator shares."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from esmaml_jax import vma
from esmaml_jax.objectives import sum_leading
from esmaml_jax.types import Array, Key, Params, PyTree

QueryFn = Callable[[Key, Params], tuple[Array, PyTree]]
# (keys [B, Q], points [B, Q, D]) -> (values [B, Q], aux summed over the B Q queries)
BatchQueryFn = Callable[[Array, Array], tuple[Array, PyTree]]


class Adaptation(NamedTuple):
    """An adaptation operator U(theta, T) as batched ask/tell (`adapt_batch` drives it).

    ``start(key, params, hparams, state) -> carry``; per round r, ``ask(carry, r, hparams,
    state) -> (carry, query keys [Q], points [Q, D])`` and ``tell(carry, r, values [Q], grads
    [Q, D] or None, hparams, state) -> carry``; ``finish(carry, hparams, state) -> (adapted,
    info)``.

    ``draw`` (optional): the randomness of one call that depends on its key alone, never on the
    point, ``draw(key, num_params, hparams) -> drawn`` (e.g. DPP-ES's k-DPP directions, an
    eigendecomposition each). An operator that has one gets it as ``start(key, params,
    hparams, state, drawn)``, so a caller whose items share keys computes it once per key
    (`esmaml_jax.algorithms.zero_order`: the two points of an antithetic pair). ``drawn`` must
    equal ``draw(key, ...)`` of ``start``'s key: a wrapper that replaces ``start``'s key
    replaces ``draw`` too (or sets it to None, and ``start`` draws for itself).
    """

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
    draw: Callable[[Key, int, dict], PyTree] | None = None

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
                hparams: dict, state: PyTree, drawn: PyTree = None) -> tuple[Array, dict, PyTree]:
    """U of B items at once: keys [B], params [B, D] -> (adapted [B, D], info (each [B, ...]),
    aux summed over every query, or None when the operator made none).

    ``drawn``: for an operator with a ``draw``, its draws for the B items (each leaf [B, ...];
    see `draws_shared`), when the caller knows items that share a key; None draws per item.

    ``query(keys [B, Q], points [B, Q, D]) -> (values [B, Q], summed aux)`` evaluates one round
    (item b's queries on item b's task; `esmaml_jax.objectives.query_batch` builds it): a
    ``lax.scan`` over the ``num_rounds`` rounds, each one flat batch.
    """
    if op.draw is None:
        carry = jax.vmap(op.start, (0, 0, None, None))(keys, params, hparams, state)
    else:
        if drawn is None:
            drawn = jax.vmap(op.draw, (0, None, None))(keys, params.shape[-1], hparams)
        carry = jax.vmap(op.start, (0, 0, None, None, 0))(keys, params, hparams, state, drawn)
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


def draws_shared(op: Adaptation, keys: Array, num_params: int, hparams: dict,
                 copies: int, inner: int) -> PyTree:
    """``op.draw`` for B = G x ``copies`` x ``inner`` items whose keys repeat along the middle
    axis (keys [G, copies, inner] flattened, equal across copies): drawn once per distinct key,
    G x inner draws, each repeated for its copies ([B, ...] leaves, `adapt_batch`'s
    ``drawn``)."""
    assert op.draw is not None
    g = keys.shape[0] // (copies * inner)
    distinct = keys.reshape(g, copies, inner, *keys.shape[1:])[:, 0]
    distinct = distinct.reshape(g * inner, *keys.shape[1:])
    drawn = jax.vmap(op.draw, (0, None, None))(distinct, num_params, hparams)

    def repeat(x):
        x = x.reshape(g, 1, inner, *x.shape[1:])
        return jnp.broadcast_to(x, (g, copies, inner, *x.shape[3:])).reshape(-1, *x.shape[3:])

    return jax.tree.map(repeat, drawn)


def check_positive(name: str, value, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not (ok and math.isfinite(value)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound} and finite, got {value}")


def hparam(x: float) -> Array:
    """A hyperparameter as an array of jax.numpy's default float (float64 under x64)."""
    return jnp.asarray(x, dtype=float)


def check_count(name: str, value) -> int:
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


def check_corruption(fraction, scale) -> None:
    if not (0.0 <= fraction <= 1.0):
        raise ValueError(f"corrupt_fraction must be in [0, 1], got {fraction}")
    check_positive("corrupt_scale", scale, allow_zero=True)


# the key of a corruption draw: folded from the query key, so the other draws are unchanged
CORRUPT_STREAM = 0xC0


def nan() -> Array:
    return jnp.full((), jnp.nan)


def shared_key(key: Key, num: int) -> Array:
    """``key`` once per query of a round (they share it: common random numbers)."""
    return jnp.broadcast_to(key, (num, *key.shape))


def no_queries(name: str) -> Callable:
    def never(*args):
        raise AssertionError(f"{name} makes no queries")

    return never
