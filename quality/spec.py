"""conf/quality.yaml as typed, frozen rules, checked against the pipeline config when loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from etl.config import Settings
from etl.model import ConfigError, Frozen, load_model

Action = Literal["quarantine", "warn", "fail"]
ROW_CHECKS = frozenset({"not_null", "is_null", "between", "in_window", "not_after", "in_set", "credit_code", "whole_number", "exists_in"})
TABLE_CHECKS = frozenset({"unique", "columns", "volume", "province_share"})
Check = Literal["not_null", "is_null", "between", "in_window", "not_after", "in_set", "credit_code", "whole_number", "exists_in", "unique", "columns", "volume", "province_share"]


class Rule(Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    check: Check
    action: Action
    doc: str
    column: str | None = None
    columns: tuple[str, ...] | None = None
    fail_above_percent: float | None = Field(default=None, ge=0, le=100)
    # check arguments
    min: float | None = None
    max: float | None = None
    strict_max: bool = False
    max_from: str | None = None
    limit_column: str | None = None
    values: tuple[str, ...] | None = None
    reference: str | None = Field(default=None, pattern=r"^[a-z_]+\.[a-z_]+$")
    among: tuple[str, ...] | None = None
    table: str | None = Field(default=None, pattern=r"^[a-z_]+\.[a-z_]+$")  # exists_in: a lakehouse table, layer.name
    key: str | None = None  # exists_in: its column (default: the same name)
    names: tuple[str, ...] | None = None
    lookback: int | None = Field(default=None, ge=1)
    min_ratio: float | None = Field(default=None, gt=0)
    max_ratio: float | None = Field(default=None, gt=0)
    max_change_pp: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _arguments(self) -> "Rule":
        def need(*names: str) -> None:
            missing = [n for n in names if getattr(self, n) is None]
            if missing:
                raise ValueError(f"rule {self.name}: check {self.check} needs {', '.join(missing)}")

        if self.check in ROW_CHECKS and (self.column is None) == (self.columns is None):
            raise ValueError(f"rule {self.name}: give exactly one of column, columns")
        if self.action == "quarantine" and self.check in TABLE_CHECKS:
            raise ValueError(f"rule {self.name}: {self.check} is a table check; its action is warn or fail, not quarantine")
        if self.check == "between" and self.min is None and self.max is None and self.max_from is None:
            raise ValueError(f"rule {self.name}: between needs min, max or max_from")
        if self.check == "not_after":
            need("limit_column")
        if self.check == "in_set" and (self.values is None) == (self.reference is None):
            raise ValueError(f"rule {self.name}: in_set needs exactly one of values, reference")
        if self.check == "unique":
            need("columns")
        if self.check == "exists_in":
            need("table")
        if self.check == "columns":
            need("names")
        if self.check == "volume":
            need("lookback", "min_ratio", "max_ratio")
        if self.check == "province_share":
            need("max_change_pp")
        return self

    @property
    def is_row_rule(self) -> bool:
        return self.check in ROW_CHECKS

    @property
    def targets(self) -> tuple[str, ...]:
        """The columns a row check reads, one expectation each."""
        return self.columns if self.columns is not None else ((self.column,) if self.column else ())


class Include(Frozen):
    include: str


class SuiteSpec(Frozen):
    rules: tuple[Rule | Include, ...]


class QualityFile(Frozen):
    unexpected_samples: int = Field(ge=0, le=1000)
    context_root: str | None = None
    rule_sets: dict[str, tuple[Rule, ...]]
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
                if item.include not in raw.rule_sets:
                    problems.append(f"suites.{table}: unknown rule set {item.include!r} (known: {', '.join(sorted(raw.rule_sets))})")
                    continue
                rules.extend(raw.rule_sets[item.include])
            else:
                rules.append(item)
        names = [r.name for r in rules]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"suites.{table}: rule {name} is defined more than once")
        for r in rules:
            if r.max_from is not None and r.max_from not in limits:
                problems.append(f"suites.{table}.{r.name}.max_from: unknown limit {r.max_from!r} (pipeline.yaml limits: {', '.join(limits)})")
            if r.reference is not None and r.reference.split(".")[0] not in reference_tables:
                problems.append(f"suites.{table}.{r.name}.reference: unknown reference table {r.reference.split('.')[0]!r}")
        suites[table] = tuple(rules)
    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))
    return QualitySpec(unexpected_samples=raw.unexpected_samples, context_root=raw.context_root, suites=suites)


def quality_context_root(settings: Settings, spec: QualitySpec) -> str:
    """Where the GE project (results, Data Docs) lives: a local folder, by default beside the lakehouse."""
    root = settings.path(spec.context_root) if spec.context_root else f"{settings.lakehouse.rstrip('/')}/_quality"
    if "://" in root and not root.startswith("file://"):
        raise ConfigError(f"{settings.conf_dir / 'quality.yaml'}: context_root: Data Docs need a local folder, got {root!r}; set context_root when the lakehouse is remote")
    return root.removeprefix("file://")
