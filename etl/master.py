"""The enterprise master: one row per credit code, merged from every platform's roster.

Where platforms disagree on an enterprise's sector, the majority wins; a tie goes to
the platform the enterprise registered on first, then to the lower platform id. The
sub-industry is chosen the same way among the rows that declared the winning sector.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl import credit_code


def _vote(roster: DataFrame, keys: list[str], value: str) -> DataFrame:
    votes = roster.groupBy(*keys, value).agg(
        F.count("*").alias("votes"), F.min("registered_at").alias("first"), F.min("platform_id").alias("first_platform")
    )
    order = Window.partitionBy(*keys).orderBy(
        F.col("votes").desc(), F.col("first").asc(), F.col("first_platform").asc()
    )
    return votes.withColumn("rank", F.row_number().over(order)).filter("rank = 1").select(*keys, value)


def build_master(roster: DataFrame, provinces: DataFrame) -> DataFrame:
    """Silver roster -> enterprise master (one row per credit code)."""
    section = _vote(roster, ["credit_code"], "section_code")
    sub = _vote(
        roster.join(section, on=["credit_code", "section_code"], how="inner"), ["credit_code"], "sub_industry_id"
    )
    first = Window.partitionBy("credit_code").orderBy(F.col("registered_at").asc(), F.col("platform_id").asc())
    earliest = (
        roster.withColumn("rank", F.row_number().over(first)).filter("rank = 1").select("credit_code", "company_name")
    )
    summary = roster.groupBy("credit_code").agg(
        F.array_sort(F.collect_set("platform_id")).alias("platforms"),
        F.min("registered_at").alias("first_registered_at"),
        (F.countDistinct("section_code") > 1).alias("sector_disagreement"),
    )
    names = provinces.select("province_code", F.col("name_zh").alias("province_name"))
    return (
        summary.join(section, on="credit_code", how="inner")
        .join(sub, on="credit_code", how="inner")
        .join(earliest, on="credit_code", how="inner")
        .withColumn("province_code", credit_code.province_code_col(F.col("credit_code")))
        .join(names, on="province_code", how="left")
        .select(
            "credit_code",
            "company_name",
            F.substring("credit_code", 3, 6).alias("division_code"),
            "province_code",
            "province_name",
            "section_code",
            "sub_industry_id",
            "platforms",
            F.size("platforms").alias("n_platforms"),
            "first_registered_at",
            "sector_disagreement",
        )
    )
