"""The verdict rules of benchmarks/RESULTS.md and the helpers every claim uses: loading a
result CSV, per-seed values, the tests across seeds (`judge` is THE rule) and formatting."""

from __future__ import annotations

import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"


def load(name):
    path = RESULTS / name
    return list(csv.DictReader(open(path))) if path.exists() else []


def pick(rows, **kw):
    for r in rows:
        if all(str(r[k]) == str(v) for k, v in kw.items()):
            return r
    return None


def verdict(ok):
    """Every run behind these rows is below the paper's scale, so a failed check is not a
    refutation: "does not reproduce" is kept for runs at the paper's scale (`scaled_verdict`,
    `welch`)."""
    return "reproduces" if ok else "inconclusive (not at the paper's scale)"


def compare(better, worse):
    """Verdict for "``better`` beats ``worse``" from per-seed values: it reproduces only when
    every seed of one is above every seed of the other; a higher mean with overlapping seeds is
    inconclusive at this scale."""
    if min(better) > max(worse):
        return "reproduces"
    if mean(better) > mean(worse):
        return "inconclusive (seeds overlap)"
    return "inconclusive (reversed at CPU scale)"  # these 2-seed runs are all below it


def judge(diff: float, p: float, at_scale: bool) -> str:
    """THE verdict rule for a measured effect ``diff`` (> 0: the claimed direction) with p-value
    ``p`` (of the test across seeds):

    - "reproduces": the claimed direction with p < 0.05;
    - "does not reproduce": only for a run at the paper's scale, when the effect is absent (its
      estimate is not in the claimed direction: diff <= 0) or significantly reversed;
    - "inconclusive (...)" otherwise, with the reason: a claimed-direction effect that is not
      significant, or any failure below the paper's scale.

    (Fixed in session 6, before the runs that session made were judged; until then a
    paper-scale comparison needed a SIGNIFICANT reversal to fail, and the one-sample gain rows
    failed on any non-significant gain: now both follow this one rule.)"""
    if p < 0.05 and diff > 0:
        return "reproduces"
    if at_scale and (diff <= 0 or p < 0.05):
        return "does not reproduce"
    if diff <= 0 and p < 0.05:
        return "inconclusive (reversed at CPU scale)"
    if diff <= 0:
        return "inconclusive (not in the claimed direction, below the paper's scale)"
    return "inconclusive (not significant)"


def welch(better, worse, paper_scale=False):
    """(verdict, text) for "``better`` beats ``worse``" from per-seed values by Welch's t-test,
    judged by `judge`."""
    from scipy import stats

    t, p = stats.ttest_ind(better, worse, equal_var=False)
    diff = mean(better) - mean(worse)
    return judge(diff, p, paper_scale), f"difference {diff:+.1f}, Welch t = {t:.2f}, p = {p:.3g}"


def positive(values, at_scale: bool = False, digits: int = 1):
    """(verdict by `judge`, text): a one-sample t-test of mean(values) > 0 across seeds (the
    mean shown with ``digits`` decimals)."""
    from scipy import stats

    t, p = stats.ttest_1samp(values, 0.0, alternative="greater")
    return (judge(mean(values), p, at_scale),
            f"{mean(values):+.{digits}f} (t = {t:.2f}, one-sided p = {p:.3g})")


def minus_column(row, column: str) -> list[float]:
    """Per seed: an exploration row's final post-adaptation return minus its ``column`` (a
    space-separated per-seed column, e.g. "pre_after_per_seed": the adaptation gain)."""
    return [a - float(b) for a, b in zip(seeds_of(row), row[column].split(), strict=True)]


def _final_by_method(rows, key, first: bool = False):
    """{method: per-seed values of ``key`` at the last evaluated step (``first``: at step 0,
    the untrained meta-policy)}."""
    out: dict[str, list[float]] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        at = 0 if first else max(int(r["step"]) for r in mine)
        out[method] = [float(r[key]) for r in mine if int(r["step"]) == at]
    return out


def severity(v: str) -> int:
    """How far a verdict is from "reproduces": 0 it does; 1 inconclusive (not significant, or
    below the paper's scale); 2 inconclusive because reversed; 3 does not reproduce."""
    if v == "reproduces":
        return 0
    if v.startswith("does not reproduce"):
        return 3
    return 2 if "reversed" in v else 1


def all_hold(verdicts) -> str:
    """"reproduces" when every one of ``verdicts`` does, else the worst (`severity`; the first
    of equals)."""
    return max(list(verdicts), key=severity, default="reproduces")


def first_failing(checks) -> str:
    """The verdict of a claim that needs every (name, verdict) of ``checks``: "reproduces" when
    all do, else the worst (`severity`, the first of equals) with the failing check's name in
    the reason, e.g. "inconclusive (HC vs MC: not significant)"."""
    name, v = max(list(checks), key=lambda c: severity(c[1]), default=("", "reproduces"))
    if v == "reproduces":
        return v
    head, _, reason = v.partition(" (")
    return f"{head} ({name}: {reason[:-1]})" if reason else f"{head} ({name})"


def beyond_start(v: str, better_untrained, worse_untrained) -> str:
    """A "better after training" verdict ``v`` unless the untrained policies (per seed) already
    differed that way by `welch`: then the gap is not evidence of training."""
    if v == "reproduces" and welch(better_untrained, worse_untrained)[0] == "reproduces":
        return "inconclusive (the gap is there before training)"
    return v


def scaled_verdict(ok: bool, row) -> str:
    """A claim checked on one exploration row: a failure is "does not reproduce" only at the
    paper's scale (`paper_scale`), else inconclusive."""
    if ok:
        return "reproduces"
    return "does not reproduce" if paper_scale(row) else "inconclusive (not at the paper's scale)"


def paper_scale(row) -> bool:
    """An exploration row at the paper's scale: P 150, >= 3 seeds and the script's --full
    iteration count (1000 meta-steps)."""
    return (int(row["perturbations"]) >= 150 and int(row["seeds"]) >= 3
            and int(row["steps"]) >= 1000)


def between(better_row, worse_row) -> tuple[str, str]:
    """(verdict, text) for "``better_row``'s method beats ``worse_row``'s": Welch's t with 3 or
    more seeds each (``welch``), else the every-seed-separated rule of `compare`."""
    a, b = seeds_of(better_row), seeds_of(worse_row)
    if min(len(a), len(b)) >= 3:
        v, text = welch(a, b, paper_scale(better_row) and paper_scale(worse_row))
        scale = (f"{better_row['steps']} steps, P {better_row['perturbations']}, "
                 f"{better_row['seeds']} seeds")
        return v, f"; {text} ({scale})"
    return compare(a, b), ""


def seed_areas(post):
    """Per seed: the mean post-adaptation return over the evaluations after step 0."""
    steps = [s for s in sorted(post) if s > 0]
    return [mean([post[s][i] for s in steps]) for i in range(len(post[steps[0]]))]


def fmt(xs):
    return "[" + ", ".join(f"{x:.1f}" for x in xs) + "]"


def ex_cmd(row) -> str:
    """The campaign's exploration command that wrote ``row``: the part of
    `benchmarks.reproduce.parts.PARTS` whose --only selects the row's experiment and whose
    scale (steps, P, seeds, seed stream) is the row's."""
    import shlex

    from benchmarks.reproduce import exploration
    from benchmarks.reproduce.parts import PARTS

    base = "python -m benchmarks.reproduce.exploration"
    if row is None:
        return f"`{base}`"
    name = f"{row['env']}/{row['operator']}/{row['K']}"
    want = (int(row["steps"]), int(row["perturbations"]), int(row["seeds"]),
            int(row.get("seed_stream") or 0))
    for _, module, always, scale in PARTS:
        if module != "exploration":
            continue
        a = exploration.parse_args(always + scale)  # the script's own defaults
        if a.only and not any(w in name for w in a.only.split(",")):
            continue
        if (a.steps, a.perturbations, a.seeds, a.seed_stream) == want:
            return "`" + " ".join([base, *(shlex.quote(x) for x in always + scale)]) + "`"
    return f"`{base}` (no campaign part has this row's scale)"


def stream_note(row) -> str:
    """"; seeds from stream N (fresh)" for rows re-run on fresh seeds, else ""."""
    stream = str(row.get("seed_stream") or "0")
    return "" if stream == "0" else f"; seeds from stream {stream} (fresh)"


def seeds_of(row):
    """Per-seed final values of an exploration row (older CSVs have only the mean)."""
    per = row.get("post_after_per_seed")
    return [float(x) for x in per.split()] if per else [float(row["post_after"])]


def _separated(a, b):
    """Seed-separation verdict from an operators.csv pair (mean +- population std over seeds;
    with 2 seeds mean +- std ARE the two seeds, so this is the per-seed rule of `compare`)."""
    lo = float(a["post_mean"]) - float(a["post_std_seeds"])
    hi = float(b["post_mean"]) + float(b["post_std_seeds"])
    if lo > hi:
        return "reproduces"
    if float(a["post_mean"]) > float(b["post_mean"]):
        return "inconclusive (seeds overlap)"
    return "inconclusive (reversed at CPU scale)"


def curve(rows, **kw):
    """{step: [values over seeds]} of test_post (and test_pre) for the matching rows."""
    mine = [r for r in rows if all(str(r[k]) == str(v) for k, v in kw.items())]
    steps = sorted({int(r["step"]) for r in mine})
    post = {s: [float(r["test_post"]) for r in mine if int(r["step"]) == s] for s in steps}
    pre = {s: [float(r["test_pre"]) for r in mine if int(r["step"]) == s] for s in steps}
    return post, pre


def mean(xs):
    return sum(xs) / len(xs)
