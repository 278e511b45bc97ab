"""Run a per-rollout function over ONE flat batch, however many ``vmap``s are stacked around it.

The meta-step batches rollouts along several nested axes (perturbations x signs x tasks x
queries). Each ``vmap`` adds a leading batch dimension, so a rollout's state becomes, e.g., a
[150, 2, 1, 21, 2] array, and on a CPU XLA's loops over such shapes vectorize only along the
innermost batch dimension: measured on four corners (6,600 linear-policy rollouts of 100 steps,
`benchmarks/results/batch_shapes.json`), [6600] runs in 0.82 ms, [300, 22] in 1.67 ms,
[275, 24] in 0.81 ms and [3300, 2] in 5.97 ms: every axis that is not a multiple of the vector
width costs, and small inner axes (2 signs, 1 task) cost most.

`flat_vmap(fn)` returns a function with the same meaning as ``fn`` whose batching rule merges
each new batch axis into one flat leading axis and
runs ``fn`` vmapped once over it, so stacked vmaps produce a single [N] batch (each item's
result is computed by the same operations as before; tested equal to the plain nested vmaps).
The batch is one equation of a small JAX primitive whose batching rule only reshapes, so ``fn``
(a whole Brax rollout) is traced once per call site however many vmaps are stacked around it.
``shared`` arguments (the observation normalizer) stay unbatched unless a vmap batches them
(e.g. over seeds), in which case they are broadcast per item. Differentiation goes through a
``custom_jvp`` whose rule differentiates the plain function (the primitive has no derivative
rules), so ``jax.grad`` of the result works and is exactly ``jax.grad`` of ``fn``.

`record_batches()` says which flat batches a program runs: programs traced inside it call back
to the host each time one of their flat batches executes (the benchmark's limit is built from
this: the bare rollouts of exactly the batches a meta-step runs, for any operator).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap
from jax.extend import core as jex_core
from jax.interpreters import batching as jax_batching
from jax.interpreters import mlir

from esmaml_jax import batch_last


def _merge(x, batched: bool, size: int):
    """[size, N, ...] (or [N, ...] unbatched, broadcast) -> [size * N, ...]."""
    if not batched:
        x = jnp.broadcast_to(x, (size, *x.shape))
    return x.reshape(size * x.shape[1], *x.shape[2:])


def _spread(x, batched: bool, size: int, n: int):
    """A "shared" argument batched by a vmap (e.g. one normalizer per seed), [size, ...] (or
    unbatched [...], broadcast) -> one copy per item of the flat batch, [size * n, ...]."""
    x = x if batched else jnp.broadcast_to(x, (size, *x.shape))
    return jnp.broadcast_to(x[:, None], (size, n, *x.shape[1:])).reshape(size * n, *x.shape[1:])


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
            per_item_shared = jax.tree.map(lambda x, b: _spread(x, b, size, n), shared,
                                           b_shared)
            shared = None
        out = g(shared, per_item_shared, items)
        out = jax.tree.map(lambda o: o.reshape(size, n, *o.shape[1:]), out)
        return out, jax.tree.map(lambda _: True, out)

    return g


# --- The flat batch as a primitive --------------------------------------------------------
# ``custom_vmap`` traces its function again at every vmap level it is batched by (to store the
# level's jaxpr), so a rollout under the meta-step's 4-5 stacked vmaps was traced 5 times per
# call site: 16 s of a halfcheetah step's 22 s compile went to Python tracing. This primitive
# carries ``fn`` as a parameter instead: its batching rule only reshapes (no tracing), its
# output shapes come from one cached ``eval_shape`` of a single item, and ``fn`` is traced once
# per call site, when the program is lowered. Same values (the same ``vmap(fn)`` over the same
# flat batch); `record_batches` uses the custom_vmap form (its host callback is an effect).

_flat_p = jex_core.Primitive("esmaml_flat_batch")
_flat_p.multiple_results = True


# Layout of a flat batch's program: "auto" runs it batch-last (`esmaml_jax.batch_last`) where
# that pays (`batch_last.suits_jaxpr`: a rollout loop holding wide per-item arrays: Brax
# physics, an MLP policy, six circles' goals), else with ``jax.vmap``; "vmap" always uses
# ``jax.vmap``; "batch_last" runs every program that has a loop batch-last. The environment
# variable ESMAML_FLAT_LAYOUT sets the process's default; `layout` overrides it in a block.
# Only CPU lowerings take the batch-last layout (measured there).
LAYOUTS = ("auto", "vmap", "batch_last")
_LAYOUT = [os.environ.get("ESMAML_FLAT_LAYOUT", "auto")]
if _LAYOUT[0] not in LAYOUTS:
    raise ValueError(f"ESMAML_FLAT_LAYOUT={_LAYOUT[0]!r}: choose from {LAYOUTS}")


@contextlib.contextmanager
def layout(name: str) -> Iterator[None]:
    """Lower flat batches with this layout inside the block (one of `LAYOUTS`). The layout is
    read when a program is lowered, and JAX reuses the lowering of an inner ``jit`` it has
    seen: to compare, build the algorithm afresh inside the block. Rollouts of pure-JAX envs give
    the same numbers either way (tests/test_batch_last.py); the program around them may fuse,
    and so round, differently (tests/test_config.py's first_order hash); Brax rollouts round
    differently, and contacts amplify it ("vmap" re-runs a Brax run made before Brax went
    batch-last bit for bit)."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown flat-batch layout {name!r}; choose from {LAYOUTS}")
    _LAYOUT.append(name)
    try:
        yield
    finally:
        _LAYOUT.pop()


def _call_flat(args, *, fn, in_tree, num_shared, per_item, out_tree, cpu=False):
    """vmap(fn) over the leading axis of the items (and of ``shared`` when ``per_item``).
    ``cpu``: lowering for a CPU, where the batch-last layout may be chosen (it was measured
    there; GPU/TPU compilers assign layouts of their own, so they get the plain vmap)."""
    program = _item_program(fn, in_tree, per_item, _item_avals(args, num_shared, per_item))
    batched = [per_item or i >= num_shared for i in range(len(args))]
    mode = _LAYOUT[-1]
    if cpu and ((mode == "auto" and program.batch_last)
                or (mode == "batch_last" and program.has_loop)):
        leaves = batch_last.run(program.jaxpr, args, batched)
    else:  # jax.vmap of the program already traced for the shapes: fn is traced once
        axes = [0 if b else None for b in batched]
        leaves = list(jax.vmap(jex_core.jaxpr_as_fun(program.jaxpr), in_axes=axes)(*args))
    assert len(leaves) == out_tree.num_leaves
    return leaves


class _Program(NamedTuple):
    jaxpr: Any  # the ClosedJaxpr of fn on ONE item
    out_avals: tuple
    out_tree: Any
    batch_last: bool  # the batch-last layout pays (`batch_last.suits_jaxpr`)
    has_loop: bool  # the batch-last layout can pay at all (a loop: the rollout's time steps)


@functools.lru_cache(maxsize=256)
def _item_program(fn, in_tree, per_item, item_avals) -> _Program:
    """``fn`` traced on ONE item (cached: once per signature): its program, output shapes and
    whether it suits the batch-last layout."""
    shared, items = jax.tree.unflatten(in_tree, [jax.ShapeDtypeStruct(s, d)
                                                 for s, d in item_avals])
    closed, out = jax.make_jaxpr(fn, return_shape=True)(shared, items)
    leaves, tree = jax.tree.flatten(out)
    width = batch_last.loop_width(closed.jaxpr)  # one walk of the program for both flags
    return _Program(closed, tuple((x.shape, x.dtype) for x in leaves), tree,
                    getattr(fn, "batch_last", True) and batch_last.pays(width),
                    width is not None)


def _item_out_avals(fn, in_tree, per_item, item_avals):
    """Output shapes and dtypes of ``fn`` on ONE item, and their tree."""
    program = _item_program(fn, in_tree, per_item, item_avals)
    return program.out_avals, program.out_tree


def _item_avals(args, num_shared, per_item):
    """Per-item (shape, dtype) of every argument (the flat axis dropped where there is one)."""
    return tuple((tuple(a.shape[1:]) if (i >= num_shared or per_item) else tuple(a.shape),
                  a.dtype) for i, a in enumerate(args))


def _flat_abstract_eval(*args, fn, in_tree, num_shared, per_item, out_tree):
    n = args[num_shared].shape[0]
    avals, tree = _item_out_avals(fn, in_tree, per_item, _item_avals(args, num_shared, per_item))
    assert tree == out_tree
    return [jax.core.ShapedArray((n, *s), d) for s, d in avals]


def _flat_impl(*args, **params):
    return jax.jit(lambda *a: _flat_p.bind(*a, **params))(*args)


def _flat_batch_rule(args, dims, *, fn, in_tree, num_shared, per_item, out_tree):
    size = next(a.shape[d] for a, d in zip(args, dims, strict=True) if d is not None)
    args = [x if d is None else jnp.moveaxis(x, d, 0) for x, d in zip(args, dims, strict=True)]
    batched = [d is not None for d in dims]
    n = args[num_shared].shape[1 if batched[num_shared] else 0]
    new = []
    for i, (x, b) in enumerate(zip(args, batched, strict=True)):
        if i >= num_shared or per_item:
            new.append(_merge(x, b, size))
        elif any(batched[:num_shared]):
            new.append(_spread(x, b, size, n))
        else:
            new.append(x)
    per_item = per_item or any(batched[:num_shared])
    out = _flat_p.bind(*new, fn=fn, in_tree=in_tree, num_shared=num_shared, per_item=per_item,
                       out_tree=out_tree)
    return [o.reshape(size, n, *o.shape[1:]) for o in out], [0] * len(out)


_flat_p.def_impl(_flat_impl)
_flat_p.def_abstract_eval(_flat_abstract_eval)
jax_batching.primitive_batchers[_flat_p] = _flat_batch_rule
mlir.register_lowering(_flat_p, mlir.lower_fun(lambda *a, **p: _call_flat(a, **p),
                                               multiple_results=True))


def _lower_cpu(ctx, *args, **params):
    """CPU lowering: the batch-last layout may be chosen, except for `jax.export` (its layout
    constraint is an XLA custom call that serialized programs may not contain; an exported
    program gets the vmap layout)."""
    exporting = bool(getattr(ctx.module_context.lowering_parameters, "for_export", False))
    rule = mlir.lower_fun(lambda *a: _call_flat(a, **params, cpu=not exporting),
                          multiple_results=True)
    return rule(ctx, *args)


mlir.register_lowering(_flat_p, _lower_cpu, platform="cpu")


def _flat_call(fn, shared, items):
    """``vmap(fn, (None, 0))(shared, items)`` as one `_flat_p` equation."""
    args, in_tree = jax.tree.flatten((shared, items))
    num_shared = len(jax.tree.leaves(shared))
    _, out_tree = _item_out_avals(fn, in_tree, False, _item_avals(args, num_shared, False))
    out = _flat_p.bind(*args, fn=fn, in_tree=in_tree, num_shared=num_shared, per_item=False,
                       out_tree=out_tree)
    return jax.tree.unflatten(out_tree, out)


def flat_vmap(fn: Callable[[Any, Any], Any], *,
              batch_last: bool = True) -> Callable[[Any, Any], Any]:
    """``fn(shared, item) -> out`` (one item, no batch axis) with flat batching under any stack
    of vmaps; differentiable like ``fn``. ``batch_last`` False: the "auto" layout keeps
    ``jax.vmap`` for it (an env where the batch-last layout was measured not to pay)."""
    if not batch_last:
        inner = fn
        fn = functools.wraps(inner)(lambda shared, item: inner(shared, item))
        fn.batch_last = False  # type: ignore[attr-defined]  # read by _item_program
    g = _flat_batched(fn)

    @jax.custom_jvp
    def call(shared, item):
        one = jax.tree.map(lambda x: x[None], item)
        if _RECORDING:  # counting batches: the custom_vmap form, with its host callback
            out = g(shared, None, one)
        else:
            out = _flat_call(fn, shared, one)
        return jax.tree.map(lambda o: o[0], out)

    @call.defjvp
    def call_jvp(primals, tangents):
        return jax.jvp(fn, primals, tangents)

    return call
