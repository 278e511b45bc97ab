"""Meta-RL locomotion on Brax physics (Sec. 4.2-4.4, A.5) and the biased-sensor CartPole (4.3).

Brax's own environments give the physics and observations; a `TaskEnv` wrapper replaces the
reward with the task's (the task rides in ``state.info["task"]``, so one compiled program serves
every task). Rewards (ProMP/rllab conventions, A.7.1 for Ant):

- forward_backward: d * v_x, d in {-1, +1} (halfcheetah also - 0.05 |a|^2; Ant: the forward
  term only, no control, contact or survival terms).
- goal_velocity: -|v_x - v*|, v* ~ U(0, 2) halfcheetah, U(0, 3) ant (halfcheetah - 0.05 |a|^2).
- goal_position (ant): minus the distance of the torso (x, y) to a goal drawn uniformly on the
  disc of radius 3.

v_x is the torso's x displacement over one env step divided by the step's duration. Ant and
walker2d end episodes when unhealthy (Brax's rule); the rollout's done mask then stops the
reward without changing any shape.
"""

from __future__ import annotations

import contextlib
import io
import math
from typing import Any

import jax
import jax.numpy as jnp

from envs.base import Recommended, State, TaskEnv, TaskFamily

# Noise from below us that is not the user's concern: Brax's maintenance notice (a Python
# warning) and MuJoCo's deprecation of an attribute in Brax's own model files (printed by C code
# straight to the file descriptors, so it is filtered there). Anything else still gets through.
_NOISE = ("compiler attribute 'settotalmass' is deprecated", "Failed to import warp",
          "Failed to import mujoco_warp")


@contextlib.contextmanager
def _quiet_third_party():
    import os
    import sys
    import tempfile
    import warnings

    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        try:
            for fd in saved:
                os.dup2(tmp.fileno(), fd)
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.filterwarnings("ignore", message="Brax System, piplines")
                warnings.filterwarnings("ignore", category=DeprecationWarning, module="brax")
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
    lines = text.splitlines()
    keep = [line for i, line in enumerate(lines)
            if line.strip() and not any(n in line for n in _NOISE)
            and not (i > 0 and any(n in lines[i - 1] for n in _NOISE))]
    if keep:
        sys.stderr.write("\n".join(keep) + "\n")


with _quiet_third_party():
    from brax import envs as brax_envs
    from brax import fluid as _brax_fluid


class _ClipCompat:
    """jax.numpy with the old ``clip(x, a_min=, a_max=)`` spelling, which JAX 0.10 removed but
    Brax 0.14.2's fluid model (the swimmer's drag) still uses."""

    def __getattr__(self, name):
        return getattr(jnp, name)

    @staticmethod
    def clip(x, a_min=None, a_max=None, **kw):
        return jnp.clip(x, kw.pop("min", a_min), kw.pop("max", a_max), **kw)


try:
    jnp.clip(jnp.zeros(()), a_min=0.0)
except TypeError:  # this JAX no longer accepts a_min: give Brax's fluid model the shim
    _brax_fluid.jp = _ClipCompat()

CTRL_COST = 0.05
# Fastest backend at acceptable fidelity, measured on the 2-core CPU (see the issue note):
# spring for halfcheetah / ant / walker2d; Brax registers swimmer for "generalized" only.
DEFAULT_BACKEND = {"halfcheetah": "spring", "ant": "spring", "walker2d": "spring",
                   "swimmer": "generalized"}
# The physics a family can run on: Brax's pipelines, and MJX (MuJoCo's own solver in JAX).
# Brax's swimmer exists for "generalized" only (its fluid drag model).
BACKENDS = ("spring", "positional", "generalized", "mjx")
SUPPORTED_BACKENDS = {"halfcheetah": BACKENDS, "ant": BACKENDS, "walker2d": BACKENDS,
                      "swimmer": ("generalized",)}
GOAL_VELOCITY_MAX = {"halfcheetah": 2.0, "ant": 3.0, "walker2d": 2.0, "swimmer": 0.5}
GOAL_RADIUS = 3.0


def check_backend(robot: str, backend: str | None) -> str:
    """The physics ``robot`` runs on (its default when None); a one-line error for an unknown
    backend or one the robot's Brax model does not support."""
    if backend is None:
        return DEFAULT_BACKEND[robot]
    if backend not in BACKENDS:
        raise ValueError(f"unknown physics backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend not in SUPPORTED_BACKENDS[robot]:
        raise ValueError(f"{robot} runs on {' / '.join(SUPPORTED_BACKENDS[robot])} only (Brax's "
                         f"model of it), not {backend!r}")
    return backend


class BraxTaskEnv(TaskEnv):
    """A Brax env with a task-dependent reward."""

    rollout_unroll = 1  # a physics step: compile time grows with each unrolled copy

    def __init__(self, robot: str, kind: str, backend: str | None = None):
        if kind not in ("forward_backward", "goal_velocity", "goal_position"):
            raise ValueError(f"unknown locomotion task kind {kind!r}")
        self.robot, self.kind = robot, kind
        self.backend_name = check_backend(robot, backend)
        # Brax's own reward (survival, contact, control terms) is replaced below (A.7.1).
        with _quiet_third_party():
            self.base = brax_envs.get_environment(robot, backend=self.backend_name)
        self.ctrl_cost = CTRL_COST if robot == "halfcheetah" else 0.0
        # observation_size on a Brax env runs an un-jitted reset: use shapes only.
        shape = jax.eval_shape(self.base.reset, jax.random.PRNGKey(0)).obs.shape
        self._obs_size = int(shape[-1])

    @property
    def observation_size(self) -> int:
        return self._obs_size

    @property
    def action_size(self) -> int:
        return self.base.action_size

    @property
    def backend(self) -> str:
        return self.backend_name

    def sample_tasks(self, key, num):
        if self.kind == "forward_backward":
            return jnp.where(jax.random.bernoulli(key, 0.5, (num,)), 1.0, -1.0)
        if self.kind == "goal_velocity":
            return jax.random.uniform(key, (num,), minval=0.0,
                                      maxval=GOAL_VELOCITY_MAX[self.robot])
        k_r, k_a = jax.random.split(key)
        r = GOAL_RADIUS * jnp.sqrt(jax.random.uniform(k_r, (num,)))
        a = jax.random.uniform(k_a, (num,), minval=0.0, maxval=2 * math.pi)
        return jnp.stack([r * jnp.cos(a), r * jnp.sin(a)], axis=-1)

    def reset_task(self, rng, task):
        s = self.base.reset(rng)
        return s.replace(reward=jnp.zeros(()), info=dict(s.info, task=task))

    def task_reward(self, task, torso_before, torso_after, action):
        """The task's reward for one step, from the torso position [3] before and after."""
        vx = (torso_after[0] - torso_before[0]) / self.base.dt
        ctrl = self.ctrl_cost * jnp.sum(jnp.square(action))
        if self.kind == "forward_backward":
            return task * vx - ctrl
        if self.kind == "goal_velocity":
            return -jnp.abs(vx - task) - ctrl
        return -jnp.linalg.norm(torso_after[:2] - task)

    def step(self, state, action):
        nxt = self.base.step(state, action)
        reward = self.task_reward(state.info["task"], state.pipeline_state.x.pos[0],
                                  nxt.pipeline_state.x.pos[0], action)
        return nxt.replace(reward=reward, info=dict(nxt.info, task=state.info["task"]))


class BiasedCartPole(TaskEnv):
    """Biased-sensor CartPole (NoRML, Yang et al., 2019), pure JAX.

    Classic cart-pole dynamics (gravity 9.8, cart 1.0 kg, pole 0.1 kg, half-length 0.5, Euler
    step 0.02 s); a continuous force 10 * clip(a, -1, 1) in [-10, 10]; reward 1 per step while
    |x| <= 2.4 and |theta| <= 12 degrees; the observation is (x, x_dot, theta + bias, theta_dot)
    with the task's bias in [-pi/18, pi/18]: the sensor is biased, the dynamics are not.
    """

    rollout_unroll = 2  # a cheap pure-JAX step (TaskEnv)

    gravity, masscart, masspole, length, tau, force_mag = 9.8, 1.0, 0.1, 0.5, 0.02, 10.0
    x_limit, theta_limit = 2.4, 12 * 2 * math.pi / 360
    observation_names = ("cart position x", "cart velocity", "pole angle + sensor bias (rad)",
                         "pole angular velocity")

    @property
    def observation_size(self) -> int:
        return 4

    @property
    def action_size(self) -> int:
        return 1

    def sample_tasks(self, key, num):
        return jax.random.uniform(key, (num,), minval=-math.pi / 18, maxval=math.pi / 18)

    def _obs(self, phys, bias):
        # phys.at[2].add(bias), written as a concatenation (the same numbers)
        return jnp.concatenate([phys[:2], phys[2:3] + bias, phys[3:]])

    def reset_task(self, rng, task):
        phys = jax.random.uniform(rng, (4,), minval=-0.05, maxval=0.05)
        zero = jnp.zeros(())
        return State(pipeline_state=None, obs=self._obs(phys, task), reward=zero, done=zero,
                     metrics={}, info={"task": task, "phys": phys})

    def dynamics(self, phys, force):
        """One Euler step of the classic equations (Barto et al., 1983; gym's CartPole)."""
        x, x_dot, theta, theta_dot = phys
        total = self.masscart + self.masspole
        pml = self.masspole * self.length
        cos, sin = jnp.cos(theta), jnp.sin(theta)
        temp = (force + pml * theta_dot**2 * sin) / total
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * cos**2 / total))
        x_acc = temp - pml * theta_acc * cos / total
        return jnp.array([x + self.tau * x_dot, x_dot + self.tau * x_acc,
                          theta + self.tau * theta_dot, theta_dot + self.tau * theta_acc])

    def step(self, state, action):
        force = self.force_mag * jnp.clip(jnp.reshape(action, ()), -1.0, 1.0)
        phys = self.dynamics(state.info["phys"], force)
        fallen = (jnp.abs(phys[0]) > self.x_limit) | (jnp.abs(phys[2]) > self.theta_limit)
        return state.replace(obs=self._obs(phys, state.info["task"]),
                             reward=jnp.where(fallen, 0.0, 1.0),
                             done=fallen.astype(jnp.float32),
                             info=dict(state.info, phys=phys))


# CPU-scale recommendations (full scale: horizon 200, P 150, on an accelerator). About 24k env
# steps per meta-step: a few seconds each on 2 cores, plus 1-2 min of compilation.
LOCOMOTION_RECOMMENDED = dict(policy="linear", num_perturbations=20, num_queries=10,
                              tasks_per_perturbation=1, meta_steps=10, steps_per_log=5,
                              eval_repeats=1)


TASK_SETS = ("fresh", "fixed")
# A.7.2: (train set size, task batch size, test set size) = (50, 5, 5) for task distributions
FIXED_TASK_SETS = (50, 5, 5)


def locomotion(robot: str, kind: str, horizon: int = 200, backend: str | None = None,
               task_sets: str = "fresh", task_seed: int = 0):
    """Factory behind the registry names ``<robot>_<kind>``.

    Goal families (goal_velocity, goal_position) take ``task_sets``: "fresh" (training tasks
    drawn from the distribution every meta-step, test tasks fresh at every evaluation) or
    "fixed" (A.7.2's (50, 5, 5): a fixed set of 50 training tasks sampled without replacement,
    task batches of 5 per perturbation, a fixed test set of 5 other tasks; drawn from
    ``task_seed``, so runs with the same seed share them).
    """
    if task_sets not in TASK_SETS:
        raise ValueError(f"unknown task_sets {task_sets!r}; known: {', '.join(TASK_SETS)}")
    env = BraxTaskEnv(robot, kind, backend)
    name = f"{robot}_{kind}" if kind != "goal_position" else "ant_goal_position"
    rec: dict[str, Any] = dict(LOCOMOTION_RECOMMENDED, horizon=min(horizon, 50))
    tasks = test = None
    if kind != "forward_backward" and task_sets == "fixed":
        n_train, batch, n_test = FIXED_TASK_SETS
        drawn = env.sample_tasks(jax.random.PRNGKey(task_seed), n_train + n_test)
        tasks = jax.tree.map(lambda x: x[:n_train], drawn)
        test = jax.tree.map(lambda x: x[n_train:], drawn)
        rec["tasks_per_perturbation"] = batch
    if kind == "forward_backward":
        # N = 2 distinct tasks: A.7.2's (N, N, N) setting. Every perturbation is scored on both
        # directions and the test set is both, so the direction drawn never masquerades as the
        # quality of a perturbation (with one random direction per perturbation it dominates
        # the variance of the outer ES estimate).
        tasks = test = jnp.array([-1.0, 1.0])
        rec["tasks_per_perturbation"] = 2
    return TaskFamily(name, env, horizon, env.observation_size, env.action_size,
                      train_tasks=tasks, test_tasks=test, recommended=Recommended(**rec))


def biased_cartpole(horizon: int = 500):
    env = BiasedCartPole()
    test = env.sample_tasks(jax.random.PRNGKey(77), 10)
    return TaskFamily("biased_cartpole", env, horizon, 4, 1, None, test,
                      recommended=Recommended(policy="linear", num_perturbations=50,
                                              num_queries=10, meta_steps=100, horizon=200))
