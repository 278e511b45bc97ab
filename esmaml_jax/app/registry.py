"""One table of named components: ``kind -> name -> factory``, one lookup style for all.

Each entry is a factory whose keyword arguments are the component's settings; ``injected`` names
the arguments the app supplies itself (sizes from the task family, the objective, the operator),
which a config may not set. Operators added with `esmaml_jax.adaptation.register` and task
families added with `envs.register` appear here too (their tables are read live), so they reach
the CLI and configs without further work.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

KINDS = ("env", "policy", "adaptation", "algorithm", "optimizer")


class Entry(NamedTuple):
    factory: Callable[..., Any]
    injected: frozenset[str] = frozenset()
    spec: Any = None  # an algorithm's `algorithms.AlgorithmSpec`: what the app needs to know


_EXTRA: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}


def _builtin(kind: str) -> dict[str, Entry]:
    if kind == "env":
        import envs

        return {name: Entry(envs.factory(name)) for name in envs.names()}
    if kind == "adaptation":
        from esmaml_jax import adaptation

        return {name: Entry(adaptation.factory(name)) for name in adaptation.names()}
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
    (``inspect.Parameter.empty`` where it has none)."""
    entry = lookup(kind, name)
    params = inspect.signature(entry.factory).parameters
    return {p: v.default for p, v in params.items()
            if p not in entry.injected and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)}
