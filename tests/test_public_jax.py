"""The library runs on public JAX only, so it holds under a user's transformations, on other
platforms and on the next JAX (issue 33 items 1, 2, 6; issue 34 item 1).

- no module of the package or of envs/ imports ``jax._src``, ``jax.extend`` or
  ``jax.interpreters`` (JAX keeps no compatibility promise for those);
- the default meta-step (four corners, MLP(32), es_gradient) lowers through ``jax.export`` for
  CUDA and TPU with no custom call and no float64, and the CPU export runs and agrees;
- a user's ``jax.shard_map`` around the jitted meta-step works and computes what ``jax.vmap``
  computes (the old jaxpr interpreter broke it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import esmaml_jax as ej

ROOT = Path(__file__).resolve().parents[1]


def test_no_jax_internals_are_imported_anywhere():
    pattern = re.compile(r"jax\._src|jax\.extend|jax\.interpreters|from jax import core\b")
    hits = [f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
            for folder in ("esmaml_jax", "envs")
            for path in sorted((ROOT / folder).rglob("*.py"))
            for i, line in enumerate(path.read_text().splitlines(), 1)
            if pattern.search(line) and not line.lstrip().startswith("#")]
    assert hits == []


def _step(policy="mlp", num_perturbations=4, num_queries=4, horizon=10):
    fam = envs.make("four_corners")
    pol = getattr(ej.policies, policy)(fam.observation_size, fam.action_size)
    obj = ej.rl_objective(fam, pol, horizon=horizon)
    algo = ej.zero_order(obj, ej.adaptation.es_gradient(num_queries=num_queries),
                         num_perturbations=num_perturbations)
    return algo, algo.init(jax.random.PRNGKey(0))


def test_the_meta_step_exports_for_accelerators_without_custom_calls_or_float64():
    from jax import export

    algo, state = _step()
    key = jax.random.PRNGKey(1)
    step = jax.jit(algo.step)
    for platform in ("cuda", "tpu"):
        text = export.export(step, platforms=[platform])(state, key).mlir_module()
        assert "stablehlo.custom_call" not in text, platform
        assert not re.search(r"\bf64\b", text), platform
    exported = export.export(step, platforms=["cpu"])(state, key)
    got, want = exported.call(state, key), step(state, key)
    np.testing.assert_allclose(got[0].params, want[0].params, rtol=0, atol=1e-6)


SHARD_MAP = """
import jax, numpy as np
from jax.sharding import Mesh, PartitionSpec as P
from test_public_jax import _step
for policy in ("linear", "mlp"):  # every built-in policy
    algo, state = _step(policy)
    seeds = 4
    states = jax.vmap(algo.init)(jax.random.split(jax.random.PRNGKey(0), seeds))
    keys = jax.random.split(jax.random.PRNGKey(1), seeds)
    mesh = Mesh(np.array(jax.devices()), ("seeds",))
    sharded = jax.jit(jax.shard_map(jax.vmap(algo.step), mesh=mesh, in_specs=P("seeds"),
                                    out_specs=P("seeds")))
    a, _ = sharded(states, keys)
    b, _ = jax.jit(jax.vmap(algo.step))(states, keys)
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-6)
    moved = float(np.abs(a.params - states.params).max())
    assert moved > 0, policy  # the step moved the parameters
print("ok", len(jax.devices()), moved)
"""


def test_a_users_shard_map_around_the_meta_step_works():
    """Issue 34 item 1, in a fresh process with 4 CPU devices (one seed each)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent),
           "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    proc = subprocess.run([sys.executable, "-c", SHARD_MAP], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = proc.stdout.strip().splitlines()[-1].split()
    assert line[:2] == ["ok", "4"] and float(line[2]) > 0  # the step moved the parameters


def test_a_flat_batch_is_the_vmap_of_single_queries():
    """`Objective.evaluate_batch` (one scan around one vmap of the env step, the batch-last
    MLP on a CPU) means ``jax.vmap`` of ``evaluate``: same returns and statistics."""
    algo, state = _step(horizon=30)
    obj = algo.objective
    n = 7
    keys = jax.random.split(jax.random.PRNGKey(2), n)
    params = state.params + 0.5 * jax.random.normal(jax.random.PRNGKey(3), (n, obj.num_params))
    tasks = obj.sample_train_tasks(jax.random.PRNGKey(4), n)
    norm = obj.init_norm()
    flat = jax.jit(obj.evaluate_batch)(keys, params, tasks, norm)
    one = jax.jit(jax.vmap(obj.evaluate, (0, 0, 0, None)))(keys, params, tasks, norm)
    for a, b in zip(jax.tree.leaves(flat), jax.tree.leaves(one), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    assert len(set(np.asarray(flat[0]).tolist())) > 1  # distinct policies, distinct returns
    assert jnp.all(jnp.isfinite(flat[0]))


def test_the_meta_step_serializes_and_runs_back_without_user_registration():
    """Issue 34 item 2: jax.export's serialize / deserialize round trip of the meta-step, with
    the default optimizer, Adam, and an operator with state (ASEBO), no registration by the
    user; the deserialized program computes what the step computes."""
    import optax
    from jax import export

    fam = envs.make("four_corners")
    obj = ej.rl_objective(fam, ej.policies.linear(2, 2), horizon=10)
    for op, opt in ((ej.adaptation.es_gradient(num_queries=4), None),
                    (ej.adaptation.asebo(num_queries=4), optax.adam(1e-3))):
        algo = ej.zero_order(obj, op, num_perturbations=4, optimizer=opt)
        state, key = algo.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1)
        step = jax.jit(algo.step)
        blob = export.export(step, platforms=["cpu"])(state, key).serialize()
        back = export.deserialize(blob)
        got, want = back.call(state, key), step(state, key)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def _accelerator_text(fn, *args) -> dict:
    from jax import export

    return {p: export.export(jax.jit(fn), platforms=[p])(*args).mlir_module()
            for p in ("cuda", "tpu")}


@pytest.mark.slow
def test_brax_pg_maml_and_many_seed_steps_export_for_accelerators_cleanly():
    """Issue 34 deliver 2: a Brax meta-step, a PG-MAML step and a 4-seed step lower for CUDA
    and TPU with no custom call, no host callback and no float64."""
    fam = envs.make("halfcheetah_forward_backward")
    brax = ej.zero_order(ej.rl_objective(fam, ej.policies.linear(fam.observation_size,
                                                                  fam.action_size), horizon=5),
                         ej.adaptation.es_gradient(num_queries=2), num_perturbations=2)
    corners = envs.make("four_corners")
    pg = ej.pg_maml(corners, ej.policies.linear(2, 2), horizon=5, num_tasks=2, num_queries=2)
    seeds, _ = _step()
    cases = {
        "brax": (brax.step, brax.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1)),
        "pg_maml": (pg.step, pg.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1)),
        "seeds_4": (jax.vmap(seeds.step),
                    jax.vmap(seeds.init)(jax.random.split(jax.random.PRNGKey(0), 4)),
                    jax.random.split(jax.random.PRNGKey(1), 4)),
    }
    for name, (fn, *args) in cases.items():
        for platform, text in _accelerator_text(fn, *args).items():
            where = f"{name} on {platform}"
            assert "stablehlo.custom_call" not in text, where
            assert "callback" not in text.lower(), where
            assert not re.search(r"\bf64\b", text), where


@pytest.mark.slow
def test_the_device_report_runs_at_tiny_sizes():
    """Issue 34 deliver 2: `python -m benchmarks.device` on whatever device there is (here a
    CPU), every case and seed count measured and finite."""
    from benchmarks import device

    out = device.main(["--tiny"])
    assert set(out["cases"]) == {"four_corners_linear", "four_corners_mlp32",
                                 "halfcheetah_forward_backward"}
    assert [r["seeds"] for r in out["cases"]["four_corners_mlp32"]] == [1, 2]
    for rows in out["cases"].values():
        for r in rows:
            assert r["step_ms"] > 0 and r["env_steps_per_s"] > 0 and r["compile_s"] > 0
