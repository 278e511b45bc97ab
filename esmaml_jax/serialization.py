"""The pytree types of a meta-step, registered for ``jax.export`` serialization.

``jax.export.export(jax.jit(algo.step), ...)(state, key).serialize()`` has to name every
pytree node type in the step's inputs and outputs: the meta-state (`MetaState`), the
observation statistics (`RunningStats`, `Moments`), operator state (`AseboState`) and the
optimizer's state, whose NamedTuples belong to optax. `register` (run when ``esmaml_jax`` is
imported) registers all of them, every optax state NamedTuple included, so a user serializes
and deserializes a step with no registration of their own; serialization also needs the
``flatbuffers`` package, a declared dependency. A type already registered (by the user, or
by a library) is left as it is. tests/test_public_jax.py round-trips the step.
"""

from __future__ import annotations

import functools
import inspect

import jax


def _named_tuple_types(module) -> list[type]:
    return [obj for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, tuple) and hasattr(obj, "_fields")]


def _try(register, cls, **kw) -> None:
    try:
        register(cls, **kw)
    except ValueError:  # registered already (by the user or a library): theirs stays
        pass


@functools.cache
def register() -> None:
    """Register the meta-step's pytree types with ``jax.export`` (idempotent)."""
    import optax
    import optax.contrib

    from esmaml_jax import adaptation, normalization
    from esmaml_jax.algorithms.base import MetaState

    named = jax.export.register_namedtuple_serialization
    for module in (optax, optax.contrib, optax.schedules, optax.tree_utils):
        for cls in _named_tuple_types(module):
            _try(named, cls, serialized_name=f"{cls.__module__}.{cls.__qualname__}")
    for cls in (normalization.Moments, normalization.RunningStats, adaptation.AseboState):
        _try(named, cls, serialized_name=f"esmaml_jax.{cls.__qualname__}")
    # MetaState is a flax struct dataclass without static fields: no auxiliary data
    _try(jax.export.register_pytree_node_serialization, MetaState,
         serialized_name="esmaml_jax.MetaState", serialize_auxdata=lambda aux: b"",
         deserialize_auxdata=lambda data: ())
