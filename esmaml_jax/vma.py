"""Loop carries under a user's ``jax.shard_map``: varying over the same mesh axes as the inputs.

Inside ``jax.shard_map`` (its default ``check_vma=True``) every value has a type that says over
which manual mesh axes it varies, and a ``lax.scan`` requires its carry to keep that type. A
carry that starts from constants (a zero return, a point mass at the origin, a zero gradient)
is invariant, while the loop body, fed with per-shard parameters, makes it varying: the scan is
refused; so is the reverse, a body output that no input feeds (a "done" flag that a task never
sets). `like` casts a loop's initial carry and its body's new carry to vary over every axis the
loop's inputs vary over (``jax.lax.pcast``, public API); outside ``shard_map`` nothing varies
and it returns the tree as it is. tests/test_public_jax.py runs the meta-step under a user's
``shard_map``.
"""

from __future__ import annotations

import jax

from esmaml_jax.types import PyTree


def _axes(x) -> frozenset:
    """The manual axes ``x`` varies over (the type's ``manual_axis_type.varying`` in JAX 0.10,
    ``vma`` before; empty outside ``shard_map``)."""
    aval = jax.typeof(x)
    axis_type = getattr(aval, "manual_axis_type", None)
    if axis_type is not None:
        return frozenset(axis_type.varying)
    return frozenset(getattr(aval, "vma", ()))


def like(tree: PyTree, *inputs: PyTree) -> PyTree:
    """``tree`` with every leaf varying over all the manual axes any leaf of ``inputs`` varies
    over (no-op outside ``jax.shard_map``)."""
    axes = frozenset().union(*(_axes(x) for x in jax.tree.leaves(inputs)))
    if not axes:
        return tree

    def cast(x):
        missing = tuple(sorted(axes - _axes(x)))
        return jax.lax.pcast(x, missing, to="varying") if missing else x

    return jax.tree.map(cast, tree)
