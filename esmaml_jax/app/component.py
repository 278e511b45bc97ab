"""`Component`: a registry name and the settings given for it (one block of a `Config`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


@dataclasses.dataclass(frozen=True)
class Component:
    """A registry name and the settings given for it."""

    name: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        return {"name": self.name, **{k: _jsonable(v) for k, v in self.options.items()}}
