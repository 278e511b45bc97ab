"""The verdict rules of benchmarks/RESULTS.md and the helpers every claim uses: loading a
result CSV, per-seed values, the tests across seeds (`judge` is THE rule) and formatting."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks.reproduce.paper import PAPER_P, PAPER_SEEDS, paper_horizon

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


# THE rule of every verdict (fixed in session 15, issue 38; the committed rows were run before
# it, so their verdicts are re-judged here, and the next campaign's runs are the first judged by
# a rule fixed before they ran):
# - a directional claim ("A beats B", "a gain > 0") is a one-sided test at ALPHA;
# - a "similar" claim is an equivalence test (TOST), a "similar or better" / "not more robust"
#   claim a non-inferiority test, both with the margin `margin(H)` stated in the row;
# - a significant reversal is reported as a reversal at every scale, with the scale;
# - a run with one training seed, or a variant that is not the paper's operator, is an
#   illustration: shown, never counted as the paper's claim;
# - across all tested rows, Holm's correction is shown beside the raw verdict (report.py).
ALPHA = 0.05
MARGIN_PER_STEP = 0.1  # "similar": within 0.1 reward per env step on average (x the horizon)


class Verdict(str):
    """A verdict's text, carrying the p-value of the test that decided it (``p``; None for an
    illustration or a rule without a test). For a claim that needs several checks to hold, the
    p of the intersection-union test: the largest of its checks' p-values."""

    p: float | None

    def __new__(cls, text: str, p: float | None = None):
        obj = super().__new__(cls, text)
        obj.p = p
        return obj


def illustration(why: str) -> Verdict:
    """A row shown for what it shows, with no verdict (``why``: one training seed, a variant
    that is not the paper's operator, means without per-seed values)."""
    return Verdict(f"illustration ({why}; no verdict)")


def margin(horizon) -> float:
    """The equivalence / non-inferiority margin of a return over ``horizon`` env steps."""
    return MARGIN_PER_STEP * float(horizon)


def compare(better, worse, at_scale: bool = False) -> Verdict:
    """Verdict for "``better`` beats ``worse``" from per-seed values: `welch` with 2 or more
    seeds each; one seed is an illustration."""
    if min(len(better), len(worse)) < 2:
        return illustration("one training seed")
    return welch(better, worse, at_scale)[0]


def judge(diff: float, p: float, at_scale: bool) -> Verdict:
    """THE verdict rule for a measured effect ``diff`` (> 0: the claimed direction) with the
    ONE-SIDED p-value ``p`` of the test across seeds in the claimed direction:

    - "reproduces": p < ALPHA (0.05);
    - a significant reversal (the opposite one-sided p, 1 - p, below ALPHA) at any scale:
      "does not reproduce (significantly reversed)" at the paper's settings, "reversed
      (significantly, below the paper's settings)" below them;
    - "does not reproduce (not in the claimed direction)": at the paper's settings, an estimate
      against the claim;
    - "inconclusive (...)" otherwise, with the reason."""
    if p < ALPHA:
        return Verdict("reproduces", p)
    if 1.0 - p < ALPHA:
        return Verdict("does not reproduce (significantly reversed)" if at_scale
                       else "reversed (significantly, below the paper's settings)", p)
    if at_scale and diff <= 0:
        return Verdict("does not reproduce (not in the claimed direction)", p)
    if diff <= 0:
        return Verdict("inconclusive (not in the claimed direction, below the paper's "
                       "settings)", p)
    return Verdict("inconclusive (not significant)", p)


def welch(better, worse, paper_scale=False):
    """(verdict, text) for "``better`` beats ``worse``" from per-seed values by Welch's t-test,
    one-sided, judged by `judge`."""
    from scipy import stats

    t, p = stats.ttest_ind(better, worse, equal_var=False, alternative="greater")
    diff = mean(better) - mean(worse)
    return (judge(diff, float(p), paper_scale),
            f"difference {diff:+.1f}, Welch t = {t:.2f}, one-sided p = {p:.3g}")


def noninferior(a, b, delta: float, at_scale: bool = False):
    """(verdict, text) for "``a`` is similar to or better than ``b``": Welch's one-sided test
    that mean(a) - mean(b) > -delta (non-inferiority with margin ``delta``), by `judge`."""
    shifted = [x + delta for x in a]
    v, _ = welch(shifted, b, at_scale)
    diff = mean(a) - mean(b)
    return v, (f"difference {diff:+.1f}, non-inferiority margin {delta:g} (one-sided Welch "
               f"p = {v.p:.3g})")


def equivalent(a, b, delta: float, at_scale: bool = False):
    """(verdict, text) for "``a`` and ``b`` are similar": two one-sided Welch tests (TOST) that
    the difference of means lies within +-``delta``; p is the larger of the two. A difference
    significantly beyond the margin (either side) at the paper's settings does not reproduce;
    below them it is "reversed"."""
    diff = mean(a) - mean(b)
    p_low = welch([x + delta for x in a], b)[0].p  # mean(a) - mean(b) > -delta
    p_high = welch(b, [x - delta for x in a])[0].p  # mean(a) - mean(b) < delta
    assert p_low is not None and p_high is not None
    p = max(p_low, p_high)
    text = f"difference {diff:+.1f}, equivalence margin +-{delta:g} (TOST p = {p:.3g})"
    if p < ALPHA:
        return Verdict("reproduces", p), text
    if min(1 - p_low, 1 - p_high) < ALPHA:  # significantly outside the margin
        return (Verdict("does not reproduce (significantly different)" if at_scale else
                        "reversed (significantly different, below the paper's settings)", p),
                text)
    return Verdict("inconclusive (equivalence not shown)", p), text


def positive(values, at_scale: bool = False, digits: int = 1):
    """(verdict by `judge`, text): a one-sample t-test of mean(values) > 0 across seeds (the
    mean shown with ``digits`` decimals)."""
    from scipy import stats

    t, p = stats.ttest_1samp(values, 0.0, alternative="greater")
    return (judge(mean(values), float(p), at_scale),
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
    """How far a verdict is from "reproduces": 0 it does; 1 inconclusive or an illustration;
    2 reversed below the paper's settings; 3 does not reproduce."""
    if v == "reproduces":
        return 0
    if v.startswith("does not reproduce"):
        return 3
    return 2 if v.startswith("reversed") else 1


def _joint_p(verdicts) -> float | None:
    """The intersection-union p of checks that must all hold: the largest of theirs."""
    ps = [getattr(v, "p", None) for v in verdicts]
    return None if not ps or any(p is None for p in ps) else max(ps)


def all_hold(verdicts) -> Verdict:
    """"reproduces" when every one of ``verdicts`` does, else the worst (`severity`; the first
    of equals); p is the largest of theirs."""
    verdicts = list(verdicts)
    worst = max(verdicts, key=severity, default="reproduces")
    return Verdict(worst, _joint_p(verdicts))


def first_failing(checks) -> Verdict:
    """The verdict of a claim that needs every (name, verdict) of ``checks``: "reproduces" when
    all do, else the worst (`severity`, the first of equals) with the failing check's name in
    the reason, e.g. "inconclusive (HC vs MC: not significant)"; p is the largest of theirs."""
    checks = list(checks)
    p = _joint_p(v for _, v in checks)
    name, v = max(checks, key=lambda c: severity(c[1]), default=("", "reproduces"))
    if v == "reproduces":
        return Verdict(v, p)
    head, _, reason = v.partition(" (")
    return Verdict(f"{head} ({name}: {reason[:-1]})" if reason else f"{head} ({name})", p)


def beyond_start(v: str, better_untrained, worse_untrained) -> Verdict:
    """A "better after training" verdict ``v`` unless the untrained policies (per seed) already
    differed that way by `welch`: then the gap is not evidence of training."""
    p = getattr(v, "p", None)
    if v == "reproduces" and welch(better_untrained, worse_untrained)[0] == "reproduces":
        return Verdict("inconclusive (the gap is there before training)", p)
    return Verdict(v, p)


def scale(env: str, P, seeds, horizon=None) -> tuple[bool, str]:
    """(at the paper's settings, the words saying so), computed from a run's own settings: P,
    seeds and horizon (None: the script's, the paper's for ``env``) against `paper_horizon`,
    PAPER_P and PAPER_SEEDS."""
    H = paper_horizon(env) if horizon in (None, "") else int(horizon)
    short = [f"{what} {have} < {want}" for what, have, want in
             (("P", int(P), PAPER_P), ("H", H, paper_horizon(env)),
              ("seeds", int(seeds), PAPER_SEEDS)) if have < want]
    if short:
        return False, "below the paper's settings: " + ", ".join(short)
    return True, (f"the paper's settings (P >= {PAPER_P}, H {paper_horizon(env)}, "
                  f">= {PAPER_SEEDS} seeds; its iteration counts are not stated)")


def paper_scale(row) -> bool:
    """An exploration row at the paper's settings (`scale`: P, seeds and horizon)."""
    return scale(row.get("env", ""), row["perturbations"], row["seeds"],
                 row.get("horizon"))[0]


def between(better_row, worse_row) -> tuple[Verdict, str]:
    """(verdict, text) for "``better_row``'s method beats ``worse_row``'s": Welch's t (one-sided)
    with 2 or more seeds each; one seed is an illustration."""
    a, b = seeds_of(better_row), seeds_of(worse_row)
    if min(len(a), len(b)) < 2:
        return illustration("one training seed"), ""
    v, text = welch(a, b, paper_scale(better_row) and paper_scale(worse_row))
    words = scale(better_row.get("env", ""), better_row["perturbations"],
                  better_row["seeds"])[1]
    return v, (f"; {text} ({better_row['steps']} steps, P {better_row['perturbations']}, "
               f"{better_row['seeds']} seeds; {words})")


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

    from benchmarks._common import only_matches
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
        if a.only and not only_matches(a.only, name):
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


def _separated(a, b) -> Verdict:
    """"a beats b" from an operators.csv pair (mean +- population std over 2 seeds: those ARE
    the two seeds), by `welch`."""
    def seeds(r):
        m, sd = float(r["post_mean"]), float(r["post_std_seeds"])
        return [m - sd, m + sd]
    return compare(seeds(a), seeds(b))


def curve(rows, **kw):
    """{step: [values over seeds]} of test_post (and test_pre) for the matching rows."""
    mine = [r for r in rows if all(str(r[k]) == str(v) for k, v in kw.items())]
    steps = sorted({int(r["step"]) for r in mine})
    post = {s: [float(r["test_post"]) for r in mine if int(r["step"]) == s] for s in steps}
    pre = {s: [float(r["test_pre"]) for r in mine if int(r["step"]) == s] for s in steps}
    return post, pre


def mean(xs):
    return sum(xs) / len(xs)
