"""Writes go through the catalogue: a frame that drifts from its table's declared columns is refused, naming them."""

from datetime import datetime

import pytest

from etl import lake
from etl.catalog import SchemaMismatch, Tables
from tests.helpers import settings_for


def test_a_frame_with_the_declared_columns_is_written_as_its_entry_says(spark, settings, tmp_path):
    t = Tables(settings_for(settings, tmp_path, "unused"))
    rows = t.rows(spark, "ops.batches", [("b1", "started", datetime(2020, 7, 1), 3, {"x": 1}, "f1")])
    t.write(rows, "ops.batches")
    t.write(rows, "ops.batches")  # append
    written = lake.read(spark, t.batches)
    assert written.count() == 2
    assert [(f.name, f.dataType.simpleString()) for f in written.schema.fields] == [
        ("batch_id", "string"),
        ("status", "string"),
        ("at", "timestamp"),
        ("files", "int"),
        ("table_versions", "map<string,bigint>"),
        ("key_fingerprint", "string"),
    ]
    # driver-side rows carry the catalogue's NOT NULLs (Delta stores every column as nullable)
    assert [(f.name, f.nullable) for f in rows.schema.fields] == [
        ("batch_id", False),
        ("status", False),
        ("at", False),
        ("files", False),
        ("table_versions", True),
        ("key_fingerprint", True),
    ]


def test_a_drifted_frame_is_refused_before_anything_is_written(spark, settings, tmp_path):
    t = Tables(settings_for(settings, tmp_path, "unused"))
    frame = spark.createDataFrame(
        [("b1", "started", 3, "extra")], "batch_id string, status string, files bigint, note string"
    )
    with pytest.raises(SchemaMismatch) as err:
        t.write(frame, "ops.batches")
    assert str(err.value) == (
        f"ops.batches ({t.batches}): the frame does not match the catalogue: missing column at timestamp; "
        "missing column table_versions map<string,bigint>; missing column key_fingerprint string; "
        "undeclared column note string; column files is bigint, "
        "declared int"
    )
    assert not lake.exists(spark, t.batches)
