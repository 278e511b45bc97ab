"""The `esmaml` command line: a tiny training run, its run directory, and bad input."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from esmaml_jax.app import cli

TINY = ["--env", "four_corners", "--horizon", "10", "-P", "4", "-K", "2", "--steps", "4",
        "--chunk", "2", "--policy", "linear"]


def test_train_writes_a_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *TINY, "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["algorithm"]["num_perturbations"] == 4 and config["objective"]["horizon"] == 10
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [0, 2, 4]  # step 0: the untrained meta-policy
    assert np.load(out / "params.npy").shape == (6,)  # linear 2 -> 2: W [2, 2] + b [2]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 4 and np.isfinite(summary["final_test_post"])
    text = capsys.readouterr().out
    assert "post-adaptation" in text


def test_same_seed_same_run(tmp_path):
    for name in ("a", "b"):
        assert cli.main(["train", *TINY, "--out", str(tmp_path / name)]) == 0
    a = np.load(tmp_path / "a" / "params.npy")
    b = np.load(tmp_path / "b" / "params.npy")
    assert np.array_equal(a, b)


def test_existing_run_directory_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    assert cli.main(["train", *TINY, "--out", str(out)]) == 2
    assert (out / "config.json").read_text() == "{}"
    assert "not empty" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--env", "pong"], "unknown env 'pong'"),
    (["--adaptation", "newton"], "unknown adaptation 'newton'"),
    (["--sigma", "-1"], "sigma must be > 0"),
    (["--sigma", "0"], "sigma must be > 0"),
    (["-K", "0"], "num_queries (K) must be an integer >= 1"),
    (["-P", "0"], "num_perturbations must be an integer >= 1"),
    (["--policy", "rnn"], "unknown policy 'rnn'"),
    (["--seed", "99999999999999999999999"], "run.seed + run.seeds must be <= 2**32"),
    # settings that do not apply to the chosen component: named, never silently dropped
    (["--algorithm", "first_order", "--sigma", "0.3"], "first_order takes no setting(s) sigma"),
    (["--adaptation", "dpp_es", "--inner-sampler", "orthogonal"],
     "adaptation 'dpp_es' takes no setting(s) sampler"),
    (["--env", "sine", "--policy", "linear"], "supervised family"),
    (["--adaptation", "hill_climb", "--alpha", "0.1"],
     "adaptation 'hill_climb' takes no setting(s) step_size"),
    (["--env", "sine", "--horizon", "5"], "objective of sine takes no setting(s) horizon"),
    (["--set", "algorithm.sigmaa=1"], "zero_order' takes no setting(s) sigmaa"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    # (a bad --hidden is rejected by argparse itself, with its usage text and exit 2)
    out = tmp_path / "run"
    assert cli.main(["train", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("esmaml: error:") and message in err and "\n" not in err
    assert not out.exists()


def test_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "four_corners" in out and "es_gradient" in out


@pytest.mark.parametrize("op", ["hill_climb", "identity", *(pytest.param(op, marks=pytest.mark.slow)
                                                     for op in ("dpp_es", "rbo", "asebo"))])
def test_train_with_each_operator(tmp_path, op):
    out = tmp_path / op
    # identity makes no queries: -K does not apply to it (an error, not silently dropped)
    k = TINY.index("-K")
    args = TINY[:k] + TINY[k + 2:] if op == "identity" else TINY
    assert cli.main(["train", *args, "--adaptation", op, "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["adaptation"]["name"] == op


@pytest.mark.parametrize("extra", [[], ["--no-hessian"]])
def test_train_first_order(tmp_path, extra):
    out = tmp_path / "fo"
    p = TINY.index("-P")  # first_order has no outer perturbations: -P would be an error
    args = ["train", *TINY[:p], *TINY[p + 2:], "--algorithm", "first_order", "--num-tasks", "3",
            *extra, "--out", str(out)]
    assert cli.main(args) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["algorithm"]["name"] == "first_order"
    assert config["algorithm"]["hessian"] == (not extra)


@pytest.mark.slow
def test_train_sine_uses_its_family_recommendations(tmp_path, capsys):
    out = tmp_path / "sine"
    assert cli.main(["train", "--env", "sine", "--steps", "2", "--chunk", "2", "-P", "3",
                     "--hidden", "8", "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    # The family's recommendations fill what was not given; flags still win.
    assert config["adaptation"] == {"name": "autodiff_gradient", "step_size": 0.01,
                                    "num_steps": 1}
    assert config["policy"] == {"name": "regressor", "hidden_sizes": [8]}
    assert config["algorithm"]["num_perturbations"] == 3
    assert "sine recommends:" in capsys.readouterr().out


@pytest.mark.slow
def test_throughput_benchmark_runs_end_to_end(tmp_path):
    # No timing assertions: the machine is shared. The script must run and write its results.
    import json as json_lib
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "benchmarks.throughput", "--tiny",
                          "--out-dir", str(tmp_path)], capture_output=True, text=True,
                         timeout=600, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json_lib.loads((tmp_path / "throughput.json").read_text())
    assert result["rollouts_per_step"] == 2 * 4 * 1 * (2 + 1 + 1)
    for key in ("ratio_fused_over_limit", "ratio_fused_over_unfused", "fused_compile_s",
                "peak_rss_mb"):
        assert result[key] > 0
    b = result["breakdown"]
    assert b["calls_per_step"] == 2 * 4 and 0.0 <= b["host_and_dispatch_share_of_unfused"] <= 1.0
    assert b["hlo_while_loops"] >= 1 and b["dispatch_s"] > 0
    assert (tmp_path / "throughput.png").stat().st_size > 5000
    assert len(json_lib.loads((tmp_path / "scaling.json").read_text())) == 2


@pytest.mark.slow
def test_pg_throughput_benchmark_runs_and_counts_env_steps(tmp_path):
    import json as json_lib
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "benchmarks.throughput", "--pg", "--tiny",
                          "--out-dir", str(tmp_path)], capture_output=True, text=True,
                         timeout=600, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json_lib.loads((tmp_path / "pg_throughput.json").read_text())
    assert r["env_steps_per_step"] == 2 * 2 * 2 * 10  # (pre + post) x n x K x H
    assert r["rows"]["es_maml"]["env_steps_per_step"] == 2 * 2 * (2 + 1 + 1) * 10
    for row in r["rows"].values():
        assert len(row["step_s"]) == 3 and row["env_steps_per_s"] > 0 and row["compile_s"] > 0
    assert r["rows"]["limit"]["ratio_to_limit"] == 1.0


@pytest.mark.slow
def test_bench_command_prints_ratios_and_breakdown(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "-P", "3", "-K", "2", "--horizon", "5", "--repeats", "1",
                     "--no-compile-cache", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fused/limit" in text and "host work and dispatch" in text
    assert "without its rollouts" in text and "(limit + outside) / fused" in text
    # antithetic x P x (K queries + centre + the adapted policy's evaluation)
    assert json.loads(out.read_text())["rollouts_per_step"] == 2 * 3 * (2 + 1 + 1)


def test_out_naming_a_file_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "a_file"
    out.write_text("keep me")
    assert cli.main(["train", *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("esmaml: error:") and "is a file" in err and "\n" not in err
    assert out.read_text() == "keep me"


def test_print_config_shows_every_resolved_setting(capsys):
    assert cli.main(["train", "--env", "sine", "--print-config"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["adaptation"]["name"] == "autodiff_gradient"
    assert config["algorithm"]["num_perturbations"] == 150  # zero_order's own default


def test_errors_name_the_flag_the_user_typed(tmp_path, capsys):
    assert cli.main(["train", "--adaptation", "dpp_es", "--inner-sampler", "orthogonal",
                     "--out", str(tmp_path / "r")]) == 2
    assert "(from --adaptation, --inner-sampler)" in capsys.readouterr().err
    assert cli.main(["train", "-K", "0", "--out", str(tmp_path / "r")]) == 2
    assert "(from -K/--queries)" in capsys.readouterr().err


@pytest.mark.slow
def test_cpu_devices_shards_over_the_cores_of_a_fresh_process(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "esmaml_jax.app.cli", "train", *TINY,
                           "--cpu-devices", "2", "--out", str(out), "--quiet",
                           "--no-compile-cache"], capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "sharding the perturbation axis over 2 device(s)" in proc.stdout
    assert json.loads((out / "config.json").read_text())["meta"]["devices"] == 2
    assert cli.main(["train", "--cpu-devices", "0", "--out", str(tmp_path / "x")]) == 2


@pytest.mark.slow
def test_default_is_one_device_and_a_users_xla_flags_are_kept(tmp_path):
    """Issue 32: one device unless asked (the default step is slower sharded); issue 34: a
    device count in the user's XLA_FLAGS is respected and recorded as given."""
    import os
    import subprocess
    import sys

    def run(name, *flags, env=None):
        out = tmp_path / name
        proc = subprocess.run([sys.executable, "-m", "esmaml_jax.app.cli", "train", *TINY,
                               *flags, "--out", str(out), "--quiet", "--no-compile-cache"],
                              capture_output=True, text=True, timeout=600,
                              env={**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})})
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout, json.loads((out / "config.json").read_text())["meta"]

    text, meta = run("default", env={"XLA_FLAGS": ""})
    assert meta["devices"] == 1 and "sharding" not in text
    flags = "--xla_force_host_platform_device_count=3"
    text, meta = run("flags", "-P", "3", "--shard", env={"XLA_FLAGS": flags})
    assert meta["devices"] == 3 and meta["environment"]["XLA_FLAGS"] == flags
    assert "sharding the perturbation axis over 3 device(s)" in text


@pytest.mark.slow
def test_bench_times_any_operator_against_its_own_rollout_batches(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "-P", "3", "-K", "2", "--horizon", "5", "--repeats", "1",
                     "--operator", "hill_climb", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    # 3 directions x 2 signs = 6 pairs: the pivot, K = 2 iterations, the evaluations
    assert r["config"]["operator"] == "hill_climb"
    assert r["rollout_batches"] == [{"size": 6, "executions": 4}]
    capsys.readouterr()
    assert cli.main(["bench", "--algorithm", "pg_maml", "--operator", "rbo"]) != 0
    assert "--operator is for --algorithm zero_order" in capsys.readouterr().err


def test_cpu_devices_that_conflict_with_the_users_xla_flags_are_refused(tmp_path):
    """Issue 34 item 6: one setting wins silently no more; a one-line error names both (in a
    fresh process: once JAX has started, the process keeps the devices it has)."""
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "esmaml_jax.app.cli", "train", *TINY,
                           "--cpu-devices", "2", "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "JAX_PLATFORMS": "cpu",
                               "XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "--cpu-devices 2 conflicts with XLA_FLAGS" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "r").exists()


def test_the_cli_reference_in_docs_is_current():
    """docs/cli.md is generated from the parser (`make_tables.cli_reference`, by `python -m
    benchmarks.make_tables`). Compared by content, not bytes (argparse's layout differs between
    Python versions): every subcommand, every flag and every help text of the parser is in it,
    and nothing it lists is gone from the parser."""
    import argparse
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    flat = "".join(doc.split())  # argparse wraps lines (also at hyphens): compare without spaces
    parser = cli.build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    documented = set(re.findall(r"^## esmaml (\w+)", doc, flags=re.M))
    assert documented == set(subs.choices)
    for name, sub in subs.choices.items():
        for action in sub._actions:
            for flag in action.option_strings:
                assert flag in doc, f"esmaml {name} {flag} missing from docs/cli.md"
            if action.help and action.help != argparse.SUPPRESS:
                text = "".join(action.help.replace("%%", "%").split())
                assert text in flat, f"esmaml {name}: help {text[:60]!r} is stale in docs/cli.md"


def test_help_and_version_load_no_task_family_and_no_training_loop():
    """`esmaml --help` and `--version` answer without importing Brax, the task families, the
    build or the training loop (issue 35: the command line was silent ~15 s at start-up while
    importing; the subcommands import what they need when they run)."""
    code = ("import sys\n"
            "from esmaml_jax.app import cli\n"
            "parser = cli.build_parser()\n"
            "for argv in (['--help'], ['train', '--help'], ['--version']):\n"
            "    try:\n"
            "        parser.parse_args(argv)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "heavy = [m for m in ('brax', 'envs', 'esmaml_jax.app.build', 'esmaml_jax.app.loop',\n"
            "                     'orbax', 'matplotlib') if m in sys.modules]\n"
            "assert heavy == [], heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_bench_algorithm_choices_are_the_benchmarks_there_are():
    from esmaml_jax.app import commands

    assert sorted(cli.BENCH_ALGORITHMS) == sorted(commands.BENCHES)


@pytest.mark.parametrize("argv", [["eval", "NOPE"], ["plot", "NOPE"], ["render", "NOPE"],
                                  ["compare", "NOPE"]])
def test_every_subcommand_speaks_before_loading_jax(argv, tmp_path, capsys):
    """Issue 35 item 3: the first line comes before the seconds of importing JAX and the task
    families (the parser itself loads neither), then each long phase has a heartbeat."""
    argv = [a if a != "NOPE" else str(tmp_path / "missing") for a in argv]
    assert cli.main(argv) == 2
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"esmaml {argv[0]}: loading JAX and the task families..."


# XLA:CPU's own alarm, as its C++ logging writes it to file descriptor 2 (absl format), around
# one log line of XLA's that must reach the user untouched.
XLA_ALARM = (
    b"E1206 18:00:01.000001   4242 slow_operation_alarm.cc:73] \n"
    b"********************************\n"
    b"[Compiling module jit_step] Very slow compile? If you want to file a bug, run with envvar "
    b"XLA_FLAGS=--xla_dump_to=/tmp/foo and attach the results.\n"
    b"********************************\n"
    b"W1206 18:00:02.000002   4242 cpu_client.cc:99] a warning XLA really means\n"
    b"E1206 18:00:03.000003   4242 slow_operation_alarm.cc:140] The operation took 2m31.7s\n"
    b"\n"
    b"********************************\n"
    b"[Compiling module jit_step] Very slow compile? ...\n"
    b"********************************\n"
)
NATIVE_WRITER = f"""
import os, sys
from esmaml_jax.app import xla_log
xla_log.install()
print("python line", file=sys.stderr, flush=True)
os.write(2, {XLA_ALARM!r})
print("after", file=sys.stderr, flush=True)
"""


@pytest.mark.parametrize("show", [None, "all"])
def test_xlas_slow_compile_alarms_are_filtered_at_our_boundary(show):
    """XLA's slow-operation alarms (C++ writes to fd 2, not Python's stderr) become one line of
    ours; every other native line and all of Python's output pass; ESMAML_XLA_LOGS=all shows
    everything."""
    env = {k: v for k, v in os.environ.items() if k != "ESMAML_XLA_LOGS"}
    if show:
        env["ESMAML_XLA_LOGS"] = show
    proc = subprocess.run([sys.executable, "-c", NATIVE_WRITER], capture_output=True,
                          timeout=120, env=env)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "python line" in err and "after" in err
    assert "cpu_client.cc:99] a warning XLA really means" in err
    if show:
        assert err.count("Very slow compile?") == 2 and "The operation took" in err
    else:
        assert "Very slow compile" not in err and "The operation took" not in err
        assert "*****" not in err
        notes = [ln for ln in err.splitlines() if ln.startswith("esmaml: XLA")]
        assert len(notes) == 1 and "ESMAML_XLA_LOGS=all" in notes[0], err
