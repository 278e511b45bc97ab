"""Picking a perturbation chunk size that fits the device (`esmaml train` does this by default).

The fused meta-step keeps no trajectories: each rollout's live memory is its environment state
(the scan carry), its observation-statistics accumulators and its parameter vector, so the
program's buffers grow linearly with the number of rollouts in flight. When they would not fit,
the perturbation axis is processed in chunks inside the same program (``zero_order(chunk_size=)``,
same numbers as unchunked). The decision has two stages so that the common case costs nothing:

1. a cheap upper estimate from shapes alone (``jax.eval_shape``, no compilation);
2. only if that estimate comes near the budget: XLA's own buffer sizes of the compiled meta-step
   (``compiled.memory_analysis()``), from which the chunk size is derived and then checked.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import jax
import numpy as np

from esmaml_jax import compiler
from esmaml_jax.app import multihost, registry
from esmaml_jax.app.build import Built, build

# Bytes in flight per rollout = SAFETY * (env state + parameter vector). Measured here: XLA's
# buffers were 0.7 MB for 6,300 four_corners rollouts and 2.4 MB for 480 halfcheetah ones, under
# 2x and 3x of the bare state + parameter bytes; 8 leaves room for other envs and backends.
SAFETY = 8


def available_bytes(device=None) -> int:
    """Free memory of ``device`` (default: the first local one): the accelerator's limit minus
    what is in use, or the host's available RAM on CPU."""
    device = device or jax.local_devices()[0]
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - backends without memory stats
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _size(n: float) -> str:
    """Human-readable byte count."""
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.1f} kB"


def tree_bytes(tree) -> int:
    """Bytes of the arrays (or shape structs) in ``tree``."""
    return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def estimate_bytes(rollouts: int, state_bytes: int, num_params: int) -> int:
    """Cheap upper estimate of the meta-step's buffers from shapes alone."""
    return SAFETY * rollouts * (state_bytes + 4 * num_params)


def compiled_bytes(compiled) -> int | None:
    """XLA's temp + argument + output buffer bytes of a compiled program (None if unknown)."""
    mem = compiled.memory_analysis()
    if mem is None:
        return None
    return int(mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes)


def pick_chunk_size(num_perturbations: int, program_bytes: Callable[[int | None], int | None],
                    budget: int, *, estimate: int | None = None) -> tuple[int | None, str]:
    """The largest perturbation chunk whose program fits in ``budget`` bytes.

    ``program_bytes(chunk)`` compiles the meta-step with that chunk size (None: whole axis) and
    returns its buffer bytes. Returns (chunk or None for the whole axis, a one-line reason).
    """
    if estimate is not None and estimate <= budget:
        return None, (f"estimated {_size(estimate)} of {_size(budget)}: whole "
                      f"perturbation axis at once")
    full = program_bytes(None)
    if full is None or full <= budget:
        what = "unknown" if full is None else _size(full)
        return None, f"the step needs {what} of {_size(budget)}: whole axis at once"
    # Buffers grow linearly in the chunk: bytes(c) = fixed + per * c. The first guess bounds
    # per by full / P; each compiled guess then refines the line through it and the whole axis.
    chunk = max(1, min(num_perturbations - 1, math.floor(budget / full * num_perturbations)))
    for _ in range(4):
        got = program_bytes(chunk)
        if got is None or got <= budget or chunk == 1:
            break
        per = (full - got) / (num_perturbations - chunk)
        fixed = got - per * chunk
        nxt = math.floor((budget - fixed) / per) if per > 0 else 0
        chunk = max(1, min(chunk - 1, nxt))
    else:
        got = program_bytes(chunk)
    what = "unknown" if got is None else _size(got)
    verdict = "" if got is None or got <= budget else " (still over the budget)"
    return chunk, (f"the whole axis needs {_size(full)} of {_size(budget)}: "
                   f"chunks of {chunk} perturbations need {what}{verdict}")


def _fit_memory(built: Built, state, mesh, budget: int):
    """(chunk size or None, reason) for the zero-order step under ``budget`` bytes."""
    family, algo = built.family, built.algorithm
    key = jax.random.PRNGKey(0)
    state_bytes = 0
    if hasattr(family, "env"):  # RL: one rollout's scan carry is its env state
        tasks = jax.eval_shape(lambda k: algo.objective.sample_train_tasks(k, 1), key)
        reset = lambda k, t: family.env.reset_task(k, jax.tree.map(lambda x: x[0], t))
        state_bytes = tree_bytes(jax.eval_shape(reset, key, tasks))
    estimate = estimate_bytes(algo.rollouts_per_step, state_bytes, state.params.shape[0])
    alg = built.config.component("algorithm")
    perturbations = alg.options[registry.algorithm(alg.name).axis_setting]

    def program_bytes(chunk):
        return compiled_bytes(compiler.jit(chunked(built, chunk, mesh).algorithm.step)
                                     .lower(state, key).compile())

    return pick_chunk_size(perturbations, program_bytes, budget, estimate=estimate)


def chunked(built: Built, chunk: int | None, mesh) -> Built:
    """``built`` with the perturbation axis in chunks of ``chunk`` (same family object)."""
    setting = registry.algorithm(built.config.component("algorithm").name).chunk_setting
    return build(built.config.set(f"algorithm.{setting}", chunk), mesh, family=built.family)


def fit_or_refuse(built: Built, state, mesh, memory_budget, seeds: int = 1):
    """(built, note): the perturbation axis chunked when the step would not fit in memory; a
    one-line refusal, naming the flags that help, when even chunks of one would not fit.
    ``state``: one seed's; ``seeds`` of them run side by side, so each gets 1/seeds of it."""
    alg = built.config.component("algorithm")
    chunk_setting = registry.algorithm(alg.name).chunk_setting
    if chunk_setting is None or alg.options[chunk_setting] is not None:
        return built, None
    budget = memory_budget if memory_budget is not None else available_bytes() // 2
    budget //= seeds
    try:
        chunk_size, note = _fit_memory(built, state, mesh, budget)
    except Exception as e:  # noqa: BLE001 - XLA cannot even size the program
        first = str(e).splitlines()[0][:160] if str(e) else ""
        raise ValueError(f"the meta-step cannot be built at this size ({type(e).__name__}: "
                         f"{first}); lower -P, -K, -T or --horizon") from None
    if "still over the budget" in note:
        raise ValueError(f"the meta-step does not fit in memory even one perturbation at a time "
                         f"({note}); lower -P, -K, -T or --horizon, or raise --memory-budget-mb")
    # every process must compile the same program: process 0's choice holds
    chunk_size = multihost.from_primary(chunk_size or 0) or None
    if chunk_size is not None:
        built = chunked(built, chunk_size, mesh)
    return built, note
