"""conf/classification.yaml as typed, frozen rule sets, checked when loaded."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from etl.config import ObservationWindow, Settings
from etl.model import ConfigError, Frozen, load_model

# Per-enterprise features over the window (analytics.activity.activity_features), all >= 0.
FEATURES = (
    "active_days",
    "login_days",
    "logins",
    "user_days",
    "peak_daily_users",
    "usage_days",
    "compute_core_hours",
    "peak_storage_bytes",
    "app_sessions",
    "distinct_apps",
    "traffic_days",
    "traffic_bytes",
    "requests",
)
_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z_][A-Za-z0-9_]*)")
_OPERATORS = {"and", "or", "not"}


class Signal(Frozen):
    doc: str
    thresholds: dict[str, float] = Field(min_length=1)

    @field_validator("thresholds")
    @classmethod
    def _known_features(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(FEATURES))
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown} (known: {', '.join(FEATURES)})")
        negative = sorted(k for k, v in value.items() if v < 0)
        if negative:
            raise ValueError(f"threshold(s) {negative} must be >= 0")
        return value


class Combine(Frozen):
    """Exactly one of: at least `k_of` signals pass, or a boolean `expression` over signal names."""

    k_of: int | None = Field(default=None, ge=1)
    expression: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Combine:
        if (self.k_of is None) == (self.expression is None):
            raise ValueError("give exactly one of k_of, expression")
        return self


Node = tuple  # ("signal", name) | ("not", node) | ("and", left, right) | ("or", left, right)


def parse_expression(expression: str) -> Node:
    """and/or/not over signal names with parentheses (`not` binds tightest, then `and`); ValueError on anything else."""
    text, tokens, pos = expression.strip(), [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"expression {expression!r}: unexpected text at {text[pos:].strip()!r}")
        tokens.append(m.group(1))
        pos = m.end()
    at = 0

    def peek() -> str | None:
        return tokens[at] if at < len(tokens) else None

    def take() -> str:
        nonlocal at
        if at >= len(tokens):
            raise ValueError(f"expression {expression!r}: ends too early")
        at += 1
        return tokens[at - 1]

    def parse_or() -> Node:
        node = parse_and()
        while peek() == "or":
            take()
            node = ("or", node, parse_and())
        return node

    def parse_and() -> Node:
        node = parse_not()
        while peek() == "and":
            take()
            node = ("and", node, parse_not())
        return node

    def parse_not() -> Node:
        token = take()
        if token == "not":
            return ("not", parse_not())
        if token == "(":
            node = parse_or()
            if peek() != ")":
                raise ValueError(f"expression {expression!r}: missing ')'")
            take()
            return node
        if token in _OPERATORS or token == ")":
            raise ValueError(f"expression {expression!r}: unexpected {token!r}")
        return ("signal", token)

    tree = parse_or()
    if at != len(tokens):
        raise ValueError(f"expression {expression!r}: unexpected {tokens[at]!r}")
    return tree


def expression_names(node: Node) -> set[str]:
    if node[0] == "signal":
        return {node[1]}
    return set().union(*(expression_names(child) for child in node[1:]))


class RuleSet(Frozen):
    name: str
    doc: str
    signals: dict[str, Signal] = Field(min_length=1)
    combine: Combine

    @field_validator("signals")
    @classmethod
    def _signal_names(cls, value: dict[str, Signal]) -> dict[str, Signal]:
        bad = sorted(k for k in value if not re.fullmatch(r"[a-z][a-z0-9_]*", k) or k in _OPERATORS)
        if bad:
            raise ValueError(f"signal name(s) {bad} must be lower_snake_case and not and/or/not")
        return value

    @model_validator(mode="after")
    def _combine_fits(self) -> RuleSet:
        if self.combine.k_of is not None and self.combine.k_of > len(self.signals):
            raise ValueError(f"combine.k_of {self.combine.k_of} is more than the {len(self.signals)} signals")
        if self.combine.expression is not None:
            unknown = sorted(expression_names(parse_expression(self.combine.expression)) - set(self.signals))
            if unknown:
                raise ValueError(
                    f"combine.expression names unknown signal(s) {unknown} (known: {', '.join(self.signals)})"
                )
        return self

    def thresholds(self) -> dict[str, float]:
        """Every threshold as `signal.feature` -> value: what the sensitivity table moves and MLflow logs."""
        return {f"{s}.{f}": v for s, sig in self.signals.items() for f, v in sig.thresholds.items()}

    def with_threshold(self, key: str, value: float) -> RuleSet:
        signal, feature = key.split(".", 1)
        changed = self.signals[signal].model_copy(
            update={"thresholds": {**self.signals[signal].thresholds, feature: value}}
        )
        return self.model_copy(update={"signals": {**self.signals, signal: changed}})

    def describe_combine(self) -> str:
        if self.combine.k_of is not None:
            return f"at least {self.combine.k_of} of {len(self.signals)} signals ({', '.join(self.signals)})"
        return self.combine.expression

    def fingerprint(self) -> str:
        """Hash of what decides labels (signals, thresholds, combination), not of the prose."""
        decisive = {"signals": {k: v.thresholds for k, v in self.signals.items()}, "combine": self.combine.model_dump()}
        return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:16]


class Classification(Frozen):
    default_rule_set: str
    window: ObservationWindow | None = None
    sensitivity_steps_percent: tuple[float, ...]
    rule_sets: dict[str, RuleSet]

    @model_validator(mode="before")
    @classmethod
    def _name_rule_sets(cls, data: dict) -> dict:
        if isinstance(data, dict) and isinstance(data.get("rule_sets"), dict):
            data = {
                **data,
                "rule_sets": {k: {**v, "name": k} if isinstance(v, dict) else v for k, v in data["rule_sets"].items()},
            }
        return data

    @field_validator("sensitivity_steps_percent")
    @classmethod
    def _steps(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(v <= -100 or v == 0 for v in value):
            raise ValueError("steps must be above -100 and not 0")
        return value

    @model_validator(mode="after")
    def _default_exists(self) -> Classification:
        if self.default_rule_set not in self.rule_sets:
            raise ValueError(
                f"default_rule_set {self.default_rule_set!r} is not one of the rule sets ({', '.join(self.rule_sets)})"
            )
        return self

    def rule_set(self, name: str | None) -> RuleSet:
        chosen = name or self.default_rule_set
        if chosen not in self.rule_sets:
            raise ConfigError(f"unknown rule set {chosen!r} (known: {', '.join(self.rule_sets)})")
        return self.rule_sets[chosen]


def load_classification(settings: Settings, path: str | Path | None = None) -> Classification:
    """conf/classification.yaml; the window defaults to the pipeline's."""
    path = Path(path) if path else settings.conf_dir / "classification.yaml"
    spec = load_model(Classification, path)
    if spec.window is None:
        spec = spec.model_copy(update={"window": settings.pipeline.window})
    return spec
