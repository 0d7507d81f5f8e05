"""The one base of every config model, and the one way a config file is read and its errors told.

Every YAML file under conf/ (pipeline, feeds, contracts, profiles, jars, generator,
quality, classification, index specs, release) is parsed into frozen pydantic models that
forbid unknown keys, so a typo fails when the file is loaded, with the file and the key
named, instead of deep inside a Spark job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid."""


class Frozen(BaseModel):
    """Immutable, and refuses keys it does not declare."""

    model_config = ConfigDict(frozen=True, extra="forbid")


M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _location(data: Any, loc: tuple) -> str:
    """`nodes.2.children.0.weight` -> `nodes[base].children[0].weight`: list items by their id (or ref) when they
    have one."""
    parts: list[str] = []
    cursor = data
    for step in loc:
        if isinstance(step, int) and isinstance(cursor, list):
            item = cursor[step] if step < len(cursor) else None
            name = item.get("id") if isinstance(item, dict) else None
            label = (item.get("ref") or item.get("name")) if isinstance(item, dict) and not name else name
            label = label or step
            parts[-1:] = [f"{parts[-1]}[{label}]"] if parts else [f"[{label}]"]
            cursor = item
        else:
            parts.append(str(step))
            cursor = cursor.get(step) if isinstance(cursor, dict) else None
    return ".".join(parts)


def format_errors(source: str | Path, data: Any, exc: ValidationError) -> str:
    """One line per error: `<file>: <key>: <message>`."""
    lines = []
    for err in exc.errors():
        where = _location(data, tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {where}: {msg}" if where else f"{source}: {msg}")
    return "\n".join(lines)


def parse_model(model: type[M], data: Any, source: str | Path) -> M:
    """Validate data already read into Python; `source` names it in errors."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(source, data, exc)) from None


def load_model(model: type[M], path: Path) -> M:
    """Parse one YAML file into `model`, naming the file and key on any error."""
    return parse_model(model, read_yaml(path), path)
