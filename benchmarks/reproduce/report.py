"""Render benchmarks/RESULTS.md from its template (benchmarks/reproduce/RESULTS.template.md):
the claims table, the equal-budget section and each script's runtime. The prose is in the
template; the rows come from the claims modules."""

from __future__ import annotations

from pathlib import Path

from benchmarks.reproduce import budgets
from benchmarks.reproduce.verdicts import RESULTS, ROOT, load

TEMPLATE = Path(__file__).with_name("RESULTS.template.md")


RUNTIME = {"exploration.csv": ("benchmarks/reproduce/exploration.py", "wall_s"),
           "operators.csv": ("benchmarks/operators.py", "compile_s"),
           "asebo_low_k.csv": ("benchmarks/operators.py --only ... --out "
                               "benchmarks/results/asebo_low_k.csv", "compile_s"),
           "first_order.csv": ("benchmarks/first_order.py", "wall_s_incl_compile"),
           "sine.csv": ("benchmarks/sine.py", "wall_s"),
           "sine_curve.csv": ("benchmarks/sine.py --curve-every ...", "wall_s"),
           "cartpole.csv": ("benchmarks/reproduce/cartpole.py", "wall_s_policy"),
           "locomotion.csv": ("benchmarks/reproduce/locomotion.py", "wall_s"),
           "robustness.csv": ("benchmarks/reproduce/robustness.py", "wall_s")}


def runtimes() -> list[str]:
    """Total wall time of each script's last run, summed from its result rows."""
    lines = []
    for path in sorted(RESULTS.glob("pg_vs_es_*.csv")):
        rows = load(path.name)
        if rows and "wall_s" in rows[0]:
            walls = {r["method"]: float(r["wall_s"]) for r in rows}
            lines.append(f"- `python -m benchmarks.reproduce.pg_vs_es` ({path.stem}): "
                         f"{sum(walls.values()) / 60:.1f} min (" + ", ".join(
                             f"{m} {w / 60:.1f}" for m, w in walls.items()) + ")")
    for name, (script, col) in RUNTIME.items():
        rows = load(name)
        if rows and name in ("operators.csv", "asebo_low_k.csv"):  # rate + compile
            # meta_steps_per_s counts every seed's steps (steps x seeds / training time)
            total = sum(float(r["steps"]) * float(r["seeds"]) / float(r["meta_steps_per_s"])
                        + float(r["compile_s"]) for r in rows)
            lines.append(f"- `python {script}`: {total / 60:.1f} min ({len(rows)} "
                         f"experiments; training incl. compilation)")
            continue
        if not rows or col not in rows[0]:
            continue
        if name == "sine_curve.csv":  # cumulative wall time per (method, K) curve
            walls: dict[tuple, float] = {}
            for r in rows:
                walls[r["method"], r["K"]] = max(walls.get((r["method"], r["K"]), 0.0),
                                                 float(r[col]))
            lines.append(f"- `python {script}`: {sum(walls.values()) / 60:.1f} min "
                         f"({len(walls)} curves; training incl. compilation)")
            continue
        # one wall time per experiment (rows of one experiment repeat it)
        keys = [k for k in rows[0] if k not in ("seed", "step", "test_pre", "test_post")]
        unique = {tuple(r[k] for k in keys if k != col): float(r[col]) for r in rows}
        lines.append(f"- `python {script}`: {sum(unique.values()) / 60:.1f} min "
                     f"({len(unique)} experiments; training incl. compilation)")
    return lines


def physics_note(row) -> str:
    """The physics a locomotion row ran on (every committed run used its family's default:
    Brax spring, generalized for swimmer), said in the row; "" for the pure-JAX families."""
    text = " ".join(row)
    if "swimmer" in text:
        return " Physics: Brax generalized, not the paper's MuJoCo."
    if any(robot in text for robot in ("halfcheetah", "walker2d", "ant_", "Ant")):
        return " Physics: Brax spring, not the paper's MuJoCo."
    return ""


def render(rows) -> str:
    """RESULTS.md's text for the claim rows ``rows`` of (claim, measured, verdict, command)."""
    table = ["| paper claim | measured | verdict | command |", "|---|---|---|---|"]
    for claim, measured, v, cmd in rows:
        assert "|" not in claim + measured, f"a | would break the table: {measured}"
        measured += physics_note((claim, measured, cmd))
        table.append(f"| {claim} | {measured} | {v} | {cmd} |")
    text = TEMPLATE.read_text()
    for marker, part in (("claims", table), ("budgets", budgets.table()),
                         ("runtimes", runtimes())):
        text = text.replace(f"<!-- {marker} -->", "\n".join(part))
    return text


def write(rows) -> None:
    (ROOT / "benchmarks" / "RESULTS.md").write_text(render(rows))
