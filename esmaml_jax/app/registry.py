"""The one table of named components: ``kind -> name -> entry``, one lookup style for all.

The library takes components as objects (an operator, ``shaping=shaping.zscore``,
``estimator=estimators.antithetic``) and looks no name up; names are the app's, for configs and
the CLI, and live here only. Each entry is a factory whose keyword arguments are the
component's settings (for the value kinds estimator, shaping and sampler: the object itself);
``injected`` names the arguments the app supplies itself (sizes from the task family, the
objective, the operator), which a config may not set; an algorithm's ``spec`` is what the app
needs to know about it (`esmaml_jax.app.algorithms`). Components added with `register` and task
families added with `envs.register` (whose table is read live) reach the CLI and configs
without further work.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

KINDS = ("env", "policy", "adaptation", "algorithm", "optimizer", "estimator", "shaping",
         "sampler")
# Settings whose value is a component the library takes as an object (a callable or a small
# record): a config names it, `objects` hands the object to the constructor.
VALUE_SETTINGS = {"estimator": "estimator", "shaping": "shaping", "sampler": "sampler"}


class Entry(NamedTuple):
    factory: Any  # a factory; for the value kinds (estimator, shaping, sampler) the object
    injected: frozenset[str] = frozenset()
    spec: Any = None  # an algorithm's `algorithms.AlgorithmSpec`: what the app needs to know


_EXTRA: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}


def _builtin(kind: str) -> dict[str, Entry]:
    if kind == "env":
        import envs

        return {name: Entry(envs.factory(name)) for name in envs.names()}
    if kind == "adaptation":
        from esmaml_jax import adaptation as a

        return {op.__name__: Entry(op) for op in (a.es_gradient, a.dpp_es, a.hill_climb, a.rbo,
                                                  a.asebo, a.autodiff_gradient, a.identity)}
    if kind == "estimator":
        from esmaml_jax import estimators as e

        return {x.name: Entry(x) for x in (e.vanilla, e.forward_fd, e.antithetic)}
    if kind == "shaping":
        from esmaml_jax import shaping

        return {f.__name__: Entry(f) for f in (shaping.zscore, shaping.centered_rank,
                                               shaping.none)}
    if kind == "sampler":
        from esmaml_jax import estimators as e

        return {f.__name__: Entry(f) for f in (e.gaussian, e.orthogonal, e.dpp,
                                               e.dpp_reference)}
    if kind == "policy":
        from esmaml_jax import policies

        sizes = frozenset({"observation_size", "action_size"})
        return {"linear": Entry(policies.linear, sizes), "mlp": Entry(policies.mlp, sizes),
                "regressor": Entry(policies.regressor,
                                   frozenset({"input_size", "output_size"}))}
    if kind == "algorithm":
        from esmaml_jax.app import algorithms

        return {name: Entry(factory, algorithms.BUILTIN[name].injected, algorithms.BUILTIN[name])
                for name, factory in algorithms.factories().items()}
    if kind == "optimizer":
        import optax

        return {name: Entry(getattr(optax, name)) for name in
                ("sgd", "adam", "adamw", "rmsprop", "adabelief", "lamb")}
    raise ValueError(f"unknown component kind {kind!r}; known: {', '.join(KINDS)}")


def register(kind: str, name: str, factory: Callable[..., Any],
             injected: frozenset[str] = frozenset(), spec: Any = None) -> None:
    """Make ``factory`` available as component ``name`` of ``kind`` (e.g. an optimizer). An
    algorithm needs its ``spec`` (`esmaml_jax.app.algorithms.AlgorithmSpec`), whose
    ``injected`` it uses."""
    _builtin(kind)  # checks the kind
    if kind == "algorithm":
        if spec is None:
            raise ValueError(f"algorithm {name!r} needs a spec (esmaml_jax.app.algorithms."
                             f"AlgorithmSpec): how it is built and what the app may do with it")
        injected = spec.injected
    _EXTRA[kind][name] = Entry(factory, frozenset(injected), spec)


def table(kind: str) -> dict[str, Entry]:
    return {**_builtin(kind), **_EXTRA[kind]}


def names(kind: str) -> list[str]:
    return sorted(table(kind))


def lookup(kind: str, name: str) -> Entry:
    """The entry of ``name``, or a one-line error listing the known names of that kind."""
    entries = table(kind)
    if name not in entries:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(entries))}")
    return entries[name]


def algorithm(name: str):
    """The `AlgorithmSpec` of algorithm ``name`` (a one-line error for an unknown name)."""
    return lookup("algorithm", name).spec


def settings(kind: str, name: str) -> dict[str, Any]:
    """The settings a config may give ``name``, with the factory's defaults
    (``inspect.Parameter.empty`` where it has none; a default that is a registered object, such
    as ``shaping.zscore``, by its name)."""
    entry = lookup(kind, name)
    params = inspect.signature(entry.factory).parameters
    return {p: name_of(p, v.default) for p, v in params.items()
            if p not in entry.injected and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)}


def name_of(setting: str, value: Any) -> Any:
    """The registered name of ``value`` when ``setting`` takes a component object, else
    ``value``."""
    kind = VALUE_SETTINGS.get(setting)
    if kind is None:
        return value
    for name, entry in table(kind).items():
        if entry.factory is value:
            return name
    return value


def check_named(setting: str, value: Any) -> None:
    """A one-line error when ``setting`` takes a component object and ``value`` names none."""
    if setting in VALUE_SETTINGS and isinstance(value, str):
        lookup(VALUE_SETTINGS[setting], value)


def objects(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` with every component named by a string (estimator, shaping, sampler)
    replaced by the object it names; a one-line error for an unknown name."""
    return {k: lookup(VALUE_SETTINGS[k], v).factory
            if k in VALUE_SETTINGS and isinstance(v, str) else v for k, v in settings.items()}
