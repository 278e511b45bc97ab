"""Pictures of a run: learning curve, and adapted trajectories on the 2-D navigation tasks
(like Fig. 1a / Fig. A4: the meta-policy's path and the paths of its adapted policies per task).

Needs matplotlib (``pip install 'esmaml-jax[plot]'``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import jax
import numpy as np


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ValueError("plots need matplotlib: pip install 'esmaml-jax[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curve(run_dir: str | Path) -> Path:
    plt = _pyplot()
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.csv"
    if not metrics.exists():
        raise FileNotFoundError(f"{run_dir} has no metrics.csv")
    rows = list(csv.DictReader(open(metrics)))
    if not rows:
        raise ValueError(f"{metrics} has no rows yet")
    step = [int(r["step"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in [("post_return", "train, adapted (perturbed)"),
                       ("test_pre", "test, before adaptation"),
                       ("test_post", "test, after adaptation")]:
        ax.plot(step, [float(r[key]) for r in rows], label=label)
    ax.set_xlabel("meta-step")
    ax.set_ylabel("return")
    ax.set_title(run_dir.name)
    ax.legend()
    ax.grid(alpha=0.3)
    path = run_dir / "learning_curve.png"
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _goals(env_name: str, task) -> np.ndarray:
    """Goal points of a navigation task, for drawing: [n, 2]."""
    from envs import navigation

    task = np.asarray(task)
    if env_name.startswith("four_corners"):
        return np.asarray(navigation.CORNERS)[int(task)][None]
    if env_name == "six_circles":
        return np.asarray(navigation.SIX_GOALS)[task.astype(bool)]
    return task.reshape(1, 2)


def trajectories(run_dir: str | Path, num_tasks: int = 4, num_adaptations: int = 3) -> Path:
    """Meta-policy path (black) and ``num_adaptations`` adapted paths (colour) per test task."""
    from esmaml_jax.app.loop import load_run

    run_dir = Path(run_dir)
    built, state = load_run(run_dir)
    return trajectory_figure(built.config.env.name, built.algorithm, state,
                             run_dir / "trajectories.png",
                             num_tasks=num_tasks, num_adaptations=num_adaptations)


def trajectory_figure(env_name: str, algo, state, path: str | Path, num_tasks: int = 4,
                      num_adaptations: int = 3, title: str | None = None) -> Path:
    """The trajectory picture for any (algorithm, meta-state) on a 2-D navigation family."""
    plt = _pyplot()
    obj = algo.objective
    if obj.rollout is None or not env_name.startswith(("four_corners", "six_circles",
                                                       "navigation")):
        raise ValueError(f"trajectory plots are for the 2-D navigation tasks, not {env_name}")
    tasks = obj.sample_test_tasks(jax.random.PRNGKey(0), None)
    n = min(num_tasks, int(jax.tree.leaves(tasks)[0].shape[0]))

    @jax.jit
    def paths(task, key):
        f = lambda k, p: obj.evaluate(k, p, task, state.norm)
        meta = obj.rollout(key, state.params, task, state.norm)
        keys = jax.random.split(key, num_adaptations)
        adapted = jax.vmap(lambda k: algo.adaptation.adapt(
            k, state.params, f, state.hparams["adapt"], state.adapt_state)[0])(keys)
        return meta, jax.vmap(lambda p: obj.rollout(key, p, task, state.norm))(adapted)

    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
    for i in range(n):
        task = jax.tree.map(lambda x, i=i: x[i], tasks)
        meta, adapted = paths(task, jax.random.PRNGKey(i))
        ax = axes[0, i]
        for j, trail in enumerate(np.asarray(adapted)):
            ax.plot(trail[:, 0], trail[:, 1], color=f"C{j}", alpha=0.8,
                    label="adapted" if j == 0 else None)
        meta = np.asarray(meta)
        ax.plot(meta[:, 0], meta[:, 1], color="black", lw=2, label="meta-policy")
        goals = _goals(env_name, task)
        ax.scatter(goals[:, 0], goals[:, 1], marker="*", s=200, color="gold",
                   edgecolor="black", zorder=5, label="goal")
        ax.scatter([0], [0], marker="o", color="black", s=20)
        lim = 1.1 if env_name == "navigation_2d" else 3.5
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(f"test task {i}")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title or f"{env_name}, meta-step {int(state.step)}")
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_run(run_dir: str | Path) -> list[Path]:
    """Every picture that applies to the run."""
    paths = [learning_curve(run_dir)]
    from esmaml_jax.app import rundir
    from esmaml_jax.app.build import resolve

    _, family, _ = resolve(rundir.read_config(Path(run_dir)))
    if family.observation_size == 2 and not hasattr(family, "sample_data"):
        paths.append(trajectories(run_dir))
    return paths


__all__ = ["learning_curve", "plot_run", "trajectories", "trajectory_figure"]
