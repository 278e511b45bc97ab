"""ES-MAML algorithms: zero-order (Alg. 2/3)."""

from esmaml_jax.algorithms.base import Algorithm, MetaState
from esmaml_jax.algorithms.zero_order import zero_order

__all__ = ["Algorithm", "MetaState", "zero_order"]
