"""The run configuration: one block per component, nothing flat.

A `Config` holds, per component, its registry name and ONLY the settings the user gave; every
other value is the family's recommendation (`envs.Recommended`) or the constructor's own default,
filled in by `esmaml_jax.app.build.resolve` (so each default is written once, in the constructor
that uses it). In JSON::

    {"env": {"name": "four_corners"}, "policy": {"name": "mlp", "hidden_sizes": [32]},
     "objective": {"horizon": 100}, "adaptation": {"name": "es_gradient", "num_queries": 20},
     "algorithm": {"name": "zero_order", "num_perturbations": 150},
     "optimizer": {"name": "sgd", "learning_rate": 0.01}, "run": {"num_steps": 400, "seed": 0}}

A block left out (or ``null``) is not set. Settings are checked against the component's
constructor signature: an unknown or inapplicable one is a one-line error naming the component.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from esmaml_jax.app.component import Component, _jsonable

BLOCKS = ("env", "policy", "objective", "adaptation", "algorithm", "optimizer", "run")
COMPONENT_BLOCKS = ("env", "policy", "adaptation", "algorithm", "optimizer")
# The objective block: rl_objective's and regression_objective's settings.
OBJECTIVE_SETTINGS = ("horizon", "normalize_observations", "num_shots")


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """What the host loop does: meta-steps, how many per compiled chunk (and per log line),
    adaptations per test task in each evaluation (4x at the end), the seed, and how many seeds
    (seed, seed + 1, ...) train side by side in one compiled program (vmapped)."""

    num_steps: int = 400
    steps_per_chunk: int = 25
    eval_repeats: int = 4
    seed: int = 0
    seeds: int = 1

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            low = 0 if f.name == "seed" else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"run.{f.name} must be an integer >= {low}, got {v!r}")
            if f.name != "seed" and v > 2**31 - 1:  # the step counter is an int32
                raise ValueError(f"run.{f.name} must be at most 2**31 - 1, got {v}")
        if self.seed + self.seeds > 2**32:
            raise ValueError(f"run.seed + run.seeds must be <= 2**32, got {self.seed} + "
                             f"{self.seeds}")


@dataclasses.dataclass(frozen=True)
class Config:
    """A run: per block, what the user set (``None``: not set)."""

    env: Component | None = None
    policy: Component | None = None
    objective: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    adaptation: Component | None = None
    algorithm: Component | None = None
    optimizer: Component | None = None
    run: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def component(self, block: str) -> Component:
        """The named component of ``block`` (always there in a resolved config)."""
        comp = getattr(self, block)
        if not isinstance(comp, Component):
            raise ValueError(f"config block {block!r} is not set")
        return comp

    def set(self, path: str, value: Any) -> Config:
        """A copy with ``block.setting`` (or ``block.name``) set: ``config.set("algorithm.sigma",
        0.3)``, ``config.set("env.name", "sine")``."""
        block, _, key = path.partition(".")
        if block not in BLOCKS or not key:
            raise ValueError(f"a setting is block.name with block in {', '.join(BLOCKS)}; "
                             f"got {path!r}")
        if block in ("objective", "run"):
            if key == "name":
                raise ValueError(f"{block} has no name")
            merged: dict[str, Any] = {**getattr(self, block), key: value}
            return dataclasses.replace(self, **{block: merged})  # type: ignore[arg-type]
        comp = getattr(self, block)
        if key == "name":
            if not isinstance(value, str):
                raise ValueError(f"{block}.name must be a string, got {value!r}")
            if not value.strip():
                raise ValueError(f"{block}.name must not be empty")
            keep = comp.options if comp is not None and comp.name in (value, _UNSET) else {}
            named = Component(value, dict(keep))
            return dataclasses.replace(self, **{block: named})  # type: ignore[arg-type]
        if comp is None:
            comp = Component(_UNSET)
        updated = Component(comp.name, {**comp.options, key: value})
        return dataclasses.replace(self, **{block: updated})  # type: ignore[arg-type]

    def to_json(self) -> dict:
        out: dict[str, Any] = {}
        for block in BLOCKS:
            v = getattr(self, block)
            if block in ("objective", "run"):
                if v:
                    out[block] = {k: _jsonable(x) for k, x in v.items()}
            elif v is not None:
                out[block] = v.to_json()
        return out

    @classmethod
    def from_json(cls, data: Any) -> Config:
        """From the JSON form above (also reads the flat config.json of runs made before the
        nested layout, see `from_legacy`)."""
        if not isinstance(data, dict):
            raise ValueError(f"a config must be a JSON object, got {type(data).__name__}")
        flat = any(isinstance(data.get(b), str) for b in COMPONENT_BLOCKS) or any(
            k in LEGACY_PATHS and k not in BLOCKS for k in data)
        if flat:  # a (possibly partial) config of the layout before the nested one
            return from_legacy(data)
        data = {k: v for k, v in data.items() if k != "meta"}  # provenance, not settings
        unknown = sorted(set(data) - set(BLOCKS))
        if unknown:
            raise ValueError(f"unknown config block(s) {unknown}; known: {list(BLOCKS)}")
        values: dict[str, Any] = {}
        for block, v in data.items():
            if v is None:
                continue
            if not isinstance(v, dict):
                raise ValueError(f"config block {block!r} must be an object, got {v!r}")
            if block in ("objective", "run"):
                values[block] = {k: _from_jsonable(x) for k, x in v.items()}
                continue
            if not isinstance(v.get("name"), str):
                raise ValueError(f"config block {block!r} needs a \"name\" (a string)")
            options = {k: _from_jsonable(x) for k, x in v.items() if k != "name"}
            values[block] = Component(v["name"], options)
        return cls(**values)


_UNSET = ""  # a component whose settings were given before (or without) its name


def _from_jsonable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


# The flat layout of runs made before the nested config: field -> path.
LEGACY_PATHS = {
    "env": "env.name", "algorithm": "algorithm.name", "adaptation": "adaptation.name",
    "policy": "policy.name", "hidden_sizes": "policy.hidden_sizes",
    "policy_init": "policy.init", "num_queries": "adaptation.num_queries",
    "num_perturbations": "algorithm.num_perturbations",
    "tasks_per_perturbation": "algorithm.tasks_per_perturbation", "sigma": "algorithm.sigma",
    "inner_sigma": "adaptation.sigma", "step_size": "adaptation.step_size",
    "learning_rate": "optimizer.learning_rate", "estimator": "algorithm.estimator",
    "inner_estimator": "adaptation.estimator", "inner_sampler": "adaptation.sampler",
    "shaping": "algorithm.shaping", "normalize_observations": "objective.normalize_observations",
    "hessian": "algorithm.hessian", "hessian_estimator": "algorithm.hessian_estimator",
    "hessian_queries": "algorithm.hessian_queries",
    "hessian_samples": "algorithm.hessian_samples", "num_tasks": "algorithm.num_tasks",
    "horizon": "objective.horizon", "num_steps": "run.num_steps",
    "steps_per_chunk": "run.steps_per_chunk", "eval_repeats": "run.eval_repeats",
    "chunk_size": "algorithm.chunk_size", "seed": "run.seed",
}


def from_legacy(flat: dict) -> Config:
    """A config equivalent to a flat (pre-nested) config.json, which held every setting of both
    algorithms resolved: only the settings that apply to the run's components are kept, so the
    run resumes with the values it was made with."""
    unknown = sorted(set(flat) - set(LEGACY_PATHS))
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown} in a flat config")
    from esmaml_jax.app import registry

    algorithm = flat.get("algorithm", "zero_order")
    supervised = flat.get("env") == "sine"
    names = {"algorithm": algorithm, "adaptation": flat.get("adaptation", "es_gradient"),
             "policy": "regressor" if supervised else flat.get("policy", "mlp"),
             "optimizer": "sgd"}
    pairs = []
    for key, path in LEGACY_PATHS.items():
        if key not in flat or flat[key] is None:
            continue
        if key == "num_queries" and supervised:
            path = "objective.num_shots"
        pairs.append((path, flat[key]))
        if key == "shaping":  # one flag set both the outer and the inner shaping
            pairs.append(("adaptation.shaping", flat[key]))

    def applies(path: str) -> bool:
        block, _, setting = path.partition(".")
        if setting == "name" or block in ("env", "run"):
            return not (block == "policy" and supervised)
        if block == "objective":
            return (setting == "num_shots") == supervised
        inner = registry.algorithm(algorithm).inner
        if inner is not None and block in ("algorithm", "adaptation") and (
                (block == "algorithm") == (setting in inner.settings)):
            return False  # a fixed inner step's settings are adaptation settings only
        return setting in registry.settings(block, names[block])

    config = Config()
    for path, value in pairs:
        if applies(path):
            config = config.set(path, _from_jsonable(value))
    if supervised:
        config = config.set("policy.name", "regressor")
    # the flat layout's optimizer was always SGD (its learning rate, when given, is kept)
    return config.set("optimizer.name", "sgd") if config.optimizer is not None else config


def load_config(path: str | os.PathLike) -> Config:
    """Read a JSON config file (blocks may be partial; what is left out is not set)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"config file {path} is not valid JSON: {e}") from None
    return Config.from_json(data)
