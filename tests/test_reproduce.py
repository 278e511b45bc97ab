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


def run_script(name, out, *extra):
    module = "benchmarks.reproduce." + name.removesuffix(".py")
    proc = subprocess.run([sys.executable, "-m", module, "--tiny", "--out", str(out), *extra],
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


def test_penalized_rows_are_also_scored_without_the_penalty(tmp_path):
    """Fig. 1b's "performance drops" compares a penalized run with the unpenalized task's: the
    penalized rows also score each seed's adapted policy by the plain four-corners reward (the
    same adaptations: same keys, same trajectories). The penalty is never positive, so that
    score is at least the penalized return, seed by seed, and within four corners' range."""
    out = tmp_path / "exploration.csv"
    run_script("exploration.py", out, "--only", "four_corners_penalized/MC")
    (row,) = list(csv.DictReader(open(out)))
    assert row["env"] == "four_corners_penalized"
    plain = [float(x) for x in row["post_after_unpenalized_per_seed"].split()]
    penalized = [float(x) for x in row["post_after_per_seed"].split()]
    assert len(plain) == len(penalized) == int(row["seeds"])
    assert all(-400.0 <= a <= 0.0 for a in plain)  # H 100 x [-4, 0] per step
    assert all(a >= b - 1e-3 for a, b in zip(plain, penalized, strict=True))


def test_cartpole_script_writes_curves(tmp_path):
    rows = run_script("cartpole.py", tmp_path / "cartpole.csv")
    assert {r["policy"] for r in rows} == {"L", "H", "HH"}
    # 2 seeds x evaluations at steps 0, 1, 2, per policy; returns within [0, horizon]
    assert len(rows) == 3 * 2 * 3
    assert all(0.0 <= float(r["test_post"]) <= 10.0 for r in rows)
    assert (tmp_path / "cartpole.png").stat().st_size > 5000


def test_cartpole_only_reruns_the_named_policies_and_keeps_the_others(tmp_path):
    out = tmp_path / "cartpole.csv"
    first = run_script("cartpole.py", out)
    again = run_script("cartpole.py", out, "--only", "H", "--seed-stream", "3")
    assert [r for r in again if r["policy"] != "H"] == [r for r in first if r["policy"] != "H"]
    h = [r for r in again if r["policy"] == "H"]
    assert len(h) == 2 * 3 and {(r["seed_stream"], r["only"]) for r in h} == {("3", "H")}


def test_pg_vs_es_script_writes_three_methods_with_both_pg_evaluations(tmp_path):
    rows = run_script("pg_vs_es.py", tmp_path / "pg.csv")
    assert {r["method"] for r in rows} == {"ES-MAML", "PG-MAML TRPO", "PG-MAML VPG"}
    assert len(rows) == 3 * 3 * 3  # methods x seeds x evaluations at steps 0, 1, 2
    pg = [r for r in rows if r["method"] != "ES-MAML"]
    assert all(r["test_post_mean"] != "" for r in pg)
    # what ran it (benchmarks._common.run_record), on every row
    assert all(r["versions"].startswith("jax ") and r["machine"] and r["device"] and r["commit"]
               for r in rows)
    assert (tmp_path / "pg.png").stat().st_size > 5000


@pytest.mark.slow
def test_locomotion_script_writes_curves(tmp_path):
    rows = run_script("locomotion.py", tmp_path / "locomotion.csv")
    assert {r["env"] for r in rows} == {"halfcheetah_forward_backward"}
    assert (tmp_path / "locomotion_halfcheetah_forward_backward.png").stat().st_size > 5000


def test_locomotion_only_replaces_its_own_rows_and_records_the_operator(tmp_path):
    """--only runs the named experiments (here Fig. 3's HC on forward-backward Ant) and keeps
    the other experiments' rows; the operator is a column (older rows: none, read as MC)."""
    from benchmarks._common import write_csv

    out = tmp_path / "locomotion.csv"
    kept = {"env": "halfcheetah_forward_backward", "policy": "L", "K": "10", "seed": "0",
            "step": "0", "test_pre": "0.0", "test_post": "1.0"}
    write_csv([kept], out)
    rows = run_script("locomotion.py", out, "--only", "ant_forward_backward/L/10/HC")
    assert rows[0]["env"] == "halfcheetah_forward_backward" and rows[0]["operator"] == ""
    new = rows[1:]
    assert new and {(r["env"], r["policy"], r["K"], r["operator"]) for r in new} == {
        ("ant_forward_backward", "L", "10", "HC")}
    assert (tmp_path / "locomotion_ant_forward_backward.png").stat().st_size > 5000


@pytest.mark.slow
def test_robustness_script_writes_three_methods(tmp_path):
    rows = run_script("robustness.py", tmp_path / "robustness.csv")
    assert {r["method"] for r in rows} == {"MC", "MC, corrupted", "RBO (L1), corrupted"}
    assert {r["fraction"] for r in rows} == {"0.25"}
    assert (tmp_path / "robustness.png").stat().st_size > 5000


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
           "perturbations": "150", "seeds": "10", "seed_stream": "2042"}
    assert "--only six_circles/MC/20,six_circles/HC/20 --steps" in results.ex_cmd(row)
    assert "no campaign part" in results.ex_cmd(dict(row, seeds="5", seed_stream="2031"))
    assert "no campaign part" in results.ex_cmd(dict(row, steps="999"))


def test_first_order_on_a_brax_family_writes_its_variants_at_one_budget(tmp_path):
    """Figs. A1 / A2's runs (benchmarks/first_order.py --env): the chosen variants, each at
    the same rollout budget (meta-steps = budget // rollouts per step), with the run's
    settings in the rows."""
    out = tmp_path / "fo.csv"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.first_order", "--tiny", "--env",
                           "halfcheetah_forward_backward", "-K", "5", "--only",
                           "zero_order,FO-NoHessian", "--seed-stream", "9", "--out", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(open(out)))
    assert [r["variant"].split(" (")[0] for r in rows] == ["linear: zero_order",
                                                           "linear: FO-NoHessian"]
    budget = int(rows[0]["rollouts_budget"])
    for r in rows:
        assert int(r["rollouts"]) <= budget and int(r["meta_steps"]) >= 2
        assert len(r["post_after_per_seed"].split()) == 2 and r["seed_stream"] == "9"
        assert r["only"] == "zero_order,FO-NoHessian"


def test_compact_script_writes_perturbations_needed_per_policy_and_seed(tmp_path):
    rows = run_script("compact.py", tmp_path / "compact.csv")
    assert [(r["policy"], r["D"]) for r in rows] == [("L", "6")] * 2 + [("H", "162")] * 2
    for r in rows:
        cos = [float(r["cos_P2"]), float(r["cos_P4"])]
        assert all(-1.0 <= c <= 1.0 for c in cos)
        # the first P of the grid at cosine 0.5, else twice the largest
        expected = next((n for n, c in zip((2, 4), cos, strict=True) if c >= 0.5), 8)
        assert int(r["p_needed"]) == expected and (r["reached"] == "True") == (expected < 8)
