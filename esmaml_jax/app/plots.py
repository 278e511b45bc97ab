"""Pictures of a run: learning curve, and adapted trajectories on the 2-D navigation tasks
(like Fig. 1a / Fig. A4: the meta-policy's path and the paths of its adapted policies per task).

Needs matplotlib (``pip install 'esmaml-jax[plot]'``).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

from esmaml_jax.app import registry
from esmaml_jax.app.algorithms import AlgorithmSpec


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ValueError("plots need matplotlib: pip install 'esmaml-jax[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _rows(run_dir: Path) -> list[dict]:
    metrics = run_dir / "metrics.csv"
    if not metrics.exists():
        raise FileNotFoundError(f"{run_dir} has no metrics.csv")
    from esmaml_jax.app import rundir

    rows = rundir.read_metrics(metrics).rows
    if not rows:
        raise ValueError(f"{metrics} has no rows yet")
    return rows


def _by_seed(rows: list[dict]) -> list[list[dict]]:
    """A run's metric rows split per seed (runs made before the seed column: one seed)."""
    seeds: dict[str, list[dict]] = {}
    for r in rows:
        seeds.setdefault(r.get("seed") or "", []).append(r)
    return list(seeds.values())


def _objective_label(run_dir: Path) -> str:
    """What the y axis measures: the return for RL, -MSE for the supervised families."""
    try:
        config = json.loads((run_dir / "config.json").read_text())
        supervised = config.get("policy", {}).get("name") == "regressor"
    except (OSError, ValueError, AttributeError):
        supervised = False
    return "objective: -MSE (higher is better)" if supervised else "return (higher is better)"


def learning_curve(run_dir: str | Path) -> Path:
    """Train and test returns per logged meta-step, from step 0 (the untrained meta-policy)."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    run_dir = Path(run_dir)
    seeds = _by_seed(_rows(run_dir))
    try:
        algorithm = json.loads((run_dir / "config.json").read_text())["algorithm"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        algorithm = None
    known = algorithm in registry.names("algorithm")
    train_label = (registry.algorithm(algorithm).train_label if known
                   else AlgorithmSpec._field_defaults["train_label"])
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (key, label, style) in enumerate([
            ("post_return", train_label, ":"),
            ("test_pre", "test: meta-policy, before adaptation", "--"),
            ("test_post", "test: after adaptation", "-")]):
        per_step: dict[int, list[float]] = {}
        for rows in seeds:
            for r in rows:
                if r[key] not in ("", "nan") and np.isfinite(float(r[key])):
                    per_step.setdefault(int(r["step"]), []).append(float(r[key]))
        if not per_step:
            continue
        xs = sorted(per_step)
        ys = [per_step[x] for x in xs]
        ax.plot(xs, [np.mean(y) for y in ys], style, marker="o", ms=3, color=f"C{i}",
                label=label)
        if len(seeds) > 1:
            ax.fill_between(xs, [min(y) for y in ys], [max(y) for y in ys], color=f"C{i}",
                            alpha=0.15)
    found = _results(run_dir)
    if found is not None:  # the run's result: its final evaluation (more adaptations, own keys)
        final_step, results = found
        ax.plot([final_step], [np.mean([r[0] for r in results])], "*", ms=12, color="C2",
                label="the run's result: final evaluation, after adaptation")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("meta-step")
    ax.set_ylabel(_objective_label(run_dir))
    ax.set_title(run_dir.name + (f": mean of {len(seeds)} seeds, band min to max"
                                 if len(seeds) > 1 else ""), fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    path = run_dir / "learning_curve.png"
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _all_goals(env_name: str):
    """Every goal of a multi-goal family ([n, 2]), or None."""
    from envs import navigation

    if env_name.startswith("four_corners"):
        return np.asarray(navigation.CORNERS)
    if env_name == "six_circles":
        return np.asarray(navigation.SIX_GOALS)
    return None


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
    from esmaml_jax.app.loop import first_seed, load_run

    run_dir = Path(run_dir)
    built, state = load_run(run_dir)
    state = first_seed(state, built.run)  # the pictures show the first seed
    env_name = built.config.component("env").name
    paths_title = registry.algorithm(built.config.component("algorithm").name).paths_title
    title = f"{env_name}, " + paths_title.format(step=int(state.step)) if paths_title else None
    return trajectory_figure(env_name, built.algorithm, state, run_dir / "trajectories.png",
                             num_tasks=num_tasks, num_adaptations=num_adaptations, title=title)


def trajectory_figure(env_name: str, algo, state, path: str | Path, num_tasks: int = 4,
                      num_adaptations: int = 3, title: str | None = None,
                      task_ids: list[int] | None = None) -> Path:
    """The trajectory picture for any (algorithm, meta-state) on a 2-D navigation family
    (test tasks ``task_ids``, default the first ``num_tasks``)."""
    plt = _pyplot()
    obj = algo.objective
    if obj.rollout is None or not env_name.startswith(("four_corners", "six_circles",
                                                       "navigation")):
        raise ValueError(f"trajectory plots are for the 2-D navigation tasks, not {env_name}")
    tasks = obj.sample_test_tasks(jax.random.PRNGKey(0), None)
    total = int(jax.tree.leaves(tasks)[0].shape[0])
    ids = list(range(min(num_tasks, total))) if task_ids is None else list(task_ids)
    n = len(ids)

    @jax.jit
    def paths(task, key):
        meta = obj.rollout(key, state.params, task, state.norm)
        keys = jax.random.split(key, num_adaptations)
        adapted = jax.vmap(lambda k: algo.adapt(state, k, task))(keys)
        return meta, jax.vmap(lambda p: obj.rollout(key, p, task, state.norm))(adapted)

    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
    for col, i in enumerate(ids):
        task = jax.tree.map(lambda x, i=i: x[i], tasks)
        meta, adapted = paths(task, jax.random.PRNGKey(i))
        ax = axes[0, col]
        for j, trail in enumerate(np.asarray(adapted)):
            ax.plot(trail[:, 0], trail[:, 1], color="tab:blue", alpha=0.6,
                    label=f"adapted ({num_adaptations} adaptations)" if j == 0 else None)
        meta = np.asarray(meta)
        ax.plot(meta[:, 0], meta[:, 1], color="black", lw=2, label="meta-policy (no adaptation)")
        others = _all_goals(env_name)
        if others is not None:  # every goal of the family, its zone, and which ones are this task's
            for g in others:
                ax.add_patch(plt.Circle(g, 2.0, color="gray", alpha=0.08))
            ax.scatter(others[:, 0], others[:, 1], marker="x", color="gray", s=40,
                       label="every goal of the family (zone: radius 2)")
        goals = _goals(env_name, task)
        ax.scatter(goals[:, 0], goals[:, 1], marker="*", s=200, color="gold",
                   edgecolor="black", zorder=5, label="this task's goal(s)")
        ax.scatter([0], [0], marker="o", color="black", s=20)
        lim = 1.1 if env_name == "navigation_2d" else 5.0  # the arena: positions clip at 5
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(f"test task {i} of {total}")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title or f"{env_name}, meta-step {int(state.step)}")
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _is_2d_navigation(env_name: str) -> bool:
    return env_name.startswith(("four_corners", "six_circles", "navigation"))


def render(run_dir: str | Path, task_ids: list[int] | None = None, num_adaptations: int = 3,
           log=print) -> list[Path]:
    """Pictures of what the meta-policy does before and after adaptation on test tasks, in
    ``RUN/render-step<S>/``: the paths (2-D navigation), Brax's HTML viewer of one episode before
    and one after adaptation per task (locomotion), or the observations over time (other RL
    families, e.g. CartPole). Multi-seed runs: the first seed. Returns the files written."""
    from esmaml_jax.app.loop import first_seed, load_run

    run_dir = Path(run_dir)
    built, state = load_run(run_dir, log=log)
    state = first_seed(state, built.run)
    env_name = built.config.component("env").name
    algo, family = built.algorithm, built.family
    obj = algo.objective
    if obj.states is None:
        raise ValueError(f"render is for RL task families; {env_name} is supervised (its "
                         f"learning curve: esmaml plot)")
    tasks = obj.sample_test_tasks(jax.random.PRNGKey(0), None)
    total = int(jax.tree.leaves(tasks)[0].shape[0])
    ids = list(range(min(4, total))) if task_ids is None else list(task_ids)
    bad = [i for i in ids if not 0 <= i < total]
    if bad:
        raise ValueError(f"--tasks {bad} out of range: {env_name} has {total} test tasks "
                         f"(0-{total - 1})")
    out = run_dir / f"render-step{int(state.step)}"
    out.mkdir(exist_ok=True)
    if _is_2d_navigation(env_name):
        return [trajectory_figure(env_name, algo, state, out / "trajectories.png",
                                  num_adaptations=num_adaptations, task_ids=ids)]

    @jax.jit
    def episodes(task, key):
        k_roll, k_adapt = jax.random.split(key)  # one start state for every episode drawn
        pre, pre_ret = obj.states(k_roll, state.params, task, state.norm)
        adapted = jax.vmap(lambda k: algo.adapt(state, k, task))(
            jax.random.split(k_adapt, num_adaptations))
        post, post_ret = jax.vmap(lambda p: obj.states(k_roll, p, task, state.norm))(adapted)
        return pre, pre_ret, post, post_ret

    per_task = [(i, episodes(jax.tree.map(lambda x, i=i: x[i], tasks), jax.random.PRNGKey(i)))
                for i in ids]
    base = getattr(family.env, "base", None)  # a Brax PipelineEnv: its System draws the robot
    if base is not None:
        return _brax_html(base, per_task, out, log)
    title = (f"{env_name}, meta-step {int(state.step)}: observations along one episode, drawn "
             f"until the episode ends")
    return [_observations_figure(family, per_task, num_adaptations, title, out / "states.png")]


def _brax_html(base, per_task, out: Path, log) -> list[Path]:
    """Brax's HTML viewer of one episode before and one after adaptation per task."""
    from brax.io import html

    written = []
    for i, (pre, pre_ret, post, post_ret) in per_task:
        for name, states, ret in (("pre", pre, pre_ret), ("post", jax.tree.map(
                lambda x: x[0], post), post_ret[0])):
            frames = [jax.tree.map(lambda x, t=t: x[t], states.pipeline_state)
                      for t in range(states.obs.shape[0])]
            path = out / f"task{i}-{name}.html"
            path.write_text(html.render(base.sys, frames))
            log(f"  task {i} {name}-adaptation: return {float(ret):.1f} -> {path}")
            written.append(path)
    return written


def _until_done(obs, done):
    """The observations up to the step that ended the episode (the rollout keeps stepping a
    finished episode with its return masked; those states are not drawn)."""
    ended = np.flatnonzero(np.asarray(done) > 0)
    return np.asarray(obs)[: ended[0] + 1 if ended.size else len(obs)]


def _observations_figure(family, per_task, num_adaptations: int, title: str,
                         path: Path) -> Path:
    """Every observation over time, before (black) and after adaptation (blue), per task."""
    plt = _pyplot()
    dims = family.observation_size
    names = getattr(family.env, "observation_names", None) or [
        f"observation {d}" for d in range(dims)]
    fig, axes = plt.subplots(len(per_task), dims, figsize=(3.0 * dims, 2.4 * len(per_task)),
                             squeeze=False)
    for row, (i, (pre, pre_ret, post, post_ret)) in enumerate(per_task):
        for d in range(dims):
            ax = axes[row, d]
            for j in range(num_adaptations):
                ax.plot(_until_done(post.obs[j, :, d], post.done[j]), color="tab:blue",
                        alpha=0.6, lw=1,
                        label=f"adapted ({num_adaptations}), return "
                              f"{float(np.mean(post_ret)):.1f}" if j == 0 else None)
            ax.plot(_until_done(pre.obs[:, d], pre.done), color="black", lw=1.5,
                    label=f"meta-policy, return {float(pre_ret):.1f}")
            ax.set_title(f"test task {i}: {names[d]}", fontsize=9)
            ax.grid(alpha=0.3)
            if row == len(per_task) - 1:
                ax.set_xlabel("time step")
        axes[row, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
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


def _results(run_dir: Path) -> tuple[int, list[tuple[float, float]]] | None:
    """(meta-step, (post, pre) of each seed): the run's result, the final evaluation in
    summary.json; None when the run has no summary (a damaged one is an error naming it)."""
    from esmaml_jax.app import rundir

    summary = rundir.read_summary(Path(run_dir))
    if summary is None:
        return None
    try:
        step = int(summary["steps"])
        if "final_test_post_per_seed" in summary:
            return step, list(zip(summary["final_test_post_per_seed"],
                                  summary["final_test_pre_per_seed"], strict=True))
        return step, [(float(summary["final_test_post"]), float(summary["final_test_pre"]))]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{run_dir}/summary.json is damaged: its result does not read ({e})") \
            from None


__all__ = ["learning_curve", "plot_run", "render", "trajectories",
           "trajectory_figure"]
