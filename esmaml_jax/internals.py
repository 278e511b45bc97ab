"""The one door to JAX internals, and the public path taken when it does not open.

JAX documents ``jax.extend``, ``jax.interpreters`` and ``jax._src`` as having no compatibility
guarantee. The library uses them in one feature only, the flat rollout batch
(`esmaml_jax.batching.flat_vmap` with the batch-last layout of `esmaml_jax.batch_last`): a speed
trick for CPUs that computes the same values as plain nested ``jax.vmap``. Every use:

=========================================================  =======================================
internal (where)                                           public replacement (what we fall to)
=========================================================  =======================================
``jax.extend.core.Primitive``, ``jaxpr_as_fun``            nested ``jax.vmap`` of the rollout
(batching.py: the ``esmaml_flat_batch`` primitive)         (the same per-rollout operations)
``jax.interpreters.batching.primitive_batchers``           ``jax.vmap``'s own batching
(batching.py: the primitive's batching rule)
``jax.interpreters.mlir.register_lowering`` / ``lower_fun``  ``jax.jit``'s own lowering
and ``ctx.module_context.lowering_parameters.for_export``
(batching.py: per-platform lowering, export detection)
``jax.core.ShapedArray`` (batching.py: abstract eval)      ``jax.ShapeDtypeStruct``
``jax.extend.core`` Jaxpr / ClosedJaxpr / Literal /        none needed: XLA's own layout
DropVar / ``jaxprs_in_params`` (batch_last.py: the         (``jax.vmap``)
jaxpr interpreter that lays a rollout out batch-last)
``jax.experimental.layout.with_layout_constraint``         none needed
(batch_last.py)
=========================================================  =======================================

Fail-soft: `flat_vmap` imports that machinery and runs a tiny self-test (a flat batch under
two vmaps and ``jit``, compared with plain ``vmap``) the first time it is asked. If the import
or the self-test fails (a JAX release that moved or changed an internal), or if the environment
says ``ESMAML_JAX_INTERNALS=0``, it warns once and returns the rollout function itself, so the
algorithms batch it with plain ``jax.vmap``: the same numbers up to float rounding, slower on a
CPU for MLP and Brax rollouts (the batch-last gains measured in the README), no change on a
GPU/TPU. tests/test_internals.py forces both fallbacks.

Outside the library's default path, `esmaml_jax.batching.record_batches` / ``layout`` (used by
``esmaml bench`` and one reproduction script) import the same module directly.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import Any

ENV = "ESMAML_JAX_INTERNALS"


@functools.cache
def _batching() -> Any | None:
    """The flat-batch module if it imports and passes its self-test here, else None (warned)."""
    if os.environ.get(ENV, "1") == "0":
        warnings.warn(f"{ENV}=0: rollouts are batched with plain jax.vmap (no JAX internals)",
                      stacklevel=3)
        return None
    import jax

    try:
        from esmaml_jax import batching

        f = lambda shared, x: jax.numpy.tanh(x @ shared) * 2.0
        flat = batching.flat_vmap(f)
        w = jax.numpy.linspace(-1.0, 1.0, 6).reshape(3, 2)
        x = jax.numpy.linspace(0.0, 1.0, 2 * 4 * 3).reshape(2, 4, 3)
        nested = lambda g: jax.jit(jax.vmap(jax.vmap(g, (None, 0)), (None, 0)))(w, x)
        if not bool(jax.numpy.allclose(nested(flat), nested(f), atol=1e-6)):
            raise RuntimeError("the flat batch computed other values than jax.vmap")
    except Exception as e:  # any failure of the internals: the public path, said once
        warnings.warn(f"esmaml_jax: the flat rollout batch needs JAX internals that this JAX "
                      f"({jax.__version__}) does not provide as expected ({type(e).__name__}: "
                      f"{str(e)[:200]}); rollouts are batched with plain jax.vmap instead (same "
                      f"values up to rounding, slower on a CPU). See esmaml_jax/internals.py.",
                      stacklevel=3)
        return None
    return batching


def flat_vmap(fn: Callable[[Any, Any], Any], *, batch_last: bool = True) -> Callable:
    """`esmaml_jax.batching.flat_vmap(fn)` where the JAX internals it needs work, else ``fn``
    itself (the caller's vmaps batch it: the public path)."""
    batching = _batching()
    if batching is None:
        return fn
    return batching.flat_vmap(fn, batch_last=batch_last)


def available() -> bool:
    """Whether the flat rollout batch (JAX internals) is in use in this process."""
    return _batching() is not None
