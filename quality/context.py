"""What rules need from the rest of conf/: the window, the limits and the reference values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from etl import reference
from etl.config import Settings

if TYPE_CHECKING:
    from quality.spec import Rule


@dataclass(frozen=True)
class RuleContext:
    window_start_utc: datetime
    window_end_utc: datetime
    limits: dict[str, float]
    reference_values: dict[str, tuple[str, ...]]  # "table.column" -> values

    @classmethod
    def from_settings(cls, settings: Settings) -> RuleContext:
        w = settings.pipeline.window
        values: dict[str, tuple[str, ...]] = {}
        for table in settings.pipeline.tables.reference:
            rows = reference.rows(settings.reference_dir, table)
            for column in rows[0] if rows else ():
                values[f"{table}.{column}"] = tuple(sorted({r[column] for r in rows}))
        return cls(w.start_utc(), w.end_utc(), settings.pipeline.limits.model_dump(), values)

    def values_of(self, rule: Rule) -> tuple[str, ...]:
        """An in_set rule's values: its own list, or a reference table's column."""
        if rule.args.values is not None:
            return rule.args.values
        if rule.args.reference not in self.reference_values:
            known = ", ".join(sorted(self.reference_values))
            raise ValueError(
                f"rule {rule.name}: reference {rule.args.reference} is not a reference column (known: {known})"
            )
        return self.reference_values[rule.args.reference]
