"""Driver-side rows as a local relation: the same rows and schema as createDataFrame, no Python RDD to scan."""

from datetime import date, datetime

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from etl.spark import local_frame

SCHEMA = (
    "s string, i int, n long, x double, ok boolean, d date, at timestamp, names array<string>, "
    "seen map<string,double>, raw binary"
)
ROWS = [
    (
        "a",
        1,
        2**40,
        0.5,
        True,
        date(2020, 6, 1),
        datetime(2020, 6, 1, 23, 59, 58, 123456),
        ["x", None],
        {"k": 1.5},
        b"\x00\xff",
    ),
    (None, None, None, None, None, None, None, None, None, None),
    ("文件 [1].csv", -3, 0, -0.0, False, date(1999, 12, 31), datetime(2026, 12, 7), [], {}, bytearray(b"")),
]


def test_rows_and_schema_are_those_of_create_dataframe(spark):
    local, listed = local_frame(spark, ROWS, SCHEMA), spark.createDataFrame(ROWS, SCHEMA)
    assert local.schema == listed.schema
    assertDataFrameEqual(local, listed)
    assert local.filter(F.col("s") == "a").select("at").first().at == datetime(2020, 6, 1, 23, 59, 58, 123456)
    assert local._jdf.queryExecution().analyzed().getClass().getSimpleName() == "LocalRelation"


def test_no_rows_keep_the_schema(spark):
    empty = local_frame(spark, [], "batch_id string, n int")
    assert (empty.schema.simpleString(), empty.count()) == ("struct<batch_id:string,n:int>", 0)


def _broadcast_plan(spark, files) -> str:
    rows = spark.range(100).select(F.concat(F.lit("f"), F.col("id").cast("string")).alias("name"))
    joined = rows.join(F.broadcast(files), on="name", how="inner")
    assert joined.agg(F.sum("n")).first()[0] == sum(range(50))
    return joined._jdf.queryExecution().executedPlan().toString()


def test_a_broadcast_of_local_rows_reads_no_python_rdd(spark):
    rows, schema = [(f"f{i}", i) for i in range(50)], "name string, n int"
    listed = _broadcast_plan(spark, spark.createDataFrame(rows, schema))
    local = _broadcast_plan(spark, local_frame(spark, rows, schema))
    assert ("Scan ExistingRDD" in listed, "LocalTableScan" in listed) == (True, False)
    assert ("Scan ExistingRDD" in local, "LocalTableScan" in local) == (False, True)
