"""The config boundary: every setting reaches the object it names or is a one-line error; the
CLI and `train(config)` from Python are the same run; importing the package runs no JAX."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from recorded_runs import DATA, RECORDED, RUN_FLAGS

from esmaml_jax.app import Config, build, cli, train
from esmaml_jax.app.config import from_legacy

ROOT = Path(__file__).resolve().parents[1]


def built(*pairs, **blocks):
    config = Config.from_json(blocks) if blocks else Config()
    for path, value in pairs:
        config = config.set(path, value)
    return build(config)


def state_of(b):
    return b.algorithm.init(jax.random.PRNGKey(0))


# One probe per CLI flag: (flag path, a non-default value, what to read off the built objects).
# A new flag without a probe fails test_every_flag_has_a_probe.
def _first_order(*pairs):
    return built(("algorithm.name", "first_order"), *pairs)


PROBES = {
    "env.name": ("six_circles", lambda b: b.family.name),
    "algorithm.name": ("first_order", lambda b: "num_perturbations" in b.config.algorithm.options),
    "adaptation.name": ("hill_climb", lambda b: b.algorithm.adaptation.name),
    "policy.name": ("linear", lambda b: b.algorithm.objective.num_params),
    "policy.hidden_sizes": ((8,), lambda b: b.algorithm.objective.num_params),
    "policy.init": ("reference", lambda b: float(np.abs(state_of(b).params).sum())),
    "adaptation.num_queries": (4, lambda b: b.algorithm.adaptation.num_queries),
    "algorithm.num_perturbations": (6, lambda b: b.algorithm.rollouts_per_step),
    "algorithm.tasks_per_perturbation": (2, lambda b: b.algorithm.rollouts_per_step),
    "algorithm.sigma": (0.3, lambda b: float(state_of(b).hparams["sigma"])),
    "adaptation.sigma": (0.3, lambda b: float(state_of(b).hparams["adapt"]["sigma"])),
    "adaptation.step_size": (0.2, lambda b: float(state_of(b).hparams["adapt"]["step_size"])),
    "optimizer.learning_rate": (0.5, lambda b: _one_update(b)),
    "optimizer.name": ("adam", lambda b: type(state_of(b).opt_state[0]).__name__),  # + its lr
    "algorithm.estimator": ("forward_fd", lambda b: b.algorithm.rollouts_per_step),
    "adaptation.estimator": ("antithetic", lambda b: b.algorithm.adaptation.num_queries),
    "adaptation.sampler": ("orthogonal", lambda b: _adapted(b)),
    "algorithm.shaping": ("none", lambda b: _one_update(b)),
    "adaptation.shaping": ("none", lambda b: _adapted(b)),
    "objective.normalize_observations": (False, lambda b: _norm_count(b)),
    "objective.horizon": (7, lambda b: b.algorithm.objective.steps_per_query),
    "run.num_steps": (3, lambda b: b.run.num_steps),
    "run.steps_per_chunk": (3, lambda b: b.run.steps_per_chunk),
    "run.eval_repeats": (3, lambda b: b.run.eval_repeats),
    "run.seed": (3, lambda b: b.run.seed),
    "run.seeds": (2, lambda b: b.run.seeds),
    "algorithm.chunk_size": (5, lambda b: b.config.algorithm.options["chunk_size"]),
}
# first_order's own settings, probed on a first-order build
FO_PROBES = {
    "algorithm.num_tasks": (3, lambda b: b.algorithm.rollouts_per_step),
    "algorithm.hessian": (False, lambda b: b.algorithm.rollouts_per_step),
    "algorithm.hessian_estimator": ("antithetic", lambda b: b.algorithm.rollouts_per_step),
    "algorithm.hessian_queries": (30, lambda b: b.algorithm.rollouts_per_step),
    "algorithm.hessian_samples": ("shared", lambda b: b.algorithm.rollouts_per_step),
}
SINE_PROBES = {"objective.num_shots": (3, lambda b: b.config.objective["num_shots"])}
# the goal families' task sets, probed on a halfcheetah goal-velocity build (Brax: no compile)
LOCO_PROBES = {"env.task_sets": ("fixed", lambda b: (
    None if b.family.train_tasks is None else b.family.train_tasks.shape,
    b.config.algorithm.options["tasks_per_perturbation"]))}
# pg_maml's own settings, probed on a pg_maml build
PG_PROBES = {
    "algorithm.outer": ("vpg", lambda b: len(jax.tree.leaves(state_of(b).opt_state))),
    "algorithm.max_kl": (0.05, lambda b: float(state_of(b).hparams["max_kl"])),
}


def _norm_count(b):
    s2, _ = jax.jit(b.algorithm.step)(state_of(b), jax.random.PRNGKey(1))
    return float(np.asarray(s2.norm.count).sum())


def _one_update(b):
    s = state_of(b)
    s2, _ = jax.jit(b.algorithm.step)(s, jax.random.PRNGKey(1))
    return float(np.abs(np.asarray(s2.params - s.params)).sum())


def _adapted(b):
    s = state_of(b)
    obj = b.algorithm.objective
    task = jax.tree.map(lambda x: x[0], obj.sample_train_tasks(jax.random.PRNGKey(2), 1))
    f = lambda k, p: obj.evaluate(k, p, task, s.norm)
    adapted, _ = b.algorithm.adaptation.adapt(jax.random.PRNGKey(3), s.params, f,
                                              s.hparams["adapt"], s.adapt_state)
    return float(np.asarray(adapted).sum())


# navigation_2d: a dense reward, so every setting of the inner step changes the adapted policy
SMALL = (("env.name", "navigation_2d"), ("objective.horizon", 5),
         ("algorithm.num_perturbations", 2), ("adaptation.num_queries", 2))


def test_every_flag_has_a_probe():
    paths = {path for _, path, _, _ in cli.FLAGS}
    assert paths == (set(PROBES) | set(FO_PROBES) | set(SINE_PROBES) | set(PG_PROBES)
                     | set(LOCO_PROBES) | {"algorithm.hessian"})


def test_query_corruption_reaches_the_operator():
    """A.3.3's noisy queries (no flag: ``--set adaptation.corrupt_fraction=F``)."""
    base = _adapted(built(*SMALL))
    assert _adapted(built(*SMALL, ("adaptation.corrupt_fraction", 0.5))) != base
    assert _adapted(built(*SMALL, ("adaptation.corrupt_fraction", 0.0))) == base
    with pytest.raises(ValueError, match="corrupt_fraction must be in"):
        built(*SMALL, ("adaptation.corrupt_fraction", 2.0))


def test_task_sets_reach_the_goal_family():
    value, probe = LOCO_PROBES["env.task_sets"]
    env = ("env.name", "halfcheetah_goal_velocity")
    assert probe(built(env)) == (None, 1)
    assert probe(built(env, ("env.task_sets", value))) == ((50,), 5)  # A.7.2's (50, 5, 5)
    with pytest.raises(ValueError, match="unknown task_sets 'some'"):
        built(env, ("env.task_sets", "some"))
    with pytest.raises(ValueError, match="takes no setting"):  # not a goal family
        built(("env.task_sets", "fixed"))


@pytest.mark.parametrize("path", sorted(PROBES))
def test_each_setting_reaches_the_object_it_names(path):
    value, probe = PROBES[path]
    small = tuple(p for p in SMALL if p[0] != path)
    if path == "algorithm.name":
        small = (("objective.horizon", 5),)
    extra = (("optimizer.learning_rate", 0.01),) if path == "optimizer.name" else ()
    base, changed = built(*small), built(*small, (path, value), *extra)
    assert probe(changed) != probe(base), path
    block, _, key = path.partition(".")
    resolved = changed.config.to_json()[block]
    assert resolved[key] == (list(value) if isinstance(value, tuple) else value)


@pytest.mark.parametrize("path", sorted(FO_PROBES))
def test_each_first_order_setting_reaches_first_order(path):
    value, probe = FO_PROBES[path]
    small = (("adaptation.num_queries", 2), ("algorithm.num_tasks", 2),
             ("objective.horizon", 5))
    small = tuple(p for p in small if p[0] != path)
    assert probe(_first_order(*small, (path, value))) != probe(_first_order(*small)), path


def _pg(*pairs):
    return built(("algorithm.name", "pg_maml"), ("env.name", "navigation_2d"),
                 ("algorithm.num_tasks", 2), *pairs)


@pytest.mark.parametrize("path", sorted(PG_PROBES))
def test_each_pg_maml_setting_reaches_pg_maml(path):
    value, probe = PG_PROBES[path]
    assert probe(_pg((path, value))) != probe(_pg()), path


def test_shared_flags_reach_pg_maml():
    """-K, --alpha, --num-tasks, --horizon, --lr/--optimizer (VPG) reach PG-MAML's objects."""
    assert _pg(("adaptation.num_queries", 3)).algorithm.rollouts_per_step == 2 * 2 * 3
    assert _pg(("algorithm.num_tasks", 5)).algorithm.rollouts_per_step == 2 * 5 * 20
    assert float(state_of(_pg(("adaptation.step_size", 0.3))).hparams["adapt"]["step_size"]) \
        == pytest.approx(0.3)
    assert _pg(("objective.horizon", 7)).algorithm.env_steps_per_step == 2 * 2 * 20 * 7
    vpg = ("algorithm.outer", "vpg")
    opt = _pg(vpg).config.component("optimizer")
    assert (opt.name, opt.options["learning_rate"]) == ("adam", 1e-3)
    opt = _pg(vpg, ("optimizer.learning_rate", 0.05)).config.component("optimizer")
    assert (opt.name, opt.options["learning_rate"]) == ("adam", 0.05)
    assert _pg().config.optimizer is None  # TRPO: no optimizer recorded, none used


def test_sine_shots_reach_the_objective():
    b = built(("env.name", "sine"), ("objective.num_shots", 3))
    assert b.config.objective["num_shots"] == 3
    x = b.algorithm.objective
    assert x.num_params == built(("env.name", "sine")).algorithm.objective.num_params


@pytest.mark.parametrize("pairs, message", [
    ((("algorithm.name", "first_order"), ("algorithm.sigma", 0.3)), "no outer smoothing"),
    ((("algorithm.name", "first_order"), ("algorithm.num_perturbations", 3)),
     "takes no setting(s) num_perturbations"),
    ((("algorithm.name", "first_order"), ("adaptation.sampler", "dpp")), "do not apply"),
    ((("algorithm.name", "first_order"), ("adaptation.name", "hill_climb")), "ES gradient only"),
    ((("adaptation.name", "dpp_es"), ("adaptation.sampler", "orthogonal")),
     "takes no setting(s) sampler"),
    ((("env.name", "sine"), ("policy.name", "mlp")), "supervised family"),
    ((("policy.name", "regressor"),), "for supervised families"),
    ((("env.horizon", 5), ("env.name", "four_corners"), ("env.bogus", 1)),
     "env 'four_corners' takes no setting(s) bogus"),
    ((("run.seed", -1),), "run.seed must be an integer >= 0"),
    ((("algorithm.name", "pg_maml"), ("optimizer.learning_rate", 0.1)),
     "TRPO outer step takes no optimizer"),
    ((("algorithm.name", "pg_maml"), ("adaptation.name", "hill_climb")),
     "policy-gradient step"),
    ((("algorithm.name", "pg_maml"), ("adaptation.sigma", 0.1)), "do not apply"),
    ((("algorithm.name", "pg_maml"), ("env.name", "sine")), "needs an RL task family"),
    ((("algorithm.name", "pg_maml"), ("algorithm.outer", "adam")), "unknown outer update"),
    ((("algorithm.name", "pg_maml"), ("algorithm.max_kl", 0.0)), "max_kl must be > 0"),
    ((("algorithm.name", "pg_maml"), ("adaptation.num_queries", 0)), "num_queries"),
    ((("objective.horizon", 0),), "objective.horizon must be an integer >= 1"),
])
def test_inapplicable_settings_are_errors_naming_the_component(pairs, message):
    with pytest.raises(ValueError) as e:
        built(*pairs)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_registered_operator_reaches_the_cli(tmp_path):
    from esmaml_jax import adaptation
    from esmaml_jax.app import registry

    registry.register("adaptation", "half_step",
                      lambda num_queries=4, sigma=0.1, step_size=0.025:
                      adaptation.es_gradient(num_queries, sigma, step_size))
    try:
        out = tmp_path / "run"
        assert cli.main(["train", "--adaptation", "half_step", "--set", "adaptation.step_size=0.5",
                         "--horizon", "5", "-P", "2", "-K", "2", "--steps", "1", "--chunk", "1",
                         "--policy", "linear", "--eval-repeats", "1", "--quiet",
                         "--out", str(out)]) == 0
        saved = json.loads((out / "config.json").read_text())
        assert saved["adaptation"] == {"name": "half_step", "num_queries": 2, "sigma": 0.1,
                                       "step_size": 0.5}
    finally:
        registry._EXTRA["adaptation"].pop("half_step")


# Parameters of runs recorded with the CLI on one device (tests/recorded_runs.py), stored as
# arrays in tests/data/recorded_params.npz by `python -m benchmarks.isa_drift --record`. The
# config redesign, and any later refactoring, must not change them beyond rounding. XLA:CPU
# compiles for the processor it runs on, so another machine gets other last bits: the
# comparison has a tolerance, measured by training each run under every instruction-set cap
# (benchmarks/isa_drift.py -> benchmarks/results/isa_drift.json; AVX-512 machine, jax 0.10.2):
# the largest difference from the native (AVX-512) run, over AVX2, AVX and SSE4.2, was 3.6e-7
# (default, parameters up to 1.4), 4.8e-7 (sine, up to 1.8), 3.6e-6 (first_order, one step, up
# to 2.8) and 8.8e-5 (brax, one step, parameters up to 0.045: contacts amplify rounding). The
# tolerance is about 10x that. first_order at two steps moves by up to 0.16 between instruction
# sets (its all -400 start z-scores returns that differ in the last bits into different
# updates), so only its first step is compared (first_order_1).
TOLERANCE = {"default": 5e-6, "sine": 5e-6, "first_order_1": 5e-5, "brax": 1e-3}


@pytest.mark.parametrize("name", [
    "default", "sine", "first_order_1", pytest.param("brax", marks=pytest.mark.slow)])
def test_cli_and_python_give_the_recorded_parameters(tmp_path, name):
    args = RECORDED[name]
    assert cli.main(["train", *args, *RUN_FLAGS, "--out", str(tmp_path / "cli")]) == 0
    from_cli = np.load(tmp_path / "cli" / "params.npy")
    np.testing.assert_allclose(from_cli, np.load(DATA)[name], rtol=0, atol=TOLERANCE[name])
    # the same config from Python: parse the flags into a Config, then train(config); the
    # same process on the same machine: bit for bit
    parser = cli.argparse.ArgumentParser()
    cli._add_train_args(parser)
    config = cli.config_from_args(parser.parse_args(args), Config())
    train(config, tmp_path / "py", progress=False, log=lambda *a: None)
    np.testing.assert_array_equal(np.load(tmp_path / "py" / "params.npy"), from_cli)


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                    reason="--xla_cpu_max_isa takes x86 instruction sets here")
def test_recorded_parameters_hold_under_another_instruction_set():
    """The recorded checks in a fresh process whose XLA:CPU compiles for SSE4.2 only (other
    vector widths, no FMA): a test bound to this machine's rounding fails here."""
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_cpu_max_isa=SSE4_2").strip())
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-m", "", str(Path(__file__)), "-k", "recorded_parameters and not "
                           "another_instruction_set"],
                          capture_output=True, text=True, timeout=1800, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "4 passed" in proc.stdout, proc.stdout[-1000:]


def test_flat_configs_of_older_runs_still_load():
    flat = {"env": "four_corners", "algorithm": "zero_order", "adaptation": "es_gradient",
            "policy": "mlp", "hidden_sizes": [32], "num_queries": 20, "num_perturbations": 150,
            "tasks_per_perturbation": 1, "sigma": 0.1, "inner_sigma": 0.1, "step_size": 0.05,
            "learning_rate": 0.01, "estimator": "antithetic", "inner_estimator": "forward_fd",
            "inner_sampler": "gaussian", "shaping": "zscore", "normalize_observations": True,
            "hessian": True, "hessian_estimator": "mc", "hessian_queries": None, "num_tasks": 50,
            "horizon": None, "num_steps": 2, "steps_per_chunk": 2, "eval_repeats": 4,
            "chunk_size": None, "seed": 0}
    expected = Config().set("run.num_steps", 2).set("run.steps_per_chunk", 2)
    assert build(Config.from_json(flat)).config == build(expected).config
    fo = from_legacy(dict(flat, algorithm="first_order", num_queries=5))
    assert build(fo).config.component("adaptation").options["num_queries"] == 5
    # a partial flat file, as `--config` took before, still reads
    partial = Config.from_json({"num_queries": 4, "policy": "linear"})
    assert partial.component("adaptation").options == {"num_queries": 4}
    assert partial.component("policy").name == "linear"
    assert build(partial).config.component("optimizer").options["learning_rate"] == 0.01


def test_importing_the_package_runs_no_jax():
    # jax.distributed.initialize() must still be possible after the imports: no backend may
    # have been started by them.
    code = ("import envs, esmaml_jax, esmaml_jax.app, esmaml_jax.app.cli\n"
            "import jax\n"
            "# public API: JAX refuses this option once a backend has started\n"
            "jax.config.update('jax_num_cpu_devices', 3)\n"
            "assert jax.device_count() == 3\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
def test_package_and_examples_type_check():
    # The package ships py.typed: its annotations are a promise to users' type checkers.
    pytest.importorskip("mypy")
    proc = subprocess.run([sys.executable, "-m", "mypy"], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_a_registered_algorithm_needs_no_app_edit(tmp_path):
    """What the app knows of an algorithm is data on its registry entry (issue 33 item 4): an
    algorithm registered with a spec trains, shards and is described with no app change."""
    from esmaml_jax.algorithms import zero_order
    from esmaml_jax.app import algorithms, devices, loop, registry

    with pytest.raises(ValueError, match="needs a spec"):
        registry.register("algorithm", "es_copy", zero_order)
    spec = algorithms.BUILTIN["zero_order"]._replace(
        describe=lambda o, ad: f"es_copy(P={o['num_perturbations']})")
    registry.register("algorithm", "es_copy", zero_order, spec=spec)
    try:
        out = tmp_path / "run"
        assert cli.main(["train", "--algorithm", "es_copy", "--horizon", "5", "-P", "2", "-K",
                         "2", "--steps", "1", "--chunk", "1", "--policy", "linear",
                         "--eval-repeats", "1", "--quiet", "--out", str(out)]) == 0
        b = build(Config.from_json(json.loads((out / "config.json").read_text())))
        assert b.config.component("algorithm").name == "es_copy"
        assert "es_copy(P=2)" in loop.describe(b)
        assert devices.auto_shard(b) == (jax.device_count() > 1 and 2 % jax.device_count() == 0)
    finally:
        registry._EXTRA["algorithm"].pop("es_copy")


def test_the_app_never_branches_on_an_algorithms_name():
    """No comparison with a built-in algorithm's name in the app outside its spec table."""
    import ast

    import esmaml_jax.app as app_pkg

    names = {"zero_order", "first_order", "pg_maml"}
    found = []
    for path in sorted(Path(app_pkg.__file__).parent.glob("*.py")):
        if path.name == "algorithms.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                consts = [c for c in (node.left, *node.comparators)
                          if isinstance(c, ast.Constant) and c.value in names]
                if consts:
                    found.append(f"{path.name}:{node.lineno}")
            # (`esmaml bench --algorithm`'s report per choice, BENCHES, is the one table
            # keyed by these names: the flag's own dispatch)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and any(
                    isinstance(k, ast.Constant) and k.value in names for k in node.value.keys
            ) and [getattr(t, "id", None) for t in node.targets] != ["BENCHES"]:
                found.append(f"{path.name}:{node.lineno} (a table keyed by algorithm name)")
    assert found == []
