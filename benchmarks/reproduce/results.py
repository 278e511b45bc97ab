"""Write benchmarks/RESULTS.md: each paper claim, what we measured (from benchmarks/results/*),
and whether it reproduces. Verdicts are computed from the numbers by the rules below, never typed.

    python -m benchmarks.reproduce.results
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

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


def _pg_meta(rows) -> dict:
    """The scale a pg_vs_es CSV was run at (older CSVs: P 20, n 20, stream 0, K 20)."""
    r0 = rows[0]
    meta = {"P": int(r0.get("perturbations") or 20), "n": int(r0.get("tasks") or 20),
            "steps": max(int(r["step"]) for r in rows),
            "seeds": len({r["seed"] for r in rows}), "stream": int(r0.get("seed_stream") or 0),
            "K": int(r0.get("K") or 20), "horizon": r0.get("horizon") or "",
            "task_sets": r0.get("task_sets") or "",
            # the evaluation interval: it also splits the training keys, so a command that
            # reproduces the numbers names it
            "chunk": min(int(r["step"]) for r in rows if int(r["step"]) > 0)}
    return meta


def _pg_text(m: dict, at_scale: bool, paper: str) -> str:
    text = (f"{m['seeds']} seeds, {m['steps']} meta-steps; ES P {m['P']} antithetic, PG n "
            f"{m['n']} tasks, K {m['K']}" + (f", H {m['horizon']}" if m["horizon"] else "")
            + f": {'the paper' + chr(39) + 's scale for ES-MAML' if at_scale else paper})")
    return "(" + text + (f"; seeds from stream {m['stream']} (fresh)" if m["stream"] else "")


def _pg_cmd(env: str, m: dict, extra: str = "") -> str:
    return (f"`python -m benchmarks.reproduce.pg_vs_es --env {env}{extra} --seeds {m['seeds']} "
            f"--steps {m['steps']} --perturbations {m['P']}"
            + ("" if m["chunk"] == 10 else f" --chunk {m['chunk']}")
            + ("" if m["K"] == 20 else f" -K {m['K']}")
            + (f" --horizon {m['horizon']}" if m["horizon"] and "cartpole" not in env
               and "navigation" not in env and "corners" not in env else "")
            + (f" --seed-stream {m['stream']}" if m["stream"] else "") + "`")


def _late_means(rows, method) -> list[float]:
    """Per seed: the mean post-adaptation test return over the second half of training."""
    mine = [r for r in rows if r["method"] == method]
    last = max(int(r["step"]) for r in mine)
    seeds = sorted({r["seed"] for r in mine})
    return [mean([float(r["test_post"]) for r in mine if r["seed"] == sd
                  and int(r["step"]) >= last / 2]) for sd in seeds]


def es_vs_pg_claims():
    """ES-MAML against PG-MAML (benchmarks/reproduce/pg_vs_es.py), one row per figure."""
    out = []
    fc = load("pg_vs_es_four_corners.csv")
    if fc:
        m = _pg_meta(fc)
        post = _final_by_method(fc, "test_post")
        es, pg = post["ES-MAML"], post["PG-MAML TRPO"]
        at_scale = paper_scale({"perturbations": m["P"], "seeds": m["seeds"],
                                "steps": m["steps"]})
        v, text = welch(es, pg, at_scale)
        out.append(("4.1 / Fig. 1a: \"the basic version of Algorithm 3 is able to correctly "
                    "explore and adapt [...] it does not require any modifications to encourage "
                    "exploration, unlike PG-MAML\" (measured: final post-adaptation test return,"
                    " ES-MAML vs PG-MAML TRPO without exploration modifications, K = 20)",
                    f"per seed: ES {fmt(es)} vs PG {fmt(pg)}; {text} "
                    + _pg_text(m, at_scale, "CPU scale, the paper's P is 150 and its runs 1000+ "
                               "meta-steps"), v, _pg_cmd("four_corners", m)))
    nav = load("pg_vs_es_navigation.csv")
    if nav:
        m = _pg_meta(nav)
        at_scale = paper_scale({"perturbations": m["P"], "seeds": m["seeds"],
                                "steps": m["steps"]})
        pre, post = _final_by_method(nav, "test_pre"), _final_by_method(nav, "test_post")
        gains = {meth: [b - a for a, b in zip(pre[meth], post[meth], strict=True)]
                 for meth in ("ES-MAML", "PG-MAML TRPO")}
        ok = {meth: positive(g, at_scale) for meth, g in gains.items()}
        verdicts = [v for v, _ in ok.values()]
        out.append(("A.4 / Fig. A4: on Navigation-2D (K = 20) both ES-MAML and PG-MAML learn to "
                    "adapt, with different exploration strategies (measured: adaptation gain = "
                    "post - pre after training, per seed; the paths are in "
                    "pg_vs_es_navigation_paths_*.png)",
                    "; ".join(f"{meth}: gain {ok[meth][1]}" for meth in gains) + " "
                    + _pg_text(m, at_scale, "CPU scale"),
                    all_hold(verdicts),
                    _pg_cmd("navigation_2d", m)))
    cp = load("pg_vs_es_biased_cartpole_linear.csv")
    if cp:
        m = _pg_meta(cp)
        at_scale = m["P"] >= 150 and m["seeds"] >= 3 and str(m["horizon"] or "500") == "500"
        late = {meth: _late_means(cp, meth) for meth in ("ES-MAML", "PG-MAML TRPO")}
        v, text = welch(late["ES-MAML"], late["PG-MAML TRPO"], at_scale)
        out.append(("4.3 / Fig. 4: \"ES-MAML is able to stably maintain the maximum reward "
                    "(500)\" on Biased-Sensor CartPole, where PG's stochastic policies are "
                    "less stable (measured: per seed, the mean post-adaptation test return over "
                    "the second half of training, linear policies, horizon 500)",
                    f"per seed: ES {fmt(late['ES-MAML'])} vs PG TRPO "
                    f"{fmt(late['PG-MAML TRPO'])}; {text} "
                    + _pg_text(m, at_scale, "CPU scale"), v,
                    _pg_cmd("biased_cartpole", m, " --policy linear")))
    for env in (f"{robot}_{task}" for robot in ("halfcheetah", "swimmer", "walker2d", "ant")
                for task in ("forward_backward", "goal_velocity")):  # Fig. 5's four robots
        for k in (5, 20):  # Fig. 5 at low K, Fig. A5 at Finn et al.'s K: one CSV each
            rows = load(f"pg_vs_es_{env}_linear{'' if k == 20 else f'_K{k}'}.csv")
            if rows:
                out += _low_k_claims(env, rows)
    for env in ("swimmer_forward_backward", "walker2d_forward_backward"):
        out += _architecture_claims(env)
    return out


# Fig. 4's architectures: (label, CSV name part) for linear, one and two hidden layers of 32.
ARCHITECTURES = (("L", "_linear"), ("H", ""), ("HH", "_mlp32x32"))


def _architecture_claims(env: str, k: int = 5) -> list[tuple]:
    """Sec. 4.3 / Fig. 4 on Swimmer and Walker2d: linear policies (L) beat one (H) and two (HH)
    hidden layers, and ES-MAML trains better than PG-MAML there. Needs the three CSVs of one
    K and one scale (pg_vs_es.py --policy linear / mlp / mlp --hidden 32,32)."""
    runs = {label: load(f"pg_vs_es_{env}{part}_K{k}.csv") for label, part in ARCHITECTURES}
    if not all(runs.values()):
        return []
    metas = {label: _pg_meta(rows) for label, rows in runs.items()}
    if len({tuple(sorted(m.items())) for m in metas.values()}) != 1:
        return []  # not one scale: no comparison
    m = metas["L"]
    scale = _pg_text(m, False, "CPU scale: the paper's P is 150 and H 200")
    es = {label: _final_by_method(rows, "test_post")["ES-MAML"] for label, rows in runs.items()}
    pg = {label: _final_by_method(rows, "test_post")["PG-MAML TRPO"]
          for label, rows in runs.items()}
    tests = {other: welch(es["L"], es[other]) for other in ("H", "HH")}
    # The claim is about training: an L > H gap that the untrained policies already show (a
    # deterministic linear policy starts at zero output, an MLP does not) is not evidence.
    untrained = {label: _final_by_method(rows, "test_post", first=True)["ES-MAML"]
                 for label, rows in runs.items()}
    v = first_failing((f"L vs {o}", verdict) for o, (verdict, _) in tests.items())
    if v == "reproduces":
        v = first_failing((f"L vs {o}", beyond_start(v, untrained["L"], untrained[o]))
                          for o in ("H", "HH"))
    cmd = ", ".join(_pg_cmd(env, m, f" --policy {pol}") for pol in
                    ("linear", "mlp", "mlp --hidden 32,32"))
    out = [(f"4.3 / Fig. 4: \"we again find linear policies (L) outperforming policies with "
            f"one (H) or two (HH) hidden layers\" (measured: ES-MAML's final post-adaptation "
            f"test return, L vs H and L vs HH, each by Welch's t; both must hold), {env}",
            f"per seed: L {fmt(es['L'])}, H {fmt(es['H'])}, HH {fmt(es['HH'])}; L vs H: "
            f"{tests['H'][1]}; L vs HH: {tests['HH'][1]}; untrained (step 0) means: "
            + ", ".join(f"{lab} {mean(x):.1f}" for lab, x in untrained.items())
            + f" {scale}", v, cmd)]
    per_arch = {label: welch(es[label], pg[label]) for label in es}
    v2 = first_failing((label, x) for label, (x, _) in per_arch.items())
    out.append((f"4.3 / Fig. 4: on Swimmer and Walker2d \"PG is surprisingly unstable, and ES "
                f"yields better training\" (measured: final post-adaptation test return, "
                f"ES-MAML vs PG-MAML TRPO, for each of L, H, HH; all three must hold), {env}",
                "; ".join(f"{label}: ES {fmt(es[label])} vs PG {fmt(pg[label])}, "
                          f"{per_arch[label][1]}" for label in es) + f" {scale}", v2, cmd))
    return out


def _low_k_claims(env: str, rows) -> list[tuple]:
    """Sec. 4.4 / Fig. 5 at low K on a Brax family: which method adapts better, and whether PG
    is the unstable one (its spread over seeds). At Finn et al.'s K (20; Fig. A5, for which the
    paper states no claim of its own) only the first, Sec. 4.4's comparison checked at that K:
    the instability claim is about low K."""
    from scipy import stats

    m = _pg_meta(rows)
    low_k = m["K"] < 20
    post = _final_by_method(rows, "test_post")
    es, pg = post["ES-MAML"], post["PG-MAML TRPO"]
    scale = _pg_text(m, False, "CPU scale: the paper's P is 150 and H 200; its iteration "
                     "counts are not in the text")
    cmd = _pg_cmd(env, m, " --policy linear")
    forward = "forward_backward" in env
    v, text = welch(es, pg) if forward else welch(pg, es)
    claim = ("\"ES-MAML is similar or better on the Forward-Backward task\" (measured: "
             "final post-adaptation test return, ES-MAML vs PG-MAML TRPO; \"similar\" cannot be "
             "shown by a test that finds no difference, so only a significant ES > PG "
             "reproduces)" if forward else
             "\"PG-MAML can generally outperform ES-MAML on the Goal-Velocity task\" "
             "(measured: final post-adaptation test return, PG-MAML TRPO vs ES-MAML)")
    where = ("4.4 / Fig. 5: at low K (5), " if low_k else
             "A.5 / Fig. A5 (no claim of its own; Sec. 4.4's, checked at Finn et al.'s K = "
             f"{m['K']}): ")
    start = _final_by_method(rows, "test_post", first=True)
    untrained = (f"; untrained (step 0) means: ES {mean(start['ES-MAML']):.1f}, PG TRPO "
                 f"{mean(start['PG-MAML TRPO']):.1f}")
    s_es, s_pg = start["ES-MAML"], start["PG-MAML TRPO"]
    v = beyond_start(v, s_es, s_pg) if forward else beyond_start(v, s_pg, s_es)
    out = [(f"{where}{claim}, {env}, linear",
            f"per seed: ES {fmt(es)} vs PG TRPO {fmt(pg)}; {text}{untrained} {scale}", v, cmd)]
    if not low_k:
        return out
    # "PG-MAML can be highly unstable (note the wide error bars) [...] whereas ES-MAML is
    # relatively stable": PG's spread over seeds larger than ES's (Brown-Forsythe, one-sided).
    sd_es, sd_pg = float(np.std(es, ddof=1)), float(np.std(pg, ddof=1))
    _, p = stats.levene(es, pg, center="median")
    one_sided = p / 2 if sd_pg > sd_es else 1 - p / 2
    v2 = judge(sd_pg - sd_es, one_sided, False)
    out.append((f"4.4 / Fig. 5: \"for low K, PG-MAML can be highly unstable (note the wide "
                f"error bars) [...] whereas ES-MAML is relatively stable\" (measured: the spread "
                f"over seeds of the final post-adaptation return, PG-MAML TRPO vs ES-MAML, "
                f"Brown-Forsythe test, one-sided), {env}, linear",
                f"std over seeds: ES {sd_es:.2f} vs PG TRPO {sd_pg:.2f}; one-sided p = "
                f"{one_sided:.3g} {scale}", v2, cmd))
    return out


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


def claims():
    out = es_vs_pg_claims()
    ex = load("exploration.csv")
    cmd_ex = "`python -m benchmarks.reproduce.exploration`"
    mc20 = pick(ex, env="four_corners", operator="MC", K=20)
    if mc20 and mc20.get("pre_after_per_seed"):
        # the claim is about adaptation: post - pre after training, per seed
        v, text = positive(minus_column(mc20, "pre_after_per_seed"), paper_scale(mc20))
        out.append(("4.1 / Fig. 1a: Alg. 3 with K = 20 learns to explore four corners "
                    "(measured: adaptation gain = post - pre after training, per seed)",
                    f"gain {text}; post-adaptation per seed {fmt(seeds_of(mc20))} ("
                    f"{mc20['steps']} steps, P {mc20['perturbations']}, {mc20['seeds']} seeds)"
                    + stream_note(mc20), v, ex_cmd(mc20)))
    elif mc20:
        gain = float(mc20["post_after"]) - float(mc20["post_before"])
        out.append(("4.1 / Fig. 1a: Alg. 3 with K = 20 learns to explore four corners",
                    f"post-adaptation {mc20['post_before']} -> {mc20['post_after']} +- "
                    f"{mc20['post_after_std']} ({mc20['steps']} steps, P {mc20['perturbations']},"
                    f" {mc20['seeds']} seeds)", verdict(gain > 50), cmd_ex))
    mc5 = pick(ex, env="four_corners", operator="MC", K=5)
    if mc20 and mc5:
        v, text = between(mc20, mc5)
        out.append(("4.1: K = 5 performs worse than K = 20 (MC)",
                    f"per seed: K=5 {fmt(seeds_of(mc5))} vs K=20 {fmt(seeds_of(mc20))}{text}"
                    + stream_note(mc5), v, ex_cmd(mc5)))
    for op in ("HC", "DPP"):
        r = pick(ex, env="four_corners", operator=op, K=5)
        if r and mc5:
            v, text = between(r, mc5)
            out.append((f"4.1 / Fig. 1b: {op} improves on MC at K = 5",
                        f"per seed: {op} {fmt(seeds_of(r))} vs MC {fmt(seeds_of(mc5))}{text}"
                        + stream_note(r), v, ex_cmd(r)))
    pen = {op: pick(ex, env="four_corners_penalized", operator=op, K=20)
           for op in ("MC", "DPP", "HC")}
    if all(pen.values()) and min(int(r["seeds"]) for r in pen.values()) >= 3:
        # HC beats MC and HC beats DPP, each by `between` (Welch), both must hold
        (v_mc, t_mc), (v_dpp, t_dpp) = (between(pen["HC"], pen[o]) for o in ("MC", "DPP"))
        out.append(("4.1 / Fig. 1b: \"heavily penalizing incorrect goals [...] caused "
                    "performance to dramatically drop for MC and DPP-ES [...] This is also fixed "
                    "by the HC adaptation\" (measured: final post-adaptation test return, HC vs "
                    "MC and HC vs DPP, per seed; both must hold)",
                    "per seed: " + ", ".join(f"{o} {fmt(seeds_of(pen[o]))}" for o in pen)
                    + f"; HC vs MC{t_mc}; HC vs DPP{t_dpp}" + stream_note(pen["HC"]),
                    first_failing([("HC vs MC", v_mc), ("HC vs DPP", v_dpp)]),
                    ex_cmd(pen["HC"])))
    elif all(pen.values()):
        others = seeds_of(pen["MC"]) + seeds_of(pen["DPP"])
        out.append(("4.1 / Fig. 1b: with wrong-goal penalties MC and DPP collapse, HC survives",
                    "per seed: " + ", ".join(f"{o} {fmt(seeds_of(pen[o]))}" for o in pen),
                    compare(seeds_of(pen["HC"]), others), cmd_ex))
    six = {op: pick(ex, env="six_circles", operator=op, K=20)
           for op in ("MC", "HC", "HC(0.3)", "HC/ref-init", "MC/ref-init")}
    for op, what in (("HC", "adaptation precision 0.1, A.7.2"), ("HC(0.3)", "precision 0.3"),
                     ("HC/ref-init", "precision 0.1, the authors' policy initialisation")):
        mc = six["MC/ref-init" if op.endswith("ref-init") else "MC"]
        if six[op] and mc and six[op].get("pre_after_per_seed") and int(six[op]["seeds"]) >= 3:
            # learns to explore = adapts (post - pre after training > 0), the adapted return
            # rose with training (post after - post before, per seed), and beats MC; all three
            # by `judge` (so at the paper's scale an absent effect does not reproduce)
            row = six[op]
            at = paper_scale(row)
            post = seeds_of(row)
            gain_v, gain_text = positive(minus_column(row, "pre_after_per_seed"), at)
            if row.get("post_before_per_seed"):
                rise_v, rise_text = positive(minus_column(row, "post_before_per_seed"), at)
                rise_text = f"; post-adaptation after - before training {rise_text}"
            else:  # older rows: only the mean before training
                rise_v = ("reproduces" if mean(post) > float(row["post_before"]) else
                          "inconclusive (lower after training; no per-seed values before)")
                rise_text = ""
            mc_v, text = between(row, mc)
            stream = str(row.get("seed_stream", "0"))
            fresh = "" if stream == "0" else f"; seeds from stream {stream}" + (
                " (fresh: not the seeds on which 0.3 was chosen after 0.1 failed)"
                if op == "HC(0.3)" else "")
            v = first_failing([("adaptation gain", gain_v),
                               ("adapted return after vs before training", rise_v),
                               ("HC vs MC", mc_v)])
            out.append((f"4.1 / Fig. 2: HC learns to explore six circles ({what}) (measured: "
                        f"adaptation gain after training, post-adaptation after vs before "
                        f"training, per seed, and HC vs MC; all three must hold)",
                        f"gain {gain_text}{rise_text}; post-adaptation {row['post_before']} "
                        f"(untrained) -> {mean(post):.1f}, per seed HC {fmt(post)} vs MC "
                        f"{fmt(seeds_of(mc))}{text}{fresh}", v, ex_cmd(row)))
        elif six[op] and mc:
            before, after = float(six[op]["post_before"]), seeds_of(six[op])
            out.append((f"4.1 / Fig. 2: HC learns to explore six circles ({what})",
                        f"HC post-adaptation {six[op]['post_before']} (untrained, mean) -> per "
                        f"seed {fmt(after)}; MC {mc['post_before']} -> {mc['post_after']}",
                        scaled_verdict(min(after) > before and min(after) > max(seeds_of(mc)),
                                       six[op]), cmd_ex))
    nav = pick(ex, env="navigation_2d", operator="MC", K=20)
    if nav and int(nav["seeds"]) >= 3 and nav.get("pre_after_per_seed"):
        v, text = positive(minus_column(nav, "pre_after_per_seed"), paper_scale(nav))
        out.append(("A.4: ES-MAML adapts on navigation_2d (measured: adaptation gain = post - "
                    "pre after training, per seed)",
                    f"gain {text}; post-adaptation per seed {fmt(seeds_of(nav))} ({nav['steps']} "
                    f"steps, P {nav['perturbations']}, {nav['seeds']} seeds)" + stream_note(nav),
                    v, ex_cmd(nav)))
    elif nav:
        out.append(("A.4: ES-MAML adapts on navigation_2d",
                    f"post-adaptation {nav['post_before']} -> {nav['post_after']}, "
                    f"pre-adaptation after training {nav['pre_after']}",
                    verdict(float(nav["post_after"]) > float(nav["post_before"])), cmd_ex))
    low_k = load("asebo_low_k.csv")  # the larger, fresh-seed run of these rows, if made
    ops = low_k or load("operators.csv")
    m = pick(ops, operator="es_gradient (MC)", K=5)
    for form in ("published", "projection"):
        a = pick(ops, operator=f"asebo ({form})", K=5)
        claim = f"A.3.3: ASEBO-MAML beats ES-MAML per iteration at low K (ASEBO {form})"
        if a and m and a.get("post_per_seed") and int(a["seeds"]) >= 3:
            # on four corners, not the paper's goal-velocity HalfCheetah: never its scale
            sa = [float(x) for x in a["post_per_seed"].split()]
            sm = [float(x) for x in m["post_per_seed"].split()]
            v, text = welch(sa, sm)
            out.append((claim + " (measured: final post-adaptation test return, per seed)",
                        f"K=5, equal steps: per seed ASEBO {fmt(sa)} vs MC {fmt(sm)}; {text} "
                        f"({a['steps']} steps, P "
                        f"{a['perturbations']}, {a['seeds']} seeds; four corners, not the "
                        f"paper's goal-velocity HalfCheetah){stream_note(a)}", v,
                        "`python -m benchmarks.operators --only \"es_gradient (MC),asebo "
                        "(published),asebo (projection)\" --ks 5 --steps "
                        f"{a['steps']} --perturbations {a['perturbations']} --seeds "
                        f"{a['seeds']} --seed-stream {a.get('seed_stream') or 0} --out "
                        "benchmarks/results/asebo_low_k.csv`"))
        elif a and m:
            out.append((claim,
                        f"K=5, equal steps: ASEBO {a['post_mean']} +- {a['post_std_seeds']} vs "
                        f"MC {m['post_mean']} +- {m['post_std_seeds']} (means of {a['seeds']} "
                        f"seeds; four corners, not the paper's goal-velocity HalfCheetah)",
                        _separated(a, m), "`python -m benchmarks.operators`"))
    fo = {r["variant"].split(" (")[0]: float(r["post_after_mean"])
          for r in load("first_order.csv")}
    lin = {k.split(": ", 1)[1]: v for k, v in fo.items() if k.startswith("linear: ")}
    mlp = {k.split(": ", 1)[1]: v for k, v in fo.items() if k.startswith("mlp32: ")}
    cmd_fo = "`python -m benchmarks.first_order`"
    if lin and mlp:
        z, nh = mlp["zero_order"], mlp["FO-NoHessian"]
        out.append(("A.1.2: FO-NoHessian comparable to Alg. 3 (per rollout)",
                    f"MLP: zero-order {z}, FO-NoHessian {nh}; linear: zero-order "
                    f"{lin['zero_order']}, FO-NoHessian {lin['FO-NoHessian']} (about 600k "
                    f"rollouts each)", verdict(abs(nh - z) < 30), cmd_fo))
        h_mc, h_anti = lin["FO-Hessian MC, K_H=20"], lin["FO-Hessian antithetic, K_H=150"]
        out.append(("A.1.2: on four corners (linear policy) FO-Hessian slightly outperforms "
                    "FO-NoHessian",
                    f"linear: FO-Hessian (Alg. 4, K_H = K = 20) {h_mc}, antithetic with K_H = 150 "
                    f"{h_anti}, FO-NoHessian {lin['FO-NoHessian']}; MLP: FO-Hessian "
                    f"{mlp['FO-Hessian MC, K_H=20']} / {mlp['FO-Hessian antithetic, K_H=150']} "
                    f"vs FO-NoHessian {nh}. alpha H v has noise about sqrt(D / K_H) alpha / "
                    f"sigma^2 norm(v) (2.7 norm(v) linear, 14 norm(v) MLP at K_H = 20)",
                    verdict(max(h_mc, h_anti) > lin["FO-NoHessian"]), cmd_fo))
    sine_curve = load("sine_curve.csv")
    if sine_curve:
        out.append(sine_curve_claim(sine_curve))
    sine = load("sine.csv")
    es, maml = (pick(sine, method="ES-MAML, autodiff adaptation", K=10),
                pick(sine, method="MAML (2nd order)", K=10))
    if es and maml:
        out.append(("A.6: ES-MAML approaches MAML's one-step MSE on sine (K = 10), with more "
                    "iterations",
                    f"ES-MAML {es['mse_1_steps']} after {es['meta_steps']} steps vs MAML "
                    f"{maml['mse_1_steps']} after {maml['meta_steps']} (published MAML 0.85)",
                    # a finite run cannot refute "with more iterations": never a negative
                    "reproduces" if float(es["mse_1_steps"]) < 1.5 * float(maml["mse_1_steps"])
                    else "inconclusive (not reached in the iterations run)",
                    "`python -m benchmarks.sine`"))
    out += robustness_claims()
    out += cartpole_claims() + locomotion_claims() + halfcheetah_run_claims()
    return out


def robustness_claims():
    """A.3.3 / Fig. A3 (left), from benchmarks/reproduce/robustness.py. Rules (fixed before the
    run): "RBO is not more robust than MC" is judged by `welch` on the final post-adaptation
    test return under corruption, MC vs RBO ("not more robust" cannot be shown by a test that
    finds no difference, so only a significant MC > RBO reproduces); "ES-MAML has some
    inherent robustness" by `positive` on MC-with-corruption's per-seed change of that return
    from the untrained meta-policy to the end of training (it still learns)."""
    rows = load("robustness.csv")
    if not rows:
        return []
    r0 = rows[0]
    seeds, stream, cmd = _seeded_command("robustness", rows, default_seeds=3)
    noise = (f"{float(r0['fraction']):.0%} of the K = {r0['K']} queries + N(0, "
             f"{float(r0['noise']):g}^2)")
    scale = (f"{seeds} seeds, {r0['steps']} meta-steps, P {r0['perturbations']} antithetic x "
             f"both directions, H {r0['horizon']}, D {r0['D']}: CPU scale"
             + (f"; seeds from stream {stream} (fresh)" if stream else ""))
    mc, _ = curve(rows, method="MC")
    mc_c, _ = curve(rows, method="MC, corrupted")
    rbo_c, _ = curve(rows, method="RBO (L1), corrupted")
    if not (mc and mc_c and rbo_c):
        return []
    last = max(mc_c)
    v, text = welch(mc_c[last], rbo_c[last])
    out = [("A.3.3 / Fig. A3: \"RBO does not appear to be more robust against noise than the "
            "standard MC estimator\" (forward-backward Swimmer, 25% of the adaptation queries "
            "corrupted with an enormous additive noise; measured: final post-adaptation test "
            "return under that corruption, MC vs RBO (L1 regression, the authors' LP decoding); "
            "only a significant MC > RBO reproduces)",
            f"{noise}: per seed MC {fmt(mc_c[last])} vs RBO {fmt(rbo_c[last])}; {text}; "
            f"without corruption MC {fmt(mc[max(mc)])} ({scale})", v, cmd)]
    v, text = positive([b - a for a, b in zip(mc_c[0], mc_c[last], strict=True)])
    out.append(("A.3.3: \"the original ES-MAML has some inherent robustness to noise\" "
                "(measured: with the same corruption, MC's post-adaptation test return after vs "
                "before training, per seed)",
                f"{noise}: MC per seed {fmt(mc_c[0])} -> {fmt(mc_c[last])}, change {text}; "
                f"without corruption {fmt(mc[0])} -> {fmt(mc[max(mc)])} ({scale})", v, cmd))
    return out


def sine_curve_claim(rows):
    """A.6 on the longer run (`benchmarks.sine --curve-every`): ES-MAML's one-step MSE at K 5
    against second-order MAML's, same seeds. The rule (fixed before the run): "reproduces" when
    ES-MAML's final per-seed MSE is below 1.5x MAML's final mean (one-sample t, p < 0.05; the
    1.5x tolerance of the older row); the paper gives no iteration count, so a run that has not
    got there is "inconclusive", with whether it is still falling (second half of the run,
    paired one-sided t)."""
    def per_seed(method):
        mine = [r for r in rows if r["method"] == method and str(r["K"]) == "5"]
        return {int(r["meta_steps"]): [float(x) for x in r["mse_1_steps_per_seed"].split()]
                for r in mine}

    es, maml = per_seed("ES-MAML, autodiff adaptation"), per_seed("MAML (2nd order)")
    last, mlast = max(es), max(maml)
    mid = min(es, key=lambda n: abs(n - last / 2))
    target = 1.5 * mean(maml[mlast])
    v, text = positive([target - x for x in es[last]], digits=3)
    falling_v, falling = positive([a - b for a, b in zip(es[mid], es[last], strict=True)],
                                  digits=3)
    if v != "reproduces":
        v = ("inconclusive (not reached in the iterations run; still falling)"
             if falling_v == "reproduces" else
             "inconclusive (not reached in the iterations run; not significantly falling)")
    r0 = rows[0]
    curve_text = ", ".join(f"{n}: {mean(es[n]):.3f}" for n in sorted(es)
                           if n in (0, mid, last) or n % (last // 5 or 1) == 0)
    return ("A.6: \"PG-MAML can obtain a loss of ≈ 0.5 after one adaptation step with K = 5 [...] "
            "ES-MAML approaches the same level of performance, though the number of training "
            "iterations required is higher\" (measured: one-step test MSE at K = 5, per seed, "
            "ES-MAML with autodiff adaptation vs second-order MAML, same seeds)",
            f"ES-MAML mean one-step MSE by meta-step {curve_text}; final per seed "
            f"[{', '.join(f'{x:.3f}' for x in es[last])}] vs MAML after {mlast} steps "
            f"[{', '.join(f'{x:.3f}' for x in maml[mlast])}]; below 1.5x MAML's mean "
            f"({target:.3f}) by {text}; fall from step {mid} to {last} {falling} "
            f"({r0['seeds']} seeds, stream {r0['seed_stream']}; ES P {r0['perturbations']} "
            f"antithetic x {r0['es_tasks']} tasks, sigma {r0['es_sigma']}, Adam {r0['es_lr']}; "
            f"the paper's settings for sine are not given)", v,
            f"`python -m benchmarks.sine --curve-every {min(n for n in es if n)} --ks 5 "
            f"--es-steps {last} --maml-steps {mlast} --seeds {r0['seeds']} --seed-stream "
            f"{r0['seed_stream']} --out benchmarks/results/sine_curve.csv`")


def halfcheetah_run_claims():
    path = RESULTS / "halfcheetah_fb_eval.json"
    if not path.exists():
        return []
    import json

    r = json.loads(path.read_text())
    per = r["per_task"]
    ok = r["gain_mean"] > 2 * r["gain_stderr"] and all(t["post"] > t["pre"] for t in per)
    return [("Fig. 3: forward-backward HalfCheetah adapts to the direction (post-adaptation above "
             "pre-adaptation for both directions)",
             f"one `esmaml train` run, {r['step']} meta-steps (P 20 x both directions, K 10, "
             f"H 50, linear), {len(per)} directions x 40 adaptations: paired gain "
             f"{r['gain_mean']:.1f} +- {r['gain_stderr']:.1f} (s.e.); " + ", ".join(
                 f"direction {t['direction']:+d}: pre {t['pre']:.1f} -> post {t['post']:.1f}"
                 for t in per), verdict(ok), f"`{r['command']}`")]


def curve(rows, **kw):
    """{step: [values over seeds]} of test_post (and test_pre) for the matching rows."""
    mine = [r for r in rows if all(str(r[k]) == str(v) for k, v in kw.items())]
    steps = sorted({int(r["step"]) for r in mine})
    post = {s: [float(r["test_post"]) for r in mine if int(r["step"]) == s] for s in steps}
    pre = {s: [float(r["test_pre"]) for r in mine if int(r["step"]) == s] for s in steps}
    return post, pre


def mean(xs):
    return sum(xs) / len(xs)


def cartpole_scale(row) -> tuple[str, bool]:
    """(text, at the paper's scale) of a cartpole.csv row: the paper's horizon 500 and P 150
    (A.7.2) with >= 3 seeds (Fig. 4's iteration axis is not in the text)."""
    if "perturbations" not in row:  # rows written before the scale columns
        return f"horizon {float(row['horizon']):.0f}, P 50, 150 steps, 3 seeds", False
    at = (int(row["horizon"]) >= 500 and int(row["perturbations"]) >= 150
          and int(row["seeds"]) >= 3)
    return (f"horizon {row['horizon']}, P {row['perturbations']}, K {row['K']}, "
            f"{row['steps']} meta-steps, {row['seeds']} seeds{stream_note(row)}"), at


def cartpole_claims():
    rows = load("cartpole.csv")
    if not rows:
        return []
    cmd = "`python -m benchmarks.reproduce.cartpole" + (
        " --full --seed-stream " + str(rows[0]["seed_stream"])
        if str(rows[0].get("seed_stream") or "0") != "0" else "") + "`"
    h = float(rows[0]["horizon"])
    scale, at_scale = cartpole_scale(rows[0])
    out = []
    post, _ = curve(rows, policy="L")
    steps = sorted(post)
    seeds = len(post[steps[0]])
    reached, kept = [], []
    for i in range(seeds):
        vals = [post[s][i] for s in steps]
        first = next((j for j, v in enumerate(vals) if v >= 0.95 * h), None)
        reached.append(None if first is None else steps[first])
        kept.append(None if first is None else min(vals[first:]))
    ok = all(k is not None and k >= 0.9 * h for k in kept) and min(post[steps[-1]]) >= 0.95 * h
    out.append(("4.3 / Fig. 4: \"We see in Figure 4 that ES-MAML is able to stably maintain the "
                "maximum reward (500)\" (linear policy, biased-sensor CartPole; measured per "
                "seed: the first evaluation at >= 95% of the maximum, the lowest post-adaptation "
                "return after it (>= 90% needed) and the final one)",
                f"{scale}: per seed, first at >= 95% of the maximum at meta-step "
                f"{reached}, lowest return after that {kept}, final {post[steps[-1]]}",
                "reproduces" if ok else ("does not reproduce" if at_scale else
                                         "inconclusive (not at the paper's scale)"), cmd))
    area = {p: seed_areas(curve(rows, policy=p)[0]) for p in ("L", "H", "HH")}
    for other in ("H", "HH"):
        if seeds >= 3 and "perturbations" in rows[0]:
            v, text = welch(area["L"], area[other], at_scale)
            text = f"; {text}"
        else:
            v, text = compare(area["L"], area[other]), ""
        out.append((f"4.3 / Fig. 4: \"we again find linear policies (L) outperforming policies "
                    f"with one (H) or two (HH) hidden layers\" (here L vs "
                    f"{'H' if other == 'H' else 'HH'}; measured: the mean post-adaptation return "
                    f"over training, per seed)",
                    f"{scale}: L {fmt(area['L'])}, {other} {fmt(area[other])}{text}", v, cmd))
    return out


def _seeded_command(script: str, rows, default_seeds: int) -> tuple[int, int, str]:
    """(seeds, seed stream, the quoted command) of a benchmarks.reproduce script's run, read
    off its rows: flags only where they differ from the script's defaults."""
    seeds = len({r["seed"] for r in rows})
    stream = int(rows[0].get("seed_stream") or 0)
    cmd = (f"`python -m benchmarks.reproduce.{script}"
           + ("" if seeds == default_seeds else f" --seeds {seeds}")
           + (f" --seed-stream {stream}" if stream else "") + "`")
    return seeds, stream, cmd


def locomotion_claims():
    """Fig. 3 / Fig. 5 rows of benchmarks/reproduce/locomotion.py, judged by `judge`: L vs H by
    Welch's t over the seeds' mean post-adaptation returns; "adaptation helps" and "still
    learns" by a one-sample t-test of the per-seed paired differences."""
    rows = load("locomotion.csv")
    if not rows:
        return []
    seeds, stream, cmd = _seeded_command("locomotion", rows, default_seeds=2)
    out = []
    for env in sorted({r["env"] for r in rows}):
        e0 = next(r for r in rows if r["env"] == env)
        scale = (f"{seeds} seeds, P {e0['perturbations']}, H {e0['horizon']}, CPU scale"
                 + (f"; seeds from stream {stream} (fresh)" if stream else "")
                 + (f"; task sets {e0['task_sets']}" if e0.get("task_sets") else ""))
        lin, _ = curve(rows, env=env, policy="L", K=10)
        hid, _ = curve(rows, env=env, policy="H", K=10)
        if lin and hid:
            a_l, a_h = seed_areas(lin), seed_areas(hid)
            v, text = welch(a_l, a_h)
            v = beyond_start(v, lin[0], hid[0])
            text += f"; untrained means L {mean(lin[0]):.1f}, H {mean(hid[0]):.1f}"
            out.append((f"4.2 / Fig. 3: on {env} linear policies train faster than one hidden "
                        f"layer (measured: per seed, the mean post-adaptation test return over "
                        f"training, L vs H)",
                        f"per seed: L {fmt(a_l)}, H {fmt(a_h)}; {text} (K 10, {max(lin)} "
                        f"meta-steps, {scale})", v, cmd))
        post, pre = curve(rows, env=env, policy="L", K=10)
        if post:
            last = max(post)
            v, text = positive([b - a for a, b in zip(pre[last], post[last], strict=True)])
            out.append((f"Sec. 3 / Fig. 3: on {env} adaptation helps (measured: adaptation gain "
                        f"= post - pre after training, per seed)",
                        f"L, K 10, after {last} meta-steps: post {fmt(post[last])} vs pre "
                        f"{fmt(pre[last])}; gain {text} ({scale})", v, cmd))
        low, low_pre = curve(rows, env=env, policy="L", K=5)
        if low:
            first, last = low[min(low)], low[max(low)]
            pre_last = low_pre[max(low)]
            v, text = positive([b - a for a, b in zip(first, last, strict=True)])
            if v == "reproduces" and mean(last) <= mean(pre_last):
                # training only reduced the harm of adapting: not "learns to adapt"
                v = "inconclusive (adaptation still lowers the return)"
            pg_run = any(RESULTS.glob(f"pg_vs_es_{env}_*K*.csv"))
            out.append((f"4.4 / Fig. 5: ES-MAML still learns with K = 5 on {env} (measured: "
                        f"post-adaptation return after vs before training, per seed; and above "
                        f"pre-adaptation after training)"
                        + ("" if pg_run else " (the comparison with PG-MAML on Brax is not "
                           "run yet)"),
                        f"L, K 5: post-adaptation per seed {fmt(first)} -> {fmt(last)}, "
                        f"change {text}; pre-adaptation after training {fmt(pre_last)} "
                        f"({scale})", v, cmd))
    return out


# result file -> (the script that writes it, its wall-time column)
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


def main() -> None:
    lines = ["# Reproduction results (generated by `python -m benchmarks.reproduce.results`)", "",
             "A shared 2-core machine (CPU); every number comes from "
             "`benchmarks/results/`. The verdict rule for each row is in the script. ES-MAML vs "
             "PG-MAML rows, and every comparison whose runs have 3 or more seeds: a test across "
             "seeds (Welch's t for A vs B, a one-sample t for an adaptation gain), "
             "\"reproduces\" when the claimed direction holds with p < 0.05; \"does not "
             "reproduce\" only for a run at the paper's scale (P 150, 3+ seeds, the paper's "
             "iteration count: 1000 meta-steps on the navigation family, horizon 500 on "
             "CartPole) whose effect is absent (estimate not in the claimed direction) or "
             "significantly reversed; \"inconclusive\" otherwise, with the reason "
             "(`results.judge`). Comparisons from older 2-seed "
             "runs: they reproduce only when every seed of one is above every seed of the "
             "other, and are \"inconclusive\" when the means agree with the claim but the "
             "seeds overlap. Each row states its scale (steps, P, seeds); below the paper's "
             "scale a failed check is \"inconclusive\" with the reason. Rows re-run on fresh "
             "seeds (a new seed stream) say so.", "",
             "Re-running a row: every row was run by a version of the code from before "
             "session 13, which batched rollouts through a jaxpr interpreter (and, for the "
             "Brax rows and first-order, other layouts before that). Today's code runs the "
             "same algorithms on explicit flat batches: the same arithmetic, rounded "
             "differently, so a re-run gives the same numbers up to rounding for the pure-JAX "
             "envs (the recorded CLI runs in tests/test_config.py agree within their measured "
             "tolerances) and different numbers for the Brax rows (contact dynamics amplify "
             "rounding, as they do across batch sizes); their verdicts were not re-checked "
             "with today's code.", "",
             "| paper claim | measured | verdict | command |", "|---|---|---|---|"]
    for claim, measured, v, cmd in claims():
        assert "|" not in claim + measured, f"a | would break the table: {measured}"
        lines.append(f"| {claim} | {measured} | {v} | {cmd} |")
    from benchmarks.reproduce import budgets

    lines += ["", *budgets.table()]
    lines += ["", "## Runtime of each script here", ""] + runtimes()
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
