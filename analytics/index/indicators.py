"""Index indicators from the lakehouse (Spark) and from the external CSVs (pandas).

Every Spark transform returns the engine's long format (unit, indicator, value) with one row per
unit of the vocabulary it is given (`units`: key, unit), so a unit the lakehouse knows nothing
about still gets a row (0 for counts, NULL for ratios) and a key the vocabulary does not know is
left out instead of becoming a unit no spec scores. The results are a few hundred rows at most:
`collect_long` brings them to the driver for the pandas engine.

External indicators (what the lakehouse cannot know) are versioned CSVs under conf/indicators/
(unit, indicator, period, value, source; see its README), checked row by row on load.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from functools import reduce
from pathlib import Path
from typing import Literal

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

LONG_COLUMNS = ("unit", "indicator", "value")
EXTERNAL_COLUMNS = ("unit", "indicator", "period", "value", "source")
AppUsageMeasure = Literal["sessions", "enterprises"]
APP_KIND_SPECIALISED = "specialised"


class ExternalIndicatorError(ValueError):
    """An external indicator CSV does not follow conf/indicators/README.md."""


def unit_vocabulary(reference: DataFrame, key: str, name: str) -> DataFrame:
    """(key, unit) of a reference table: lakehouse rows are keyed by codes, specs name units by `name`."""
    return reference.select(F.col(key).cast("string").alias("key"), F.col(name).cast("string").alias("unit"))


def _long(frame: DataFrame, indicator: str, value: Column) -> DataFrame:
    return frame.select("unit", F.lit(indicator).alias("indicator"), value.cast("double").alias("value"))


def platforms_per_unit(platforms: DataFrame, units: DataFrame) -> DataFrame:
    """Registered platforms per province (seed 000 表3-3): the registry names the province as the specs do."""
    registry = platforms.select("platform_id", F.trim(F.col("province_name")).alias("unit")).filter(
        F.col("platform_id").isNotNull()
    )
    counts = registry.groupBy("unit").agg(F.countDistinct("platform_id").alias("platforms"))
    joined = units.select("unit").join(counts, on="unit", how="left")
    return _long(joined, "platforms", F.coalesce(F.col("platforms"), F.lit(0)))


def access_per_unit(labels: DataFrame, units: DataFrame, key_column: str) -> DataFrame:
    """connected_enterprises and effective_access_ratio per unit, from the classification's labels.

    Distinct credit codes, so a row appended twice counts once; a NULL `effective` is not effective
    (the label is unknown); a unit with nothing connected has ratio NULL, never 0/0.
    """
    rows = labels.select(
        F.col(key_column).cast("string").alias("key"),
        "credit_code",
        F.coalesce(F.col("effective"), F.lit(False)).alias("effective"),
    )
    counts = rows.groupBy("key").agg(
        F.countDistinct("credit_code").alias("connected"),
        F.countDistinct(F.when(F.col("effective"), F.col("credit_code"))).alias("effective"),
    )
    joined = units.join(counts, on="key", how="left").select(
        "unit",
        F.coalesce(F.col("connected"), F.lit(0)).alias("connected"),
        F.coalesce(F.col("effective"), F.lit(0)).alias("effective"),
    )
    ratio = F.when(F.col("connected") > 0, F.col("effective") / F.col("connected"))
    return _long(joined, "connected_enterprises", F.col("connected")).unionByName(
        _long(joined, "effective_access_ratio", ratio)
    )


def specialised_app_usage(
    app_sessions: DataFrame, apps: DataFrame, units: DataFrame, measure: AppUsageMeasure
) -> DataFrame:
    """Usage of each sub-industry's specialised apps (seed 000 表4-2), keyed by the app's sub-industry.

    sessions: total sessions in the window; enterprises: distinct enterprises with a session.
    General-purpose apps and apps missing from the catalog do not count.
    """
    usage = app_sessions.select("credit_code", "app_id", F.col("sessions").cast("long").alias("sessions"))
    catalog = apps.filter(F.col("kind") == APP_KIND_SPECIALISED).select(
        "app_id", F.col("sub_industry_id").cast("string").alias("key")
    )
    joined = usage.join(catalog, on="app_id", how="inner")
    if measure == "sessions":
        amount = F.sum("sessions")
    elif measure == "enterprises":
        amount = F.countDistinct(F.when(F.col("sessions") > 0, F.col("credit_code")))
    else:
        raise ValueError(f"unknown app usage measure {measure!r} (sessions or enterprises)")
    per_key = joined.groupBy("key").agg(amount.alias("usage"))
    scored = units.join(per_key, on="key", how="left")
    return _long(scored, "specialised_app_usage", F.coalesce(F.col("usage"), F.lit(0)))


# Economic-benefit indicators from the economic accounting (iiap economy, gold/economy_*): the
# indicator, the table and the value in the unit the specs speak of.
ECONOMY_INDICATORS: dict[str, tuple[str, str]] = {
    "iiot_value_added_gdp_share": ("gold.economy_province", "percent of the province's GDP"),
    "employment_driven": ("gold.economy_province", "persons"),
    "iiot_value_added": ("gold.economy_section", "100 million yuan (亿元)"),
}


def _economy_value(indicator: str) -> Column:
    """The indicator's value from its table's column, in the specs' unit (built when called: Columns need Spark)."""
    if indicator == "iiot_value_added_gdp_share":
        return F.col("gdp_share") * 100  # a fraction in the table
    if indicator == "employment_driven":
        return F.col("employment") * 10_000  # 万人 in the table
    if indicator == "iiot_value_added":
        return F.col("total_va")
    raise ValueError(f"{indicator!r} is not an economic-benefit indicator ({', '.join(ECONOMY_INDICATORS)})")


def economy_per_unit(
    accounts: DataFrame, units: DataFrame, key_column: str, year: int, indicators: list[str]
) -> DataFrame:
    """The economic accounting's figures of `year` per unit (province or section).

    A unit the run has no row for gets NULL (the specs' `missing` policy decides), never 0: the
    accounting not covering a unit is not a unit without an industrial internet.
    """
    rows = accounts.filter(F.col("year") == F.lit(year)).select(
        F.col(key_column).cast("string").alias("key"), *[_economy_value(i).alias(i) for i in indicators]
    )
    joined = units.join(rows, on="key", how="left")
    return reduce(DataFrame.unionByName, [_long(joined, i, F.col(i)) for i in indicators])


def collect_long(frames: Iterable[DataFrame], period: str) -> pd.DataFrame:
    """The union of some long frames as pandas (unit, indicator, period, value), in a stable order."""
    frames = [frame.select(*LONG_COLUMNS) for frame in frames]
    out = (
        reduce(DataFrame.unionByName, frames).toPandas() if frames else pd.DataFrame(columns=list(LONG_COLUMNS))
    )  # one Spark job
    out.insert(2, "period", period)
    out["value"] = out["value"].astype(float)
    return out.sort_values(["indicator", "unit"], kind="stable").reset_index(drop=True)


def load_external(path: str | Path) -> pd.DataFrame:
    """An external indicator CSV (unit, indicator, period, value, source), every row checked.

    Errors name the file, the line and the column. Values are numbers; a blank value is a
    missing one (the spec's missing-value policy decides); every row names its source.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExternalIndicatorError(f"{path}: not a readable UTF-8 file: {exc}") from None
    reader = csv.reader(text.splitlines())
    header = [c.strip() for c in next(reader, [])]
    if tuple(header) != EXTERNAL_COLUMNS:
        raise ExternalIndicatorError(
            f"{path}, line 1: header must be {','.join(EXTERNAL_COLUMNS)}, got {','.join(header) or '(empty file)'}"
        )
    rows, seen, errors = [], {}, []
    for record in reader:
        line = reader.line_num
        if not any(c.strip() for c in record):
            continue
        if len(record) != len(EXTERNAL_COLUMNS):
            errors.append(f"{path}, line {line}: {len(record)} field(s), expected {len(EXTERNAL_COLUMNS)}")
            continue
        row = dict(zip(EXTERNAL_COLUMNS, (c.strip() for c in record)))
        for col in ("unit", "indicator", "period", "source"):
            if not row[col]:
                errors.append(f"{path}, line {line}, column {col}: empty")
        value = math.nan
        if row["value"]:
            try:
                value = float(row["value"])
            except ValueError:
                errors.append(f"{path}, line {line}, column value: {row['value']!r} is not a number")
            else:
                if not math.isfinite(value):
                    errors.append(f"{path}, line {line}, column value: {row['value']!r} is not finite")
        key = (row["unit"], row["indicator"], row["period"])
        if key in seen:
            errors.append(f"{path}, line {line}: unit/indicator/period {' / '.join(key)} already on line {seen[key]}")
        seen.setdefault(key, line)
        rows.append({**row, "value": value})
    if errors:
        raise ExternalIndicatorError("\n".join(errors))
    return pd.DataFrame.from_records(rows, columns=list(EXTERNAL_COLUMNS))
