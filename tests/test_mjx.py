"""The locomotion families on MuJoCo's own physics (MJX) (issue 37): MJX against MuJoCo's C
simulator on the same model, each family's task semantics on MJX, the CLI, and bad input."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import locomotion

# MJX (float32) against mujoco.mj_step (float64) on the same model with the same options
# (Brax's MJX settings: for ant the Newton solver with 1 iteration), from the model's initial
# state, 50 control steps of uniform random controls. Measured here (AMD EPYC, jax 0.10.2,
# mujoco 4.0.1 / mujoco-mjx 3.17.0): largest |qpos difference| 3.5e-6 halfcheetah, 5.0e-6 ant,
# 2.3e-6 walker2d. The tolerance is 20x the largest.
MJX_VS_C_TOLERANCE = 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("robot", ["halfcheetah", "ant", "walker2d"])
def test_mjx_follows_mujocos_c_simulator(robot):
    import mujoco
    from mujoco import mjx

    env = locomotion.BraxTaskEnv(robot, "forward_backward", "mjx").base
    m = env.sys.mj_model  # the model MJX steps, with the options Brax sets for MJX
    for name in ("solver", "iterations", "ls_iterations", "disableflags", "timestep"):
        setattr(m.opt, name, getattr(env.sys.opt, name) if hasattr(env.sys.opt, name)
                else getattr(m.opt, name))
    mx = mjx.put_model(m)
    d = mujoco.MjData(m)
    mujoco.mj_resetData(m, d)
    dx = mjx.put_data(m, d)
    step = jax.jit(lambda dx, u: mjx.step(mx, dx.replace(ctrl=u)))
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(50):
        u = rng.uniform(-1.0, 1.0, m.nu)
        d.ctrl[:] = u
        mujoco.mj_step(m, d)
        dx = step(dx, jnp.asarray(u, jnp.float32))
        worst = max(worst, float(np.max(np.abs(np.asarray(dx.qpos) - d.qpos))))
    assert worst < MJX_VS_C_TOLERANCE, f"{robot}: MJX and MuJoCo C differ by {worst:.2e}"
    print(f"{robot}: largest |qpos| difference over 50 steps {worst:.2e}")


MJX_FAMILIES = ["halfcheetah_forward_backward", "halfcheetah_goal_velocity",
                "ant_forward_backward", "ant_goal_velocity", "ant_goal_position",
                "walker2d_forward_backward", "walker2d_goal_velocity"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MJX_FAMILIES)
def test_every_locomotion_family_runs_on_mjx_with_its_task_reward(name):
    """On MJX each family's reward is its task's (A.7.1, from the torso before and after the
    step), and the task changes it as it should: a forward-backward pair of tasks sums to minus
    twice the control cost; a goal velocity or position scores zero at the goal."""
    fam = envs.make(name, backend="mjx")
    env = fam.env
    assert env.backend == "mjx"
    tasks = env.sample_tasks(jax.random.PRNGKey(1), 2)
    action = jnp.full(env.action_size, 0.4)

    @jax.jit
    def one_step(task):
        s = env.reset_task(jax.random.PRNGKey(0), task)
        nxt = env.step(s, action)
        return s, nxt

    for task in (tasks[0], tasks[1]):
        s, nxt = one_step(task)
        before, after = s.pipeline_state.x.pos[0], nxt.pipeline_state.x.pos[0]
        want = env.task_reward(task, before, after, action)
        assert np.isfinite(float(nxt.reward)) and np.isclose(float(nxt.reward), float(want))
        assert bool(jnp.all(nxt.info["task"] == task))
    if env.kind == "forward_backward":
        (_, fwd), (_, bwd) = one_step(jnp.float32(1.0)), one_step(jnp.float32(-1.0))
        ctrl = env.ctrl_cost * float(jnp.sum(action**2))
        assert float(fwd.reward + bwd.reward) == pytest.approx(-2 * ctrl, abs=1e-5)
    else:  # at the goal the reward is minus the control cost only
        s, nxt = one_step(tasks[0])
        before, after = s.pipeline_state.x.pos[0], nxt.pipeline_state.x.pos[0]
        vx = (after[0] - before[0]) / env.base.dt
        goal = vx if env.kind == "goal_velocity" else after[:2]
        ctrl = env.ctrl_cost * float(jnp.sum(action**2))
        assert float(env.task_reward(goal, before, after, action)) == pytest.approx(-ctrl,
                                                                                    abs=1e-5)


@pytest.mark.slow
def test_forward_and_backward_mean_the_same_on_mjx_and_brax_physics():
    """The task's effect does not depend on the physics: pushing with a constant action, the
    forward task's return is positive and the backward task's negative on MJX as on Brax's
    generalized pipeline (the returns themselves differ: different solvers and contacts)."""
    for backend in ("generalized", "mjx"):
        env = envs.make("halfcheetah_forward_backward", backend=backend).env

        @jax.jit
        def episode(task, env=env):
            action = jnp.full(env.action_size, 0.5)

            def body(s, _):
                nxt = env.step(s, action)
                return nxt, nxt.reward
            return jax.lax.scan(body, env.reset_task(jax.random.PRNGKey(0), task), None,
                                length=10)[1].sum()

        fwd, bwd = float(episode(jnp.float32(1.0))), float(episode(jnp.float32(-1.0)))
        assert fwd > 0 > bwd, (backend, fwd, bwd)


@pytest.mark.slow
def test_cli_trains_on_mjx_and_records_it(tmp_path):
    from esmaml_jax.app import cli

    out = tmp_path / "run"
    assert cli.main(["train", "--env", "halfcheetah_forward_backward", "--set",
                     "env.backend=mjx", "--steps", "1", "-P", "2", "-K", "2", "--horizon", "5",
                     "--eval-repeats", "1", "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["env"]["backend"] == "mjx"
    assert np.isfinite(json.loads((out / "summary.json").read_text())["final_test_post"])


@pytest.mark.parametrize("robot, backend, message", [
    ("halfcheetah", "warp", "unknown physics backend 'warp'; known: spring, positional, "
                            "generalized, mjx"),
    ("swimmer", "mjx", "swimmer runs on generalized only (Brax's model of it), not 'mjx'"),
])
def test_bad_backends_are_one_line_errors(robot, backend, message):
    with pytest.raises(ValueError) as e:
        locomotion.check_backend(robot, backend)
    assert str(e.value) == message


def test_bad_backend_from_the_cli_is_exit_2(tmp_path, capsys):
    from esmaml_jax.app import cli

    assert cli.main(["train", "--env", "swimmer_forward_backward", "--set", "env.backend=mjx",
                     "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "swimmer runs on generalized only" in err[0]
    assert not (tmp_path / "run").exists()


class _Slide:
    """A tiny Brax-API env (no physics engine): x' = x + a; observation (x, 2x)."""

    action_size = 1

    def reset(self, rng):
        from brax.envs.base import State

        x = jax.random.uniform(rng, ())
        zero = jnp.zeros(())
        return State(None, jnp.stack([x, 2 * x]), zero, zero, {}, {"x": x})

    def step(self, state, action):
        x = state.info["x"] + action[0]
        return state.replace(obs=jnp.stack([x, 2 * x]), info=dict(state.info, x=x))


def _goals(key, num):
    return jax.random.uniform(key, (num,), minval=-1.0, maxval=1.0)


def _reward(goal, state, nxt, action):
    return -jnp.abs(nxt.info["x"] - goal)


def test_from_brax_makes_a_task_family_the_algorithms_train():
    import esmaml_jax as ej

    fam = envs.from_brax("slide", _Slide(), _goals, _reward, horizon=5)
    assert (fam.observation_size, fam.action_size, fam.env.rollout_unroll) == (2, 1, 1)
    s = fam.reset(jax.random.PRNGKey(0), jnp.float32(0.5))
    nxt = fam.env.step(s, jnp.array([0.25]))
    assert float(nxt.reward) == pytest.approx(-abs(float(s.info["x"]) + 0.25 - 0.5), abs=1e-6)
    assert float(nxt.info["task"]) == 0.5
    algo = ej.zero_order(ej.rl_objective(fam, ej.policies.linear(2, 1)),
                         ej.adaptation.es_gradient(num_queries=2), num_perturbations=2)
    state, m = jax.jit(algo.step)(algo.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
    assert np.isfinite(float(m["post_return"]))


@pytest.mark.parametrize("change, message", [
    (dict(reward=lambda g, s, n, a: jnp.zeros(3)), "must be a scalar per step, got shape (3,)"),
    (dict(sample_tasks=lambda k, n: jnp.zeros(2)), "must stack num tasks on a leading axis"),
    (dict(horizon=0), "horizon must be an integer >= 1"),
])
def test_from_brax_refuses_what_does_not_fit_in_one_line(change, message):
    kw = dict(sample_tasks=_goals, reward=_reward, horizon=5) | change
    with pytest.raises(ValueError) as e:
        envs.from_brax("slide", _Slide(), **kw)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_policy_that_does_not_fit_the_adapted_env_is_refused():
    import esmaml_jax as ej

    fam = envs.from_brax("slide", _Slide(), _goals, _reward, horizon=5)
    with pytest.raises(ValueError, match="observation"):
        ej.rl_objective(fam, ej.policies.linear(3, 1))
