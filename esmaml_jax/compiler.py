"""XLA compiler options that make these programs faster, and ``jit`` that applies them.

On a CPU, XLA (jaxlib 0.10) hands small reductions and elementwise fusions to the YNNPACK
library by default. ES-MAML's programs are thousands of rollouts of tiny per-step arithmetic
(a point mass, a 2 -> 32 -> 2 policy), where those library calls cost more than the work:
measured on four corners (P 150, K 20, H 100, 2-core CPU), the fused meta-step takes 5.1 ms with
them and 2.8 ms without (linear policy), 30 -> 19 ms with MLP(32); the bare rollouts 2.1 ->
0.8 ms. The option is passed per program (``jax.jit(..., compiler_options=...)``), so nothing
else in the process changes, and only where the installed XLA knows it (an unknown option is
checked once and dropped: this is an experimental XLA flag).

The price: without YNNPACK's reduce fusions, XLA:CPU keeps a broadcast-then-reduce expression's
whole intermediate in memory (``jnp.sum((x[:, None] - x[None]) ** 2, -1)`` holds [M, M, D]),
so code compiled with these options writes such sums as products (`estimators.rbf_kernel`;
``python -m benchmarks.dpp_kernel``).

API users get the same with ``esmaml_jax.jit(algo.step)`` or
``jax.jit(algo.step, compiler_options=esmaml_jax.compiler_options())``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax

# No YNNPACK library fusions (empty list of fusion types).
CPU_OPTIONS: dict[str, Any] = {"xla_cpu_experimental_ynn_fusion_type": ""}


@functools.cache
def _supported(backend: str) -> bool:
    if backend != "cpu":
        return False
    try:
        jax.jit(lambda x: x + 1, compiler_options=CPU_OPTIONS).lower(1.0).compile()
    except Exception:  # an XLA without the flag: INVALID_ARGUMENT "No such compile option"
        return False
    return True


def compiler_options(backend: str | None = None) -> dict[str, Any]:
    """The options for ``backend`` (default: JAX's default backend): `CPU_OPTIONS` on a CPU
    whose XLA knows them, else ``{}`` (GPU/TPU programs compile as JAX would)."""
    return dict(CPU_OPTIONS) if _supported(backend or jax.default_backend()) else {}


def jit(fn, **kwargs):
    """``jax.jit(fn, **kwargs)`` with `compiler_options` merged in (yours win on a clash)."""
    options = {**compiler_options(), **(kwargs.pop("compiler_options", None) or {})}
    return jax.jit(fn, compiler_options=options or None, **kwargs)
