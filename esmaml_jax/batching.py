"""Run a per-rollout function over ONE flat batch, however many ``vmap``s are stacked around it.

The meta-step batches rollouts along several nested axes (perturbations x signs x tasks x
queries). Each ``vmap`` adds a leading batch dimension, so a rollout's state becomes, e.g., a
[150, 2, 1, 21, 2] array, and on a CPU XLA's loops over such shapes vectorize only along the
innermost batch dimension: measured on four corners (6,600 linear-policy rollouts of 100 steps,
`benchmarks/results/batch_shapes.json`), [6600] runs in 0.82 ms, [300, 22] in 1.67 ms,
[275, 24] in 0.81 ms and [3300, 2] in 5.97 ms: every axis that is not a multiple of the vector
width costs, and small inner axes (2 signs, 1 task) cost most.

`flat_vmap(fn)` returns a function with the same meaning as ``fn`` whose batching rule
(``jax.custom_batching.custom_vmap``) merges each new batch axis into one flat leading axis and
runs ``fn`` vmapped once over it, so stacked vmaps produce a single [N] batch (each item's
result is computed by the same operations as before; tested equal to the plain nested vmaps).
``shared`` arguments (the observation normalizer) stay unbatched unless a vmap batches them
(e.g. over seeds), in which case they are broadcast per item. Differentiation goes through a
``custom_jvp`` whose rule differentiates the plain function (custom_vmap has no reverse-mode
rule), so ``jax.grad`` of the result works and is exactly ``jax.grad`` of ``fn``.

`record_batches()` says which flat batches a program runs: programs traced inside it call back
to the host each time one of their flat batches executes (the benchmark's limit is built from
this: the bare rollouts of exactly the batches a meta-step runs, for any operator).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap


def _merge(x, batched: bool, size: int):
    """[size, N, ...] (or [N, ...] unbatched, broadcast) -> [size * N, ...]."""
    if not batched:
        x = jnp.broadcast_to(x, (size, *x.shape))
    return x.reshape(size * x.shape[1], *x.shape[2:])


_RECORDING: list[list[int]] = []


@contextlib.contextmanager
def record_batches() -> Iterator[list[int]]:
    """Yields a list to which every flat batch run by a program TRACED inside this context
    appends its size (number of items) each time it executes (a batch inside a ``lax.scan`` of
    length 5 appends 5 times). Trace a fresh function here (e.g. ``jax.jit(lambda *a:
    step(*a))``): a program traced before, and cached, has no callbacks; one traced here keeps
    them, so use it only for counting. Rollouts under ``jax.grad`` (the custom_jvp rule) are
    not counted."""
    sizes: list[int] = []
    _RECORDING.append(sizes)
    try:
        yield sizes
    finally:
        _RECORDING.remove(sizes)


def _flat_batched(fn: Callable) -> Callable:
    """g(shared, per_item_shared, items) over items with a leading axis N: ``fn(shared, item)``
    vmapped once; ``per_item_shared`` (None or [N, ...]) replaces ``shared`` once a vmap has
    batched it."""

    @custom_vmap
    def g(shared, per_item_shared, items):
        if _RECORDING:
            n = jax.tree.leaves(items)[0].shape[0]
            jax.debug.callback(functools.partial(_RECORDING[-1].append, n))
        if per_item_shared is None:
            return jax.vmap(fn, in_axes=(None, 0))(shared, items)
        return jax.vmap(fn)(per_item_shared, items)

    @g.def_vmap
    def rule(size, in_batched, shared, per_item_shared, items):
        b_shared, b_per_item, b_items = in_batched
        # N: the items' flat axis (axis 1 of a batched leaf, axis 0 of an unbatched one).
        leaf, b = next(zip(jax.tree.leaves(items), jax.tree.leaves(b_items), strict=True))
        n = leaf.shape[1 if b else 0]
        items = jax.tree.map(lambda x, b: _merge(x, b, size), items, b_items)
        if per_item_shared is not None:
            per_item_shared = jax.tree.map(lambda x, b: _merge(x, b, size), per_item_shared,
                                           b_per_item)
        elif any(jax.tree.leaves(b_shared)):
            # A batched "shared" argument: one copy per item from now on.
            def spread(x, b):
                x = x if b else jnp.broadcast_to(x, (size, *x.shape))
                return jnp.broadcast_to(x[:, None], (size, n, *x.shape[1:])).reshape(
                    size * n, *x.shape[1:])

            per_item_shared = jax.tree.map(spread, shared, b_shared)
            shared = None
        out = g(shared, per_item_shared, items)
        out = jax.tree.map(lambda o: o.reshape(size, n, *o.shape[1:]), out)
        return out, jax.tree.map(lambda _: True, out)

    return g


def flat_vmap(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``fn(shared, item) -> out`` (one item, no batch axis) with flat batching under any stack
    of vmaps; differentiable like ``fn``."""
    g = _flat_batched(fn)

    @jax.custom_jvp
    def call(shared, item):
        one = jax.tree.map(lambda x: x[None], item)
        return jax.tree.map(lambda o: o[0], g(shared, None, one))

    @call.defjvp
    def call_jvp(primals, tangents):
        return jax.jvp(fn, primals, tangents)

    return call
