"""Bring your own flax module as the policy; get the trained parameters back as ITS pytree.

    python examples/flax_policy.py [--tiny]
"""

import argparse

import flax.linen as nn
import jax
import jax.numpy as jnp

import envs
import esmaml_jax as ej


class MyPolicy(nn.Module):
    """Any module mapping an observation to an action works; actions are clipped by the env."""

    @nn.compact
    def __call__(self, obs):
        x = nn.tanh(nn.Dense(16, name="hidden")(obs))
        x = nn.tanh(nn.Dense(16, name="hidden2")(x))
        return 0.1 * jnp.tanh(nn.Dense(2, name="head")(x))


def main(tiny: bool = False) -> None:
    family = envs.make("four_corners", horizon=20 if tiny else 100)
    policy = ej.policies.from_flax(MyPolicy(), family.observation_size)
    objective = ej.rl_objective(family, policy)
    algo = ej.zero_order(objective, ej.adaptation.es_gradient(num_queries=4 if tiny else 20),
                         num_perturbations=4 if tiny else 50)
    state = algo.init(jax.random.PRNGKey(0))
    run = jax.jit(lambda s, ks: jax.lax.scan(algo.step, s, ks))
    state, _ = run(state, jax.random.split(jax.random.PRNGKey(1), 4 if tiny else 200))
    variables = policy.unravel(state.params)  # the module's own pytree
    shapes = jax.tree.map(jnp.shape, variables)
    print(f"trained {policy.num_params} parameters; as MyPolicy's pytree: {shapes}")
    action = MyPolicy().apply(variables, jnp.array([0.5, -0.5]))
    print(f"MyPolicy().apply(trained, [0.5, -0.5]) = {action}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--tiny", action="store_true")
    main(p.parse_args().tiny)
