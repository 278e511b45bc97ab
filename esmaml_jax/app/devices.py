"""Use every CPU core: present one host device per core and shard the perturbation axis.

`cpu_devices(n)` must run before the first JAX computation of the process (XLA reads the flag
when its CPU backend starts); `esmaml train` calls it first (default "auto": one device per
core) and `auto_shard` then decides whether the run shards. Measured here
(`benchmarks/results/cores.json`: 2 cores, one process per measurement, interleaved rounds, XLA
options of `esmaml_jax.compiler`): halfcheetah forward-backward (P 10, K 5, H 100) 714.6 ms
per meta-step on one pinned core, 723.8 on one device, 416.0 sharded over two (1.72x); four
corners MLP(32) (P 150, K 20) 39.7 / 23.4 (XLA's own threads use the second core) / 18.6 ms
(2.13x); four corners linear 1.8 / 1.8 / 2.0 ms (a step that small does not split).
Sharding changes the order of the final sums, so the numbers agree with one device to about
1e-6, not bit for bit: the device count is part of what makes a run reproducible, and
config.json records it.

API users: call ``cpu_devices("auto")`` before anything touches JAX, then pass
``mesh=jax.sharding.Mesh(jax.devices(), ("p",))`` to `esmaml_jax.zero_order`.
"""

from __future__ import annotations

import os
import re


def backend_started() -> bool:
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge._backends)
    except (ImportError, AttributeError):  # private API moved: assume started, change nothing
        return True


def cpu_devices(n: int | str) -> int:
    """Present ``n`` host (CPU) devices ("auto": one per core). Returns the count JAX will show
    on CPU; if JAX has already started in this process the current count stays (a fresh
    process is needed) and is returned."""
    if n == "auto":
        n = os.cpu_count() or 1
    n = int(n)
    if n < 1:
        raise ValueError(f"--cpu-devices must be >= 1 or 'auto', got {n}")
    if backend_started():
        import jax

        return jax.local_device_count("cpu") if jax.default_backend() == "cpu" else n
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "",
                   os.environ.get("XLA_FLAGS", "")).strip()
    if n > 1:
        flags = f"{flags} --xla_force_host_platform_device_count={n}".strip()
    os.environ["XLA_FLAGS"] = flags
    return n


def auto_shard(built) -> bool:
    """Whether the default ``--cpu-devices auto`` shards this run: on a CPU backend with more
    than one device, for zero_order (the algorithm with a perturbation axis), one seed, and P a
    multiple of the device count (an even split)."""
    import jax

    if jax.default_backend() != "cpu" or jax.device_count() < 2 or jax.process_count() > 1:
        return False
    alg = built.config.component("algorithm")
    if alg.name != "zero_order" or built.run.seeds > 1:
        return False
    return int(alg.options["num_perturbations"]) % jax.device_count() == 0
