"""The rows of ES-MAML against PG-MAML (benchmarks/reproduce/pg_vs_es.py): Fig. 1a, A4, 4, 5,
A5 and the architectures of Fig. 4."""

from __future__ import annotations

import numpy as np

from benchmarks.reproduce import budgets
from benchmarks.reproduce.verdicts import (
    _final_by_method,
    all_hold,
    beyond_start,
    first_failing,
    fmt,
    judge,
    load,
    margin,
    mean,
    noninferior,
    paper_horizon,
    positive,
    scale,
    welch,
)

# PG-MAML's evaluation mode, fixed for every claim before the next campaign (session 15): the
# sampled-action return of its stochastic policy. The paper's PG-MAML curves are those of the
# stochastic policy it trains, and Sec. 4.3's argument (PG's stochastic policies are less
# stable than ES's deterministic ones) is about exactly that policy; the mean action is shown
# beside it.
PG_MODE = "test_post"
MODE_WORDS = ("PG evaluated with sampled actions (its stochastic policy; fixed in advance), "
              "the mean action beside it")


def _at_budget(rows) -> dict | None:
    """The equal-budget reading of a pg_vs_es CSV (`budgets.compare`), or None when the rows
    record no env steps (or PG's sampled-action curve is missing)."""
    if not rows or any(r.get("env_steps") in (None, "") for r in rows):
        return None
    c = budgets.compare(rows)
    return c if c is not None and "sampled" in c else None


def _budget_text(c: dict) -> str:
    mean_pg = (f"; PG mean action at the budget {fmt(c['mean']['pg'])}" if "mean" in c else "")
    return (f"at an equal budget of {c['budget']:,.0f} env steps (ES spends {c['ratio']:.2f}x "
            f"PG's per meta-step; ES read on its curve at the budget): ES "
            f"{fmt(c['es_at_budget'])} vs PG TRPO {fmt(c['sampled']['pg'])}{mean_pg}")


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


def _scale(env: str, m: dict) -> tuple[bool, str]:
    """(at the paper's settings, words): from the run's own P, seeds and horizon."""
    return scale(env, m["P"], m["seeds"], m["horizon"] or None)


def _pg_text(m: dict, env: str, streams: dict | None = None) -> str:
    """The scale words of a run (``m``, `_pg_meta`); ``streams`` ({label: stream}): runs of
    that one scale on different seed streams, each named."""
    words = _scale(env, m)[1]
    text = (f"{m['seeds']} seeds, {m['steps']} meta-steps; ES P {m['P']} antithetic, PG n "
            f"{m['n']} tasks, K {m['K']}" + (f", H {m['horizon']}" if m["horizon"] else "")
            + f": {words})")
    if streams and len(set(streams.values())) > 1:
        return "(" + text + "; seeds from streams: " + ", ".join(
            f"{label} {stream}" for label, stream in streams.items()) + " (each fresh)"
    return "(" + text + (f"; seeds from stream {m['stream']} (fresh)" if m["stream"] else "")


def _es_vs_pg(c: dict | None, es, pg, at_scale: bool, forward: bool,
              delta: float | None = None):
    """(verdict, test text, measured words) of ES-MAML vs PG-MAML TRPO: judged at an equal
    env-step budget (``c``, `_at_budget`'s reading), the equal-meta-step figure (``es``,
    ``pg``: final values per seed) beside it. ``forward``: the claim is that ES is better
    (with ``delta``: similar or better, non-inferiority within ``delta``); else that PG is
    better."""
    def test(a_es, a_pg):
        if delta is not None:
            return noninferior(a_es, a_pg, delta, at_scale)
        return welch(a_es, a_pg, at_scale) if forward else welch(a_pg, a_es, at_scale)

    v_meta, t_meta = test(es, pg)
    if c is None:
        return v_meta, t_meta, (f"at equal meta-steps (no env steps recorded): ES {fmt(es)} "
                                f"vs PG TRPO {fmt(pg)}; {t_meta}")
    v, t = test(c["es_at_budget"], c["sampled"]["pg"])
    return v, t, (f"{_budget_text(c)}; {t}; at equal meta-steps ({v_meta}): ES {fmt(es)} vs "
                  f"PG TRPO {fmt(pg)}, {t_meta}")


def _pg_cmd(env: str, m: dict, extra: str = "") -> str:
    return (f"`python -m benchmarks.reproduce.pg_vs_es --env {env}{extra} --seeds {m['seeds']} "
            f"--steps {m['steps']} --perturbations {m['P']}"
            + ("" if m["chunk"] == 10 else f" --chunk {m['chunk']}")
            + ("" if m["K"] == 20 else f" -K {m['K']}")
            + (f" --horizon {m['horizon']}" if m["horizon"] and "cartpole" not in env
               and "navigation" not in env and "corners" not in env else "")
            + (f" --seed-stream {m['stream']}" if m["stream"] else "") + "`")


def _late_means(rows, method, budget: float | None = None,
                key: str = "test_post") -> list[float]:
    """Per seed: the mean post-adaptation test return (``key``) over the second half of training
    (up to ``budget`` env steps when given)."""
    mine = [r for r in rows if r["method"] == method and r.get(key) not in (None, "")
            and (budget is None or float(r["env_steps"]) <= budget + 1e-9)]
    last = max(int(r["step"]) for r in mine)
    seeds = sorted({r["seed"] for r in mine})
    return [mean([float(r[key]) for r in mine if r["seed"] == sd
                  and int(r["step"]) >= last / 2]) for sd in seeds]


def es_vs_pg_claims():
    """ES-MAML against PG-MAML (benchmarks/reproduce/pg_vs_es.py), one row per figure."""
    out = []
    fc = load("pg_vs_es_four_corners.csv")
    if fc:
        m = _pg_meta(fc)
        post = _final_by_method(fc, "test_post")
        es, pg = post["ES-MAML"], post["PG-MAML TRPO"]
        at_scale = _scale("four_corners", m)[0]
        v, text, measured = _es_vs_pg(_at_budget(fc), es, pg, at_scale, forward=True)
        out.append(("4.1 / Fig. 1a: \"the basic version of Algorithm 3 is able to correctly "
                    "explore and adapt [...] it does not require any modifications to encourage "
                    "exploration, unlike PG-MAML\" (measured: post-adaptation test return, "
                    "ES-MAML vs PG-MAML TRPO without exploration modifications, K = 20, at an "
                    f"equal env-step budget; {MODE_WORDS})",
                    f"{measured} " + _pg_text(m, "four_corners"), v,
                    _pg_cmd("four_corners", m)))
    nav = load("pg_vs_es_navigation.csv")
    if nav:
        m = _pg_meta(nav)
        at_scale = _scale("navigation_2d", m)[0]
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
                    + _pg_text(m, "navigation_2d"),
                    all_hold(verdicts),
                    _pg_cmd("navigation_2d", m)))
    cp = load("pg_vs_es_biased_cartpole_linear.csv")
    if cp:
        m = _pg_meta(cp)
        at_scale = _scale("biased_cartpole", m)[0]
        c = _at_budget(cp)
        budget = c["budget"] if c else None
        late = {meth: _late_means(cp, meth, budget) for meth in ("ES-MAML", "PG-MAML TRPO")}
        v, text = welch(late["ES-MAML"], late["PG-MAML TRPO"], at_scale)
        meta = {meth: _late_means(cp, meth) for meth in ("ES-MAML", "PG-MAML TRPO")}
        _, meta_text = welch(meta["ES-MAML"], meta["PG-MAML TRPO"], at_scale)
        where = (f"up to an equal budget of {budget:,.0f} env steps" if budget else
                 "equal meta-steps (no env steps recorded)")
        pg_mean = _late_means(cp, "PG-MAML TRPO", budget, key="test_post_mean")
        out.append(("4.3 / Fig. 4: \"ES-MAML is able to stably maintain the maximum reward "
                    "(500)\" on Biased-Sensor CartPole, where PG's stochastic policies are "
                    "less stable (measured: per seed, the mean post-adaptation test return over "
                    "the second half of training up to an equal env-step budget, linear "
                    f"policies, horizon 500; {MODE_WORDS})",
                    f"{where}: ES {fmt(late['ES-MAML'])} vs PG TRPO "
                    f"{fmt(late['PG-MAML TRPO'])} (mean action {fmt(pg_mean)}); {text}; at "
                    f"equal meta-steps: ES "
                    f"{fmt(meta['ES-MAML'])}, {meta_text} " + _pg_text(m, "biased_cartpole"),
                    v,
                    _pg_cmd("biased_cartpole", m, " --policy linear")))
    for env in (f"{robot}_{task}" for robot in ("halfcheetah", "swimmer", "walker2d", "ant")
                for task in ("forward_backward", "goal_velocity")):  # Fig. 5's four robots
        for k in (5, 20):  # Fig. 5 at low K, Fig. A5 at Finn et al.'s K: one CSV each
            rows = load(f"pg_vs_es_{env}_linear{'' if k == 20 else f'_K{k}'}.csv")
            if rows:
                out += _low_k_claims(env, rows)
    for env in ("swimmer_forward_backward", "walker2d_forward_backward"):
        # Fig. 5's second architecture: Fig. 4's one-hidden-layer runs at K 5, same rule
        rows = load(f"pg_vs_es_{env}_K5.csv")
        if rows:
            out += _low_k_claims(env, rows, arch="H")
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
    # One scale (every setting but the seed stream): the linear run may be on a fresh stream
    # of its own (issue 38's re-run of the forward-backward rows); independent seeds are what
    # Welch's test assumes, and the row names each run's stream.
    if len({tuple(sorted((k, v) for k, v in m.items() if k != "stream"))
            for m in metas.values()}) != 1:
        return []  # not one scale: no comparison
    m = metas["L"]
    at_scale = _scale(env, m)[0]
    scale_words = _pg_text(m, env, {label: mm["stream"] for label, mm in metas.items()})
    es = {label: _final_by_method(rows, "test_post")["ES-MAML"] for label, rows in runs.items()}
    pg = {label: _final_by_method(rows, "test_post")["PG-MAML TRPO"]
          for label, rows in runs.items()}
    tests = {other: welch(es["L"], es[other], at_scale) for other in ("H", "HH")}
    # The claim is about training: an L > H gap that the untrained policies already show (a
    # deterministic linear policy starts at zero output, an MLP does not) is not evidence.
    untrained = {label: _final_by_method(rows, "test_post", first=True)["ES-MAML"]
                 for label, rows in runs.items()}
    v = first_failing((f"L vs {o}", verdict) for o, (verdict, _) in tests.items())
    if v == "reproduces":
        v = first_failing((f"L vs {o}", beyond_start(v, untrained["L"], untrained[o]))
                          for o in ("H", "HH"))
    cmd = ", ".join(_pg_cmd(env, metas[label], f" --policy {pol}") for label, pol in
                    zip(("L", "H", "HH"), ("linear", "mlp", "mlp --hidden 32,32"), strict=True))
    out = [(f"4.3 / Fig. 4: \"we again find linear policies (L) outperforming policies with "
            f"one (H) or two (HH) hidden layers\" (measured: ES-MAML's final post-adaptation "
            f"test return, L vs H and L vs HH, each by Welch's t; both must hold), {env}",
            f"per seed: L {fmt(es['L'])}, H {fmt(es['H'])}, HH {fmt(es['HH'])}; L vs H: "
            f"{tests['H'][1]}; L vs HH: {tests['HH'][1]}; untrained (step 0) means: "
            + ", ".join(f"{lab} {mean(x):.1f}" for lab, x in untrained.items())
            + f" {scale_words}", v, cmd)]
    per_arch = {label: _es_vs_pg(_at_budget(runs[label]), es[label], pg[label], at_scale,
                                 forward=True) for label in es}
    v2 = first_failing((label, x) for label, (x, _, _) in per_arch.items())
    out.append((f"4.3 / Fig. 4: on Swimmer and Walker2d \"PG is surprisingly unstable, and ES "
                f"yields better training\" (measured: post-adaptation test return at an equal "
                f"env-step budget, ES-MAML vs PG-MAML TRPO, for each of L, H, HH; all three must "
                f"hold; {MODE_WORDS}), {env}",
                "; ".join(f"{label}: {per_arch[label][2]}" for label in es)
                + f" {scale_words}", v2, cmd))
    return out


def _low_k_claims(env: str, rows, arch: str = "L") -> list[tuple]:
    """Sec. 4.4 / Fig. 5 at low K on a Brax family: which method adapts better, and whether PG
    is the unstable one (its spread over seeds). At Finn et al.'s K (20; Fig. A5, for which the
    paper states no claim of its own) only the first, Sec. 4.4's comparison checked at that K:
    the instability claim is about low K. ``arch``: the policies' architecture, "L" (linear)
    or "H" (one hidden layer, Fig. 5's second architecture)."""
    from scipy import stats

    m = _pg_meta(rows)
    low_k = m["K"] < 20
    at_scale = _scale(env, m)[0]
    post = _final_by_method(rows, "test_post")
    es, pg = post["ES-MAML"], post["PG-MAML TRPO"]
    scale_words = _pg_text(m, env)
    cmd = _pg_cmd(env, m, " --policy linear" if arch == "L" else " --policy mlp")
    arch_words = "linear" if arch == "L" else "one hidden layer (H)"
    forward = "forward_backward" in env
    delta = margin(m["horizon"] or paper_horizon(env))
    c = _at_budget(rows)  # read once: the comparison and the spread below both use it
    v, text, measured = _es_vs_pg(c, es, pg, at_scale, forward, delta if forward else None)
    claim = ("\"ES-MAML is similar or better on the Forward-Backward task\" (measured: "
             "post-adaptation test return at an equal env-step budget, ES-MAML vs PG-MAML "
             f"TRPO, non-inferiority within {delta:g} (0.1 reward per step); {MODE_WORDS})"
             if forward else
             "\"PG-MAML can generally outperform ES-MAML on the Goal-Velocity task\" "
             "(measured: post-adaptation test return at an equal env-step budget, PG-MAML TRPO "
             f"vs ES-MAML; {MODE_WORDS})")
    where = ("4.4 / Fig. 5: at low K (5), " if low_k else
             "A.5 / Fig. A5 (no claim of its own; Sec. 4.4's, checked at Finn et al.'s K = "
             f"{m['K']}): ")
    start = _final_by_method(rows, "test_post", first=True)
    untrained = (f"; untrained (step 0) means: ES {mean(start['ES-MAML']):.1f}, PG TRPO "
                 f"{mean(start['PG-MAML TRPO']):.1f}")
    if not forward:  # "PG outperforms": not if the untrained PG policies already did
        v = beyond_start(v, start["PG-MAML TRPO"], start["ES-MAML"])
    out = [(f"{where}{claim}, {env}, {arch_words}", f"{measured}{untrained} {scale_words}", v,
            cmd)]
    if not low_k:
        return out
    # "PG-MAML can be highly unstable (note the wide error bars) [...] whereas ES-MAML is
    # relatively stable": PG's spread over seeds larger than ES's (Brown-Forsythe, one-sided).
    if c is not None:
        es, pg = c["es_at_budget"], c["sampled"]["pg"]
        where_read = f"at an equal budget of {c['budget']:,.0f} env steps"
    else:
        where_read = "at equal meta-steps (no env steps recorded)"
    sd_es, sd_pg = float(np.std(es, ddof=1)), float(np.std(pg, ddof=1))
    _, p = stats.levene(es, pg, center="median")
    one_sided = p / 2 if sd_pg > sd_es else 1 - p / 2
    v2 = judge(sd_pg - sd_es, float(one_sided), at_scale)
    out.append((f"4.4 / Fig. 5: \"for low K, PG-MAML can be highly unstable (note the wide "
                f"error bars) [...] whereas ES-MAML is relatively stable\" (measured: the spread "
                f"over seeds of the post-adaptation return at an equal env-step budget, PG-MAML "
                f"TRPO vs ES-MAML, Brown-Forsythe test, one-sided; {MODE_WORDS}), {env}, "
                f"{arch_words}",
                f"{where_read}, std over seeds: ES {sd_es:.2f} vs PG TRPO {sd_pg:.2f}; one-sided "
                f"p = {one_sided:.3g} {scale_words}", v2, cmd))
    return out
