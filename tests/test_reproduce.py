"""The reproduction scripts run end to end on tiny configurations (numbers are not asserted:
the scripts' real results are in benchmarks/RESULTS.md)."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # subprocesses, multi-device and script runs (CI runs them)

ROOT = Path(__file__).resolve().parents[1]


def run_script(name, out):
    module = "benchmarks.reproduce." + name.removesuffix(".py")
    proc = subprocess.run([sys.executable, "-m", module, "--tiny", "--out", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return list(csv.DictReader(open(out)))


def test_exploration_script_writes_rows_and_trajectory_pictures(tmp_path):
    rows = run_script("exploration.py", tmp_path / "exploration.csv")
    assert [(r["env"], r["operator"]) for r in rows] == [("four_corners", "MC"),
                                                         ("six_circles", "HC")]
    for r in rows:
        png = tmp_path / f"trajectories_{r['env']}_{r['operator']}_K{r['K']}.png"
        assert png.stat().st_size > 5000


def test_cartpole_script_writes_curves(tmp_path):
    rows = run_script("cartpole.py", tmp_path / "cartpole.csv")
    assert {r["policy"] for r in rows} == {"L", "H", "HH"}
    # 2 seeds x evaluations at steps 0, 1, 2, per policy; returns within [0, horizon]
    assert len(rows) == 3 * 2 * 3
    assert all(0.0 <= float(r["test_post"]) <= 10.0 for r in rows)
    assert (tmp_path / "cartpole.png").stat().st_size > 5000


def test_pg_vs_es_script_writes_three_methods_with_both_pg_evaluations(tmp_path):
    rows = run_script("pg_vs_es.py", tmp_path / "pg.csv")
    assert {r["method"] for r in rows} == {"ES-MAML", "PG-MAML TRPO", "PG-MAML VPG"}
    assert len(rows) == 3 * 3 * 3  # methods x seeds x evaluations at steps 0, 1, 2
    pg = [r for r in rows if r["method"] != "ES-MAML"]
    assert all(r["test_post_mean"] != "" for r in pg)
    assert (tmp_path / "pg.png").stat().st_size > 5000


@pytest.mark.slow
def test_locomotion_script_writes_curves(tmp_path):
    rows = run_script("locomotion.py", tmp_path / "locomotion.csv")
    assert {r["env"] for r in rows} == {"halfcheetah_forward_backward"}
    assert (tmp_path / "locomotion_halfcheetah_forward_backward.png").stat().st_size > 5000


@pytest.mark.slow
def test_robustness_script_writes_three_methods(tmp_path):
    rows = run_script("robustness.py", tmp_path / "robustness.csv")
    assert {r["method"] for r in rows} == {"MC", "MC, corrupted", "RBO (L1), corrupted"}
    assert {r["fraction"] for r in rows} == {"0.25"}
    assert (tmp_path / "robustness.png").stat().st_size > 5000


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


@pytest.mark.parametrize("mc,rbo,first,second", [
    ([15.0, 16.0, 17.0], [5.0, 6.0, 7.0], "reproduces", "reproduces"),
    ([15.0, 16.0, 17.0], [15.5, 16.5, 15.0], "inconclusive (not significant)", "reproduces"),
    ([5.0, 6.0, 7.0], [15.0, 16.0, 17.0], "inconclusive (reversed at CPU scale)", "reproduces"),
    ([1.5, 1.5, 3.5], [5.0, 6.0, 7.0], "inconclusive (reversed at CPU scale)",
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


def test_results_verdicts_follow_the_seed_rule():
    from benchmarks.reproduce import results

    assert results.compare([3.0, 4.0], [1.0, 2.0]) == "reproduces"
    assert results.compare([1.5, 4.0], [1.0, 2.0]).startswith("inconclusive")
    assert results.compare([1.0, 2.0], [3.0, 4.0]) == "inconclusive (reversed at CPU scale)"
    # per-seed mean over the evaluations after step 0
    assert results.seed_areas({0: [9.0, 9.0], 10: [1.0, 3.0], 20: [3.0, 5.0]}) == [2.0, 4.0]
    # every claim row is a well-formed table row with a computed verdict
    for claim, measured, v, cmd in results.claims():
        assert "|" not in claim + measured
        head, _, reason = v.partition(" (")
        reason = reason[:-1].split(": ", 1)[-1]  # "check: reason" names a failing sub-test
        assert head in ("reproduces", "does not reproduce", "inconclusive"), v
        assert head != "inconclusive" or reason in (
            "", "seeds overlap", "not significant", "reversed at CPU scale",
            "not reached in the iterations run", "adaptation still lowers the return",
            "not reached in the iterations run; still falling",
            "not reached in the iterations run; not significantly falling",
            "not at the paper's scale", "no significant adaptation gain",
            "training did not improve the adapted return",
            "lower after training; no per-seed values before",
            "not in the claimed direction, below the paper's scale",
            "the gap is there before training"), v
        assert cmd.startswith("`")


def test_a_claim_of_several_checks_names_the_worst_failing_one():
    from benchmarks.reproduce.results import first_failing

    assert first_failing([("a", "reproduces"), ("b", "reproduces")]) == "reproduces"
    assert (first_failing([("a", "reproduces"), ("b", "inconclusive (not significant)")])
            == "inconclusive (b: not significant)")
    assert first_failing([("a", "inconclusive (not significant)"),
                          ("b", "does not reproduce")]) == "does not reproduce (b)"
    # a significant reversal says more than a non-significant effect
    assert first_failing([("L", "inconclusive (not significant)"),
                          ("H", "inconclusive (reversed at CPU scale)")]) == (
        "inconclusive (H: reversed at CPU scale)")
    from benchmarks.reproduce.results import all_hold

    assert all_hold(["reproduces", "inconclusive (not significant)",
                     "inconclusive (reversed at CPU scale)"]) == (
        "inconclusive (reversed at CPU scale)")
    assert all_hold([]) == all_hold(["reproduces"]) == "reproduces"


def test_a_method_gap_already_there_before_training_does_not_reproduce():
    """ES > PG after training counts only if the untrained policies did not already differ."""
    from benchmarks.reproduce import results

    def rows(es0, pg0):
        out = []
        for i, (a0, b0) in enumerate(zip(es0, pg0, strict=True)):
            for method, start, end in (("ES-MAML", a0, 20.0 + 0.5 * i),
                                       ("PG-MAML TRPO", b0, 5.0 + 0.5 * i)):
                for step, value in ((0, start), (40, end)):
                    out.append({"method": method, "seed": i, "step": step, "test_post": value,
                                "perturbations": 20, "tasks": 20, "seed_stream": 2028, "K": 5,
                                "horizon": 50, "task_sets": "fixed"})
        return out

    env = "walker2d_forward_backward"
    trained = results._low_k_claims(env, rows([1.0, 2.0, 1.5, 0.5, 1.2], [1.1, 1.9, 1.4, 0.7, 1.0]))
    assert trained[0][2] == "reproduces"
    head_start = results._low_k_claims(env, rows([20.0, 21.0, 20.5, 19.0, 22.0],
                                                 [1.1, 1.9, 1.4, 0.7, 1.0]))
    assert head_start[0][2] == "inconclusive (the gap is there before training)"


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
    fig5 = results._low_k_claims(env, rows(5))
    assert len(fig5) == 2 and fig5[0][0].startswith("4.4 / Fig. 5: at low K (5)")
    assert "unstable" in fig5[1][0]
    assert " -K 5 " in fig5[0][3]


def test_welch_verdicts():
    from benchmarks.reproduce import results

    assert results.welch([5.0, 5.2, 4.9, 5.1], [1.0, 1.2, 0.9, 1.1])[0] == "reproduces"
    assert results.welch([1.0, 1.2, 0.9, 1.1], [5.0, 5.2, 4.9, 5.1])[0] == (
        "inconclusive (reversed at CPU scale)")
    assert results.welch([1.0, 1.2, 0.9, 1.1], [5.0, 5.2, 4.9, 5.1], paper_scale=True)[0] == (
        "does not reproduce")
    # claimed direction, not significant: inconclusive at any scale
    for at_scale in (False, True):
        assert results.welch([1.0, 3.0, 0.5, 2.1], [1.5, 2.5, 0.7, 1.8], at_scale)[0] == (
            "inconclusive (not significant)")
    # absent (estimate against the claim, not significant): fails only at the paper's scale
    absent = ([1.5, 2.5, 0.7, 1.8], [1.0, 3.0, 0.5, 2.1])
    assert results.welch(*absent, paper_scale=True)[0] == "does not reproduce"
    assert results.welch(*absent)[0] == (
        "inconclusive (not in the claimed direction, below the paper's scale)")
    assert results.positive([1.0, 1.1, 0.9])[0] == "reproduces"
    assert results.positive([1.0, -0.8, 0.1])[0] == "inconclusive (not significant)"
    assert results.positive([-1.0, 1.2, -0.5], at_scale=True)[0] == "does not reproduce"


def test_train_seeds_evaluates_with_keys_training_never_used():
    # A stand-in algorithm that records every key it is given: evaluation (and the sub-keys
    # base.evaluate derives from its key) must be disjoint from init and every training key.
    import jax
    import jax.numpy as jnp

    from benchmarks._common import train_seeds

    steps = 5
    data = lambda k: jax.random.key_data(k).reshape(-1)

    class Recorder:
        def init(self, key):
            return {"i": jnp.int32(0), "seen": jnp.zeros((steps + 1, 2), jnp.uint32).at[0].set(
                data(key))}

        def step(self, state, key):
            i = state["i"] + 1
            return {"i": i, "seen": state["seen"].at[i].set(data(key))}, {}

        def evaluate(self, state, key, num_repeats=1):
            return {"keys": jnp.stack([data(key), *map(data, jax.random.split(key))])}

    states, before, after, _ = train_seeds(Recorder(), seeds=3, steps=steps, eval_repeats=1)
    used = {tuple(map(int, k)) for k in np.asarray(states["seen"]).reshape(-1, 2)}
    evals = {tuple(map(int, k)) for k in np.asarray(after["keys"]).reshape(-1, 2)}
    assert len(used) == 3 * (steps + 1)
    assert not used & evals
    np.testing.assert_array_equal(before["keys"], after["keys"])  # paired before/after


def test_campaign_runner_runs_parts_and_reports_their_times():
    # the cheapest part (each script has a test of its own above)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.reproduce", "--tiny", "--only",
                           "exploration four"], capture_output=True, text=True, timeout=900,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "== exploration four_corners paper scale" in proc.stdout
    assert "== cartpole" not in proc.stdout  # --only chose one part
    assert "runtime of each part here" in proc.stdout and "RESULTS.md untouched" in proc.stdout


def test_every_quoted_pg_vs_es_command_is_a_campaign_part():
    """The command RESULTS.md quotes under an ES vs PG row (read from the CSV: scale, seeds,
    stream, evaluation interval) is exactly one the campaign runs: otherwise re-running the
    campaign would not give the committed numbers."""
    import re
    import shlex

    from benchmarks.reproduce import results
    from benchmarks.reproduce.parts import PARTS

    def flags(args):
        out, i = {"--chunk": "10"}, 0  # the script's default evaluation interval
        while i < len(args):
            out[args[i]] = args[i + 1]
            i += 2
        return out

    parts = [flags(always + scale) for _, module, always, scale in PARTS if module == "pg_vs_es"]
    quoted = {cmd for *_, cmd in results.claims() if "reproduce.pg_vs_es" in cmd}
    assert quoted
    for cmds in quoted:
        for cmd in re.findall(r"`([^`]*)`", cmds):  # a row may quote several runs
            args = shlex.split(cmd)[3:]  # after python -m benchmarks.reproduce.pg_vs_es
            assert flags(args) in parts, cmd


def test_every_exploration_row_quotes_the_campaign_part_that_wrote_it():
    """An exploration row's command is looked up in the campaign's PARTS by the row's
    experiment and scale (`results.ex_cmd`); a committed row no part would write (e.g. a scale
    run by hand) is named as such, and there is none."""
    from benchmarks.reproduce import results

    rows = [r for r in results.claims() if "reproduce.exploration" in r[3]]
    assert rows
    for claim, *_, cmd in rows:
        assert "no campaign part" not in cmd, (claim, cmd)
    row = {"env": "six_circles", "operator": "HC", "K": "20", "steps": "1000",
           "perturbations": "150", "seeds": "5", "seed_stream": "2031"}
    assert "'six_circles/MC/20,six_circles/HC/20,six_circles/HC(0.3)/20'" in results.ex_cmd(row)
    assert "no campaign part" in results.ex_cmd(dict(row, steps="999"))


def test_the_readme_summary_counts_every_verdict_with_a_reason_too():
    """"does not reproduce (check)" is a failure like "does not reproduce"."""
    import re

    from benchmarks import make_tables
    from benchmarks.reproduce import results

    verdicts = [v for _, _, v, _ in results.claims()]
    ok, fail, rest, total = (int(x) for x in re.match(
        r"(\d+) of (\d+) checked claims reproduce, (\d+) (?:does|do) not, (\d+) are",
        make_tables.reproduction_table()).group(1, 3, 4, 2))
    assert total == len(verdicts) == ok + fail + rest
    assert fail == sum(v.split(" (")[0] == "does not reproduce" for v in verdicts)


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
    for marker in ("<!-- claims -->", "<!-- budgets -->", "<!-- runtimes -->"):
        assert marker in report.TEMPLATE.read_text() and marker not in text
