"""Locomotion (Brax) and biased-sensor CartPole task families."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import esmaml_jax as ej
from envs.locomotion import BiasedCartPole

LOCOMOTION = [f"{r}_{k}" for r in ("halfcheetah", "ant", "walker2d", "swimmer")
              for k in ("forward_backward", "goal_velocity")] + ["ant_goal_position"]


def test_cartpole_step_matches_the_classic_equations():
    # From (x, x_dot, theta, theta_dot) = (0, 0, 0.1, 0) with force +10 N (action 1):
    # temp = (10 + 0.1*0.5*0*sin 0.1) / 1.1 = 9.0909
    # theta_acc = (9.8 sin 0.1 - cos 0.1 * 9.0909) / (0.5 (4/3 - 0.1 cos^2 0.1 / 1.1))
    #           = (0.978367 - 9.045492) / (0.5 * 1.243330) = -12.976640
    # x_acc = 9.090909 - 0.05 * (-12.976640) * cos 0.1 / 1.1 = 9.677810
    # Euler (dt 0.02): x 0, x_dot 0.193556, theta 0.1, theta_dot -0.259533.
    env = BiasedCartPole()
    s = env.reset_task(jax.random.PRNGKey(0), jnp.float32(0.0))
    s = s.replace(info=dict(s.info, phys=jnp.array([0.0, 0.0, 0.1, 0.0])))
    s = env.step(s, jnp.array([1.0]))
    np.testing.assert_allclose(s.info["phys"], [0.0, 0.193556, 0.1, -0.259533], atol=1e-5)
    assert float(s.reward) == 1.0 and float(s.done) == 0.0


def test_cartpole_bias_changes_only_the_observation():
    env = BiasedCartPole()
    key = jax.random.PRNGKey(3)
    a = env.reset_task(key, jnp.float32(0.0))
    b = env.reset_task(key, jnp.float32(math.pi / 18))
    for t in range(20):
        act = jnp.array([math.sin(t)])
        a, b = env.step(a, act), env.step(b, act)
    np.testing.assert_allclose(a.info["phys"], b.info["phys"])  # same dynamics
    np.testing.assert_allclose(b.obs - a.obs, [0, 0, math.pi / 18, 0], atol=1e-6)


def test_cartpole_falls_and_the_rollout_stops_counting():
    fam = envs.make("biased_cartpole", horizon=300)
    push = ej.policies.from_apply(lambda p, obs: p, jnp.array([1.0]))  # always full force
    obj = ej.rl_objective(fam, push, normalize_observations=False)
    value, _ = obj.evaluate(jax.random.PRNGKey(0), jnp.array([1.0]), jnp.float32(0.0),
                            ej.normalization.RunningStats.zeros(4))
    assert 5 <= float(value) < 100  # it falls within a second or two, then nothing counts


@pytest.fixture(scope="module")
def cheetah_fb():
    return envs.make("halfcheetah_forward_backward", horizon=3)


def test_forward_backward_reward_flips_with_direction(cheetah_fb):
    env = cheetah_fb.env
    before, after = jnp.zeros(3), jnp.array([0.1, 0.0, 0.0])
    zero = jnp.zeros(env.action_size)
    fwd = env.task_reward(jnp.float32(1.0), before, after, zero)
    bwd = env.task_reward(jnp.float32(-1.0), before, after, zero)
    assert float(fwd) > 0 and float(bwd) == pytest.approx(-float(fwd))
    np.testing.assert_allclose(fwd, 0.1 / env.base.dt, rtol=1e-6)
    # halfcheetah pays 0.05 |a|^2 whatever the direction.
    ones = jnp.ones(env.action_size)
    np.testing.assert_allclose(env.task_reward(jnp.float32(1.0), before, after, ones),
                               fwd - 0.05 * env.action_size, rtol=1e-6)


def test_goal_velocity_reward_peaks_at_target():
    env = envs.make("halfcheetah_goal_velocity", horizon=3).env
    dt, target = env.base.dt, jnp.float32(1.5)
    zero = jnp.zeros(env.action_size)
    speeds = jnp.linspace(0.0, 3.0, 31)
    r = jax.vmap(lambda v: env.task_reward(target, jnp.zeros(3), jnp.array([v * dt, 0, 0]),
                                           zero))(speeds)
    assert float(speeds[jnp.argmax(r)]) == pytest.approx(1.5)
    np.testing.assert_allclose(r, -jnp.abs(speeds - 1.5), atol=1e-4)


def test_goal_position_reward_is_minus_distance():
    env = envs.make("ant_goal_position", horizon=3).env
    goal = jnp.array([1.0, 2.0])
    r = env.task_reward(goal, jnp.zeros(3), jnp.array([4.0, 6.0, 0.5]), jnp.zeros(8))
    assert float(r) == pytest.approx(-5.0)  # the 3-4-5 triangle; height ignored
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 500)
    assert float(jnp.linalg.norm(tasks, axis=1).max()) <= 3.0


def test_cartpole_meta_step_runs_under_jit():
    fam = envs.make("biased_cartpole", horizon=20)
    algo = ej.zero_order(ej.rl_objective(fam, ej.policies.linear(4, 1)),
                         ej.adaptation.es_gradient(num_queries=4), num_perturbations=4)
    state, m = jax.jit(algo.step)(algo.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    assert bool(jnp.all(jnp.isfinite(state.params))) and float(m["post_return"]) > 0


def _family_runs(name):
    fam = envs.make(name, horizon=2)
    tasks = fam.env.sample_tasks(jax.random.PRNGKey(0), 2)
    algo = ej.zero_order(ej.rl_objective(fam, ej.policies.linear(fam.observation_size,
                                                                  fam.action_size)),
                         ej.adaptation.es_gradient(num_queries=1), num_perturbations=1)
    state, m = jax.jit(algo.step)(algo.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    assert bool(jnp.all(jnp.isfinite(state.params)))
    assert bool(jnp.isfinite(m["post_return"]))
    assert jax.tree.leaves(tasks)[0].shape[0] == 2


@pytest.mark.slow
def test_halfcheetah_meta_step_runs_under_jit():
    _family_runs("halfcheetah_forward_backward")


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in LOCOMOTION if n != "halfcheetah_forward_backward"])
def test_every_locomotion_family_runs_the_meta_step(name):
    _family_runs(name)  # each compiles a Brax pipeline: 20-60 s apiece on 2 cores


def test_brax_fluid_model_works_with_this_jax():
    # Brax 0.14.2's fluid drag (the swimmer) calls jnp.clip(x, a_min=...), which JAX 0.10
    # removed; envs.locomotion gives it a shim. The full swimmer step runs in the slow tests.
    from brax import fluid

    import envs.locomotion  # noqa: F401  (installs the shim)

    np.testing.assert_allclose(fluid.jp.clip(jnp.array([-1.0, 2.0]), a_min=0.0), [0.0, 2.0])
    np.testing.assert_allclose(fluid.jp.sum(jnp.ones(3)), 3.0)


def test_forward_backward_scores_every_perturbation_on_both_directions():
    # A.7.2's (N, N, N) setting for N = 2 tasks: the default T = 2 draws, per perturbation, a
    # permutation of the two directions, and the test set is exactly the two directions.
    fam = envs.make("halfcheetah_forward_backward")
    assert fam.recommended.tasks_per_perturbation == 2
    tasks = fam.sample_train_tasks(jax.random.PRNGKey(3), 2 * 7).reshape(7, 2)
    np.testing.assert_array_equal(jnp.sort(tasks, axis=1), jnp.tile(jnp.array([-1.0, 1.0]), (7, 1)))
    np.testing.assert_array_equal(fam.sample_test_tasks(jax.random.PRNGKey(0)), [-1.0, 1.0])


@pytest.mark.slow
def test_render_writes_brax_html_of_the_meta_and_adapted_policies(tmp_path):
    from esmaml_jax.app import Config, cli, train

    config = Config.from_json({
        "env": {"name": "halfcheetah_forward_backward"}, "objective": {"horizon": 10},
        "policy": {"name": "linear"},
        "algorithm": {"name": "zero_order", "num_perturbations": 2,
                      "tasks_per_perturbation": 1},
        "adaptation": {"name": "es_gradient", "num_queries": 2},
        "run": {"num_steps": 1, "steps_per_chunk": 1, "eval_repeats": 1}})
    train(config, tmp_path / "hc", progress=False, log=lambda *a: None)
    assert cli.main(["render", str(tmp_path / "hc"), "--tasks", "1"]) == 0
    pre, post = ((tmp_path / "hc" / "render-step1" / f"task1-{w}.html").read_text()
                 for w in ("pre", "post"))
    for text in (pre, post):
        assert "brax-viewer" in text and "<html" in text.lower()
    assert pre != post  # the adapted policy moves differently


def test_fixed_task_sets_are_the_papers_50_5_5():
    fixed = envs.make("ant_goal_position", task_sets="fixed", task_seed=3)
    again = envs.make("ant_goal_position", task_sets="fixed", task_seed=3)
    assert fixed.train_tasks.shape == (50, 2) and fixed.test_tasks.shape == (5, 2)
    np.testing.assert_array_equal(np.asarray(fixed.train_tasks), np.asarray(again.train_tasks))
    # test tasks are not training tasks
    d = np.linalg.norm(np.asarray(fixed.train_tasks)[:, None] - np.asarray(fixed.test_tasks)[None],
                       axis=-1)
    assert d.min() > 0
    # a batch of 5 is drawn from the fixed set, without replacement
    batch = np.asarray(fixed.sample_train_tasks(jax.random.PRNGKey(0), 5))
    train = [tuple(t) for t in np.asarray(fixed.train_tasks)]
    assert len({tuple(t) for t in batch}) == 5 and all(tuple(t) in train for t in batch)
    assert fixed.recommended.tasks_per_perturbation == 5
    fresh = envs.make("ant_goal_position")
    assert fresh.train_tasks is None and fresh.test_tasks is None
