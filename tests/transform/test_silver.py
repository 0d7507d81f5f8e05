from datetime import date, datetime

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from etl import outcomes
from etl.silver import ConformContext, conform_traffic, parse_number, parse_timestamp
from quality.context import RuleContext
from quality.routing import route
from quality.spec import load_quality


@pytest.fixture(scope="module")
def ctx(settings):
    return ConformContext.from_settings(settings)


def test_parse_timestamp_follows_each_contract(spark, settings):
    # P02 sends epoch millis; P01 sends Asia/Shanghai local strings.
    assert settings.contracts["P02"].timestamp.convention == "epoch_millis"
    assert settings.contracts["P01"].timestamp.convention == "local_string"
    df = spark.createDataFrame(
        [
            ("P02", "1590940800000"),
            ("P01", "2020-06-01 00:00:00"),
            ("P01", "2020-06-30 23:59:59"),
            ("P01", "2020-13-45 25:61:00"),
            ("P02", "not-a-time"),
            ("P01", None),
        ],
        "platform_id string, t string",
    )
    got = [r.ts for r in df.select(parse_timestamp(F.col("t"), settings.contracts).alias("ts")).collect()]
    assert got == [
        datetime(2020, 5, 31, 16, 0),
        datetime(2020, 5, 31, 16, 0),
        datetime(2020, 6, 30, 15, 59, 59),
        None,
        None,
        None,
    ]


def test_parse_number_rejects_text_nan_and_infinity(spark):
    df = spark.createDataFrame([("12.5",), (" 7 ",), ("N/A",), ("NaN",), ("Infinity",), ("1e3",), (None,)], "t string")
    assert [r.v for r in df.select(parse_number(F.col("t")).alias("v")).collect()] == [
        12.5,
        7.0,
        None,
        None,
        None,
        1000.0,
        None,
    ]


def _bronze(spark, rows):
    schema = (
        "platform_id string, source_file string, delivery_date date, raw_record string, parse_error string, "
        "missing_fields array<string>, "
        "extra_fields map<string,string>, tenant_id string, event_ts string, bytes_in string, bytes_out string, "
        "requests string, batch_id string, ingested_at timestamp"
    )
    base = (
        "P02",
        "f",
        date(2020, 6, 2),
        "raw",
        None,
        [],
        {},
        "kd-1",
        "1591000000000",
        "1",
        "2",
        "3",
        "b1",
        datetime(2026, 1, 1),
    )
    data = []
    for overrides in rows:
        row = list(base)
        for index, value in overrides.items():
            row[index] = value
        data.append(tuple(row))
    return spark.createDataFrame(data, schema)


def test_conform_and_route_traffic_gives_one_reason_per_bad_row(spark, ctx, settings):
    # P02 reports traffic in KB (units.bytes) and epoch millis.
    assert settings.contracts["P02"].units["bytes"] == "KB"
    roster = spark.createDataFrame(
        [("P02", "kd-1", "914403001922038216")], "platform_id string, tenant_id string, credit_code string"
    )
    limit_kb = str(settings.pipeline.limits.traffic_bytes / 1024 * 2)
    bronze = _bronze(
        spark,
        [
            {},  # good
            {4: "malformed_record", 7: None},  # malformed wins over everything else
            {5: ["event_ts"]},
            {7: "kd-404"},  # not in the roster
            {8: "garbage"},
            {8: "2524608000000"},  # 2050: after its delivery day
            {8: "1500000000000"},  # 2017: before the window
            {9: "N/A"},
            {9: "-5"},
            {10: limit_kb},
            {11: "2.5"},
            {9: None},  # a NULL value cannot slip through
        ],
    )
    rules = load_quality(settings).row_rules("silver.traffic")
    got = route(conform_traffic(bronze, roster, ctx), rules, RuleContext.from_settings(settings)).select(
        "reason_code",
        F.col("bytes_in").cast("bigint"),
        F.col("bytes_out").cast("bigint"),
        "requests",
        "credit_code",
        "event_date",
    )
    expected = spark.createDataFrame(
        [
            (None, 1024, 2048, 3.0, "914403001922038216", date(2020, 6, 1)),
            ("malformed_record", 1024, 2048, 3.0, None, date(2020, 6, 1)),
            ("missing_field", 1024, 2048, 3.0, "914403001922038216", date(2020, 6, 1)),
            ("unknown_tenant", 1024, 2048, 3.0, None, date(2020, 6, 1)),
            ("invalid_timestamp", 1024, 2048, 3.0, "914403001922038216", None),
            ("timestamp_in_future", 1024, 2048, 3.0, "914403001922038216", date(2050, 1, 1)),
            ("timestamp_out_of_window", 1024, 2048, 3.0, "914403001922038216", date(2017, 7, 14)),
            ("invalid_number", None, 2048, 3.0, "914403001922038216", date(2020, 6, 1)),
            ("negative_value", -5120, 2048, 3.0, "914403001922038216", date(2020, 6, 1)),
            (
                "implausible_value",
                1024,
                int(settings.pipeline.limits.traffic_bytes * 2),
                3.0,
                "914403001922038216",
                date(2020, 6, 1),
            ),
            ("fractional_count", 1024, 2048, 2.5, "914403001922038216", date(2020, 6, 1)),
            ("invalid_number", None, 2048, 3.0, "914403001922038216", date(2020, 6, 1)),
        ],
        "reason_code string, bytes_in bigint, bytes_out bigint, requests double, credit_code string, event_date date",
    )
    assertDataFrameEqual(got, expected)


def test_classify_counts_duplicates_in_batch_and_in_silver(spark):
    conformed = spark.createDataFrame(
        [
            ("P01", "k1", None, date(2020, 6, 2), "a", "r1"),
            ("P01", "k1", None, date(2020, 6, 2), "b", "r1"),
            ("P01", "k2", None, date(2020, 6, 2), "a", "r2"),
            ("P01", "k3", "negative_value", date(2020, 6, 2), "a", "r3"),
            ("P01", "k3", "negative_value", date(2020, 6, 2), "a", "r3"),
        ],
        "platform_id string, record_key string, reason_code string, delivery_date date, source_file string, "
        "raw_record string",
    )
    existing = spark.createDataFrame([("k2",)], "record_key string")
    flagged = outcomes.assign(conformed, existing, "skip")
    assert outcomes.count_outcomes(flagged) == {
        "P01": {
            "rows_read": 5,
            "new": 1,
            "update": 0,
            "quarantine": 2,
            "duplicate_in_batch": 1,
            "duplicate_existing": 1,
        }
    }
    kept = flagged.filter(F.col("outcome") == "new").select("record_key", "source_file")
    assertDataFrameEqual(kept, spark.createDataFrame([("k1", "a")], "record_key string, source_file string"))
