"""JAX internals fail soft (issue 32): the flat rollout batch is the only user of them
(`esmaml_jax.internals`); when they are missing or switched off, the library warns once and
batches rollouts with plain jax.vmap, with the same numbers up to rounding."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys, warnings
    if sys.argv[1] == "broken":  # a JAX release that moved an internal we use
        import jax.interpreters.batching
        del jax.interpreters.batching.primitive_batchers
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import jax, numpy as np
        import envs, esmaml_jax as ej
        from esmaml_jax import internals
        fam = envs.make("four_corners", horizon=10)
        obj = ej.rl_objective(fam, ej.policies.mlp(2, 2, (8,)))
        algo = ej.zero_order(obj, ej.adaptation.es_gradient(num_queries=3), num_perturbations=4)
        state = algo.init(jax.random.PRNGKey(0))
        state, m = jax.jit(algo.step)(state, jax.random.PRNGKey(1))
        text = str(jax.make_jaxpr(algo.step)(state, jax.random.PRNGKey(2)))
    ours = [str(w.message) for w in caught if "jax.vmap" in str(w.message)]
    print(json.dumps({"params": np.asarray(state.params).tolist(), "warnings": ours,
                      "available": internals.available(),
                      "flat_primitive": "esmaml_flat_batch" in text}))
""")


def _run(mode):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    if mode == "off":
        env["ESMAML_JAX_INTERNALS"] = "0"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_missing_or_disabled_internals_fall_back_to_vmap_with_one_warning():
    import numpy as np

    normal = _run("normal")
    assert normal["available"] and normal["flat_primitive"] and not normal["warnings"]
    for mode in ("off", "broken"):
        fallback = _run(mode)
        assert not fallback["available"] and not fallback["flat_primitive"], mode
        assert len(fallback["warnings"]) == 1, fallback["warnings"]
        np.testing.assert_allclose(fallback["params"], normal["params"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("path", ["esmaml_jax", "envs"])
def test_the_default_path_imports_no_jax_internal_directly(path):
    """Only batching.py and batch_last.py (behind `internals`) touch jax.extend /
    jax.interpreters / jax._src."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / path
    allowed = {"batching.py", "batch_last.py", "internals.py"}
    found = [str(p) for p in root.rglob("*.py") if p.name not in allowed
             and any(s in p.read_text() for s in ("jax._src", "jax.extend", "jax.interpreters"))]
    assert not found
