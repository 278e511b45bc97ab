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
from esmaml_jax.app.algorithms import Parts
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
            registry.check_named(k, out[k])
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
    inner = registry.algorithm(algorithm).inner
    adaptation = _component(cfg, "adaptation").name

    def applies(path):
        block, _, key = path.partition(".")
        if block == "algorithm":
            return key in registry.settings("algorithm", algorithm)
        if block == "adaptation" and inner is not None:
            return key in inner.recommended
        if block == "adaptation" and key != "name":
            return key in registry.settings("adaptation", adaptation)
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
    """(adaptation, algorithm), checked. An algorithm with a fixed inner step (its spec's
    ``inner``) takes that step's settings from the adaptation block, with its own defaults."""
    algorithm = _component(cfg, "algorithm")
    inner = registry.algorithm(algorithm.name).inner
    if inner is None:
        adaptation = _component(cfg, "adaptation")
        registry.lookup("adaptation", adaptation.name)
        return (Component(adaptation.name, _check_settings("adaptation", adaptation)),
                Component(algorithm.name, _check_settings("algorithm", algorithm)))
    given = cfg.adaptation
    if given is not None and given.name and given.name != inner.operator:
        raise ValueError(inner.wrong_operator.format(name=given.name))
    options = dict(given.options) if given is not None else {}
    bad = sorted(set(options) - set(inner.settings))
    if bad:
        raise ValueError(inner.bad_setting.format(bad=", ".join(bad)))
    moved = sorted(set(algorithm.options) & set(inner.settings))
    if moved:
        raise ValueError(inner.moved_setting.format(moved=", ".join(moved)))
    defaults = inspect.signature(registry.lookup("algorithm", algorithm.name).factory).parameters
    values = {}
    for k in inner.settings:
        default = registry.name_of(k, defaults[k].default)
        values[k] = (_checked_type(f"adaptation {inner.operator!r}: setting {k}", options[k],
                                   default) if k in options else default)
        registry.check_named(k, values[k])
    return (Component(inner.operator, values),
        Component(algorithm.name, _check_settings("algorithm", algorithm)))


def _optimizer(cfg: Config, algorithm: Component) -> Component | None:
    """The outer optimizer, by the algorithm's rule; None when it takes none."""
    user = cfg.algorithm.options if cfg.algorithm is not None else {}
    takes, given = registry.algorithm(algorithm.name).optimizer(algorithm.options, cfg.optimizer,
                                                               user)
    if not takes:
        return None
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
    if registry.algorithm(algorithm.name).rl_only and supervised:
        raise ValueError(f"{algorithm.name} needs an RL task family; {env.name} is supervised")
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
    policy = registry.lookup("policy", pol.name).factory(family.observation_size,
                                                         family.action_size, **pol.options)
    if supervised:
        objective = regression_objective(family, policy, **config.objective)
    else:
        objective = rl_objective(family, policy, **config.objective)
    optimizer = None
    if config.optimizer is not None:
        opt = config.component("optimizer")
        optimizer = registry.lookup("optimizer", opt.name).factory(**opt.options)
    alg = config.component("algorithm")
    entry = registry.lookup("algorithm", alg.name)
    spec = entry.spec
    if mesh is not None and spec.axis_setting is None:
        raise ValueError(f"sharding (--shard) splits an algorithm's perturbation axis; "
                         f"{alg.name} has none")
    ad = config.component("adaptation")
    adapt = (registry.lookup("adaptation", ad.name).factory(**registry.objects(ad.options))
             if spec.inner is None else None)
    algo = spec.construct(entry.factory, Parts(
        family=family, policy=policy, objective=objective,
        objective_settings=dict(config.objective), adaptation=adapt,
        inner=registry.objects(ad.options) if spec.inner is not None else {},
        options=registry.objects(alg.options), optimizer=optimizer, mesh=mesh))
    return Built(config, family, algo, RunSettings(**config.run), applied)
