"""`esmaml train --seeds N`: N seeds in one compiled program, one run directory."""

import csv
import json

import numpy as np
import pytest

from esmaml_jax.app import Config, cli, train

TINY = Config.from_json({"env": {"name": "four_corners"}, "objective": {"horizon": 10},
                         "algorithm": {"name": "zero_order", "num_perturbations": 4},
                         "adaptation": {"name": "es_gradient", "num_queries": 2},
                         "policy": {"name": "linear"},
                         "run": {"num_steps": 6, "steps_per_chunk": 2, "eval_repeats": 1}})


def run(out, config=TINY, **kw):
    return train(config, out, progress=False, log=lambda *a: None, checkpoint_every=2, **kw)


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    out = tmp_path_factory.mktemp("seeds") / "run"
    run(out, TINY.set("run.seeds", 3).set("run.seed", 5))
    return out


@pytest.mark.slow
def test_one_directory_holds_every_seed(three):
    rows = list(csv.DictReader(open(three / "metrics.csv")))
    assert [(r["step"], r["seed"]) for r in rows] == [
        (str(s), str(seed)) for s in (0, 2, 4, 6) for seed in (5, 6, 7)]
    assert np.load(three / "params.npy").shape[0] == 3
    summary = json.loads((three / "summary.json").read_text())
    assert summary["seeds"] == [5, 6, 7] and len(summary["final_test_post_per_seed"]) == 3
    assert summary["final_test_post"] == pytest.approx(
        np.mean(summary["final_test_post_per_seed"]), abs=1e-3)
    assert json.loads((three / "config.json").read_text())["run"]["seeds"] == 3


def test_each_seed_is_the_one_seed_run_with_that_seed(tmp_path, three):
    """Seed i of an N-seed run uses the keys of `--seed seed + i` alone (vmapped arithmetic
    may differ from the unbatched program's in the last bits)."""
    run(tmp_path / "one", TINY.set("run.seed", 6))
    alone = np.load(tmp_path / "one" / "params.npy")
    np.testing.assert_allclose(np.load(three / "params.npy")[1], alone, rtol=1e-4, atol=1e-5)
    rows = [r for r in csv.DictReader(open(three / "metrics.csv")) if r["seed"] == "6"]
    single = list(csv.DictReader(open(tmp_path / "one" / "metrics.csv")))
    assert [r["step"] for r in single] == [r["step"] for r in rows]
    np.testing.assert_allclose([float(r["test_post"]) for r in rows],
                               [float(r["test_post"]) for r in single], rtol=1e-3, atol=1e-2)


@pytest.mark.slow
def test_interrupted_multi_seed_run_resumes_bit_identically(tmp_path, three):
    out = tmp_path / "run"
    config = TINY.set("run.seeds", 3).set("run.seed", 5)
    assert run(out, config, should_stop=lambda done: done >= 2) == {"steps": 2, "stopped": True}
    run(out, None, resume=True)  # the run's own config
    assert np.array_equal(np.load(out / "params.npy"), np.load(three / "params.npy"))
    with pytest.raises(ValueError, match="run.seeds cannot change on resume"):
        run(out, config.set("run.seeds", 2).set("run.num_steps", 8), resume=True)


def test_eval_plot_and_compare_report_the_spread_over_seeds(three, capsys, tmp_path):
    assert cli.main(["eval", str(three), "--repeats", "2", "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "3 seeds" in out and "seed 5:" in out and "seed 7:" in out and "over seeds" in out
    assert cli.main(["plot", str(three)]) == 0
    assert (three / "learning_curve.png").stat().st_size > 5000
    assert cli.main(["compare", f"three={three}", "--out", str(tmp_path / "c.png")]) == 0
    assert "three (3)" in capsys.readouterr().out


def test_seeds_do_not_combine_with_sharding(tmp_path):
    with pytest.raises(ValueError, match="--seeds N > 1"):
        train(TINY.set("run.seeds", 2), tmp_path / "x", progress=False, log=lambda *a: None,
              shard=True)


@pytest.mark.slow
def test_render_draws_paths_and_state_plots(tmp_path, three, capsys):
    """`esmaml render`: 2-D paths for navigation (multi-seed: the first seed), observation
    plots for CartPole; a task number out of range is a one-line error."""
    assert cli.main(["render", str(three), "--tasks", "1,3"]) == 0
    assert (three / "render-step6" / "trajectories.png").stat().st_size > 5000
    cp = Config.from_json({"env": {"name": "biased_cartpole"}, "objective": {"horizon": 20},
                           "algorithm": {"name": "zero_order", "num_perturbations": 2},
                           "adaptation": {"name": "es_gradient", "num_queries": 2},
                           "run": {"num_steps": 1, "steps_per_chunk": 1, "eval_repeats": 1}})
    run(tmp_path / "cp", cp)
    assert cli.main(["render", str(tmp_path / "cp"), "--adaptations", "2"]) == 0
    assert (tmp_path / "cp" / "render-step1" / "states.png").stat().st_size > 5000
    capsys.readouterr()
    assert cli.main(["render", str(tmp_path / "cp"), "--tasks", "0,10"]) == 2
    assert "out of range: biased_cartpole has 10 test tasks" in capsys.readouterr().err


@pytest.mark.parametrize("seeds", [pytest.param(n, marks=pytest.mark.slow) for n in (1, 2)])
def test_the_final_evaluation_from_one_program_equals_evaluating_every_repeat_at_once(seeds):
    """`loop.evaluator` runs the final evaluation (4x the repeats) as calls of the chunks'
    evaluation program over slices of one draw, so the rollouts compile once: the returns are
    those of one program evaluating every (task, repeat) at once (on four corners; Brax's
    contact dynamics amplify the last bits that depend on the batch shape), and only one
    evaluation program (with rollouts) is compiled."""
    import jax

    from esmaml_jax.app.build import build
    from esmaml_jax.app.loop import evaluator, over_seeds

    built = build(TINY.set("run.seeds", seeds).set("run.eval_repeats", 2))
    algo, run_ = built.algorithm, built.run
    keys = jax.random.split(jax.random.PRNGKey(3), seeds)
    key = keys if seeds > 1 else keys[0]
    state = (jax.vmap(algo.init) if seeds > 1 else algo.init)(key)
    evaluate = evaluator(algo, run_)
    whole = jax.jit(over_seeds(lambda s, k: algo.evaluate(s, k, num_repeats=8), run_))(state,
                                                                                        key)
    parts = evaluate(state, key, 8)
    for name in ("pre", "post", "pre_mean", "post_mean"):
        np.testing.assert_allclose(parts[name], whole[name], rtol=1e-6, err_msg=name)
    lead = () if seeds == 1 else (seeds,)
    assert parts["post"].shape == whole["post"].shape == (*lead, 4, 8)  # four corners' 4 tasks
    evaluate(state, key)  # the chunks' evaluation: the same program
    assert evaluate.program._cache_size() == 1
    with pytest.raises(ValueError, match="multiple of 2"):
        evaluate(state, key, 3)
