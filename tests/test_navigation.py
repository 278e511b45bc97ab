"""Navigation task families: returns derived by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from esmaml_jax import policies, rl_objective
from esmaml_jax.normalization import RunningStats


def constant_policy(action):
    return policies.from_apply(lambda p, obs: p, jnp.asarray(action, jnp.float32))


def greedy_policy(goal):
    """Heads for ``goal`` (the params) at full speed and stays there: a = goal - p, clipped."""
    return policies.from_apply(lambda p, obs: p - obs, jnp.asarray(goal, jnp.float32))


def episode_return(name, task, action, horizon=100, policy=constant_policy, **kw):
    fam = envs.make(name, horizon=horizon, **kw)
    obj = rl_objective(fam, policy(action), normalize_observations=False)
    value, _ = obj.evaluate(jax.random.PRNGKey(0), jnp.asarray(action, jnp.float32),
                            jnp.asarray(task), RunningStats.zeros(2))
    return float(value)


def test_four_corners_do_nothing_is_minus_400():
    # p stays at the origin, |p - g|^2 = 8 > 4: r = -4 for each of 100 steps.
    assert episode_return("four_corners", 0, [0.0, 0.0]) == pytest.approx(-400.0)


def test_four_corners_straight_path_to_corner():
    # The greedy policy's action is clipped to (0.1, 0.1): p_t = (0.1 t, 0.1 t), reaching (2, 2)
    # at t = 20 and staying. d_t^2 = 2 (2 - 0.1 t)^2 < 4 from t = 6 on. Steps 1..5 give -4 each
    # (-20);
    # steps 6..19 give -0.02 (20 - t)^2, i.e. -0.02 * (1^2 + ... + 14^2) = -0.02 * 1015 = -20.3;
    # steps 20..100 give 0. Total -40.3.
    assert episode_return("four_corners", 0, [2.0, 2.0], policy=greedy_policy) == \
        pytest.approx(-40.3, abs=1e-3)
    # The same path is worth nothing for the opposite corner (-2, -2): always -4.
    assert episode_return("four_corners", 2, [2.0, 2.0], policy=greedy_policy) == \
        pytest.approx(-400.0)


def test_four_corners_penalized_punishes_wrong_corner():
    fam = envs.make("four_corners_penalized")
    s = fam.reset(jax.random.PRNGKey(0), jnp.int32(0))  # correct corner (2, 2)
    s = s.replace(info=dict(s.info, pos=jnp.array([-2.0, 1.9])))
    s = fam.env.step(s, jnp.array([0.0, 0.1]))  # now exactly on the wrong corner (-2, 2)
    # Correct corner: d^2 = 16 -> -4. Wrong corner (-2, 2): 10000 * (0 - 4). Others: d^2 >= 16.
    assert float(s.reward) == pytest.approx(-4.0 - 40000.0)


def test_navigation_2d_ends_when_close():
    # Goal (0.25, 0); action (0.1, 0): r_1 = -0.15^2 = -0.0225, r_2 = -0.05^2 = -0.0025 >= -0.01
    # ends the episode, so nothing more is added however long the horizon.
    for horizon in (2, 50):
        assert episode_return("navigation_2d", [0.25, 0.0], [0.1, 0.0], horizon) == \
            pytest.approx(-0.025, abs=1e-6)


def test_navigation_2d_clips_position():
    # Action (1, 0) -> 0.1 per step, p_x clipped at 1: goal (1, 1) stays at distance >= 1 in y.
    r = episode_return("navigation_2d", [1.0, 1.0], [1.0, 0.0], 30)
    # steps t=1..10: -( (1 - 0.1 t)^2 + 1 ); t = 11..30: -1.
    expected = -sum((1 - 0.1 * t) ** 2 + 1 for t in range(1, 11)) - 20
    assert r == pytest.approx(expected, abs=1e-4)


def test_six_circles_visited_set():
    fam = envs.make("six_circles")
    task = jnp.zeros(6, bool).at[jnp.array([0, 1])].set(True)
    g0 = jnp.array([math.sqrt(8), 0.0])
    s = fam.reset(jax.random.PRNGKey(0), task)
    s = s.replace(info=dict(s.info, pos=g0 - jnp.array([0.3, 0.0])))
    s = fam.env.step(s, jnp.array([0.1, 0.0]))  # d0^2 = 0.04: not visited yet
    # Goal 0 gives -4 + (4 - 0.04); goal 1 is sqrt(8) away from goal 0 (hexagon side = radius),
    # d1^2 is about 8.1 -> -4; wrong goals are all >= 2 away -> no penalty.
    d1 = float(jnp.sum((envs.navigation.SIX_GOALS[1] - (g0 - jnp.array([0.2, 0.0]))) ** 2))
    assert d1 > 4
    assert float(s.reward) == pytest.approx(-0.04 - 4.0, abs=1e-4)
    s = fam.env.step(s, jnp.array([0.1, 0.0]))
    s = fam.env.step(s, jnp.array([0.1, 0.0]))  # on goal 0: visited
    assert s.info["visited"].tolist() == [True] + [False] * 5
    assert float(s.reward) == pytest.approx(-4.0, abs=1e-4)  # only goal 1 still counts
    s = fam.env.step(s, jnp.array([-0.1, 0.0]))  # moving away does not un-visit
    assert bool(s.info["visited"][0]) and float(s.reward) == pytest.approx(-4.0, abs=1e-3)
    # A wrong goal (goal 3, opposite) costs 10000 * (d^2 - 4) inside its zone.
    s = s.replace(info=dict(s.info, pos=envs.navigation.SIX_GOALS[3] + jnp.array([0.0, 0.05])))
    s = fam.env.step(s, jnp.array([0.0, 0.0]))
    assert float(s.reward) < -30000


def test_task_sets_and_sampling():
    fam = envs.make("six_circles")
    assert fam.train_tasks.shape == (15, 6) and bool(jnp.all(fam.train_tasks.sum(1) == 2))
    # Without replacement: a draw of all 15 is a permutation of the set.
    draw = fam.sample_train_tasks(jax.random.PRNGKey(1), 15)
    assert len({tuple(np.asarray(t).tolist()) for t in draw}) == 15
    four = envs.make("four_corners").sample_train_tasks(jax.random.PRNGKey(2), 8)
    assert sorted(np.asarray(four[:4]).tolist()) == [0, 1, 2, 3]


@pytest.mark.parametrize("name", ["navigation_2d", "four_corners", "six_circles"])
def test_reset_and_step_vmap_over_tasks_under_jit(name):
    fam = envs.make(name)
    tasks = fam.env.sample_tasks(jax.random.PRNGKey(0), 5)

    @jax.jit
    def run(tasks):
        states = jax.vmap(fam.reset)(jax.random.split(jax.random.PRNGKey(1), 5), tasks)
        return jax.vmap(fam.env.step)(states, jnp.full((5, 2), 0.05))

    out = run(tasks)
    assert out.obs.shape == (5, 2) and bool(jnp.all(jnp.isfinite(out.reward)))
    # The plain Brax contract reset(rng) also works (it samples a task).
    assert fam.env.reset(jax.random.PRNGKey(0)).obs.shape == (2,)


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown env 'nope'"):
        envs.make("nope")
    with pytest.raises(ValueError, match="takes no option"):
        envs.make("four_corners", goal_radius=3)
    assert {"navigation_2d", "four_corners", "six_circles"} <= set(envs.names())
