"""Path-based Delta tables: the few operations the jobs share."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession


def exists(spark: SparkSession, path: str) -> bool:
    return DeltaTable.isDeltaTable(spark, path)


_COMMIT = re.compile(r"^(\d{20})\.json$")  # a commit file of the Delta log: its version in 20 digits


def _filesystem(spark: SparkSession, path: str):
    """`path` as a Hadoop path, and the file system it is on (local, HDFS, S3), as the session's config sets it up."""
    target = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
    return target, target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def _newest_commit(spark: SparkSession, path: str):
    """The table's log folder, its file system and its newest commit's version (None: no table), by one listing."""
    log, fs = _filesystem(spark, f"{path.rstrip('/')}/_delta_log")
    if not fs.exists(log):
        return log, fs, None
    found = [int(m[1]) for st in fs.listStatus(log) if (m := _COMMIT.match(st.getPath().getName()))]
    return log, fs, max(found) if found else None


def version(spark: SparkSession, path: str) -> int | None:
    """The table's version: its newest commit file, by one listing of its log (the Delta protocol's layout), not by
    loading its state (`history(1)` took 0.3 to 0.9 s a table here). None: no table."""
    return _newest_commit(spark, path)[2]


def last_commit_metadata(spark: SparkSession, path: str) -> str | None:
    """The user metadata of the table's newest commit (None: no table, or no metadata), read from its commit file."""
    log, fs, at = _newest_commit(spark, path)
    if at is None:
        return None
    jvm = spark.sparkContext._jvm
    stream = fs.open(jvm.org.apache.hadoop.fs.Path(log, f"{at:020d}.json"))
    try:
        text = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()
    for line in text.splitlines():
        info = json.loads(line).get("commitInfo")
        if info is not None:
            return info.get("userMetadata")
    return None


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """A small text file (a run summary) at `path`, replaced if there, on whatever file system holds it (local, HDFS,
    S3), through the session's Hadoop configuration."""
    target, fs = _filesystem(spark, path)
    stream = fs.create(target, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def read(spark: SparkSession, path: str, as_of: int | None = None) -> DataFrame:
    """The table, or the snapshot at Delta version `as_of` (time travel)."""
    reader = spark.read.format("delta")
    if as_of is not None:
        reader = reader.option("versionAsOf", as_of)
    return reader.load(path)


def read_if_exists(spark: SparkSession, path: str) -> DataFrame | None:
    return read(spark, path) if exists(spark, path) else None


def append(df: DataFrame, path: str, partition_by: tuple[str, ...] = ()) -> None:
    writer = df.write.format("delta").mode("append")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(path)


def overwrite(
    df: DataFrame, path: str, options: dict[str, str] | None = None, partition_by: tuple[str, ...] = ()
) -> None:
    # the whole table is replaced, whatever the session's partitionOverwriteMode says
    writer = (
        df.write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .option("partitionOverwriteMode", "static")
    )
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    for key, value in (options or {}).items():  # writer options, e.g. the commit's userMetadata
        writer = writer.option(key, value)
    writer.save(path)


def upsert(spark: SparkSession, df: DataFrame, path: str, keys: tuple[str, ...]) -> None:
    """Insert new keys, replace the rows of existing ones."""
    if not exists(spark, path):
        append(df, path)
        return
    condition = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(df.alias("s"), condition)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


def stage(df: DataFrame, path: str) -> DataFrame:
    """Write `df` once as Parquet scratch and read it back: a batch's intermediate that many checks scan.

    Unlike a cached DataFrame it does not hold executor memory however large the batch
    (a national batch does not fit in one machine's heap), survives a lost executor,
    and each scan reads only the columns it needs.
    """
    df.write.mode("overwrite").parquet(path)
    return df.sparkSession.read.parquet(path)


@contextmanager
def scratch(spark: SparkSession, root: str) -> Iterator[Callable[[DataFrame, str], DataFrame]]:
    """A run's scratch folder: `stage(frame, name)` under it; removed however the run ends."""
    try:
        yield lambda frame, name: stage(frame, f"{root}/{name}")
    finally:
        remove(spark, root)


def remove(spark: SparkSession, path: str) -> None:
    """Delete a folder on whatever file system the lakehouse is on (local, HDFS, S3)."""
    target, fs = _filesystem(spark, path)
    fs.delete(target, True)


def restore(spark: SparkSession, path: str, to_version: int | None) -> None:
    """Undo an unfinished batch: the table back to its version before the batch, or gone if the batch created it."""
    if not exists(spark, path):
        return
    if to_version is not None:
        DeltaTable.forPath(spark, path).restoreToVersion(to_version)
    else:
        remove(spark, path)
