"""Seeds side by side, the evaluation program, and the summary of a run's result."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from esmaml_jax import compiler
from esmaml_jax.algorithms import base
from esmaml_jax.app.progress import fmt


def seed_keys(run) -> tuple:
    """(init, train, eval, final) keys: PRNGKey(seed) split in four; with ``run.seeds`` N > 1,
    stacked [N, ...] for seeds seed, ..., seed + N - 1, so seed i of an N-seed run uses exactly
    the keys of a one-seed run with --seed seed + i."""
    if run.seeds == 1:
        return tuple(jax.random.split(jax.random.PRNGKey(run.seed), 4))
    keys = jnp.stack([jax.random.split(jax.random.PRNGKey(run.seed + i), 4)
                      for i in range(run.seeds)])
    return tuple(keys[:, j] for j in range(4))


def over_seeds(fn, run):
    """``fn`` vmapped over the seed axis when the run trains several seeds, else ``fn``."""
    return jax.vmap(fn) if run.seeds > 1 else fn


def first_seed(state, run):
    """The first seed's state of a (possibly multi-seed) run's state."""
    return jax.tree.map(lambda x: x[0], state) if run.seeds > 1 else state


def evaluator(algo, run):
    """``evaluate(state, key, repeats=run.eval_repeats)``: ``algo.evaluate`` with ``repeats``
    adaptations per test task, every seed at once, from ONE compiled evaluation program: a
    multiple of ``run.eval_repeats`` (the final evaluation's 4x) runs as that many calls over
    slices of one draw of test tasks and keys (`base.evaluation_draw`): the same (task, key)
    items as one program of all the repeats, without compiling the rollouts a second time
    (about 15 s on a Brax family). The returns are those of that program bit for bit on the
    pure-JAX envs; on Brax they differ by float rounding, because a rollout's last bits
    depend on the batch shape it runs in and the contact dynamics amplify them (measured on
    halfcheetah, the same rollout in a batch of 1 and of 8: observations equal for 6 steps,
    6e-6 apart at step 7, 0.3 at step 20)."""
    per = run.eval_repeats
    program = compiler.jit(over_seeds(lambda s, d: algo.evaluate(s, None, draw=d), run))
    mean = jax.jit(over_seeds(base.finite_mean, run))
    axis = 2 if run.seeds > 1 else 1  # the repeat axis of the draw's keys and of pre / post

    draws: dict = {}  # repeats -> its jitted draw

    def evaluate(state, key, repeats: int = per):
        if repeats % per:
            raise ValueError(f"repeats must be a multiple of {per}, got {repeats}")
        if repeats not in draws:
            draws[repeats] = jax.jit(over_seeds(lambda k: base.evaluation_draw(
                algo.objective, k, None, repeats), run))
        tasks, keys = draws[repeats](key)
        parts = [program(state, (tasks, jax.lax.slice_in_dim(keys, i, i + per, axis=axis)))
                 for i in range(0, repeats, per)]
        if len(parts) == 1:
            return parts[0]
        pre, post = (jnp.concatenate([p[name] for p in parts], axis=axis)
                     for name in ("pre", "post"))
        return {"pre": pre, "post": post, "pre_mean": mean(pre), "post_mean": mean(post)}

    evaluate.program = program  # type: ignore[attr-defined]
    return evaluate


def summary(done, elapsed, env_steps, init_eval, final, seed_ids=(0,)) -> dict:
    """Test returns before and after training: means over seeds (and over tasks x
    adaptations); with several seeds also each seed's and the spread over seeds."""
    mean = lambda x: float(np.mean(np.asarray(x)))
    out = {"steps": done, "wall_time_s": round(elapsed, 2), "env_steps": env_steps,
           "env_steps_per_s": round(env_steps / elapsed, 1),
           "initial_test_pre": mean(init_eval["pre_mean"]),
           "initial_test_post": mean(init_eval["post_mean"]),
           "final_test_pre": mean(final["pre_mean"]),
           "final_test_post": mean(final["post_mean"]),
           "final_test_post_std": float(jnp.nanstd(final["post"]))}
    if len(seed_ids) > 1:
        posts = np.asarray(final["post_mean"])
        out.update({"seeds": list(seed_ids),
                    "final_test_post_per_seed": [round(float(x), 3) for x in posts],
                    "final_test_pre_per_seed": [round(float(x), 3)
                                                for x in np.asarray(final["pre_mean"])],
                    "final_test_post_std_over_seeds": float(np.std(posts))})
    return out


def _table(summary: dict) -> bool:
    """The result as a `rich` table when the output is a terminal; False otherwise (then the
    plain lines of `report` are printed instead)."""
    import sys

    if not sys.stdout.isatty():
        return False
    from rich.console import Console
    from rich.table import Table

    table = Table(title="test return (the run's result: the final evaluation)")
    for column in ("", "pre-adaptation", "post-adaptation"):
        table.add_column(column, justify="right")
    table.add_row("before training", fmt(summary["initial_test_pre"]),
                  fmt(summary["initial_test_post"]))
    spread = (f"std over seeds {summary['final_test_post_std_over_seeds']:.1f}"
              if "seeds" in summary else f"+- {summary['final_test_post_std']:.1f}")
    table.add_row("after training", fmt(summary["final_test_pre"]),
                  f"{fmt(summary['final_test_post'])} ({spread})")
    Console().print(table)
    return True


def report(summary: dict, elapsed: float, env_steps: int, log) -> None:
    rate = (f", {summary['env_steps_per_s']:,.0f} env steps/s" if env_steps else "")
    final_s = summary.get("final_evaluation_s")
    after = f", then {final_s:.1f}s of final evaluation" if final_s is not None else ""
    log(f"done: {elapsed:.1f}s of training (from the initial evaluation on, compilation "
        f"included{rate}){after}")
    if log is print and _table(summary):
        return
    log(f"test return before training: pre-adaptation {fmt(summary['initial_test_pre'])}, "
        f"post-adaptation {fmt(summary['initial_test_post'])}")
    if "seeds" in summary:
        log(f"test return after training:  pre-adaptation {fmt(summary['final_test_pre'])}, "
            f"post-adaptation {fmt(summary['final_test_post'])} (mean of {len(summary['seeds'])}"
            f" seeds, std over seeds {summary['final_test_post_std_over_seeds']:.1f}; per seed: "
            + ", ".join(fmt(x) for x in summary["final_test_post_per_seed"]) + ")")
    else:
        log(f"test return after training:  pre-adaptation {fmt(summary['final_test_pre'])}, "
            f"post-adaptation {fmt(summary['final_test_post'])} "
            f"(+- {summary['final_test_post_std']:.1f} over tasks x adaptations)")
