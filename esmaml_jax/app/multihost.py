"""Several processes, one training (jax.distributed): who writes, and the decisions every process
must take together.

All processes run the same host loop and every computation on the global arrays (a collective
program must be entered by all of them); only process 0 writes the run directory, prints and
draws the progress bar; orbax checkpoints are saved and restored by all processes together.
Decisions that could differ between processes (the run directory accepted, the chunk size that
fits memory, stopping on a signal) are taken on process 0's values or on all processes' votes.
"""

from __future__ import annotations

import jax
import numpy as np


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, timeout_s: int = 300) -> None:
    """jax.distributed.initialize with CPU collectives (gloo) available; without arguments it
    auto-detects the cluster (SLURM, Cloud TPU, ...), as jax does."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if coordinator is None:
        jax.distributed.initialize(initialization_timeout=timeout_s)
    else:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id, initialization_timeout=timeout_s)


def is_primary() -> bool:
    return jax.process_index() == 0


def several() -> bool:
    return jax.process_count() > 1


def from_primary(value: int) -> int:
    """Process 0's ``value`` on every process (an int; identity with one process)."""
    if not several():
        return value
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.int32(value)))


def any_process(flag: bool) -> bool:
    """True on every process if ``flag`` is True on any (identity with one process)."""
    if not several():
        return flag
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.array(flag, np.int32))))
