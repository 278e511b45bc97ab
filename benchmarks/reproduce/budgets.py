"""ES-MAML against PG-MAML at EQUAL env-step budgets, from the committed pg_vs_es CSVs
(issue 38 items 1-2). The ES-vs-PG rows of RESULTS.md are judged on these budgets (`claims_pg`,
one-sided tests by claim); this section shows every run in both PG evaluation modes and on
both terms, descriptively.

ES-MAML spends more env steps per meta-step than PG-MAML (2.2x to 8.25x in these runs), so the
same number of meta-steps gives ES more environment interaction. Here each method is read at
the budget both reached, B = the smaller of the two runs' final env-step counts (PG's, in every
committed run): PG-MAML TRPO at its final evaluation, ES-MAML on its curve at B, linearly
interpolated between the two logged evaluations around B, per seed. PG is shown in both of its
recorded evaluation modes (sampled actions, ``test_post``; the mean action, ``test_post_mean``)
beside the equal-meta-step comparison. The p here is Welch's t across seeds, two-sided (a
difference in either direction); the verdicts are in the rows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "results"
ES, PG = "ES-MAML", "PG-MAML TRPO"


def curve(rows: list[dict], method: str, seed: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(env steps, values of ``key``) of one method's seed, in logged order."""
    mine = sorted((r for r in rows if r["method"] == method and r["seed"] == seed
                   and r.get(key) not in (None, "")), key=lambda r: int(r["step"]))
    return (np.array([float(r["env_steps"]) for r in mine]),
            np.array([float(r[key]) for r in mine]))


def at_budget(steps: np.ndarray, values: np.ndarray, budget: float) -> float:
    """The value on the curve at ``budget`` env steps (linear between the logged points around
    it); an error when the curve does not reach it."""
    if budget > steps[-1] + 1e-9 or budget < steps[0] - 1e-9:
        raise ValueError(f"budget {budget:,.0f} outside the curve ({steps[0]:,.0f}-"
                         f"{steps[-1]:,.0f})")
    return float(np.interp(budget, steps, values))


def compare(rows: list[dict]) -> dict | None:
    """The equal-budget and equal-meta-step comparison of one CSV, or None without both."""
    import warnings

    from scipy import stats

    warnings.filterwarnings("ignore", message="Precision loss", category=RuntimeWarning)
    seeds = sorted({r["seed"] for r in rows if r["method"] == ES})
    if not seeds or not any(r["method"] == PG for r in rows):
        return None
    final = {m: max(float(r["env_steps"]) for r in rows if r["method"] == m) for m in (ES, PG)}
    budget = min(final.values())
    es_at = [at_budget(*curve(rows, ES, s, "test_post"), budget) for s in seeds]
    es_final = [curve(rows, ES, s, "test_post")[1][-1] for s in seeds]
    out = {"budget": budget, "ratio": final[ES] / final[PG], "seeds": len(seeds),
           "es_at_budget": es_at, "es_final": es_final}
    for mode, key in (("sampled", "test_post"), ("mean", "test_post_mean")):
        curves = [curve(rows, PG, s, key) for s in seeds]
        pg = [at_budget(*c, budget) for c in curves if len(c[0])]
        if len(pg) != len(seeds):
            continue
        t, p = stats.ttest_ind(es_at, pg, equal_var=False)
        t_m, p_m = stats.ttest_ind(es_final, pg, equal_var=False)
        out[mode] = {"pg": pg, "diff": float(np.mean(es_at) - np.mean(pg)), "p": float(p),
                     "diff_meta": float(np.mean(es_final) - np.mean(pg)), "p_meta": float(p_m)}
    return out


def _name(path: Path) -> str:
    return path.stem.removeprefix("pg_vs_es_")


def table() -> list[str]:
    """The Markdown section: one row per committed pg_vs_es CSV."""
    lines = ["## ES-MAML vs PG-MAML at equal env-step budgets", "",
             "Measured from the same CSVs as the rows above (`benchmarks/reproduce/budgets.py`); "
             "the ES-vs-PG rows above are judged at these budgets, with PG's sampled-action "
             "return, by their claims' one-sided tests. Here every run is shown in both PG "
             "evaluation modes and on both terms, with two-sided p (a difference either way). "
             "Budget: the env steps both methods reached (PG "
             "TRPO's final evaluation); ES-MAML read on its curve at that budget (linear between "
             "its logged evaluations). ES / PG: ES's env steps per meta-step over PG's. "
             "Differences are ES minus PG, mean over seeds; \"equal "
             "meta-steps\" is ES's final evaluation against the same PG figure. PG sampled: its "
             "stochastic policy's return; PG mean: the same policies acting with the mean.", "",
             "| run | seeds | ES / PG env steps | budget | ES at budget | PG sampled | ES - PG "
             "sampled, equal budget (p) | same, equal meta-steps (p) | PG mean action | ES - PG "
             "mean, equal budget (p) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(RESULTS.glob("pg_vs_es_*.csv")):
        c = compare(list(csv.DictReader(open(path))))
        if c is None or "sampled" not in c:
            continue
        s, m = c["sampled"], c.get("mean")
        mean_cols = (f"{np.mean(m['pg']):.1f} | {m['diff']:+.1f} ({m['p']:.2g})" if m
                     else "not recorded | ")
        lines.append(f"| {_name(path)} | {c['seeds']} | {c['ratio']:.2f} | "
                     f"{c['budget']:,.0f} | {np.mean(c['es_at_budget']):.1f} | "
                     f"{np.mean(s['pg']):.1f} | {s['diff']:+.1f} ({s['p']:.2g}) | "
                     f"{s['diff_meta']:+.1f} ({s['p_meta']:.2g}) | {mean_cols} |")
    return lines
