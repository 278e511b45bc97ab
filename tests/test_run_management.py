"""Checkpoints and exact resume, configs, evaluation and plots (run management)."""

import json
import os

import numpy as np
import pytest

from esmaml_jax.app import Config, cli, load_config, train
from esmaml_jax.app.build import build

TINY = Config.from_json({"env": {"name": "four_corners"}, "objective": {"horizon": 10},
                         "algorithm": {"name": "zero_order", "num_perturbations": 4},
                         "adaptation": {"name": "es_gradient", "num_queries": 2},
                         "policy": {"name": "linear"},
                         "run": {"num_steps": 8, "steps_per_chunk": 2, "eval_repeats": 1}})


def run(out, config=TINY, **kw):
    return train(config, out, progress=False, log=lambda *a: None, checkpoint_every=2, **kw)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    run(out)
    return out


def test_interrupt_and_resume_is_bit_identical(tmp_path, straight):
    out = tmp_path / "run"
    result = run(out, should_stop=lambda done: done >= 4)  # as Ctrl-C after the 2nd chunk
    assert result == {"steps": 4, "stopped": True}
    assert not (out / "params.npy").exists()
    run(out, resume=True)
    assert np.array_equal(np.load(out / "params.npy"), np.load(straight / "params.npy"))
    # The metrics file has each step once, as the straight run's.
    steps = [json.dumps(r) for r in open(out / "metrics.csv").read().splitlines()[1:]]
    assert len(steps) == 5  # step 0 and the 4 chunks


def _newest_data_files(ckpt_dir):
    newest = max(int(p.name) for p in ckpt_dir.iterdir() if p.name.isdigit())
    for root, _, files in os.walk(ckpt_dir / str(newest) / "state"):
        for f in files:
            yield os.path.join(root, f)


def test_truncated_checkpoint_falls_back_to_previous(tmp_path, straight):
    out = tmp_path / "run"
    run(out, should_stop=lambda done: done >= 6)
    for path in _newest_data_files(out / "checkpoints"):  # truncate the step-6 checkpoint
        size = os.path.getsize(path)
        with open(path, "r+b") as fh:
            fh.truncate(size // 2)
    messages = []
    train(TINY, out, resume=True, progress=False, log=messages.append, checkpoint_every=2)
    assert any("unusable" in m for m in messages), messages
    assert any("resuming" in m and "meta-step 4" in m for m in messages), messages
    # Resumed from step 4, it still ends where the straight run ends.
    assert np.array_equal(np.load(out / "params.npy"), np.load(straight / "params.npy"))


def test_all_checkpoints_corrupt_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "run"
    run(out, should_stop=lambda done: done >= 2)
    for path in _newest_data_files(out / "checkpoints"):
        open(path, "wb").close()
    assert cli.main(["train", "--resume", str(out)]) == 2
    assert "no usable checkpoint" in capsys.readouterr().err


def test_config_round_trip(tmp_path, straight):
    # The saved config, given back with --config, reproduces the run exactly.
    out = tmp_path / "again"
    assert cli.main(["train", "--config", str(straight / "config.json"), "--out", str(out),
                     "--quiet"]) == 0
    assert np.array_equal(np.load(out / "params.npy"), np.load(straight / "params.npy"))
    loaded = load_config(out / "config.json")
    assert loaded == build(TINY).config  # the run records every setting, resolved


@pytest.mark.slow
def test_config_file_with_overrides(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"env": {"name": "navigation_2d"},
                               "adaptation": {"name": "es_gradient", "num_queries": 4}}))
    out = tmp_path / "run"
    assert cli.main(["train", "--config", str(cfg), "-K", "2", "--horizon", "5", "-P", "2",
                     "--steps", "2", "--chunk", "2", "--policy", "linear", "--out", str(out),
                     "--quiet"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["env"]["name"] == "navigation_2d" and saved["adaptation"]["num_queries"] == 2


@pytest.mark.parametrize("content, message", [
    ('{"algorithm": {"name": "zero_order", "sigma": "big"}}', "setting sigma must be a number"),
    ('{"adaptation": {"name": "es_gradient", "num_queries": 2.5}}',
     "setting num_queries must be an integer"),
    ('{"objective": {"normalize_observations": 1}}', "must be true/false"),
    ('{"policy": {"name": "mlp", "hidden_sizes": [32, "x"]}}', "must be a list of integers"),
    ('{"optimizer": {"name": "sgd", "learning_rat": 0.1}}',
     "optimizer 'sgd' takes no setting(s) learning_rat"),
    ('{"algorithm": {"name": "zero_order", "sigma": -1}}', "sigma must be > 0"),
    ('{"algorithms": {}}', "unknown config block"),
    ("[1, 2", "not valid JSON"),
])
def test_bad_config_files(tmp_path, capsys, content, message):
    cfg = tmp_path / "c.json"
    cfg.write_text(content)
    assert cli.main(["train", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err


def test_resume_refuses_other_settings(straight, capsys):
    assert cli.main(["train", "--resume", str(straight), "-K", "4"]) == 2
    assert "--force-config" in capsys.readouterr().err
    assert cli.main(["train", "--resume", str(straight.parent / "nope")]) == 2


@pytest.mark.slow
def test_eval_and_plot(straight, capsys):
    assert cli.main(["eval", str(straight), "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "task 3" in out and "post" in out
    report = json.loads((straight / "eval-step8-tasksall-repeats2-seed0.json").read_text())
    assert np.asarray(report["post"]).shape == (4, 2) and report["step"] == 8
    diff = np.asarray(report["post"]) - np.asarray(report["pre"])
    assert report["gain_mean"] == pytest.approx(diff.mean(), rel=1e-5, abs=1e-5)
    assert report["gain_stderr"] == pytest.approx(diff.std() / np.sqrt(8), rel=1e-5, abs=1e-5)
    assert "adaptation gain" in out
    assert cli.main(["plot", str(straight)]) == 0
    for name in ("learning_curve.png", "trajectories.png"):
        data = (straight / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_compare_two_groups_of_runs(tmp_path, straight, capsys):
    other = tmp_path / "other"
    assert cli.main(["train", "--config", str(straight / "config.json"), "--seed", "1",
                     "--out", str(other), "--quiet"]) == 0
    out = tmp_path / "cmp.png"
    assert cli.main(["compare", f"MC={straight},{other}", f"seed0={straight}", "--out", str(out),
                     "--x", "env_steps"]) == 0
    text = capsys.readouterr().out
    assert "MC (2)" in text and "seed0 (1)" in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert cli.main(["compare", str(tmp_path / "nope")]) == 2
