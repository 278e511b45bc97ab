"""A run never loses data, never ends in a traceback: bad input, resume history, read-only eval."""

import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from esmaml_jax.app import cli

TINY = ["--env", "four_corners", "--horizon", "5", "-P", "2", "-K", "2", "--steps", "4",
        "--chunk", "2", "--policy", "linear", "--eval-repeats", "1", "--quiet",
        "--no-compile-cache"]


def tree_md5(path):
    """One digest of every file's name and bytes below ``path``."""
    h = hashlib.md5()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            h.update(os.path.relpath(full, path).encode())
            h.update(open(full, "rb").read())
    return h.hexdigest()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    assert cli.main(["train", *TINY, "--checkpoint-every", "2", "--out", str(out)]) == 0
    return out


def inapplicable_settings():
    """Every algorithm and adaptation operator given each setting that only its siblings take
    (generated from the registry, so a new component is covered), and VPG given TRPO's."""
    from esmaml_jax.app import registry

    def text(v):
        return "1" if v is None else str(v).lower() if isinstance(v, bool) else str(v)

    cases = []
    for kind, flag in (("algorithm", "--algorithm"), ("adaptation", "--adaptation")):
        own = {name: registry.settings(kind, name) for name in registry.names(kind)}
        for name, settings in own.items():
            for other, theirs in own.items():
                for key in sorted(set(theirs) - set(settings)):
                    if other == min(o for o in own if key in own[o]):  # each setting once
                        cases.append(([flag, name, "--set", f"{kind}.{key}={text(theirs[key])}"],
                                      key))
    for key in ("cg_iters=5", "cg_damping=0.1", "line_search_steps=3", "backtrack_ratio=0.5"):
        cases.append((["--algorithm", "pg_maml", "--outer", "vpg", "--set", f"algorithm.{key}"],
                      key.split("=")[0]))
    return cases


def bad_inputs(tmp, run):
    """(argv, what the one-line error must mention): cheap ones, refused before any compile."""
    (tmp / "a_file").write_text("x")
    (tmp / "bad.json").write_text("{not json")
    (tmp / "flat.json").write_text('{"algorithms": {}}')
    (tmp / "empty_run").mkdir(exist_ok=True)
    (tmp / "blank_config").mkdir(exist_ok=True)
    (tmp / "blank_config" / "config.json").write_text("{}")
    new = ["--out", str(tmp / "new")]
    cases = []
    for flag in ("-K", "-P", "-T", "--steps", "--chunk", "--eval-repeats", "--horizon"):
        cases += [([flag, "0"], ""), ([flag, "-1"], ""), ([flag, "x"], "invalid int"),
                  ([flag, "1.5"], "invalid int")]
    for flag in ("--sigma", "--inner-sigma"):
        cases += [([flag, v], "sigma") for v in ("0", "-1", "nan", "inf", "abc")]
    cases += [(["--alpha", "-1"], "step size"), (["--alpha", "inf"], "--alpha"),
              (["--lr", "abc"], "invalid float"),
              (["--seed", "-1"], "run.seed"), (["--seed", "99999999999999999999999"], "run.seed")]
    for flag, value in (("--env", "pong"), ("--adaptation", "newton"), ("--algorithm", "sgd"),
                        ("--policy", "rnn"), ("--optimizer", "sgdd"), ("--estimator", "x"),
                        ("--inner-estimator", "x"), ("--inner-sampler", "x"),
                        ("--shaping", "x"), ("--inner-shaping", "x"),
                        ("--policy-init", "xavier")):
        cases.append(([flag, value], value))
    cases += [
        (["--algorithm", "first_order", "--sigma", "0.3"], "first_order"),
        (["--algorithm", "first_order", "-P", "3"], "num_perturbations"),
        (["--algorithm", "first_order", "--hessian-samples", "both"], "hessian_samples"),
        (["--algorithm", "first_order", "--hessian-estimator", "x"], "Hessian estimator"),
        (["--algorithm", "first_order", "--hessian-queries", "0"], "hessian_queries"),
        (["--algorithm", "first_order", "--adaptation", "rbo"], "ES gradient only"),
        (["--adaptation", "dpp_es", "--inner-sampler", "orthogonal"], "sampler"),
        (["--adaptation", "hill_climb", "--alpha", "0.1"], "step_size"),
        (["--adaptation", "identity", "-K", "3"], "num_queries"),
        (["--env", "sine", "--policy", "linear"], "supervised"),
        (["--env", "sine", "--horizon", "5"], "horizon"),
        (["--env", "four_corners", "--shots", "5"], "num_shots"),
        (["--num-tasks", "3"], "num_tasks"),
        (["--no-hessian"], "hessian"),
        (["--set", "nodot=1"], "block.name"), (["--set", "bogus.x=1"], "block.name"),
        (["--set", "algorithm.sigmaa=1"], "sigmaa"), (["--set", "no_equals_sign"], "--set"),
        (["--config", str(tmp / "missing.json")], "does not exist"),
        (["--config", str(tmp / "bad.json")], "not valid JSON"),
        (["--config", str(tmp / "flat.json")], "unknown config block"),
        (["--memory-budget-mb", "0"], "memory budget"),
        (["--memory-budget-mb", "-5"], "memory budget"),
        (["--checkpoint-every", "0"], "--checkpoint-every"),
        (["--perturbation-chunk", "0"], "chunk_size"),
        (["--hidden", "32,x"], "hidden sizes"), (["--hidden", "0"], "hidden sizes"),
        (["--bogus-flag"], "unrecognized"),
        # issue 35: non-finite numbers anywhere a number is taken, empty strings, flags that
        # need another flag, run lengths past the step counter, inapplicable settings
        (["--lr", "nan"], "--lr"), (["--lr", "-inf"], "--lr"),
        (["--set", "optimizer.learning_rate=-Infinity"], "finite"),
        (["--set", "adaptation.step_size=NaN"], "finite"),
        (["--env", ""], "--env"), (["--set", "env.name="], "env"),
        (["--adaptation", ""], "--adaptation"), (["--policy", " "], "--policy"),
        (["--restart"], "--resume"), (["--force-config"], "--resume"),
        (["--cpu-devices", "1000"], "--cpu-devices"),
        (["--env", "sine", "-K", "5"], "--shots"),
        (["--steps", "99999999999999999999999999"], "--steps"),
        (["--algorithm", "pg_maml", "--outer", "vpg", "--max-kl", "0.05"], "max_kl"),
    ]
    cases += inapplicable_settings()
    argvs = [(["train", *args, *new], why) for args, why in cases]
    argvs += [
        (["train", "--out", ""], "--out"),
        (["train", "--out", str(tmp / "a_file")], "is a file"),
        (["train", "--out", str(run)], "not empty"),
        (["train", "--resume", str(tmp / "nope")], "no config.json"),
        (["train", "--resume", str(run), "--out", str(tmp / "x")], "--resume"),
        (["train", "--resume", str(run), "-K", "4"], "--force-config"),
        (["train", "--resume", str(run), "--steps", "2"], "can only extend"),
        (["eval", str(run), "--tasks", "0"], "--tasks"),
        (["eval", str(run), "--tasks", "-1"], "--tasks"),
        (["eval", str(run), "--repeats", "0"], "--repeats"),
        (["eval", str(tmp / "nope")], "not a run directory"),
        (["eval", str(tmp / "empty_run")], "no config.json"),
        (["eval", str(tmp / "blank_config"), "--no-save"], "incomplete"),
        (["train", "--resume", str(tmp / "blank_config")], "incomplete"),
        (["plot", str(tmp / "nope")], "not a run directory"),
        (["compare", str(run), str(run)], "twice"),
        (["compare", f"G={run},{run}"], "given twice in 'G'"),
        (["compare", f"A={run}", f"A={tmp / 'empty_run'}"], "label 'A' is given twice"),
        (["frobnicate"], "invalid choice"),
    ]
    return argvs


def test_fuzz_bad_inputs_give_one_line_and_change_nothing(tmp_path, finished, capsys):
    before = tree_md5(finished)
    argvs = bad_inputs(tmp_path, finished)
    assert len(argvs) >= 230
    table = {"tried": 0, "clean": 0, "traceback": 0, "data_changed": 0}
    failures = []
    for argv, why in argvs:
        table["tried"] += 1
        try:
            code = cli.main(argv)
        except BaseException as e:  # noqa: BLE001 - a traceback is what we count
            code = f"raised {type(e).__name__}: {e}"
        err = capsys.readouterr().err.strip()
        lines = err.splitlines()
        ok = (code == 2 and len(lines) == 1 and lines[0].startswith("esmaml: error:")
              and "Traceback" not in err and why in err and not (tmp_path / "new").exists())
        table["traceback"] += "Traceback" in err or isinstance(code, str)
        changed = tree_md5(finished) != before
        table["data_changed"] += changed
        table["clean"] += ok and not changed
        if not ok or changed:
            failures.append((argv, code, err[-300:]))
    print(table)
    assert not failures, failures
    assert table["clean"] == table["tried"] and table["data_changed"] == 0


@pytest.mark.slow
def test_memory_is_checked_before_the_run_directory_is_made(tmp_path, capsys):
    out = tmp_path / "huge"
    assert cli.main(["train", "-K", "99999999999", "--out", str(out), "--no-compile-cache"]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not fit in memory" in err and "--memory-budget-mb" in err
    assert "\n" not in err and not out.exists()


@pytest.mark.slow
def test_resume_keeps_the_records_append_only(tmp_path, finished, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    summary, config = (run / "summary.json").read_bytes(), (run / "config.json").read_bytes()
    # a finished run with nothing left to do is left untouched
    before = tree_md5(run)
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert tree_md5(run) == before
    # extending it appends: config.json as made, the resume is an event, wall time continues
    assert cli.main(["train", "--resume", str(run), "--steps", "6", "--quiet"]) == 0
    assert (run / "config.json").read_bytes() == config
    events = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "resume" and events[-1]["at_step"] == 4
    assert events[-1]["num_steps"] == 6 and events[-1]["versions"]["jax"]
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    steps = [int(r.split(",")[0]) for r in rows]
    walls = [float(r.split(",")[1]) for r in rows]
    assert steps == [0, 2, 4, 6] and walls == sorted(walls)
    assert json.loads((run / "summary.json").read_text())["steps"] == 6
    assert (run / "summary.json").read_bytes() != summary
    # a later resume without --steps keeps the extended target (nothing to do)
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    # the extended run equals a straight 6-step run
    straight = tmp_path / "straight"
    args = [a if a != "4" else "6" for a in TINY]
    assert cli.main(["train", *args, "--out", str(straight)]) == 0
    assert np.array_equal(np.load(run / "params.npy"), np.load(straight / "params.npy"))


def test_missing_checkpoints_are_not_a_silent_restart(tmp_path, finished, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "summary.json").unlink()
    shutil.rmtree(run / "checkpoints")
    metrics = (run / "metrics.csv").read_bytes()
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 2
    assert "--restart" in capsys.readouterr().err
    assert (run / "metrics.csv").read_bytes() == metrics
    assert cli.main(["train", "--resume", str(run), "--restart", "--quiet"]) == 0
    kept = list(run.glob("metrics-before-restart-*.csv"))
    assert len(kept) == 1 and kept[0].read_bytes() == metrics
    assert json.loads((run / "events.jsonl").read_text().splitlines()[0])["event"] == "restart"


def test_eval_never_changes_the_run(tmp_path, finished, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    newest = max((run / "checkpoints").iterdir(), key=lambda p: int(p.name))
    for root, _, files in os.walk(newest):
        for f in files:
            open(os.path.join(root, f), "wb").close()  # corrupt the newest checkpoint
    before = tree_md5(run)
    assert cli.main(["eval", str(run), "--repeats", "1", "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "meta-step 2" in out  # fell back to the older checkpoint, in place
    assert tree_md5(run) == before and not (run / "checkpoints-corrupt").exists()
    # recording: one file per setting, never overwritten
    assert cli.main(["eval", str(run), "--repeats", "1"]) == 0
    assert cli.main(["eval", str(run), "--repeats", "1"]) == 0
    assert "already recorded" in capsys.readouterr().out
    assert len(list(run.glob("eval-*.json"))) == 1


def test_config_json_records_versions_and_commit(finished):
    meta = json.loads((finished / "config.json").read_text())["meta"]
    assert meta["versions"]["jax"] and meta["versions"]["brax"] and "git_commit" in meta


def _damaged_copy(run, tmp_path, cut: int = 20):
    import shutil

    copy = tmp_path / "damaged"
    shutil.copytree(run, copy)
    metrics = copy / "metrics.csv"
    metrics.write_bytes(metrics.read_bytes()[:-cut])  # a write cut short (a crash, a full disk)
    return copy


@pytest.mark.parametrize("command", ["plot", "compare"])
def test_a_truncated_metrics_file_is_named_not_plotted(tmp_path, finished, capsys, command):
    """Issue 35: a truncated record is detected and named in one line (was: a TypeError
    traceback from float(None) in plots.py)."""
    copy = _damaged_copy(finished, tmp_path)
    before = tree_md5(copy)
    argv = ["plot", str(copy)] if command == "plot" else ["compare", str(copy),
                                                          "--out", str(tmp_path / "c.png")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "metrics.csv" in err[0] and "truncated" in err[0], err
    assert tree_md5(copy) == before


def test_resume_drops_a_truncated_last_row_and_says_so(tmp_path, finished):
    """Issue 35: resuming a run whose metrics.csv lost its end keeps no damaged row: the row is
    dropped (its meta-step is recomputed when it comes after the checkpoint), events.jsonl
    records it and the returned rows are the intact ones."""
    from esmaml_jax.app import rundir

    copy = _damaged_copy(finished, tmp_path)
    path = copy / "metrics.csv"
    intact = rundir.read_metrics(path, drop_truncated_tail=True)
    assert intact.dropped is not None and intact.dropped["step"]
    rundir.truncate_metrics(path, done=10**6)
    text = path.read_text()
    assert text.endswith("\n") and len(rundir.read_metrics(path).rows) == len(intact.rows)


def test_eval_checks_memory_before_running(tmp_path, finished, capsys):
    """Issue 35: `esmaml eval RUN --tasks 100000000` was a RESOURCE_EXHAUSTED traceback; the
    compiled evaluation's buffers are now checked against the free memory first."""
    before = tree_md5(finished)
    assert cli.main(["eval", str(finished), "--tasks", "100000000", "--no-save"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--tasks 100000000" in err[0] and "MB" in err[0], err
    assert tree_md5(finished) == before


def test_a_resume_keeps_the_runs_checkpoint_interval(tmp_path, finished, capsys):
    """Issue 35: --checkpoint-every was forgotten on resume (a run made with 2 went on with
    100). config.json's meta block records it; a resume without the flag keeps it."""
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    meta = json.loads((copy / "config.json").read_text())["meta"]
    assert meta["checkpoint_every"] == 2
    steps = json.loads((copy / "config.json").read_text())["run"]["num_steps"]
    assert cli.main(["train", "--resume", str(copy), "--steps", str(steps + 4), "--quiet"]) == 0
    capsys.readouterr()
    kept = sorted(int(p.name) for p in (copy / "checkpoints").iterdir() if p.name.isdigit())
    assert kept[-2:] == [steps + 2, steps + 4], kept


def test_compare_aligns_runs_by_meta_step_not_by_row(tmp_path):
    """Issue 35: a run logged every meta-step and one logged every second step were averaged
    row by row (step 2 of one with step 1 of the other); now only the meta-steps both have
    evaluated are compared, each at its own step."""
    from esmaml_jax.app import compare as plots

    header = "step,seed,wall_time,pre_return,post_return,test_pre,test_post,num_nonfinite,"
    header += "skipped_updates,env_steps\n"
    every = {0: -10.0, 1: -9.0, 2: -8.0, 3: -7.0, 4: -6.0}
    second = {0: -20.0, 2: -18.0, 4: -16.0}
    for name, curve in (("every", every), ("second", second)):
        d = tmp_path / name
        d.mkdir()
        rows = "".join(f"{s},0,{s},{v},{v},{v},{v},0,0,{100 * s}\n" for s, v in curve.items())
        (d / "metrics.csv").write_text(header + rows)
    groups = plots.parse_groups([f"G={tmp_path / 'every'},{tmp_path / 'second'}"])
    _, table = plots.compare(groups, tmp_path / "c.png")
    label, runs, post_mean = table[0][:3]
    assert (label, runs) == ("G", 2)
    assert post_mean == (-6.0 + -16.0) / 2  # the last COMMON step, 4 (not row 3 vs row 3)


def test_one_result_per_run_train_eval_and_summary_agree(tmp_path, finished, capsys):
    """Issue 35 item 2: the run's result is its final evaluation. `esmaml eval RUN` with no
    flags reproduces it (same test tasks, repeats, key stream and program): the number train
    printed and summary.json holds, exactly on a pure-JAX family; with flags it is an
    independent evaluation and says so."""
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    summary = json.loads((run / "summary.json").read_text())
    assert cli.main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "the run's result" in out and "(the same)" in out, out
    report = json.loads((run / "eval-step4-result.json").read_text())
    assert report["post_mean"] == pytest.approx(summary["final_test_post"], rel=1e-6, abs=1e-6)
    assert report["repeats"] == 4 * json.loads((run / "config.json").read_text())["run"][
        "eval_repeats"]
    assert cli.main(["eval", str(run), "--repeats", "2", "--no-save"]) == 0
    assert "independent evaluation" in capsys.readouterr().out


def test_compare_reports_the_runs_results(tmp_path, finished, capsys):
    """compare's final numbers are the runs' results (summary.json: what train printed), not
    the last metrics.csv row (an evaluation of fewer adaptations with another key)."""
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    summary = json.loads((run / "summary.json").read_text())
    assert cli.main(["compare", f"A={run}", "--out", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "the runs' results" in out and f"{summary['final_test_post']:.2f}" in out, out


def _damage_summary(d):
    (d / "summary.json").write_bytes((d / "summary.json").read_bytes()[:50])


def _damage_header(d):
    (d / "metrics.csv").write_text("a,b\n1,2\n")


def _empty_metrics(d):
    (d / "metrics.csv").write_text("")


READERS = {"eval": lambda d, tmp: ["eval", str(d), "--no-save"],
           "plot": lambda d, tmp: ["plot", str(d)],
           "compare": lambda d, tmp: ["compare", str(d), "--out", str(tmp / "c.png")],
           "resume": lambda d, tmp: ["train", "--resume", str(d), "--steps", "6", "--quiet"]}


@pytest.mark.parametrize("damage,file,commands", [
    (_damage_summary, "summary.json", ["eval", "plot", "compare", "resume"]),
    (_damage_header, "metrics.csv", ["plot", "compare", "resume"]),
    (_empty_metrics, "metrics.csv", ["resume"]),
])
def test_a_damaged_record_is_named_by_every_subcommand_that_reads_it(tmp_path, finished, capsys,
                                                                     damage, file, commands):
    """Issue 35: a corrupt summary.json read as "the run has not finished" (eval and compare then
    reported another number as the result, plot left the result out); a metrics.csv with a
    foreign header was a KeyError traceback; an emptied one was silently restarted by a resume.
    Each is now a one-line error naming the file, and the run is left as it was."""
    for command in commands:
        copy = tmp_path / command
        shutil.copytree(finished, copy)
        damage(copy)
        before = tree_md5(copy)
        assert cli.main(READERS[command](copy, tmp_path)) == 2, command
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and file in err[0] and err[0].startswith("esmaml: error:"), \
            (command, err)
        assert tree_md5(copy) == before, command
