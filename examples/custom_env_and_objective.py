"""Your own environment, or any blackbox function, without editing the library.

1. A Brax-style env (``reset_task`` / ``step``) whose task lives in ``state.info``, wrapped as a
   `envs.TaskFamily`: here a 1-D "reach the target" task.
2. A plain function f(params, task, key) -> value (the task "need not even be an MDP"): here a
   family of quadratics, solved by ES-MAML with no environment at all.

    python examples/custom_env_and_objective.py [--tiny]
"""

import argparse

import jax
import jax.numpy as jnp

import envs
import esmaml_jax as ej


class Reach1D(envs.TaskEnv):
    """x <- x + clip(a, -0.1, 0.1); reward -|x - target|; the target is the task."""

    observation_size = 1
    action_size = 1

    def sample_tasks(self, key, num):
        return jax.random.uniform(key, (num,), minval=-1.0, maxval=1.0)

    def reset_task(self, rng, task):
        x = jnp.zeros(1)
        return envs.State(None, x, jnp.zeros(()), jnp.zeros(()), {}, {"task": task, "x": x})

    def step(self, state, action):
        x = state.info["x"] + jnp.clip(action, -0.1, 0.1)
        reward = -jnp.abs(x[0] - state.info["task"])
        return state.replace(obs=x, reward=reward, info=dict(state.info, x=x))


def main(tiny: bool = False) -> None:
    steps = 4 if tiny else 150
    family = envs.TaskFamily("reach_1d", Reach1D(), horizon=20, observation_size=1,
                             action_size=1)
    objective = ej.rl_objective(family, ej.policies.mlp(1, 1, (8,)))
    algo = ej.zero_order(objective, ej.adaptation.es_gradient(num_queries=10),
                         num_perturbations=8 if tiny else 50)
    state = algo.init(jax.random.PRNGKey(0))
    ev = jax.jit(algo.evaluate, static_argnames=("num_tasks", "num_repeats"))
    before = ev(state, jax.random.PRNGKey(1), num_tasks=10)
    state, _ = jax.jit(lambda s, ks: jax.lax.scan(algo.step, s, ks))(
        state, jax.random.split(jax.random.PRNGKey(2), steps))
    after = ev(state, jax.random.PRNGKey(1), num_tasks=10)
    print(f"reach_1d: post-adaptation return {float(before['post_mean']):.2f} -> "
          f"{float(after['post_mean']):.2f}")

    centers = jnp.array([[1.0, -1.0, 0.5], [-1.0, 0.0, 2.0]])

    def quadratic(params, task, key):  # maximised
        return -jnp.sum((params - task) ** 2)

    objective = ej.blackbox_objective(
        quadratic, jnp.zeros(3),
        lambda key, n: centers[jax.random.randint(key, (n,), 0, 2)], test_tasks=centers)
    algo = ej.zero_order(objective, ej.adaptation.es_gradient(num_queries=10, step_size=0.1),
                         num_perturbations=20)
    state = algo.init(jax.random.PRNGKey(0))
    state, _ = jax.jit(lambda s, ks: jax.lax.scan(algo.step, s, ks))(
        state, jax.random.split(jax.random.PRNGKey(3), steps))
    print(f"quadratics: meta-parameters {state.params.round(2)} (the tasks' centers are "
          f"{centers.tolist()}; the best meta-point lies between them)")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--tiny", action="store_true")
    main(p.parse_args().tiny)
