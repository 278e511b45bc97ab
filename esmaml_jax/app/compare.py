"""`esmaml compare`: several runs (or groups of seeds) on shared axes, and their results."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from esmaml_jax.app.plots import _by_seed, _objective_label, _pyplot, _results, _rows


def parse_groups(specs: list[str]) -> dict[str, list[Path]]:
    """``[LABEL=]RUN[,RUN...]`` arguments -> {label: run directories (one per seed)}. A label
    given twice, or a run given twice in one group, is an error."""
    groups: dict[str, list[Path]] = {}
    for spec in specs:
        label, sep, runs = spec.partition("=")
        if not sep:
            label, runs = spec, spec
        if label in groups:
            raise ValueError(f"compare: the label {label!r} is given twice (one group: "
                             f"{label}=RUN1,RUN2)")
        dirs = [Path(r) for r in runs.split(",") if r]
        seen: set[Path] = set()
        for d in dirs:
            if not (d / "metrics.csv").exists():
                raise FileNotFoundError(f"{d} has no metrics.csv (not a run directory?)")
            if d.resolve() in seen:  # (a run may stand in two groups, as a reference)
                raise ValueError(f"compare: {d} is given twice in {label!r}; a run counts once "
                                 f"in a group")
            seen.add(d.resolve())
        groups[label] = dirs
    return groups


def _evaluated(rows: list[dict]) -> dict[int, dict]:
    """One seed's rows that hold test returns, by meta-step."""
    return {int(r["step"]): r for r in rows if r.get("test_pre") and r.get("test_post")}


def compare(groups: dict[str, list[Path]], out: str | Path, x: str = "step"):
    """Test returns before and after adaptation of several run groups on shared axes (mean over
    a group's runs, band: min to max), against meta-steps, env steps or wall time. Returns
    (path, rows of (label, runs, final post mean, std, final pre mean, std, source)): the final
    numbers are the runs' results (summary.json) when every run of the group has finished,
    else the last evaluation all of them logged."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    table = []
    for i, (label, dirs) in enumerate(groups.items()):
        runs = [_evaluated(seed) for d in dirs for seed in _by_seed(_rows(d))]  # a seed: a run
        results: list = []
        for d in dirs:
            found = _results(d)
            results += found[1] if found is not None else [None]
        # aligned by meta-step (never by row number): the steps every run has evaluated
        steps = sorted(set.intersection(*(set(r) for r in runs)))
        if not steps:
            raise ValueError(f"compare: the runs of {label!r} share no evaluated meta-step")
        xs = np.mean([[float(r[s][x]) for s in steps] for r in runs], axis=0)
        finals = {}
        for ax, key in zip(axes, ("test_pre", "test_post"), strict=True):
            ys = np.array([[float(r[s][key]) for s in steps] for r in runs])
            ax.plot(xs, ys.mean(0), color=f"C{i}", marker="o", ms=3,
                    label=f"{label} ({len(runs)} run{'s' * (len(runs) > 1)})")
            if len(runs) > 1:
                ax.fill_between(xs, ys.min(0), ys.max(0), color=f"C{i}", alpha=0.2)
            finals[key] = ys[:, -1]
        source = f"meta-step {steps[-1]}, last logged evaluation (metrics.csv)"
        if len(results) == len(runs) and all(r is not None for r in results):
            # the runs' results: their final evaluations (summary.json), as train printed
            finals = {"test_post": np.array([r[0] for r in results]),
                      "test_pre": np.array([r[1] for r in results])}
            source = "the runs' results (final evaluation, summary.json)"
        table.append((label, len(runs), float(finals["test_post"].mean()),
                      float(finals["test_post"].std()), float(finals["test_pre"].mean()),
                      float(finals["test_pre"].std()), source))
    names = {"step": "meta-step", "env_steps": "env steps", "wall_time": "wall time (s)"}
    for ax, title in zip(axes, ("before adaptation (meta-policy)", "after adaptation"),
                         strict=True):
        ax.set_title(f"test return, {title}")
        ax.set_xlabel(names[x])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(_objective_label(next(iter(groups.values()))[0]))
    axes[1].legend(fontsize=8)
    fig.text(0.5, 0.005, "line: mean over a group's runs; band: min to max", ha="center",
             fontsize=8)
    path = Path(out)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path, table
