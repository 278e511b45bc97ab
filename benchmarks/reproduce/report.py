"""Render benchmarks/RESULTS.md from its template (benchmarks/reproduce/RESULTS.template.md):
the claims table, the equal-budget section and each script's runtime. The prose is in the
template; the rows come from the claims modules."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.reproduce import budgets
from benchmarks.reproduce.verdicts import ALPHA, RESULTS, ROOT, load

TEMPLATE = Path(__file__).with_name("RESULTS.template.md")


RUNTIME = {"exploration.csv": ("benchmarks/reproduce/exploration.py", "wall_s"),
           "operators.csv": ("benchmarks/operators.py", "compile_s"),
           "asebo_low_k.csv": ("benchmarks/operators.py --only ... --out "
                               "benchmarks/results/asebo_low_k.csv", "compile_s"),
           "first_order.csv": ("benchmarks/first_order.py", "wall_s_incl_compile"),
           "first_order_ant_forward_backward_K10.csv": (
               "benchmarks/first_order.py --env ant_forward_backward -K 10 ...",
               "wall_s_incl_compile"),
           "first_order_halfcheetah_forward_backward_K5.csv": (
               "benchmarks/first_order.py --env halfcheetah_forward_backward -K 5 ...",
               "wall_s_incl_compile"),
           "compact.csv": ("benchmarks/reproduce/compact.py", "wall_s_policy"),
           "sine.csv": ("benchmarks/sine.py", "wall_s"),
           "sine_curve.csv": ("benchmarks/sine.py --curve-every ...", "wall_s"),
           "cartpole.csv": ("benchmarks/reproduce/cartpole.py", "wall_s_policy"),
           "locomotion.csv": ("benchmarks/reproduce/locomotion.py", "wall_s"),
           "robustness.csv": ("benchmarks/reproduce/robustness.py", "wall_s")}


def ran_on(rows) -> str:
    """" on <machine>; <device>; jax .., brax ..; commit ..": what the rows record of the run
    that made them (`benchmarks._common.run_record`; several runs: each, "/"-separated), so a
    wall time is read beside its machine; "" for rows from before the record."""
    def short(versions: str) -> str:
        return ", ".join(v for v in versions.split(", ") if v.split(" ")[0] in ("jax", "brax"))

    runs = dict.fromkeys(f"{r['machine']}; {r.get('device', '')}; {short(r.get('versions', ''))}"
                         f"; commit {r.get('commit', '')}" for r in rows if r.get("machine"))
    if not runs:
        return ""
    older = any(not r.get("machine") for r in rows)
    return " on " + " / ".join(runs) + ("; older rows: not recorded" if older else "")


def runtimes() -> list[str]:
    """Total wall time of each script's last run, summed from its result rows, with what ran
    it (`ran_on`)."""
    lines = []
    for path in sorted(RESULTS.glob("pg_vs_es_*.csv")):
        rows = load(path.name)
        if rows and "wall_s" in rows[0]:
            walls = {r["method"]: float(r["wall_s"]) for r in rows}
            lines.append(f"- `python -m benchmarks.reproduce.pg_vs_es` ({path.stem}): "
                         f"{sum(walls.values()) / 60:.1f} min (" + ", ".join(
                             f"{m} {w / 60:.1f}" for m, w in walls.items()) + ")"
                         + ran_on(rows))
    for name, (script, col) in RUNTIME.items():
        rows = load(name)
        if rows and name in ("operators.csv", "asebo_low_k.csv"):  # rate + compile
            # meta_steps_per_s counts every seed's steps (steps x seeds / training time)
            total = sum(float(r["steps"]) * float(r["seeds"]) / float(r["meta_steps_per_s"])
                        + float(r["compile_s"]) for r in rows)
            lines.append(f"- `python {script}`: {total / 60:.1f} min ({len(rows)} "
                         f"experiments; training incl. compilation)" + ran_on(rows))
            continue
        if not rows or col not in rows[0]:
            continue
        if name == "sine_curve.csv":  # cumulative wall time per (method, K) curve
            walls: dict[tuple, float] = {}
            for r in rows:
                walls[r["method"], r["K"]] = max(walls.get((r["method"], r["K"]), 0.0),
                                                 float(r[col]))
            lines.append(f"- `python {script}`: {sum(walls.values()) / 60:.1f} min "
                         f"({len(walls)} curves; training incl. compilation)" + ran_on(rows))
            continue
        # one wall time per experiment (rows of one experiment repeat it)
        keys = ([k for k in rows[0] if k not in ("seed", "step", "test_pre", "test_post")]
                if name != "compact.csv" else ["policy", col])  # one row per seed there
        unique = {tuple(r[k] for k in keys if k != col): float(r[col]) for r in rows}
        lines.append(f"- `python {script}`: {sum(unique.values()) / 60:.1f} min "
                     f"({len(unique)} experiments; training incl. compilation)" + ran_on(rows))
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


ROBOTS = re.compile(r"\b(halfcheetah|ant|walker2d|swimmer)_[a-z_]+")


def claim_key(claim: str) -> str:
    """The claim a row checks, so rows of one claim in several settings count once: its quoted
    words when it quotes the paper, else its text without the parentheses, with the robot
    and task named in it left out."""
    quoted = re.search(r'"([^"]+)"', claim)
    if quoted:
        return quoted.group(1)
    text = claim
    while re.search(r"\([^()]*\)", text):  # settings and measurements in parentheses
        text = re.sub(r" ?\([^()]*\)", "", text)
    return ROBOTS.sub("*", text.split(": ", 1)[-1]).strip()


def holm(ps: list[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values of the tested rows (None: a row with no test), over
    all of them at once."""
    tested = sorted((p, i) for i, p in enumerate(ps) if p is not None)
    m, out, running = len(tested), list(ps), 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def _against(v: str) -> bool:
    return v.startswith(("does not reproduce", "reversed"))


def holm_of_rows(rows) -> list[float | None]:
    """`holm` over the rows' verdicts' p-values (None for a row with no test)."""
    return holm([getattr(v, "p", None) for _, _, v, _ in rows])


def claims_summary(rows, adjusted: list[float | None]) -> list[str]:
    """Distinct claims first (`claim_key`), each with how its rows came out; then the rows.
    ``adjusted``: `holm_of_rows` of ``rows``."""
    groups: dict[str, list[str]] = {}
    for claim, _, v, _ in rows:
        groups.setdefault(claim_key(claim), []).append(v)
    raw_ok = sum(v == "reproduces" for _, _, v, _ in rows)
    holm_ok = sum(v == "reproduces" and a is not None and a < ALPHA
                  for (_, _, v, _), a in zip(rows, adjusted, strict=True))
    kinds = {"reproduce in every setting tested": 0, "reproduce in some settings": 0,
             "have a setting against them": 0, "inconclusive": 0,
             "have illustrations only": 0}
    table = ["| claim | rows | reproduce | inconclusive | against (reversed or does not "
             "reproduce) | illustrations |", "|---|---|---|---|---|---|"]
    for key, vs in groups.items():
        tested = [v for v in vs if not v.startswith("illustration")]
        ok, bad = sum(v == "reproduces" for v in tested), sum(_against(v) for v in tested)
        kinds[("have illustrations only" if not tested else
               "have a setting against them" if bad else
               "reproduce in every setting tested" if ok == len(tested) else
               "reproduce in some settings" if ok else "inconclusive")] += 1
        table.append(f"| {key[:140]} | {len(vs)} | {ok} | {len(tested) - ok - bad} | {bad} | "
                     f"{len(vs) - len(tested)} |")
    words = ", ".join(f"{n} {k}" for k, n in kinds.items())
    return [f"**{len(groups)} distinct claims**: {words}. **{len(rows)} rows** below them, "
            f"{sum(v.p is not None for _, _, v, _ in rows if hasattr(v, 'p'))} with a test: "
            f"{raw_ok} reproduce by the raw rule, {holm_ok} after Holm's correction over all "
            f"the tested rows (the Holm column).", "", *table]


def render(rows) -> str:
    """RESULTS.md's text for the claim rows ``rows`` of (claim, measured, verdict, command)."""
    adjusted = holm_of_rows(rows)
    table = ["| paper claim | measured | verdict | Holm-adjusted p | command |",
             "|---|---|---|---|---|"]
    for (claim, measured, v, cmd), a in zip(rows, adjusted, strict=True):
        assert "|" not in claim + measured, f"a | would break the table: {measured}"
        measured += physics_note((claim, measured, cmd))
        held = ("no test" if a is None else f"{a:.3g}" + (
            (" (holds)" if a < ALPHA else " (not after correction)") if v == "reproduces"
            else ""))
        table.append(f"| {claim} | {measured} | {v} | {held} | {cmd} |")
    text = TEMPLATE.read_text()
    for marker, part in (("summary", claims_summary(rows, adjusted)), ("claims", table),
                         ("budgets", budgets.table()), ("runtimes", runtimes())):
        text = text.replace(f"<!-- {marker} -->", "\n".join(part))
    return text


def write(rows) -> None:
    (ROOT / "benchmarks" / "RESULTS.md").write_text(render(rows))
