"""The public surface: bring-your-own policy/objective, sweeps in one program, examples, docs."""

import re
import subprocess
import sys
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from brax.envs.base import State

import envs
import esmaml_jax as ej

ROOT = Path(__file__).resolve().parents[1]


class UserMLP(nn.Module):
    """A user's own module with the built-in mlp's shape and initialisation."""

    @nn.compact
    def __call__(self, obs):
        x = jnp.tanh(nn.Dense(8)(obs))
        return jnp.tanh(nn.Dense(2, kernel_init=nn.initializers.zeros)(x))


def _algo(policy, **kw):
    fam = envs.make("four_corners", horizon=10)
    return ej.zero_order(ej.rl_objective(fam, policy), ej.adaptation.es_gradient(num_queries=4),
                         num_perturbations=4, **kw)


@pytest.mark.slow
def test_custom_flax_policy_gives_the_builtin_numbers():
    builtin = _algo(ej.policies.mlp(2, 2, (8,)))
    custom_policy = ej.policies.from_flax(UserMLP(), 2)
    custom = _algo(custom_policy)
    run = lambda algo: jax.jit(lambda s, ks: jax.lax.scan(algo.step, s, ks))(
        algo.init(jax.random.PRNGKey(0)), jax.random.split(jax.random.PRNGKey(1), 3))
    a, _ = run(builtin)
    b, _ = run(custom)
    # On a CPU the built-in MLP runs batch-last (`policies.bind_many`), the user's module under
    # jax.vmap: the same arithmetic, rounded differently (measured 6e-8 after these 3 steps).
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-5)
    # ... and the user gets their module's pytree back.
    variables = custom_policy.unravel(b.params)
    assert set(variables["params"]) == {"Dense_0", "Dense_1"}
    np.testing.assert_allclose(UserMLP().apply(variables, jnp.ones(2)),
                               custom_policy.apply(b.params, jnp.ones(2)))


@pytest.mark.slow
def test_vmap_over_seed_and_sigma_equals_separate_runs():
    algo = _algo(ej.policies.linear(2, 2))
    seeds = jnp.array([0, 1])
    sigmas = jnp.array([0.05, 0.2])

    def run(seed, sigma):
        state = algo.init(jax.random.PRNGKey(seed))
        state = state.replace(hparams={**state.hparams, "sigma": sigma})
        state, _ = jax.lax.scan(algo.step, state, jax.random.split(jax.random.PRNGKey(seed), 2))
        return state.params

    grid = jax.jit(jax.vmap(jax.vmap(run, (None, 0)), (0, None)))(seeds, sigmas)
    for i, seed in enumerate(seeds.tolist()):
        for j, sigma in enumerate(sigmas.tolist()):
            # A separate run built with that sigma from the start.
            other = _algo(ej.policies.linear(2, 2), sigma=sigma)
            state = other.init(jax.random.PRNGKey(seed))
            state, _ = jax.jit(lambda s, ks, o=other: jax.lax.scan(o.step, s, ks))(
                state, jax.random.split(jax.random.PRNGKey(seed), 2))
            np.testing.assert_allclose(grid[i, j], state.params, rtol=1e-5, atol=1e-6)
    assert not np.allclose(grid[0, 0], grid[0, 1])  # sigma really changed the run


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_example_runs(example, tmp_path):
    args = [sys.executable, str(ROOT / "examples" / example), "--tiny"]
    if example == "export_policy.py":
        args += ["--out", str(tmp_path / "p.npy")]
    if example == "sweep.py":
        args += ["--plot", str(tmp_path / "sweep.png")]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip()
    if example == "sweep.py":
        assert "compiled 1 time(s)" in out.stdout


def test_readme_api_section_lists_the_public_surface():
    readme = (ROOT / "docs" / "library.md").read_text()
    section = readme.split("## API", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`esmaml_jax\.([A-Za-z]\w*)", section)) - {"__all__"}
    assert listed == set(ej.__all__), (listed ^ set(ej.__all__))


def test_public_functions_have_docstrings():
    missing = []
    for name in ej.__all__:
        obj = getattr(ej, name)
        if callable(obj) and not (obj.__doc__ or "").strip():
            missing.append(name)
        if hasattr(obj, "__all__") or type(obj).__name__ == "module":
            for sub in dir(obj):
                f = getattr(obj, sub)
                if (not sub.startswith("_") and callable(f)
                        and getattr(f, "__module__", "") == obj.__name__
                        and not (f.__doc__ or "").strip()):
                    missing.append(f"{name}.{sub}")
    assert not missing, missing


def test_reference_policy_init_matches_the_authors_policy():
    # DeterministicNumpyPolicy: ReLU hidden, tanh output, all weights N(0, 2 / O), zero biases.
    obs_size, act_size = 4, 2
    policy = ej.policies.mlp(obs_size, act_size, (64,), init="reference")
    params = policy.init(jax.random.PRNGKey(0))
    tree = policy.unravel(params)["params"]
    for layer in ("Dense_0", "Dense_1"):
        w, b = np.asarray(tree[layer]["kernel"]), np.asarray(tree[layer]["bias"])
        assert np.all(b == 0)
        np.testing.assert_allclose(w.std(), np.sqrt(2.0 / obs_size), rtol=0.1)
    obs = jnp.array([0.5, -1.0, 2.0, 0.1])
    w0, w1 = tree["Dense_0"]["kernel"], tree["Dense_1"]["kernel"]
    np.testing.assert_allclose(policy.apply(params, obs),
                               jnp.tanh(jnp.maximum(obs @ w0, 0.0) @ w1), rtol=1e-5)
    zero = ej.policies.linear(obs_size, act_size)
    assert float(jnp.abs(zero.apply(zero.init(jax.random.PRNGKey(0)), obs)).max()) == 0.0
    with pytest.raises(ValueError, match="policy init"):
        ej.policies.linear(obs_size, act_size, init="xavier")


def test_a_factory_taking_keywords_gets_every_override():
    """Issue 34 item 5: ``register`` promises ``factory(**overrides)``; a ``**kw`` factory used
    to be refused every option."""
    import envs

    envs.register("my_corners", lambda **kw: envs.make("four_corners", **kw))
    try:
        assert envs.make("my_corners", horizon=20).horizon == 20
    finally:
        envs._REGISTRY.pop("my_corners")


X64 = """
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np
import esmaml_jax as ej
ad = ej.adaptation
ops = [ad.es_gradient(), ad.hill_climb(), ad.rbo(), ad.asebo(), ad.dpp_es()]
obj = ej.blackbox_objective(lambda p, t, k: -jnp.sum((p - t) ** 2), jnp.zeros(3),
                            lambda k, n: jax.random.normal(k, (n, 3)))
for op in ops:
    hp = ej.zero_order(obj, op).init(jax.random.PRNGKey(0)).hparams
    assert all(x.dtype == jnp.float64 for x in jax.tree.leaves(hp)), (op.name, hp)
    assert float(hp["sigma"]) == 0.1, (op.name, float(hp["sigma"]))
print("X64-OK")
"""


def test_hyperparameters_follow_jax_default_float_under_x64():
    """Issue 34 item 3: under jax_enable_x64, sigma and alpha were float32 (0.10000000149)."""
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", X64], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert "X64-OK" in proc.stdout, proc.stderr[-3000:]


class BatchNormPolicy(nn.Module):
    """A flax policy with a collection besides "params" (BatchNorm's running statistics)."""

    @nn.compact
    def __call__(self, obs):
        x = nn.BatchNorm(use_running_average=True)(obs)
        return jnp.tanh(nn.Dense(2)(x))


def test_flax_collections_other_than_params_are_refused_in_one_line():
    """Issue 34 item 8: ES perturbs every number of the flat vector, so running statistics
    would be perturbed like weights; refused at construction, naming the collection."""
    with pytest.raises(ValueError, match=r"batch_stats") as err:
        ej.policies.from_flax(BatchNormPolicy(), 2)
    assert "\n" not in str(err.value)


class StockEnv(envs.base.TaskEnv):
    """A user's env that sets nothing but what the contract requires."""

    def reset_task(self, rng, task):
        zero = jnp.zeros(())
        return State(pipeline_state=None, obs=jnp.zeros(3), reward=zero, done=zero,
                     info={"task": task})

    def sample_tasks(self, key, num):
        return jnp.zeros((num,))

    def step(self, state, action):
        return state.replace(obs=state.obs + jnp.sum(action), reward=-jnp.sum(action**2))

    observation_size = 3
    action_size = 1


def test_a_users_env_gets_defaults_for_an_unknown_env():
    """Issue 34 item 9: a user env is not assumed cheap (no unrolled rollout loop), while the
    library's own point-mass and CartPole envs unroll by 2."""
    assert StockEnv().rollout_unroll == 1
    assert envs.make("four_corners").env.rollout_unroll == 2
    assert envs.make("biased_cartpole").env.rollout_unroll == 2


def test_a_policy_that_does_not_fit_the_env_is_a_one_line_error_at_construction():
    """Issue 34 item 9: the policy's input and output sizes are checked against the family's
    observation and action sizes when the objective is built, not deep inside a trace."""
    fam = envs.make("four_corners")  # observations 2, actions 2
    for policy, what in ((ej.policies.linear(3, 2), "observation"),
                         (ej.policies.linear(2, 5), "action")):
        with pytest.raises(ValueError, match=what) as err:
            ej.rl_objective(fam, policy)
        assert "\n" not in str(err.value)


USER_CODE = '''import esmaml_jax as ej
import envs

objective: ej.Objective = ej.rl_objective(envs.make("four_corners"), ej.policies.linear(2, 2))
size: int = objective.num_params
wrong: str = objective.num_params
'''


@pytest.mark.slow
def test_the_installed_package_type_checks_from_outside_the_checkout(tmp_path):
    """Issue 34 item 7: installed as the README says, the package is visible to mypy from a
    user's own folder (py.typed, and a path-based editable install that mypy can follow): the
    user's file checks, and its one deliberate type error is found."""
    (tmp_path / "user.py").write_text(USER_CODE)
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "user.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert "Cannot find implementation" not in proc.stdout, proc.stdout
    assert "missing library stubs" not in proc.stdout, proc.stdout
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and errors[0].startswith("user.py:6:"), proc.stdout
