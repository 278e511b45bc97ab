"""The one verdict rule of benchmarks/RESULTS.md (issue 38): one-sided tests at 0.05, equivalence
and non-inferiority with a stated margin, reversals reported at every scale, illustrations that
never count, Holm's correction, claims counted once, scale read from a run's own settings, and
ES vs PG at equal env-step budgets. Pure functions on small known inputs: quick tier."""

import pytest


def _robustness_rows(mc_corrupted_final, rbo_final):
    rows = []
    for method, finals in [("MC", [20.0, 21.0, 22.0]), ("MC, corrupted", mc_corrupted_final),
                           ("RBO (L1), corrupted", rbo_final)]:
        for seed, value in enumerate(finals):
            for step, post in [(0, [1.0, 2.3, 2.9][seed]), (40, value)]:
                rows.append({"env": "swimmer_forward_backward", "method": method, "K": 20,
                             "seed": seed, "step": step, "test_pre": 0.0, "test_post": post,
                             "wall_s": 1.0, "seeds": 3, "steps": 40, "perturbations": 20,
                             "horizon": 50, "fraction": 0.25, "noise": 1000.0,
                             "seed_stream": 2035, "D": 18})
    return rows


REVERSED = "reversed (significantly, below the paper's settings)"


@pytest.mark.parametrize("mc,rbo,first,second", [
    # "RBO is not more robust than MC": MC non-inferior to RBO within 5 (0.1 x H 50)
    ([15.0, 16.0, 17.0], [5.0, 6.0, 7.0], "reproduces", "reproduces"),
    ([15.0, 16.0, 17.0], [15.5, 16.5, 15.0], "reproduces", "reproduces"),
    ([5.0, 6.0, 7.0], [15.0, 16.0, 17.0], REVERSED, "reproduces"),
    ([1.5, 1.5, 3.5], [5.0, 6.0, 7.0], "inconclusive (not significant)",
     "inconclusive (not significant)"),
])
def test_robustness_rows_follow_their_rules(tmp_path, monkeypatch, mc, rbo, first, second):
    from benchmarks._common import write_csv
    from benchmarks.reproduce import results, verdicts

    write_csv(_robustness_rows(mc, rbo), tmp_path / "robustness.csv")
    monkeypatch.setattr(verdicts, "RESULTS", tmp_path)
    rows = results.robustness_claims()
    assert [v for _, _, v, _ in rows] == [first, second]
    assert "--seed-stream 2035" in rows[0][3] and "A.3.3" in rows[0][0]
    assert "margin 5" in rows[0][1] and "below the paper's settings: P 20 < 150" in rows[0][1]


def test_one_sided_welch_known_answers():
    """Welch's t one-sided at 0.05: t = 2.449 on 4 df has one-sided p 0.0352 (two-sided 0.070,
    which the old two-sided rule called not significant)."""
    from benchmarks.reproduce import verdicts

    v, text = verdicts.welch([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    assert v == "reproduces" and v.p == pytest.approx(0.0352, abs=2e-4)
    assert "one-sided p = 0.0352" in text
    v, _ = verdicts.welch([1.0, 2.0, 3.0], [3.0, 4.0, 5.0])
    assert v == REVERSED and v.p == pytest.approx(1 - 0.0352, abs=2e-4)
    assert verdicts.welch([1.0, 2.0, 3.0], [3.0, 4.0, 5.0], paper_scale=True)[0] == (
        "does not reproduce (significantly reversed)")


def test_welch_verdicts():
    from benchmarks.reproduce import results

    assert results.welch([5.0, 5.2, 4.9, 5.1], [1.0, 1.2, 0.9, 1.1])[0] == "reproduces"
    assert results.welch([1.0, 1.2, 0.9, 1.1], [5.0, 5.2, 4.9, 5.1])[0] == REVERSED
    # claimed direction, not significant: inconclusive at any scale
    for at_scale in (False, True):
        assert results.welch([1.0, 3.0, 0.5, 2.1], [1.5, 2.5, 0.7, 1.8], at_scale)[0] == (
            "inconclusive (not significant)")
    # absent (estimate against the claim, not significant): fails only at the paper's settings
    absent = ([1.5, 2.5, 0.7, 1.8], [1.0, 3.0, 0.5, 2.1])
    assert results.welch(*absent, paper_scale=True)[0] == (
        "does not reproduce (not in the claimed direction)")
    assert results.welch(*absent)[0] == (
        "inconclusive (not in the claimed direction, below the paper's settings)")
    assert results.positive([1.0, 1.1, 0.9])[0] == "reproduces"
    assert results.positive([1.0, -0.8, 0.1])[0] == "inconclusive (not significant)"
    assert results.positive([-1.0, 1.2, -0.5], at_scale=True)[0] == (
        "does not reproduce (not in the claimed direction)")


def test_equivalence_and_non_inferiority_known_answers():
    """TOST: means 0.2 apart, each side's sd 0.1 with 4 seeds: inside a margin of 1 (p tiny),
    not shown inside a margin of 0.2 (p 0.5 exactly at the edge), and significantly outside a
    margin of 0.01. Non-inferiority is the lower one of the two tests."""
    from benchmarks.reproduce import verdicts

    a, b = [1.1, 1.2, 1.3, 1.2], [1.0, 1.1, 0.9, 1.0]
    v, text = verdicts.equivalent(a, b, 1.0)
    assert v == "reproduces" and v.p < 1e-4 and "margin +-1" in text
    v, _ = verdicts.equivalent(a, b, 0.2)
    assert v == "inconclusive (equivalence not shown)" and v.p == pytest.approx(0.5, abs=1e-9)
    assert verdicts.equivalent(a, b, 0.01)[0].startswith("reversed (significantly different")
    assert verdicts.equivalent(a, b, 0.01, at_scale=True)[0] == (
        "does not reproduce (significantly different)")
    # b similar or better than a within 0.5: yes; within 0.05: significantly worse
    assert verdicts.noninferior(b, a, 0.5)[0] == "reproduces"
    assert verdicts.noninferior(b, a, 0.05)[0] == REVERSED
    assert verdicts.margin(50) == 5.0 and verdicts.margin(100) == 10.0


def test_holm_known_answer():
    from benchmarks.reproduce import report

    adjusted = report.holm([0.01, None, 0.04, 0.03, 0.005])
    assert adjusted[1] is None
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 and running max
    assert adjusted[4] == pytest.approx(0.02) and adjusted[0] == pytest.approx(0.03)
    assert adjusted[3] == pytest.approx(0.06) and adjusted[2] == pytest.approx(0.06)


def test_scale_is_read_from_a_runs_own_settings():
    """A run with the paper's settings is labelled and judged as such with no code change; a
    shortfall names each setting; no meta-step count is required (the paper states none)."""
    from benchmarks.reproduce import verdicts

    at, words = verdicts.scale("halfcheetah_forward_backward", 150, 3, 200)
    assert at and "its iteration counts are not stated" in words
    at, words = verdicts.scale("halfcheetah_forward_backward", 20, 5, 50)
    assert not at and words == "below the paper's settings: P 20 < 150, H 50 < 200"
    assert verdicts.scale("four_corners", 150, 5)[0]  # the family's horizon: the paper's 100
    assert not verdicts.scale("biased_cartpole", 150, 5, 200)[0]  # CartPole: H 500
    assert not verdicts.scale("navigation_2d", 150, 2)[0]
    row = {"env": "six_circles", "perturbations": "150", "seeds": "5", "steps": "7"}
    assert verdicts.paper_scale(row)


def test_illustrations_never_count():
    from benchmarks.reproduce import verdicts

    assert verdicts.compare([3.0], [1.0, 2.0]).startswith("illustration (one training seed")
    v = verdicts.compare([3.0, 4.0, 3.5], [1.0, 2.0, 1.5])
    assert v == "reproduces" and v.p < 0.05


def test_a_claim_of_several_checks_names_the_worst_failing_one():
    from benchmarks.reproduce.results import all_hold, first_failing
    from benchmarks.reproduce.verdicts import Verdict

    assert first_failing([("a", "reproduces"), ("b", "reproduces")]) == "reproduces"
    assert (first_failing([("a", "reproduces"), ("b", "inconclusive (not significant)")])
            == "inconclusive (b: not significant)")
    assert first_failing([("a", "inconclusive (not significant)"),
                          ("b", "does not reproduce")]) == "does not reproduce (b)"
    # a significant reversal says more than a non-significant effect
    assert first_failing([("L", "inconclusive (not significant)"), ("H", REVERSED)]) == (
        "reversed (H: significantly, below the paper's settings)")
    assert all_hold(["reproduces", "inconclusive (not significant)", REVERSED]) == REVERSED
    assert all_hold([]) == all_hold(["reproduces"]) == "reproduces"
    # the intersection-union p: the largest of the checks'; None if any check has no test
    joint = first_failing([("a", Verdict("reproduces", 0.01)), ("b", Verdict("reproduces", 0.04))])
    assert joint == "reproduces" and joint.p == 0.04
    assert all_hold([Verdict("reproduces", 0.01), "reproduces"]).p is None


def test_a_method_gap_already_there_before_training_does_not_reproduce():
    """PG > ES after training counts only if the untrained policies did not already differ."""
    from benchmarks.reproduce import results

    def rows(es0, pg0):
        out = []
        for i, (a0, b0) in enumerate(zip(es0, pg0, strict=True)):
            for method, start, end in (("ES-MAML", a0, 5.0 + 0.5 * i),
                                       ("PG-MAML TRPO", b0, 20.0 + 0.5 * i)):
                for step, value in ((0, start), (40, end)):
                    out.append({"method": method, "seed": i, "step": step, "test_post": value,
                                "perturbations": 20, "tasks": 20, "seed_stream": 2028, "K": 5,
                                "horizon": 50, "task_sets": "fixed"})
        return out

    env = "walker2d_goal_velocity"
    trained = results._low_k_claims(env, rows([1.0, 2.0, 1.5, 0.5, 1.2], [1.1, 1.9, 1.4, 0.7, 1.0]))
    assert trained[0][2] == "reproduces" and "no env steps recorded" in trained[0][1]
    head_start = results._low_k_claims(env, rows([1.1, 1.9, 1.4, 0.7, 1.0],
                                                 [20.0, 21.0, 20.5, 19.0, 22.0]))
    assert head_start[0][2] == "inconclusive (the gap is there before training)"


def test_es_vs_pg_is_judged_at_an_equal_budget_with_the_meta_step_figure_beside():
    """ES ahead at equal meta-steps but behind at PG's budget (ES spends 4x the env steps per
    meta-step and is read on its curve there): the verdict is the equal-budget one."""
    from benchmarks.reproduce import results

    rows = []
    for i in range(4):
        for step in (0, 10, 20, 30, 40):
            rows.append({"method": "ES-MAML", "seed": i, "step": step, "env_steps": 400 * step,
                         "test_post": step + 0.3 * i, "test_post_mean": "", "perturbations": 20,
                         "tasks": 20, "seed_stream": 1, "K": 20, "horizon": 50})
            rows.append({"method": "PG-MAML TRPO", "seed": i, "step": step,
                         "env_steps": 100 * step, "test_post": 0.5 * step + 0.3 * i,
                         "test_post_mean": 0.6 * step, "perturbations": 20, "tasks": 20,
                         "seed_stream": 1, "K": 20, "horizon": 50})
    (claim, measured, v, _), = results._low_k_claims("halfcheetah_goal_velocity", rows)
    # at PG's final 4,000 env steps ES is at meta-step 10 (10) against PG's 20: PG better
    assert "equal budget of 4,000 env steps" in measured and "sampled actions" in claim
    assert v == "reproduces"
    assert "at equal meta-steps (reversed" in measured  # ES 40 vs PG 20 per meta-step


def test_finn_k_rows_are_fig_a5_and_low_k_rows_fig_5():
    """The same runs at K 20 give one Fig. A5 row (Sec. 4.4's comparison at Finn et al.'s K;
    the paper claims nothing of its own there, and PG's instability is claimed for low K
    only); at K 5 the two Fig. 5 rows."""
    from benchmarks.reproduce import results

    def rows(k):
        return [{"method": method, "seed": i, "step": step, "test_post": value + 0.3 * i,
                 "perturbations": 20, "tasks": 20, "seed_stream": 2034, "K": k, "horizon": 50,
                 "task_sets": "fixed"}
                for i in range(3) for method, value0, value in (("ES-MAML", 1.0, 9.0),
                                                                ("PG-MAML TRPO", 1.0, 4.0))
                for step, value in ((0, value0), (40, value))]

    env = "halfcheetah_forward_backward"
    a5 = results._low_k_claims(env, rows(20))
    assert len(a5) == 1 and a5[0][0].startswith("A.5 / Fig. A5") and "K = 20" in a5[0][0]
    assert a5[0][2] == "reproduces" and " -K " not in a5[0][3]  # K 20: the script's default
    assert "non-inferiority within 5" in a5[0][0]
    fig5 = results._low_k_claims(env, rows(5))
    assert len(fig5) == 2 and fig5[0][0].startswith("4.4 / Fig. 5: at low K (5)")
    assert "unstable" in fig5[1][0]
    assert " -K 5 " in fig5[0][3]


def test_every_row_has_a_verdict_of_the_rule_and_claims_are_counted_once():
    import re

    from benchmarks import make_tables
    from benchmarks.reproduce import report, results
    from benchmarks.reproduce.verdicts import Verdict

    rows = results.claims()
    for claim, measured, v, cmd in rows:
        assert "|" not in claim + measured and cmd.startswith("`")
        head = v.split(" (")[0]
        assert head in ("reproduces", "does not reproduce", "inconclusive", "reversed",
                        "illustration"), v
        assert isinstance(v, Verdict) and (v.p is None) == (head == "illustration"), v
    keys = {report.claim_key(c) for c, _, _, _ in rows}
    m = re.match(r"\*\*(\d+) distinct claims\*\*.*\*\*(\d+) rows\*\*",
                 make_tables.reproduction_table())
    assert m and int(m.group(1)) == len(keys) < int(m.group(2)) == len(rows)
    # one claim in several settings is one claim
    assert report.claim_key("4.2 / Fig. 3: on halfcheetah_forward_backward linear policies "
                            "train faster (measured: x)") == report.claim_key(
        "4.2 / Fig. 3: on walker2d_goal_velocity linear policies train faster (measured: y)")


def test_equal_budget_reads_each_method_at_the_budget_both_reached():
    """Issue 38 item 1: ES (twice PG's env steps per meta-step) is read on its curve at PG's
    final budget, linearly between its logged points; PG at its final evaluation."""
    import numpy as np

    from benchmarks.reproduce import budgets

    rows = []
    for seed, shift in (("0", 0.0), ("1", 1.0), ("2", 2.0)):
        for step in (0, 10, 20):
            rows.append({"method": "ES-MAML", "seed": seed, "step": str(step),
                         "env_steps": str(200 * step), "test_post": str(step + shift),
                         "test_post_mean": ""})
            rows.append({"method": "PG-MAML TRPO", "seed": seed, "step": str(step),
                         "env_steps": str(100 * step), "test_post": str(2 * step + shift),
                         "test_post_mean": str(3 * step + shift)})
    c = budgets.compare(rows)
    assert c["budget"] == 2000 and c["ratio"] == 2.0
    assert np.allclose(c["es_at_budget"], [10.0, 11.0, 12.0])  # ES at step 10 of 20
    assert np.allclose(c["sampled"]["pg"], [40.0, 41.0, 42.0])
    assert c["sampled"]["diff"] == -30.0 and c["sampled"]["diff_meta"] == -20.0
    assert np.allclose(c["mean"]["pg"], [60.0, 61.0, 62.0])
    with pytest.raises(ValueError, match="outside the curve"):
        budgets.at_budget(np.array([0.0, 10.0]), np.array([1.0, 2.0]), 11.0)


def test_results_md_is_rendered_from_its_template_and_the_rows():
    """Issue 36 item 4: the prose of RESULTS.md lives in its template; the rows come from the
    claims modules; the committed file is what they render (so it cannot drift)."""
    from benchmarks.reproduce import report, results

    text = report.render(results.claims())
    assert text == (report.ROOT / "benchmarks" / "RESULTS.md").read_text()
    for marker in ("<!-- summary -->", "<!-- claims -->", "<!-- budgets -->",
                   "<!-- runtimes -->"):
        assert marker in report.TEMPLATE.read_text() and marker not in text


def test_the_campaign_at_the_papers_settings_is_judged_at_them():
    """`python -m benchmarks.reproduce --scale paper`: every RL part moves to P 150, 3+ seeds,
    the paper's horizon and fresh seeds, and a row run that way is at the paper's settings by
    `scale` with no code change."""
    from benchmarks.reproduce import __main__ as campaign
    from benchmarks.reproduce import verdicts
    from benchmarks.reproduce.parts import PARTS, paper_scale_args

    for name, module, always, committed in PARTS:
        args = paper_scale_args(module, always, committed)
        if module in ("sine", "compact"):  # no stated settings / P is what it measures
            assert args == committed
            continue
        if module == "first_order":  # its rollout budget grows with P: the same meta-steps
            assert args[args.index("--rollouts") + 1] == str(
                int(committed[committed.index("--rollouts") + 1]) * 150 // 20), name
        value = dict(zip(args[::2], args[1::2], strict=False)).get  # flag -> value
        assert value("--perturbations") == "150" and int(value("--seeds")) >= 3, name
        assert value("--seed-stream") == "2040", name
        env = always[always.index("--env") + 1] if "--env" in always else ""
        if module == "pg_vs_es" and env.split("_")[0] in ("halfcheetah", "ant", "walker2d",
                                                           "swimmer"):
            assert value("--horizon") == "200", name
            assert verdicts.scale(env, value("--perturbations"), value("--seeds"),
                                  value("--horizon"))[0], name
    with pytest.raises(SystemExit):
        campaign.main(["--tiny", "--scale", "paper"])


@pytest.mark.parametrize("plain,expected", [
    # MC K 20 on four corners ends near -100; the penalized run's adapted policies, scored by
    # the same unpenalized reward, far lower: the drop reproduces (one-sided Welch)
    ("-300.0 -310.0 -290.0", "reproduces"),
    ("-101.0 -99.0 -103.0", "inconclusive (not significant)"),
    ("-20.0 -25.0 -22.0", REVERSED),
])
def test_the_penalized_drop_is_judged_on_the_unpenalized_scale(plain, expected):
    """Fig. 1b's "performance drops for MC" compares the penalized run's adapted policies with
    MC K 20 on four corners by the same (unpenalized) reward; a row without that column (an
    older run) gets no such row."""
    from benchmarks.reproduce import claims_es

    base = {"K": "20", "steps": "1000", "perturbations": "20", "seeds": "3", "seed_stream": "7",
            "post_before": "-300.0", "pre_after": "-380.0", "post_after_std": "1.0"}
    mc20 = dict(base, env="four_corners", operator="MC", post_after="-100.0",
                post_after_per_seed="-100.0 -98.0 -102.0",
                pre_after_per_seed="-380.0 -381.0 -379.0")
    pen = [dict(base, env="four_corners_penalized", operator=op, post_after="-5000.0",
                post_after_per_seed=f"-5000.0 -{5000 + i}.0 -4990.0",
                pre_after_per_seed="-9000.0 -9100.0 -9050.0")
           for i, op in enumerate(("MC", "DPP", "HC"))]
    without = claims_es.four_corners_claims([mc20, *pen])
    pen[0]["post_after_unpenalized_per_seed"] = plain
    rows = claims_es.four_corners_claims([mc20, *pen])
    (drop,) = [r for r in rows if "here the drop" in r[0]]
    assert drop[2] == expected
    assert len(rows) == len(without) + 1 and "DPP-ES not tested" in drop[0]
    assert "unpenalized task [-100.0, -98.0, -102.0] vs penalized task [" in drop[1]


@pytest.mark.parametrize("plain,expected", [
    ("-300.0 -310.0 -290.0", "reproduces"),
    ("-20.0 -25.0 -22.0", REVERSED),
])
def test_the_penalized_drop_for_dpp_is_judged_against_dpp_on_four_corners(plain, expected):
    """Fig. 1b says the penalty makes performance drop "for MC and DPP-ES": with a DPP K 20
    run on the unpenalized task, DPP's drop gets a row of its own, judged by the same rule
    (one-sided Welch on the unpenalized reward) against DPP's own unpenalized run, not MC's;
    MC's row no longer says DPP is untested."""
    from benchmarks.reproduce import claims_es

    base = {"K": "20", "steps": "1000", "perturbations": "20", "seeds": "3", "seed_stream": "7",
            "post_before": "-300.0", "pre_after": "-380.0", "post_after_std": "1.0",
            "pre_after_per_seed": "-380.0 -381.0 -379.0"}
    mc20 = dict(base, env="four_corners", operator="MC", post_after="-100.0",
                post_after_per_seed="-100.0 -98.0 -102.0")
    # DPP's unpenalized run ends lower than MC's: a DPP drop judged against MC's run would
    # differ from one judged against DPP's own
    dpp20 = dict(base, env="four_corners", operator="DPP", post_after="-200.0",
                 post_after_per_seed="-200.0 -198.0 -202.0")
    pen = [dict(base, env="four_corners_penalized", operator=op, post_after="-5000.0",
                post_after_per_seed=f"-5000.0 -{5000 + i}.0 -4990.0",
                post_after_unpenalized_per_seed="-300.0 -310.0 -290.0")
           for i, op in enumerate(("MC", "DPP", "HC"))]
    pen[1]["post_after_unpenalized_per_seed"] = plain
    rows = claims_es.four_corners_claims([mc20, dpp20, *pen])
    drops = {r[0].split("here the drop, for ")[1].split(";")[0]: r
             for r in rows if "here the drop" in r[0]}
    assert set(drops) == {"MC", "DPP-ES"}
    assert drops["MC"][2] == "reproduces" and "not tested" not in drops["MC"][0]
    assert drops["DPP-ES"][2] == expected
    assert "unpenalized task [-200.0, -198.0, -202.0] vs penalized task [" in drops["DPP-ES"][1]
    # the two drop rows are one claim (the paper's quoted sentence) with the HC row
    from benchmarks.reproduce.report import claim_key

    assert len({claim_key(r[0]) for r in rows if "Fig. 1b" in r[0]}) == 1


def test_fig5_rows_cover_the_one_hidden_layer_runs_too():
    """Fig. 5 compares ES and PG at low K "across four environments [...] and two model
    architectures": the one-hidden-layer (H) runs of Fig. 4 (swimmer and walker2d
    forward-backward, K 5) get Fig. 5's rows by the same rule, named as H runs."""
    from benchmarks.reproduce import claims_pg, results

    rows = [{"method": method, "seed": i, "step": step, "test_post": value + 0.3 * i,
             "perturbations": 20, "tasks": 20, "seed_stream": 2028, "K": 5, "horizon": 50,
             "task_sets": "fixed"}
            for i in range(3) for method, value0, value in (("ES-MAML", 1.0, 9.0),
                                                            ("PG-MAML TRPO", 1.0, 4.0))
            for step, value in ((0, value0), (40, value))]
    h = claims_pg._low_k_claims("swimmer_forward_backward", rows, arch="H")
    assert [r[0].endswith("swimmer_forward_backward, one hidden layer (H)") for r in h] == [
        True, True]
    assert all(" --policy mlp " in r[3] and "--policy linear" not in r[3] for r in h)
    fig5_h = [r for r in results.claims() if r[0].startswith("4.4 / Fig. 5")
              and r[0].endswith("one hidden layer (H)")]
    assert {r[0].split(", ")[-2] for r in fig5_h} == {"swimmer_forward_backward",
                                                      "walker2d_forward_backward"}


def _locomotion_rows(env, runs, stream):
    """Rows of locomotion.py: runs = {(policy, K, operator): (untrained, trained per seed)}."""
    rows = []
    for (pol, k, op), (start, end) in runs.items():
        for seed, value in enumerate(end):
            for step, post in ((0, start), (25, value - 1.0), (50, value)):
                rows.append({"env": env, "policy": pol, "K": k, "T": 2, "horizon": 50,
                             "perturbations": 20, "seed": seed, "step": step,
                             "test_pre": start - 1.0, "test_post": post + 0.1 * seed,
                             "wall_s": 1.0, "seeds": len(end), "steps": 50,
                             "seed_stream": stream, "task_sets": "fixed (N = 2)",
                             "operator": op})
    return rows


@pytest.mark.parametrize("hc,expected", [
    ([30.0, 31.0, 29.0, 32.0, 30.5], "reproduces"),
    ([12.0, 9.0, 11.5, 10.0, 8.0], "inconclusive (HC vs MC (L): not significant)"),
    ([1.0, 2.0, 1.5, 0.5, 1.2], "reversed (HC vs MC (L): significantly, below the paper's "
                                "settings)"),
])
def test_hc_on_forward_backward_ant_is_judged_against_every_other_fig3_curve(
        tmp_path, monkeypatch, hc, expected):
    """Fig. 3 / 4.2: "for the Forward-Backward Ant problem, ES-MAML with the new HC operator is
    the most performant": HC (linear) against MC with L and with H, by the same measure as
    Fig. 3's L vs H (mean post-adaptation return over training, per seed), both must hold.
    Each robot's rows carry their own seeds, stream and command (--only)."""
    from benchmarks._common import write_csv
    from benchmarks.reproduce import claims_runs, verdicts

    ant = _locomotion_rows("ant_forward_backward", {
        ("L", 10, "MC"): (0.0, [10.0, 11.0, 9.0, 10.5, 9.5]),
        ("H", 10, "MC"): (0.0, [5.0, 6.0, 4.0, 5.5, 4.5]),
        ("L", 10, "HC"): (0.0, hc)}, 2043)
    cheetah = _locomotion_rows("halfcheetah_forward_backward", {
        ("L", 10, "MC"): (0.0, [10.0, 11.0, 9.0]), ("H", 10, "MC"): (0.0, [5.0, 6.0, 4.0])},
        2030)
    for r in cheetah:  # older rows: no operator column
        del r["operator"]
    write_csv(cheetah + ant, tmp_path / "locomotion.csv")
    monkeypatch.setattr(verdicts, "RESULTS", tmp_path)
    monkeypatch.setattr(claims_runs, "RESULTS", tmp_path, raising=False)
    rows = claims_runs.locomotion_claims()
    (hc_row,) = [r for r in rows if "HC operator is the most performant" in r[0]]
    assert hc_row[2] == expected
    assert "locomotion --only ant --seeds 5 --seed-stream 2043`" in hc_row[3]
    cheetah_rows = [r for r in rows if "halfcheetah" in r[0]]
    assert cheetah_rows and all("--only halfcheetah --seeds 3 --seed-stream 2030`" in r[3]
                                for r in cheetah_rows)
    lh = [r for r in rows if "ant_forward_backward linear policies train faster" in r[0]]
    assert len(lh) == 1 and lh[0][2] == "reproduces"  # the HC run is not part of L vs H


@pytest.mark.parametrize("nh,expected", [
    ([20.0, 21.0, 22.0], ("reproduces", "reproduces", REVERSED)),
    ([10.0, 11.0, 12.0], (REVERSED, REVERSED, "reproduces")),
])
def test_figs_a1_a2_rows_on_brax_follow_the_rule(tmp_path, monkeypatch, nh, expected):
    """Figs. A1 / A2 on Brax forward-backward: each of the paper's three sentences is one
    one-sided Welch test at an equal rollout budget, in the paper's direction; the command
    names the run's flags (its --only included)."""
    from benchmarks._common import write_csv
    from benchmarks.reproduce import claims_es, verdicts

    def row(env, k, variant, per_seed, only=""):
        return {"variant": f"linear: {variant} (n=20, K={k}, SGD 0.01)", "meta_steps": 40,
                "rollouts": 9000, "seeds": 3, "post_before": "0.0", "post_after_mean": "0",
                "post_after_std": "0", "post_after_per_seed": " ".join(map(str, per_seed)),
                "wall_s_incl_compile": 1.0, "env": env, "K": k, "horizon": 50,
                "perturbations": 20, "seed_stream": 2044, "rollouts_budget": 9600,
                "only": only}

    ant = "ant_forward_backward"
    write_csv([row(ant, 10, "zero_order", [15.0, 16.0, 17.0]),
               row(ant, 10, "FO-NoHessian", nh),
               row(ant, 10, "FO-Hessian MC, K_H=10", [15.0, 16.0, 17.0])],
              tmp_path / f"first_order_{ant}_K10.csv")
    hc = "halfcheetah_forward_backward"
    write_csv([row(hc, 5, "zero_order", [15.0, 16.0, 17.0], "zero_order,FO-NoHessian"),
               row(hc, 5, "FO-NoHessian", nh, "zero_order,FO-NoHessian")],
              tmp_path / f"first_order_{hc}_K5.csv")
    monkeypatch.setattr(verdicts, "RESULTS", tmp_path)
    rows = claims_es.brax_first_order_claims()
    assert tuple(v for _, _, v, _ in rows) == expected
    assert "Fig. A1" in rows[0][0] and "FO-NoHessian vs FO-Hessian" in rows[0][0]
    assert rows[2][3] == ("`python -m benchmarks.first_order --env halfcheetah_forward_backward "
                          "-K 5 --only zero_order,FO-NoHessian --rollouts 9600 --seeds 3 "
                          "--seed-stream 2044`")
    from benchmarks.reproduce import report  # the physics, said once per row by the report

    assert "Brax spring, not the paper's MuJoCo" in report.physics_note(rows[1])


@pytest.mark.parametrize("linear,mlp,expected", [
    ([8, 8, 16, 8], [64, 128, 64, 512], "reproduces"),
    ([8, 16, 8, 16], [16, 8, 16, 16], "inconclusive (not significant)"),
    ([64, 128, 64, 128], [8, 8, 16, 8], "reversed (significantly, below the paper's settings)"),
])
def test_compact_policies_row_compares_perturbations_needed(tmp_path, monkeypatch, linear, mlp,
                                                           expected):
    """4.2's "fewer perturbations are needed": the P each seed's estimate needs, MLP vs linear,
    one-sided Welch on log2 P; a censored seed (never reached) is counted and said."""
    from benchmarks._common import write_csv
    from benchmarks.reproduce import claims_es, verdicts

    rows = [{"policy": pol, "D": d, "seed": s, "p_needed": n, "reached": n <= 256,
             "cos_P8": 0.1, "cos_P256": 0.9, "threshold": 0.5, "repeats": 8,
             "ref": "32 x P 256", "seeds": 4, "seed_stream": 2045, "wall_s_policy": 1.0}
            for pol, d, needs in (("L", 6, linear), ("H", 162, mlp))
            for s, n in enumerate(needs)]
    write_csv(rows, tmp_path / "compact.csv")
    monkeypatch.setattr(verdicts, "RESULTS", tmp_path)
    (row,) = claims_es.compact_claims()
    assert row[2] == expected
    assert f"linear (D 6) {linear}" in row[1] and f"MLP(32) (D 162) {mlp}" in row[1]
    assert f"{sum(n > 256 for n in linear + mlp)} seed(s) never reached" in row[1]
    assert row[3] == "`python -m benchmarks.reproduce.compact --seeds 4 --seed-stream 2045`"


def test_each_exploration_experiment_is_run_by_at_most_one_campaign_part():
    """The campaign's exploration parts after the default run each replace some experiments'
    rows; an experiment two parts select would be run twice (the later run's rows win), so no
    experiment is selected twice. Fig. 1b's DPP drop needs DPP K 20 on both four-corners
    tasks."""
    from benchmarks._common import only_matches
    from benchmarks.reproduce import exploration
    from benchmarks.reproduce.parts import PARTS

    chosen: dict[str, list[str]] = {}
    for name, module, always, scale in PARTS:
        if module != "exploration" or not always:
            continue  # the default run (every experiment at CPU scale) comes first
        only = exploration.parse_args(always + scale).only
        for env, op, k in exploration.EXPERIMENTS:
            key = f"{env}/{op}/{k}"
            if only_matches(only, key):
                chosen.setdefault(key, []).append(name)
    assert all(len(parts) == 1 for parts in chosen.values()), chosen
    assert "four_corners/DPP/20" in chosen and "four_corners_penalized/DPP/20" in chosen


def test_only_selects_experiments_by_their_name_and_keeps_the_other_rows(tmp_path):
    """The scripts' --only (exploration, locomotion, cartpole): comma-separated texts, an
    experiment runs if its name contains one; an earlier CSV's rows of the experiments not run
    are kept, those of the experiments run are dropped (replaced); no match is an error."""
    from benchmarks._common import only_experiments, rows_kept, write_csv

    exps = [("four_corners", "MC", 20), ("four_corners", "DPP", 20), ("six_circles", "HC", 20)]
    assert only_experiments(exps, "DPP/20,six") == exps[1:]
    assert only_experiments(exps, "four_corners/") == exps[:2]
    with pytest.raises(SystemExit, match="no experiment matches 'ant'"):
        only_experiments(exps, "ant")
    path = tmp_path / "rows.csv"
    assert rows_kept(path, lambda r: (r["env"], r["operator"], r["K"]), set()) == []
    write_csv([{"env": e, "operator": o, "K": k, "x": i} for i, (e, o, k) in enumerate(exps)],
              path)
    kept = rows_kept(path, lambda r: (r["env"], r["operator"], r["K"]),
                     {("four_corners", "DPP", "20")})
    assert [(r["operator"], r["x"]) for r in kept] == [("MC", "0"), ("HC", "2")]


def test_fig4_rows_compare_architectures_run_on_different_seed_streams(tmp_path, monkeypatch):
    """Fig. 4's L vs H / HH rows need the three runs at one scale, not on one seed stream: the
    linear forward-backward run is re-run on a fresh stream (issue 38, the non-inferiority
    margin's confirmatory run) while H and HH keep theirs. Independent seeds are what Welch's
    test assumes; the row names each architecture's stream. A different scale still gives no
    row."""
    from benchmarks._common import write_csv
    from benchmarks.reproduce import claims_pg, verdicts

    def runs(start, end, stream, steps=40):
        return [{"method": method, "seed": i, "step": step, "test_post": value + 0.3 * i,
                 "test_pre": 0.0, "env_steps": step * 1000, "perturbations": 20, "tasks": 20,
                 "seed_stream": stream, "K": 5, "horizon": 50, "task_sets": "fixed"}
                for i in range(3) for method in ("ES-MAML", "PG-MAML TRPO")
                for step, value in ((0, start), (steps // 2, end), (steps, end))]

    env = "swimmer_forward_backward"
    monkeypatch.setattr(verdicts, "RESULTS", tmp_path)
    write_csv(runs(1.0, 12.0, 2047), tmp_path / f"pg_vs_es_{env}_linear_K5.csv")
    write_csv(runs(1.0, 5.0, 2028), tmp_path / f"pg_vs_es_{env}_K5.csv")
    write_csv(runs(1.0, 4.0, 2028), tmp_path / f"pg_vs_es_{env}_mlp32x32_K5.csv")
    rows = claims_pg._architecture_claims(env)
    assert len(rows) == 2
    assert rows[0][2] == "reproduces"
    assert "seeds from streams: L 2047, H 2028, HH 2028" in rows[0][1]
    assert "--seed-stream 2047" in rows[0][3] and "--seed-stream 2028" in rows[0][3]
    write_csv(runs(1.0, 4.0, 2028, steps=80), tmp_path / f"pg_vs_es_{env}_mlp32x32_K5.csv")
    assert claims_pg._architecture_claims(env) == []
