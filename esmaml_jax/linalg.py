"""Dense linear algebra that cannot hang a multi-device CPU program.

On a CPU, jaxlib's LAPACK kernels (``jnp.linalg.solve``, ``eigh``, ``qr``, ``svd``/``lstsq``,
``cho_factor``/``cho_solve``) split a *batch* of matrices into tasks on XLA's intra-op thread
pool, one pool per process with one thread per core, and block until the tasks are done. When a
program runs on several host devices (``--xla_force_host_platform_device_count`` / sharding), each
device runs its part on a thread of that same pool: with as many devices as pool threads, every
thread can end up inside a batched LAPACK kernel, each waiting for tasks that no free thread is
left to run, and the process hangs with 0% CPU (issue 32: ``esmaml train --adaptation rbo`` and
``dpp_es`` on 2 devices on a 2-core machine; a native stack shows both pool threads in
``lapack_sgetrf_ffi -> jax::ParallelBatchMap`` waiting). It is not a race: it happens on every
run where the batched kernels of two devices overlap.

The wrappers here give each matrix its own kernel call on a CPU
(``jax.custom_batching.sequential_vmap``: under ``vmap`` the call becomes a loop over the batch,
one LAPACK call of batch size 1 each, which runs inline and never waits on the pool), and the
plain batched call on every other platform (``jax.lax.platform_dependent`` decides per lowering,
so an export for a GPU/TPU gets the batched kernels). Same LAPACK routine per matrix, so the
numbers are the batched call's. Public JAX only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

Array = Any


def _per_matrix_on_cpu(fn: Callable) -> Callable:
    """``fn`` with every matrix of a vmapped batch in its own call on a CPU, batched elsewhere."""
    one_at_a_time = jax.custom_batching.sequential_vmap(fn)

    def call(*args):
        return jax.lax.platform_dependent(*args, cpu=one_at_a_time, default=fn)

    return call


solve = _per_matrix_on_cpu(lambda a, b: jnp.linalg.solve(a, b))
eigh = _per_matrix_on_cpu(lambda a: tuple(jnp.linalg.eigh(a)))
qr = _per_matrix_on_cpu(lambda a: tuple(jnp.linalg.qr(a)))
lstsq_solution = _per_matrix_on_cpu(lambda a, b: jnp.linalg.lstsq(a, b)[0])
spectral_norm = _per_matrix_on_cpu(lambda a: jnp.linalg.norm(a, ord=2))
cho_factor = _per_matrix_on_cpu(lambda a: jsl.cho_factor(a)[0])  # upper, as jsl's default
cho_solve = _per_matrix_on_cpu(lambda c, b: jsl.cho_solve((c, False), b))  # c from cho_factor
