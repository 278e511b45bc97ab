"""Adapt the meta-policy to one task and export the adapted policy for inference: a flat .npy
of parameters plus a jitted act(obs) function that needs nothing but the policy definition.

    python examples/export_policy.py [--tiny] [--out adapted.npy]
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import envs
import esmaml_jax as ej


def main(tiny: bool = False, out: str = "adapted_policy.npy") -> None:
    family = envs.make("four_corners", horizon=20 if tiny else 100)
    policy = ej.policies.mlp(2, 2, (32,))
    objective = ej.rl_objective(family, policy, normalize_observations=False)
    algo = ej.zero_order(objective, ej.adaptation.es_gradient(num_queries=4 if tiny else 20),
                         num_perturbations=4 if tiny else 50)
    state = algo.init(jax.random.PRNGKey(0))
    state, _ = jax.jit(lambda s, ks: jax.lax.scan(algo.step, s, ks))(
        state, jax.random.split(jax.random.PRNGKey(1), 3 if tiny else 200))

    task = jnp.int32(0)  # the (2, 2) corner
    f = lambda k, p: objective.evaluate(k, p, task, state.norm)
    adapted = jax.jit(lambda k: algo.adapt(state, k, task))(jax.random.PRNGKey(2))
    np.save(out, np.asarray(adapted))

    # Inference side: load, and act. (With state normalization on, export state.norm too.)
    params = jnp.asarray(np.load(out))
    act = jax.jit(policy.apply)
    print(f"exported {params.shape[0]} parameters to {out}; "
          f"act([0, 0]) = {act(params, jnp.zeros(2))}")
    value, _ = f(jax.random.PRNGKey(3), params)
    print(f"return of the exported policy on its task: {float(value):.1f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--out", default="adapted_policy.npy")
    a = p.parse_args()
    main(a.tiny, a.out)
