"""Config -> the objects it names. Used by the CLI and by `train(config)` from Python alike, so
the same config is the same run.

Resolution order for every setting: what the config sets > the task family's recommendation
(`envs.Recommended`, data in the family's own terms) > the app's defaults (`DEFAULTS`: the
component names of `esmaml train`, and the outer learning rate optax.sgd has no default for) >
the constructor's own default. The resolved config names every component and holds every
setting, so a run directory records exactly what ran.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, NamedTuple

import envs
from esmaml_jax import paper
from esmaml_jax.algorithms import Algorithm
from esmaml_jax.app import registry
from esmaml_jax.app.config import Component, Config, RunSettings
from esmaml_jax.objectives import regression_objective, rl_objective

# `esmaml train` with no arguments: four corners, the paper's MLP(32) (README: why not linear),
# Alg. 3 with the ES-gradient operator, plain SGD 0.01 (A.7.2). Every other value is the
# constructors' (the paper's, A.7.2).
DEFAULTS = Config(env=Component("four_corners"), policy=Component("mlp"),
                  adaptation=Component("es_gradient"), algorithm=Component("zero_order"),
                  optimizer=Component("sgd", {"learning_rate": paper.OUTER_LEARNING_RATE}))

# Where each field of a family's recommendation goes.
RECOMMENDED_PATHS = {
    "operator": "adaptation.name", "policy": "policy.name", "hidden_sizes": "policy.hidden_sizes",
    "horizon": "objective.horizon", "normalize_observations": "objective.normalize_observations",
    "num_shots": "objective.num_shots", "num_queries": "adaptation.num_queries",
    "inner_step_size": "adaptation.step_size",
    "num_perturbations": "algorithm.num_perturbations",
    "tasks_per_perturbation": "algorithm.tasks_per_perturbation",
    "meta_steps": "run.num_steps", "steps_per_log": "run.steps_per_chunk",
    "eval_repeats": "run.eval_repeats",
}
RL_OBJECTIVE = ("horizon", "normalize_observations")
SUPERVISED_OBJECTIVE = ("num_shots",)
# first_order's inner step is an ES gradient: these adaptation settings reach first_order(...)
FIRST_ORDER_INNER = ("num_queries", "sigma", "step_size", "shaping")
# pg_maml's inner step is a policy-gradient step (adaptation block "policy_gradient"): K
# trajectories and the step size alpha reach pg_maml(...)
PG_INNER = ("num_queries", "step_size")
PG_ADAPTATION = "policy_gradient"
# pg_maml's VPG outer update without an optimizer given: Adam 1e-3 (ProMP's VPG-MAML)
PG_VPG_OPTIMIZER = Component("adam", {"learning_rate": 1e-3})


class Built(NamedTuple):
    config: Config  # resolved: every component named, every setting filled in
    family: Any
    algorithm: Algorithm
    run: RunSettings
    recommended: dict  # path -> value taken from the family's recommendation


def _get(config: Config, path: str):
    block, _, key = path.partition(".")
    v = getattr(config, block)
    if block in ("objective", "run"):
        return v.get(key, _MISSING)
    if v is None:
        return _MISSING
    if key == "name":
        return v.name or _MISSING
    return v.options.get(key, _MISSING)


_MISSING = object()


def _component(config: Config, block: str) -> Component:
    comp = getattr(config, block)
    default = getattr(DEFAULTS, block)
    if comp is None:
        return default
    if not comp.name:  # settings given without a name: the default component's
        return Component(default.name, comp.options)
    return comp


def is_supervised(family) -> bool:
    return hasattr(family, "sample_data")


def _check_settings(block: str, comp: Component) -> dict:
    """Every setting of ``comp`` filled in (user value, else the constructor's default)."""
    allowed = registry.settings(block, comp.name)
    unknown = sorted(set(comp.options) - set(allowed))
    if unknown:
        hint = (" (a supervised family's K is its number of shots: --shots)"
                if block == "adaptation" and "num_queries" in unknown
                and comp.name == "autodiff_gradient" else "")
        takes = ", ".join(f"{block}.{k}" for k in sorted(allowed)) or "none"
        raise ValueError(f"{block} {comp.name!r} takes no setting(s) {', '.join(unknown)}; it "
                         f"takes {takes}{hint}")
    out = {}
    for k, default in allowed.items():
        if k in comp.options:
            out[k] = _checked_type(f"{block} {comp.name!r}: setting {k}", comp.options[k],
                                   default)
        elif default is inspect.Parameter.empty:
            raise ValueError(f"{block} {comp.name!r} needs a value for {k}")
        else:
            out[k] = default
    return out


def _checked_type(what: str, value: Any, default: Any) -> Any:
    """``value`` if it has the type of ``default`` (the constructor's default), else a one-line
    error; a default of None accepts any value (the constructor checks it). A non-finite number
    or an empty string is refused whatever the default."""
    for v in value if isinstance(value, (list, tuple)) else (value,):
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{what} must be a finite number, got {v}")
        if isinstance(v, str) and not v.strip():
            raise ValueError(f"{what} must not be empty")
    if default is None or default is inspect.Parameter.empty:
        return value
    if isinstance(default, bool):
        ok, want = isinstance(value, bool), "true/false"
    elif isinstance(default, int):
        ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, want = isinstance(value, str), "a string"
    elif isinstance(default, tuple):
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value)
        want, value = "a list of integers", tuple(value) if ok else value
    else:
        return value
    if not ok:
        raise ValueError(f"{what} must be {want}, got {value!r}")
    return float(value) if isinstance(default, float) else value


def _apply(config: Config, settings: dict) -> Config:
    """``config`` with ``settings`` (path -> value) set, component names first."""
    for path in sorted(settings, key=lambda p: not p.endswith(".name")):
        config = config.set(path, settings[path])
    return config


def _recommendations(config: Config, family, supervised: bool) -> dict[str, Any]:
    """The family's recommendations for the paths ``config`` leaves unset, minus those that do
    not apply to the components finally chosen (dropped, not errors: they were suggestions)."""
    applied: dict[str, Any] = {}
    rec = getattr(family, "recommended", None)
    if rec is not None:
        for field in dataclasses.fields(rec):
            value, path = getattr(rec, field.name), RECOMMENDED_PATHS[field.name]
            if value is not None and _get(config, path) is _MISSING:
                applied[path] = value
    cfg = _apply(config, applied)
    algorithm = _component(cfg, "algorithm").name
    registry.lookup("algorithm", algorithm)
    adaptation = _component(cfg, "adaptation").name

    def applies(path):
        block, _, key = path.partition(".")
        if block == "algorithm":
            return key in registry.settings("algorithm", algorithm)
        if block == "adaptation" and algorithm == "pg_maml":
            # ES-operator suggestions do not carry over, except K (queries = trajectories, A.5)
            return key == "num_queries"
        if block == "adaptation" and key != "name":
            return key in registry.settings("adaptation", adaptation) and (
                algorithm != "first_order" or key in FIRST_ORDER_INNER)
        if block == "objective":
            return key in (SUPERVISED_OBJECTIVE if supervised else RL_OBJECTIVE)
        return True

    return {p: v for p, v in applied.items() if applies(p)}


def _objective(cfg: Config, env_name: str, supervised: bool) -> dict[str, Any]:
    allowed = SUPERVISED_OBJECTIVE if supervised else RL_OBJECTIVE
    bad = sorted(set(cfg.objective) - set(allowed))
    if bad:
        raise ValueError(f"objective of {env_name} takes no setting(s) {', '.join(bad)}; it "
                         f"takes {', '.join(allowed)}")
    for k in ("horizon", "num_shots"):
        v = cfg.objective.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"objective.{k} must be an integer >= 1, got {v!r}")
    norm = cfg.objective.get("normalize_observations", True)
    if not isinstance(norm, bool):
        raise ValueError(f"objective.normalize_observations must be true/false, got {norm!r}")
    params = inspect.signature(regression_objective if supervised else rl_objective).parameters
    return {k: cfg.objective.get(k, params[k].default) for k in allowed}


def _policy(cfg: Config, env_name: str, supervised: bool) -> Component:
    policy = _component(cfg, "policy")
    if supervised and policy.name != "regressor":
        raise ValueError(f"{env_name} is a supervised family: its model is the 'regressor' "
                         f"policy, not {policy.name!r}")
    if not supervised and policy.name == "regressor":
        raise ValueError(f"the regressor model is for supervised families; {env_name} is RL: "
                         f"use linear or mlp")
    return Component(policy.name, _check_settings("policy", policy))


def _inner_and_outer(cfg: Config) -> tuple[Component, Component]:
    """(adaptation, algorithm), checked; first_order takes its inner step's settings from the
    adaptation block (which must then be es_gradient)."""
    algorithm, adaptation = _component(cfg, "algorithm"), _component(cfg, "adaptation")
    if algorithm.name == "pg_maml":
        return _pg_inner(cfg, algorithm)
    registry.lookup("adaptation", adaptation.name)
    if algorithm.name != "first_order":
        return (Component(adaptation.name, _check_settings("adaptation", adaptation)),
                Component(algorithm.name, _check_settings("algorithm", algorithm)))
    if adaptation.name != "es_gradient":
        raise ValueError(f"first_order adapts with the ES gradient only (Alg. 5), not "
                         f"{adaptation.name!r}")
    _check_inner_split(
        adaptation.options, algorithm.options, FIRST_ORDER_INNER,
        lambda bad: (f"first_order's inner step is one forward-FD Gaussian ES step: adaptation "
                     f"setting(s) {bad} do not apply (it takes {', '.join(FIRST_ORDER_INNER)})"),
        lambda moved: (f"first_order takes no setting(s) {moved}: it has no outer smoothing, "
                       f"its inner step's settings are adaptation.{{num_queries, sigma, "
                       f"step_size, shaping}} (-K, --inner-sigma, --alpha, --inner-shaping)"))
    full = _check_settings("adaptation", adaptation)
    return (Component("es_gradient", {k: full[k] for k in FIRST_ORDER_INNER}),
            Component(algorithm.name, _check_settings("algorithm", algorithm)))


def _check_inner_split(adaptation_options, algorithm_options, inner, bad_message,
                       moved_message) -> None:
    """For an algorithm whose inner step takes the settings ``inner`` from the adaptation
    block: a one-line error for adaptation settings outside ``inner`` and for ``inner``
    settings given in the algorithm block (messages built from the comma-joined names)."""
    bad = sorted(set(adaptation_options) - set(inner))
    if bad:
        raise ValueError(bad_message(", ".join(bad)))
    moved = sorted(set(algorithm_options) & set(inner))
    if moved:
        raise ValueError(moved_message(", ".join(moved)))


def _pg_inner(cfg: Config, algorithm: Component) -> tuple[Component, Component]:
    """pg_maml: the adaptation block is its policy-gradient step (K, alpha); no ES operator."""
    given = cfg.adaptation
    if given is not None and given.name and given.name != PG_ADAPTATION:
        raise ValueError(f"pg_maml adapts with a policy-gradient step (adaptation "
                         f"'{PG_ADAPTATION}'), not {given.name!r}")
    options = dict(given.options) if given is not None else {}
    _check_inner_split(
        options, algorithm.options, PG_INNER,
        lambda bad: (f"pg_maml's inner step is one policy-gradient step on K trajectories: "
                     f"adaptation setting(s) {bad} do not apply (it takes "
                     f"{', '.join(PG_INNER)}: -K, --alpha)"),
        lambda moved: (f"pg_maml takes {moved} from the adaptation block (-K, --alpha), not the "
                       f"algorithm block"))
    defaults = inspect.signature(registry.lookup("algorithm", "pg_maml").factory).parameters
    inner = {}
    for k in PG_INNER:
        inner[k] = (_checked_type(f"adaptation {PG_ADAPTATION!r}: setting {k}", options[k],
                                  defaults[k].default) if k in options else defaults[k].default)
    return (Component(PG_ADAPTATION, inner),
            Component(algorithm.name, _check_settings("algorithm", algorithm)))


# pg_maml settings of its TRPO outer step: inapplicable with --outer vpg
PG_TRPO_ONLY = ("max_kl", "cg_iters", "cg_damping", "line_search_steps", "backtrack_ratio")


def _optimizer(cfg: Config, algorithm: Component) -> Component | None:
    """The outer optimizer; None for pg_maml's TRPO (its step is set by the KL bound)."""
    given = cfg.optimizer
    if algorithm.name == "pg_maml" and algorithm.options["outer"] != "trpo":
        user = cfg.algorithm.options if cfg.algorithm is not None else {}
        bad = [k for k in PG_TRPO_ONLY if k in user]
        if bad:
            raise ValueError(f"pg_maml with outer {algorithm.options['outer']!r} takes no "
                             f"{', '.join(bad)} (TRPO's settings; --outer trpo uses them)")
    if algorithm.name == "pg_maml":
        if algorithm.options["outer"] == "trpo":
            if given is not None:
                raise ValueError("pg_maml's TRPO outer step takes no optimizer or learning rate "
                                 "(its size is set by algorithm.max_kl); use --outer vpg for "
                                 "an optimizer")
            return None
        if given is None:
            given = PG_VPG_OPTIMIZER
        elif not given.name:  # e.g. --lr alone: VPG's optimizer at that rate
            given = Component(PG_VPG_OPTIMIZER.name, given.options)
    optimizer = given if given is not None and given.name else _component(cfg, "optimizer")
    return Component(optimizer.name, _check_settings("optimizer", optimizer))


def resolve(config: Config, family=None) -> tuple[Config, Any, dict]:
    """(resolved config, task family, the recommendations applied); one-line errors for every
    setting that does not apply. ``family``: the family the env block already built (Brax
    families take seconds to construct), reused instead of a new one."""
    env = _component(config, "env")
    registry.lookup("env", env.name)
    env = Component(env.name, _check_settings("env", env))
    if family is None:
        family = envs.make(env.name, **env.options)
    supervised = is_supervised(family)
    applied = _recommendations(config, family, supervised)
    cfg = _apply(config, applied)
    adaptation, algorithm = _inner_and_outer(cfg)
    if algorithm.name == "pg_maml" and supervised:
        raise ValueError(f"pg_maml needs an RL task family; {env.name} is supervised")
    optimizer = _optimizer(cfg, algorithm)
    run_fields = {f.name for f in dataclasses.fields(RunSettings)}
    bad = sorted(set(cfg.run) - run_fields)
    if bad:
        raise ValueError(f"run takes no setting(s) {', '.join(bad)}; it takes "
                         f"{', '.join(sorted(run_fields))}")
    resolved = Config(env=env, policy=_policy(cfg, env.name, supervised),
                      objective=_objective(cfg, env.name, supervised), adaptation=adaptation,
                      algorithm=algorithm, optimizer=optimizer,
                      run=dataclasses.asdict(RunSettings(**cfg.run)))
    return resolved, family, applied


def build(config: Config | None = None, mesh=None, family=None) -> Built:
    """The family, the algorithm and the run settings ``config`` describes (resolved first).
    ``mesh``: shard the perturbation axis over its devices (zero_order only)."""
    config, family, applied = resolve(config or Config(), family)
    supervised = is_supervised(family)
    pol = config.component("policy")
    entry = registry.lookup("policy", pol.name)
    if supervised:
        model = entry.factory(family.observation_size, family.action_size, **pol.options)
        objective = regression_objective(family, model, **config.objective)
    else:
        policy = entry.factory(family.observation_size, family.action_size, **pol.options)
        objective = rl_objective(family, policy, **config.objective)
    optimizer = None
    if config.optimizer is not None:
        opt = config.component("optimizer")
        optimizer = registry.lookup("optimizer", opt.name).factory(**opt.options)
    alg = config.component("algorithm")
    factory = registry.lookup("algorithm", alg.name).factory
    if alg.name == "pg_maml":
        if mesh is not None:
            raise ValueError("sharding (--shard) applies to the zero_order algorithm")
        algo = factory(family, policy, optimizer=optimizer, **config.objective,
                       **config.component("adaptation").options, **alg.options)
    elif alg.name == "first_order":
        if mesh is not None:
            raise ValueError("sharding (--shard) applies to the zero_order algorithm")
        algo = factory(objective, optimizer=optimizer,
                       **config.component("adaptation").options, **alg.options)
    else:
        adapt = registry.lookup("adaptation", config.component("adaptation").name).factory(
            **config.component("adaptation").options)
        kwargs = dict(alg.options)
        if mesh is not None:
            kwargs["mesh"] = mesh
        algo = factory(objective, adapt, optimizer=optimizer, **kwargs)
    return Built(config, family, algo, RunSettings(**config.run), applied)
