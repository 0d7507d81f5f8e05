"""The Delta-enabled SparkSession every job and test uses."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from etl.config import JIT_MODES, Profile, Settings
from etl.jars import resolved_jars

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def build_session(settings: Settings, app_name: str, extra_conf: dict[str, str] | None = None) -> SparkSession:
    """Start (or join) a session with the profile's settings.

    Under spark-submit the master and jars come from the submit command, and so does any setting it gives (its
    --conf over the profile's); locally the profile's master is used and Delta's jars are read from ./jars, offline.
    """
    builder = SparkSession.builder.appName(app_name)
    # spark-submit starts the JVM first and hands Python its gateway port.
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    if settings.profile.master and not submitted:
        # Python workers (the generator's file writer) run this interpreter, with this venv's packages
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.master(settings.profile.master)
        builder = builder.config("spark.jars", ",".join(resolved_jars(settings.jars)))
    conf = {**DELTA_CONF, **settings.profile.spark_conf, **(extra_conf or {})}
    if submitted:  # what the submit command sets (--conf, spark-defaults.conf) wins over the profile's defaults
        from pyspark import SparkConf, SparkContext

        SparkContext._ensure_initialized()  # attach to spark-submit's JVM: its system properties hold the --conf
        given = {key for key, _ in SparkConf().getAll()}
        conf = {key: value for key, value in conf.items() if key not in given}
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def quick_start_conf(profile: Profile, scale: float, mode: str = "auto", name: str = "local") -> dict[str, str]:
    """The extra session conf of a generator run: the profile's quick-start JVM options, or none.

    `auto` takes them up to the profile's `quick_start.max_scale`; `quick` always, `optimizing`
    never. They only reach a JVM this process starts (not one spark-submit started first).
    """
    if mode not in JIT_MODES:
        raise ValueError(f"JIT mode {mode!r} is not one of {', '.join(JIT_MODES)}")
    quick = profile.quick_start
    if quick is None:
        if mode == "quick":
            raise ValueError(
                f"profile {name!r} has no quick_start JVM options (conf/profiles/{name}.yaml: quick_start)"
            )
        return {}
    if mode == "optimizing" or (mode == "auto" and scale > quick.max_scale):
        return {}
    base = profile.spark_conf.get("spark.driver.extraJavaOptions", "")
    return {"spark.driver.extraJavaOptions": f"{base} {quick.driver_java_options}".strip()}


def local_frame(spark: SparkSession, rows: Iterable[Sequence], schema: T.StructType | str) -> DataFrame:
    """Driver-side rows (file lists, audit and manifest rows, a reference table) as a frame whose rows live in its
    plan: an Arrow table becomes a LocalRelation (under spark.sql.execution.arrow.localRelationThreshold, 48 MB).

    `spark.createDataFrame(list)` makes an RDD of pickled rows instead, and every query over it starts Python workers
    to read them: a broadcast of one reader's file list took ~0.6 s more than of the same rows as a local relation
    (local profile, one run each; seven readers per feed at scale 0.01). Naive datetimes are read as UTC, the
    lakehouse's convention (`createDataFrame` of a list reads them in the Python process's time zone). Plans name
    a local relation's columns, not its rows (formatted explain: tests/transform/test_pseudonym; an event log was
    searched once, by hand, for the pseudonymisation pads in hex, base64 and as bytes).
    """
    struct = schema if isinstance(schema, T.StructType) else T._parse_datatype_string(schema)
    arrow = to_arrow_schema(struct)
    columns = list(zip(*rows, strict=True)) or [() for _ in struct.fields]
    table = pa.Table.from_arrays(
        [pa.array(list(values), type=field.type) for values, field in zip(columns, arrow, strict=True)], schema=arrow
    )
    return spark.createDataFrame(table, struct)
