"""Host (CPU) devices: how many this process presents, and when a run shards over them.

One device is the default: on a CPU the cores are already used by XLA's own threads, and the
repo's cores table (`benchmarks/results/cores.json`, `python -m benchmarks.cores`, interleaved
rounds; docs/performance.md renders it) shows the small default step slower when sharded while
large Brax steps gain. Sharding changes the order of the final sums, so the numbers agree with
one device to about 1e-6, not bit for bit: config.json records the device count.

The count is set with JAX's public ``jax_num_cpu_devices`` option, never by rewriting the user's
``XLA_FLAGS`` (a device count given there is respected when ``--cpu-devices`` is not given). It
must be set before the first JAX computation of the process; afterwards the process keeps the
count it has.

API users: ``jax.config.update("jax_num_cpu_devices", n)`` right after ``import jax``, then pass
``mesh=jax.sharding.Mesh(jax.devices(), ("p",))`` to `esmaml_jax.zero_order`.
"""

from __future__ import annotations

import os
import re

# Measured on a 2-core host (`esmaml train --cpu-devices N --steps 1 -P N -K 2 --horizon 5`):
# 8, 32, 128 and 256 devices run (14-21 s); 1000 hung in XLA's CPU rendezvous ("Expected 1000
# threads to join") and aborted after 96 s (issue 35).
MAX_CPU_DEVICES = 256


def cpu_devices(n: int | str | None) -> int:
    """Present ``n`` host (CPU) devices ("auto": one per core; None: leave JAX's own count,
    which honours a user's ``XLA_FLAGS=--xla_force_host_platform_device_count``). Returns the
    count JAX will show on CPU; if JAX has already started in this process the current count
    stays (a fresh process is needed) and is returned."""
    import jax

    if n is None:
        started = _started_count()
        return (_count_from_flags() or 1) if started is None else started
    if n == "auto":
        n = os.cpu_count() or 1
    n = int(n)
    if n < 1:
        raise ValueError(f"--cpu-devices must be >= 1 or 'auto', got {n}")
    if n > MAX_CPU_DEVICES:
        raise ValueError(f"--cpu-devices {n}: at most {MAX_CPU_DEVICES} (XLA's CPU collectives "
                         f"ran 256 devices on a 2-core host and hung at 1000)")
    started = _started_count()
    if started is not None:  # the backend has started: the process keeps its devices
        return started or n
    from_flags = _count_from_flags()
    if from_flags is not None and from_flags != n:
        raise ValueError(f"--cpu-devices {n} conflicts with XLA_FLAGS "
                         f"--xla_force_host_platform_device_count={from_flags}: drop one of them")
    jax.config.update("jax_num_cpu_devices", n)
    return n


def _started_count() -> int | None:
    """The CPU device count of a started backend, without starting one; None if JAX has not
    started. Public API only: JAX refuses to change ``jax_num_cpu_devices`` once a backend has
    started, so a change that is accepted (and at once undone) shows it has not."""
    import jax

    current = int(jax.config.jax_num_cpu_devices)  # type: ignore[attr-defined]
    try:
        jax.config.update("jax_num_cpu_devices", current + 2)
    except RuntimeError:
        return jax.local_device_count("cpu") if jax.default_backend() == "cpu" else 0
    jax.config.update("jax_num_cpu_devices", current)
    return None


def _count_from_flags() -> int | None:
    """The host device count the user's XLA_FLAGS asks for (the last one given), or None."""
    found = re.findall(r"--xla_force_host_platform_device_count=(\d+)",
                       os.environ.get("XLA_FLAGS", ""))
    return int(found[-1]) if found else None


def auto_shard(built) -> bool:
    """Whether the default ``--cpu-devices auto`` shards this run: on a CPU backend with more
    than one device, for zero_order (the algorithm with a perturbation axis), one seed, and P a
    multiple of the device count (an even split)."""
    import jax

    if jax.default_backend() != "cpu" or jax.device_count() < 2 or jax.process_count() > 1:
        return False
    from esmaml_jax.app import registry

    alg = built.config.component("algorithm")
    axis = registry.algorithm(alg.name).axis_setting
    if axis is None or built.run.seeds > 1:
        return False
    return int(alg.options[axis]) % jax.device_count() == 0
