"""conf/quality.yaml as typed, frozen rules, checked against the pipeline config when loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, SerializeAsAny, Tag, ValidationError, model_validator

from etl.config import Settings
from etl.model import ConfigError, Frozen, load_model
from quality.checks import CHECKS, CheckKind, kind_of

Action = Literal["quarantine", "warn", "fail"]
# keys every rule has; the rest of a rule's keys are its check's arguments (quality.checks)
COMMON_KEYS = ("name", "check", "action", "doc", "column", "columns", "fail_above_percent")


def _error_text(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
    )


class Rule(Frozen):
    """One rule: a check of a registered kind with its typed arguments (`args`), and what a breach does."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    check: str
    action: Action
    doc: str
    column: str | None = None
    columns: tuple[str, ...] | None = None
    fail_above_percent: float | None = Field(default=None, ge=0, le=100)
    args: SerializeAsAny[Frozen]

    @model_validator(mode="before")
    @classmethod
    def _typed_arguments(cls, data: Any) -> Any:
        """Everything but the common keys is the check's arguments, validated by its kind's schema."""
        if not isinstance(data, dict) or "args" in data:
            return data
        name = data.get("name", "?")
        try:
            kind = kind_of(data.get("check"))
        except ValueError as exc:
            raise ValueError(f"rule {name}: {exc}") from None
        try:
            args = kind.Args.model_validate({k: v for k, v in data.items() if k not in COMMON_KEYS})
        except ValidationError as exc:
            raise ValueError(f"rule {name}: check {kind.name}: {_error_text(exc)}") from None
        return {**{k: v for k, v in data.items() if k in COMMON_KEYS}, "args": args}

    @model_validator(mode="after")
    def _targets(self) -> Rule:
        kind = self.kind
        given = [k for k in ("column", "columns") if getattr(self, k) is not None]
        if kind.targets == "column_or_columns" and len(given) != 1:
            raise ValueError(f"rule {self.name}: give exactly one of column, columns")
        if kind.targets == "columns" and given != ["columns"]:
            raise ValueError(f"rule {self.name}: check {self.check} needs columns (its key), not column")
        if kind.targets == "none" and given:
            raise ValueError(f"rule {self.name}: check {self.check} takes no {given[0]}")
        if self.action == "quarantine" and not kind.row:
            raise ValueError(
                f"rule {self.name}: {self.check} is a table check; its action is warn or fail, not quarantine"
            )
        return self

    @property
    def kind(self) -> CheckKind:
        return CHECKS[self.check]

    @property
    def is_row_rule(self) -> bool:
        return self.kind.row

    @property
    def targets(self) -> tuple[str, ...]:
        """The columns a row check reads, one expectation each."""
        return self.columns if self.columns is not None else ((self.column,) if self.column else ())


class Include(Frozen):
    include: str


def _item_kind(value: Any) -> str:
    return (
        "include"
        if isinstance(value, (dict, Include)) and (isinstance(value, Include) or "include" in value)
        else "rule"
    )


SuiteItem = Annotated[Annotated[Rule, Tag("rule")] | Annotated[Include, Tag("include")], Discriminator(_item_kind)]


class SuiteSpec(Frozen):
    rules: tuple[SuiteItem, ...]


class QualityFile(Frozen):
    unexpected_samples: int = Field(ge=0, le=1000)
    context_root: str | None = None
    # named groups of rules, included in suites by `{include: name}`
    groups: dict[str, tuple[Rule, ...]]
    suites: dict[str, SuiteSpec]


class QualitySpec(Frozen):
    """Suites by table name (`layer.table`), rule sets expanded in place."""

    unexpected_samples: int
    context_root: str | None
    suites: dict[str, tuple[Rule, ...]]

    def suite(self, table: str) -> tuple[Rule, ...]:
        return self.suites.get(table, ())

    def row_rules(self, table: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.suite(table) if r.is_row_rule)

    def table_rules(self, table: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.suite(table) if not r.is_row_rule)


def load_quality(settings: Settings, path: Path | None = None) -> QualitySpec:
    """Load conf/quality.yaml; names the file and key on any error, and cross-checks limits and references."""
    path = path or settings.conf_dir / "quality.yaml"
    raw = load_model(QualityFile, path)
    problems: list[str] = []
    suites: dict[str, tuple[Rule, ...]] = {}
    limits = settings.pipeline.limits.model_dump()
    reference_tables = set(settings.pipeline.tables.reference)
    for table, spec in raw.suites.items():
        rules: list[Rule] = []
        for item in spec.rules:
            if isinstance(item, Include):
                if item.include not in raw.groups:
                    problems.append(
                        f"suites.{table}: unknown group {item.include!r} (known: {', '.join(sorted(raw.groups))})"
                    )
                    continue
                rules.extend(raw.groups[item.include])
            else:
                rules.append(item)
        names = [r.name for r in rules]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"suites.{table}: rule {name} is defined more than once")
        for r in rules:
            max_from, ref = getattr(r.args, "max_from", None), getattr(r.args, "reference", None)
            if max_from is not None and max_from not in limits:
                problems.append(
                    f"suites.{table}.{r.name}.max_from: unknown limit {max_from!r} (pipeline.yaml limits: "
                    f"{', '.join(limits)})"
                )
            if ref is not None and ref.split(".")[0] not in reference_tables:
                problems.append(f"suites.{table}.{r.name}.reference: unknown reference table {ref.split('.')[0]!r}")
        suites[table] = tuple(rules)
    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))
    return QualitySpec(unexpected_samples=raw.unexpected_samples, context_root=raw.context_root, suites=suites)


def quality_context_root(settings: Settings, spec: QualitySpec) -> str:
    """Where the GE project (results, Data Docs) lives: a local folder, by default beside the lakehouse."""
    root = settings.path(spec.context_root) if spec.context_root else f"{settings.lakehouse.rstrip('/')}/_quality"
    if "://" in root and not root.startswith("file://"):
        raise ConfigError(
            f"{settings.conf_dir / 'quality.yaml'}: context_root: Data Docs need a local folder, got {root!r}; "
            "set context_root when the lakehouse is remote"
        )
    return root.removeprefix("file://")
