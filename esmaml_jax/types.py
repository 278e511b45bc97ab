"""Shared type aliases."""

from __future__ import annotations

from typing import Any

import jax

Array = jax.Array
Key = jax.Array  # a PRNG key
Params = jax.Array  # a FLAT parameter vector [D]; pytrees are flattened once at the boundary
Task = Any  # pytree of arrays describing one task (batched: leading axis)
PyTree = Any
