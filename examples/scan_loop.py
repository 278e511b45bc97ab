"""Call the fused meta-step from your own JAX code: a whole training run as ONE jitted function
(``lax.scan`` over meta-steps), with your own logging of the metrics it returns.

    python examples/scan_loop.py [--tiny]
"""

import argparse

import jax
import jax.numpy as jnp

import envs
import esmaml_jax as ej


def main(tiny: bool = False) -> None:
    family = envs.make("four_corners", horizon=20 if tiny else 100)
    objective = ej.rl_objective(family, ej.policies.mlp(2, 2, (32,)))
    algo = ej.zero_order(objective, ej.adaptation.es_gradient(num_queries=4 if tiny else 20),
                         num_perturbations=4 if tiny else 50)
    num_steps = 4 if tiny else 200

    @jax.jit
    def train(key):
        k_init, k_steps = jax.random.split(key)
        state = algo.init(k_init)
        # Your loop: any carry you like around the library's state.
        def body(carry, k):
            state, best = carry
            state, metrics = algo.step(state, k)
            best = jnp.maximum(best, metrics["post_return"])
            return (state, best), metrics["post_return"]

        (state, best), curve = jax.lax.scan(body, (state, -jnp.inf),
                                            jax.random.split(k_steps, num_steps))
        return state, best, curve

    state, best, curve = train(jax.random.PRNGKey(0))
    print(f"{num_steps} meta-steps in one program: train post-adaptation return "
          f"{float(curve[0]):.1f} -> {float(curve[-1]):.1f} (best {float(best):.1f})")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--tiny", action="store_true")
    main(p.parse_args().tiny)
