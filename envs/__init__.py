"""Task families for ES-MAML, behind one registry: ``envs.make(name, **overrides)``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from envs import sine as sine  # the module (its factory is envs.sine.sine)
from envs.adapter import from_brax
from envs.base import Recommended, State, Task, TaskEnv, TaskFamily, num_tasks
from envs.navigation import four_corners, navigation_2d, six_circles

_REGISTRY: dict[str, Callable[..., TaskFamily]] = {}


def register(name: str, factory: Callable[..., Any]) -> None:
    """Make ``factory(**overrides) -> TaskFamily`` available as ``envs.make(name)``."""
    _REGISTRY[name] = factory


def names() -> list[str]:
    """All registered task-family names, sorted."""
    return sorted(_REGISTRY)


def factory(name: str) -> Callable[..., TaskFamily]:
    """The factory registered as ``name`` (its keyword arguments are the family's settings)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown env {name!r}; known envs: {', '.join(names())}")
    return _REGISTRY[name]


def make(name: str, **overrides):
    """Build the task family ``name``; ``overrides`` go to its factory (e.g. ``horizon=50``).
    RL families are `TaskFamily`s; ``sine`` is a supervised `envs.sine.SineFamily`."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown env {name!r}; known envs: {', '.join(names())}")
    factory = _REGISTRY[name]
    accepted = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = [] if takes_any else sorted(set(overrides) - set(accepted))
    if unknown:
        raise ValueError(f"env {name!r} takes no option(s) {unknown}; it takes {sorted(accepted)}")
    return factory(**overrides)


register("navigation_2d", navigation_2d)
register("four_corners", four_corners)
register("four_corners_penalized", functools.partial(four_corners, penalized=True))
register("six_circles", six_circles)
register("sine", sine.sine)


def _locomotion(robot: str, kind: str):
    if kind == "forward_backward":  # N = 2 tasks: always the fixed (N, N, N) sets
        def factory(horizon: int = 200, backend: str | None = None):
            from envs.locomotion import locomotion  # imports Brax's envs only when asked for

            return locomotion(robot, kind, horizon, backend)
    else:
        def factory(horizon: int = 200, backend: str | None = None,  # type: ignore[misc]
                    task_sets: str = "fresh", task_seed: int = 0):
            from envs.locomotion import locomotion

            return locomotion(robot, kind, horizon, backend, task_sets, task_seed)

    factory.__doc__ = f"{robot} {kind.replace('_', '-')} on Brax physics."
    return factory


for _robot in ("halfcheetah", "ant", "walker2d", "swimmer"):
    for _kind in ("forward_backward", "goal_velocity"):
        register(f"{_robot}_{_kind}", _locomotion(_robot, _kind))
register("ant_goal_position", _locomotion("ant", "goal_position"))


def _biased_cartpole(horizon: int = 500):
    from envs.locomotion import biased_cartpole

    return biased_cartpole(horizon)


register("biased_cartpole", _biased_cartpole)

__all__ = ["Recommended", "State", "Task", "TaskEnv", "TaskFamily", "factory", "from_brax",
           "make", "names", "num_tasks", "register"]
