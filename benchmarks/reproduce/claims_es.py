"""The rows of the ES-MAML experiments: exploration (4.1, A.4), ASEBO (A.3.3), first-order
ES-MAML (A.1.2) and sine regression (A.6)."""

from __future__ import annotations

from benchmarks.reproduce.verdicts import (
    Verdict,
    _separated,
    between,
    compare,
    equivalent,
    ex_cmd,
    first_failing,
    fmt,
    illustration,
    load,
    margin,
    mean,
    minus_column,
    paper_horizon,
    paper_scale,
    pick,
    positive,
    scale,
    seeds_of,
    stream_note,
    welch,
)

MEANS_ONLY = "an older row: means only, no per-seed values to test"


def four_corners_claims(ex) -> list[tuple]:
    """4.1 / Fig. 1: exploration on four corners (benchmarks/reproduce/exploration.py)."""
    out: list[tuple] = []
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
                    f" {mc20['seeds']} seeds); change {gain:+.1f}", illustration(MEANS_ONLY),
                    cmd_ex))
    mc10 = pick(ex, env="four_corners", operator="MC", K=10)
    if mc20 and mc10:  # 4.1: "further used K = 10, 5, which caused the performance to drop"
        v, text = between(mc20, mc10)
        out.append(("4.1: K = 10 performs worse than K = 20 (MC; \"further used K = 10, 5, which "
                    "caused the performance to drop\")",
                    f"per seed: K=10 {fmt(seeds_of(mc10))} vs K=20 {fmt(seeds_of(mc20))}{text}"
                    + stream_note(mc10), v, ex_cmd(mc10)))
    mc5 = pick(ex, env="four_corners", operator="MC", K=5)
    if mc20 and mc5:
        v, text = between(mc20, mc5)
        out.append(("4.1: K = 5 performs worse than K = 20 (MC; \"further used K = 10, 5, which "
                    "caused the performance to drop\")",
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
    # the drop itself (rules committed before the runs that made the columns): each
    # operator's penalized run, its adapted policies scored by the unpenalized reward, against
    # the same operator at K 20 on the unpenalized task, one-sided Welch
    dpp20 = pick(ex, env="four_corners", operator="DPP", K=20)
    untested = "" if dpp20 else "; DPP-ES not tested: no DPP K 20 run on the unpenalized task"
    for op, name, plain_row in (("MC", "MC", mc20), ("DPP", "DPP-ES", dpp20)):
        row = pen[op]
        if not (plain_row and row and row.get("post_after_unpenalized_per_seed")):
            continue
        plain = [float(x) for x in row["post_after_unpenalized_per_seed"].split()]
        v, text = welch(seeds_of(plain_row), plain, paper_scale(plain_row) and paper_scale(row))
        out.append(("4.1 / Fig. 1b: \"heavily penalizing incorrect goals [...] caused "
                    "performance to dramatically drop for MC and DPP-ES [...] This is also fixed "
                    f"by the HC adaptation\" (here the drop, for {name}; measured: final "
                    "post-adaptation test return by the unpenalized four-corners reward, "
                    f"{op} K 20 trained on four corners vs {op} K 20 trained and adapting on the "
                    f"penalized task, per seed{untested})",
                    f"per seed: unpenalized task {fmt(seeds_of(plain_row))} vs penalized task "
                    f"{fmt(plain)} (penalized return {fmt(seeds_of(row))}); {text} "
                    f"({row['steps']} steps, P {row['perturbations']}, {row['seeds']} seeds; "
                    f"{scale(row['env'], row['perturbations'], row['seeds'])[1]})"
                    + stream_note(row), v, ex_cmd(row)))
    return out


def six_circles_claims(ex) -> list[tuple]:
    """4.1 / Fig. 2: hill climbing on six circles."""
    out: list[tuple] = []
    cmd_ex = "`python -m benchmarks.reproduce.exploration`"
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
            if op == "HC(0.3)":  # the paper's precision is 0.1: a variant, not its claim
                v = illustration("precision 0.3 is a variant; the paper's is 0.1")
            out.append((f"4.1 / Fig. 2: HC learns to explore six circles ({what}) (measured: "
                        f"adaptation gain after training, post-adaptation after vs before "
                        f"training, per seed, and HC vs MC; all three must hold)",
                        f"gain {gain_text}{rise_text}; post-adaptation {row['post_before']} "
                        f"(untrained) -> {mean(post):.1f}, per seed HC {fmt(post)} vs MC "
                        f"{fmt(seeds_of(mc))}{text}{fresh}", v, ex_cmd(row)))
        elif six[op] and mc:
            after = seeds_of(six[op])
            out.append((f"4.1 / Fig. 2: HC learns to explore six circles ({what})",
                        f"HC post-adaptation {six[op]['post_before']} (untrained, mean) -> per "
                        f"seed {fmt(after)}; MC {mc['post_before']} -> {mc['post_after']}",
                        illustration(MEANS_ONLY), cmd_ex))
    return out


def navigation_claims(ex) -> list[tuple]:
    """A.4: adaptation on navigation_2d."""
    out: list[tuple] = []
    cmd_ex = "`python -m benchmarks.reproduce.exploration`"
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
                    illustration(MEANS_ONLY), cmd_ex))
    return out


def asebo_claims() -> list[tuple]:
    """A.3.3: ASEBO at low K (benchmarks/operators.py)."""
    out: list[tuple] = []
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
            if form != "published":  # our own variant: never the paper's claim
                v = illustration(f"ASEBO {form} is our variant, not the paper's operator")
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
                        _separated(a, m) if form == "published" else
                        illustration(f"ASEBO {form} is our variant, not the paper's operator"),
                        "`python -m benchmarks.operators`"))
    a = pick(ops, operator="asebo (published)", K=5)
    if a and m and a.get("meta_steps_per_s") and m.get("meta_steps_per_s"):
        # one timing per operator (no spread over repeats): shown, not tested
        ra, rm = float(a["meta_steps_per_s"]), float(m["meta_steps_per_s"])
        out.append(("A.3.3: \"ASEBO requires additional linear algebra operations and thus uses "
                    "significantly more wall-clock time [...] per iteration\" (measured: "
                    "meta-steps per second of the same runs, training only, compilation "
                    "excluded)",
                    f"K=5: ASEBO (published) {ra:g} vs MC {rm:g} meta-steps/s, ASEBO "
                    f"{rm / ra:.2f}x MC's time per iteration (one timing each, {a['steps']} "
                    f"steps x {a['seeds']} seeds, P {a['perturbations']}, an MLP(32) policy "
                    f"(D 162) on four corners, not the paper's HalfCheetah)",
                    illustration("one timing per operator, no spread to test"),
                    "`python -m benchmarks.operators --only \"es_gradient (MC),asebo "
                    "(published),asebo (projection)\" --ks 5 --steps "
                    f"{a['steps']} --perturbations {a['perturbations']} --seeds "
                    f"{a['seeds']} --seed-stream {a.get('seed_stream') or 0} --out "
                    "benchmarks/results/asebo_low_k.csv`"))
    return out


def first_order_claims() -> list[tuple]:
    """A.1.2: first-order ES-MAML (benchmarks/first_order.py), per seed at about equal rollouts:
    "comparable" by an equivalence test (TOST, margin `margin` of four corners' horizon),
    "FO-Hessian slightly outperforms FO-NoHessian" by Welch's one-sided t with the paper's
    Alg. 4 (K_H = K = 20; our antithetic K_H = 150 variant is shown, not judged)."""
    out: list[tuple] = []
    rows = load("first_order.csv")
    per_seed = {r["variant"].split(" (")[0]: [float(x) for x in r["post_after_per_seed"].split()]
                for r in rows if r.get("post_after_per_seed")}
    lin = {k.split(": ", 1)[1]: v for k, v in per_seed.items() if k.startswith("linear: ")}
    mlp = {k.split(": ", 1)[1]: v for k, v in per_seed.items() if k.startswith("mlp32: ")}
    cmd_fo = "`python -m benchmarks.first_order`"
    if not (lin and mlp):
        return out
    delta = margin(paper_horizon("four_corners"))
    seeds = len(lin["zero_order"])
    tests = {name: equivalent(arm["FO-NoHessian"], arm["zero_order"], delta)
             for name, arm in (("linear", lin), ("MLP", mlp))}
    out.append(("A.1.2: FO-NoHessian comparable to Alg. 3 (per rollout; measured: final "
                "post-adaptation test return per seed at about equal rollouts, both policies; "
                "both must hold)",
                "; ".join(f"{name}: zero-order {fmt(arm['zero_order'])}, FO-NoHessian "
                          f"{fmt(arm['FO-NoHessian'])}, {tests[name][1]}"
                          for name, arm in (("linear", lin), ("MLP", mlp)))
                + f" ({seeds} seeds, about 600k rollouts each, four corners, P 50; the paper "
                  f"compares them on Ant and HalfCheetah, not four corners)",
                first_failing((name, v) for name, (v, _) in tests.items()), cmd_fo))
    h, nh = lin["FO-Hessian MC, K_H=20"], lin["FO-NoHessian"]
    v, text = welch(h, nh)
    out.append(("A.1.2: on four corners (linear policy) FO-Hessian slightly outperforms "
                "FO-NoHessian (measured: final post-adaptation test return per seed, Alg. 4 "
                "with K_H = K = 20, at about equal rollouts)",
                f"linear: FO-Hessian {fmt(h)} vs FO-NoHessian {fmt(nh)}; {text}; beside it, our "
                f"antithetic K_H = 150 variant {fmt(lin['FO-Hessian antithetic, K_H=150'])}; "
                f"MLP: FO-Hessian {fmt(mlp['FO-Hessian MC, K_H=20'])} vs FO-NoHessian "
                f"{fmt(mlp['FO-NoHessian'])}. alpha H v has noise about sqrt(D / K_H) alpha / "
                f"sigma^2 norm(v) (2.7 norm(v) linear, 14 norm(v) MLP at K_H = 20) ({seeds} "
                f"seeds, P 50: below the paper's settings)", v, cmd_fo))
    return out


# Figs. A1 / A2 on Brax forward-backward (benchmarks/first_order.py --env): (robot, K, the
# paper's words, the variant that should be ahead, the one behind). The rule, fixed before the
# runs (session 16): final post-adaptation test return per seed at an equal rollout budget,
# one-sided Welch, by `judge`.
BRAX_FIRST_ORDER = (
    ("ant", 10, "A.1.2 / Fig. A1: \"On Forward-Backward Ant, FO-NoHessian actually "
                "outperformed FO-Hessian\"", "FO-NoHessian", "FO-Hessian"),
    ("ant", 10, "A.1.2 / Fig. A2: \"FO-NoHessian was slightly faster than Algorithm 3 when "
                "measured by rollouts on Ant\"", "FO-NoHessian", "zero_order"),
    ("halfcheetah", 5, "A.1.2 / Fig. A2: \"FO-NoHessian had notably poor performance when the "
                       "number of queries was low (K = 5) on HalfCheetah\"", "zero_order",
     "FO-NoHessian"),
)
WORDS = {"zero_order": "Alg. 3", "FO-NoHessian": "FO-NoHessian", "FO-Hessian": "FO-Hessian"}


def brax_first_order_claims() -> list[tuple]:
    """Figs. A1 / A2: the rows of `BRAX_FIRST_ORDER` whose run is in benchmarks/results."""
    out: list[tuple] = []
    for robot, k, claim, ahead, behind in BRAX_FIRST_ORDER:
        env = f"{robot}_forward_backward"
        rows = load(f"first_order_{env}_K{k}.csv")
        arms = {r["variant"].split(": ", 1)[1].split(" (")[0].split(" MC")[0]: r for r in rows}
        if ahead not in arms or behind not in arms:
            continue
        a, b = arms[ahead], arms[behind]
        at, words = scale(env, a["perturbations"], a["seeds"], a["horizon"])
        v, text = welch(seeds_of(a), seeds_of(b), at)
        stream = a.get("seed_stream") or "0"
        out.append((f"{claim} (measured: final post-adaptation test return per seed at an "
                    f"equal rollout budget, {WORDS[ahead]} vs {WORDS[behind]}, linear, K {k}, "
                    f"one-sided Welch), {env}",
                    f"{WORDS[ahead]} {fmt(seeds_of(a))} ({a['meta_steps']} meta-steps, "
                    f"{int(a['rollouts']):,} rollouts) vs {WORDS[behind]} {fmt(seeds_of(b))} "
                    f"({b['meta_steps']} meta-steps, {int(b['rollouts']):,} rollouts); untrained "
                    f"{a['post_before']}; {text} ({a['seeds']} seeds, P {a['perturbations']}, "
                    f"H {a['horizon']}; {words})"
                    + ("" if stream == "0" else f"; seeds from stream {stream} (fresh)"), v,
                    f"`python -m benchmarks.first_order --env {env} -K {k}"
                    + (f" --only {a['only']}" if a.get("only") else "")
                    + f" --rollouts {a['rollouts_budget']} --seeds {a['seeds']}"
                    + ("" if stream == "0" else f" --seed-stream {stream}") + "`"))
    return out


def compact_claims() -> list[tuple]:
    """4.2: compact policies need fewer perturbations (benchmarks/reproduce/compact.py). The rule,
    fixed before the run (session 16): per seed, the perturbations needed for the meta-gradient
    estimate to reach cosine 0.5 with the reference, MLP(32) vs linear, one-sided Welch on log2
    P. navigation_2d stands in for the paper's locomotion tasks, so the row is never judged at
    the paper's settings ("inconclusive" rather than "does not reproduce" when it fails)."""
    import math

    rows = load("compact.csv")
    need = {pol: [math.log2(float(r["p_needed"])) for r in rows if r["policy"] == pol]
            for pol in ("L", "H")}
    if not (need["L"] and need["H"]):
        return []
    v, text = welch(need["H"], need["L"], False)
    r0 = next(r for r in rows if r["policy"] == "L")
    dims = {pol: next(r["D"] for r in rows if r["policy"] == pol) for pol in ("L", "H")}
    censored = sum(r["reached"] == "False" for r in rows)
    stream = r0.get("seed_stream") or "0"
    grid = [k.removeprefix("cos_P") for k in r0 if k.startswith("cos_P")]
    return [("4.2: \"Using more compact policies also directly speeds up ES-MAML, since fewer "
             "perturbations are needed for gradient estimation\" (measured: per seed, the "
             "perturbations P the ES-MAML meta-gradient estimate needs to reach cosine 0.5 "
             f"with a reference of {r0['ref']}, MLP(32) vs linear, one-sided Welch on log2 P; "
             "navigation_2d, MC K 20, standing in for the paper's locomotion tasks)",
             "P needed per seed: linear (D " + dims["L"] + ") " + str(
                 [int(2 ** x) for x in need["L"]]) + ", MLP(32) (D " + dims["H"] + ") "
             + str([int(2 ** x) for x in need["H"]]) + f"; grid P {', '.join(grid)}, "
             f"{r0['repeats']} estimates each; {censored} seed(s) never reached 0.5, counted "
             f"as twice the largest P; log2 {text}; the reference is itself an estimate, "
             f"noisier for the MLP, which lowers the MLP's cosines further ({r0['seeds']} seeds"
             + ("" if stream == "0" else f"; seeds from stream {stream} (fresh)") + ")", v,
             "`python -m benchmarks.reproduce.compact"
             + ("" if int(r0["seeds"]) == 10 else f" --seeds {r0['seeds']}")
             + ("" if stream == "0" else f" --seed-stream {stream}") + "`")]


def sine_claims() -> list[tuple]:
    """A.6: sine regression (benchmarks/sine.py)."""
    out: list[tuple] = []
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
                    illustration(MEANS_ONLY),
                    "`python -m benchmarks.sine`"))
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
        v = Verdict("inconclusive (not reached in the iterations run; still falling)"
                    if falling_v == "reproduces" else
                    "inconclusive (not reached in the iterations run; not significantly "
                    "falling)", v.p)
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
