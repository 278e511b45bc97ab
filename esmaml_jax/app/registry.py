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
        from esmaml_jax.algorithms import first_order, pg_maml, zero_order

        return {"zero_order": Entry(zero_order, frozenset({"objective", "adaptation",
                                                           "optimizer", "mesh"})),
                # first_order's inner step is the adaptation block's es_gradient settings
                "first_order": Entry(first_order, frozenset({
                    "objective", "optimizer", "num_queries", "sigma", "step_size", "shaping"})),
                # PG-MAML: K and alpha come from the adaptation block (policy_gradient), the
                # rollout settings from the objective block
                "pg_maml": Entry(pg_maml, frozenset({
                    "family", "policy", "optimizer", "horizon", "normalize_observations",
                    "num_queries", "step_size"}))}
    if kind == "optimizer":
        import optax

        return {name: Entry(getattr(optax, name)) for name in
                ("sgd", "adam", "adamw", "rmsprop", "adabelief", "lamb")}
    raise ValueError(f"unknown component kind {kind!r}; known: {', '.join(KINDS)}")


def register(kind: str, name: str, factory: Callable[..., Any],
             injected: frozenset[str] = frozenset()) -> None:
    """Make ``factory`` available as component ``name`` of ``kind`` (e.g. an optimizer)."""
    _builtin(kind)  # checks the kind
    _EXTRA[kind][name] = Entry(factory, frozenset(injected))


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


def settings(kind: str, name: str) -> dict[str, Any]:
    """The settings a config may give ``name``, with the factory's defaults
    (``inspect.Parameter.empty`` where it has none)."""
    entry = lookup(kind, name)
    params = inspect.signature(entry.factory).parameters
    return {p: v.default for p, v in params.items()
            if p not in entry.injected and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)}
