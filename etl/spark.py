"""The Delta-enabled SparkSession every job and test uses."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from etl.config import Settings
from etl.jars import resolved_jars

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def build_session(settings: Settings, app_name: str, extra_conf: dict[str, str] | None = None) -> SparkSession:
    """Start (or join) a session with the profile's settings.

    Under spark-submit the master and jars come from the submit command; locally the
    profile's master is used and Delta's jars are read from ./jars, offline.
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
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
