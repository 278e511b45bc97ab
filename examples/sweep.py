"""A seed x step-size sweep as ONE compiled program: continuous hyperparameters live in the
state (``state.hparams``), so ``jax.vmap`` over them needs no recompilation.

    python examples/sweep.py [--tiny] [--plot sweep.png]
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import envs
import esmaml_jax as ej

TRACES: list[int] = []


def main(tiny: bool = False, plot: str | None = None) -> None:
    family = envs.make("four_corners", horizon=20 if tiny else 100)
    objective = ej.rl_objective(family, ej.policies.mlp(2, 2, (32,)))
    algo = ej.zero_order(objective, ej.adaptation.es_gradient(num_queries=4 if tiny else 20),
                         num_perturbations=4 if tiny else 50)
    seeds = jnp.arange(4)
    step_sizes = jnp.array([0.01, 0.03, 0.05, 0.1])  # inner alpha
    num_steps = 3 if tiny else 150

    def run(seed, alpha):
        TRACES.append(1)  # counts traces: one per compilation
        state = algo.init(jax.random.PRNGKey(seed))
        state = state.replace(hparams={**state.hparams,
                                       "adapt": {**state.hparams["adapt"], "step_size": alpha}})
        state, metrics = jax.lax.scan(algo.step, state,
                                      jax.random.split(jax.random.PRNGKey(seed + 100), num_steps))
        return algo.evaluate(state, jax.random.PRNGKey(7), num_repeats=4)["post_mean"]

    grid = jax.jit(jax.vmap(jax.vmap(run, (None, 0)), (0, None)))
    result = np.asarray(grid(seeds, step_sizes))  # [seeds, step sizes]
    print(f"{len(seeds)} x {len(step_sizes)} sweep compiled {len(TRACES)} time(s)")
    for a, col in zip(step_sizes.tolist(), result.T, strict=True):
        print(f"  alpha {a:<5.3g}: post-adaptation test return {col.mean():8.1f} "
              f"+- {col.std():.1f}")
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.errorbar(step_sizes, result.mean(0), yerr=result.std(0), marker="o")
        ax.set_xscale("log")
        ax.set_xlabel("inner step size alpha")
        ax.set_ylabel("post-adaptation test return")
        fig.tight_layout()
        fig.savefig(plot, dpi=100)
        print(f"wrote {plot}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--plot", default=None)
    a = p.parse_args()
    main(a.tiny, a.plot)
