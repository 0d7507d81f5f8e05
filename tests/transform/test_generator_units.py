import gzip

import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from etl import reference
from etl.config import load_generator
from etl.synthetic.delivery_files import FileFormat, write_files
from etl.synthetic.population import chunks, enterprises, quotas, specialised_propensity
from etl.textio import read_lines


def test_quotas_are_exact_at_scale_one():
    q = quotas(load_generator(), 1.0)
    assert (q.enterprises, q.effective) == (10_850_000, 1_619_865)
    assert sum(q.province_counts.values()) == 10_850_000
    assert sum(q.province_effective.values()) == 1_619_865
    assert q.province_effective["51"] / q.province_counts["51"] > q.province_effective["63"] / q.province_counts["63"]


def test_quotas_scale_and_reject_nonsense():
    q = quotas(load_generator(), 0.001)
    assert (q.enterprises, q.effective) == (10_850, 1_620)
    with pytest.raises(ValueError, match="scale must be positive"):
        quotas(load_generator(), 0)


def test_specialised_propensity_peaks_at_one():
    p = specialised_propensity(load_generator())
    assert max(p.values()) == 1.0
    assert len(p) == 22


def test_chunks_split_the_ids_into_equal_passes():
    assert chunks(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunks(5, 100) == [(0, 5)]
    assert chunks(10_850_000, 1_100_000) == [(i * 1_085_000, (i + 1) * 1_085_000) for i in range(10)]
    with pytest.raises(ValueError, match="enterprises per chunk must be positive, got 0"):
        chunks(10, 0)


def test_a_chunk_of_enterprises_is_the_same_rows_as_in_the_whole(spark, settings):
    gen = load_generator()
    provinces = {r["province_code"]: r["name_zh"] for r in reference.rows(settings.reference_dir, "provinces")}
    whole = enterprises(spark, gen, provinces, 0.0001, 5)
    parts = enterprises(spark, gen, provinces, 0.0001, 5, (0, 400)).unionByName(
        enterprises(spark, gen, provinces, 0.0001, 5, (400, 1085))
    )
    assert whole.count() == 1085
    assertDataFrameEqual(parts, whole)
    with pytest.raises(ValueError, match=r"enterprise ids \[1000, 1086\) are outside \[0, 1085\)"):
        enterprises(spark, gen, provinces, 0.0001, 5, (1000, 1086))


def _written(tmp_path):
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())


def test_gbk_lines_are_written_verbatim_one_file_per_run_in_order(spark, tmp_path):
    lines = ['{"name": "北京华瑞制造有限公司", "v": 1.5}', 'a,"b, c",  d  ', "  leading", '{"truncated": "ab']
    rows = [("P01/logins/2020-06-01/a.jsonl.gz", i, line) for i, line in enumerate(lines)] + [
        ("P01/logins/2020-06-02/b.jsonl.gz", 0, "其他")
    ]
    df = spark.createDataFrame(rows[::-1], "file string, i int, line string")  # written in `order`, not as given
    formats = {"P01/logins": FileFormat("text", "GBK", gzip=True)}
    written = write_files(df, str(tmp_path), formats, ["i"], 3)
    assert [(f, n) for f, n, _ in written] == [
        ("P01/logins/2020-06-01/a.jsonl.gz", 4),
        ("P01/logins/2020-06-02/b.jsonl.gz", 1),
    ]
    a = tmp_path / "P01/logins/2020-06-01/a.jsonl.gz"
    assert written[0][2] == a.stat().st_size
    assert gzip.decompress(a.read_bytes()).decode("gbk") == "\n".join(lines) + "\n"
    assert [r.line for r in read_lines(spark, [str(a)], "GBK").collect()] == lines
    first = a.read_bytes()
    write_files(df, str(tmp_path), formats, ["i"], 1)  # the same rows give the same bytes (gzip without a timestamp)
    assert a.read_bytes() == first and _written(tmp_path) == [
        "P01/logins/2020-06-01/a.jsonl.gz",
        "P01/logins/2020-06-02/b.jsonl.gz",
    ]


def test_parquet_files_hold_the_platforms_struct_fields(spark, tmp_path):
    df = spark.createDataFrame(
        [("P04/traffic/2020-06-01/t.parquet", 2, ("x", 20)), ("P04/traffic/2020-06-01/t.parquet", 1, ("y", 10))],
        "file string, i int, r_P04_traffic struct<tenant:string,bytes:long>",
    )
    write_files(df, str(tmp_path), {"P04/traffic": FileFormat("parquet", struct_column="r_P04_traffic")}, ["i"], 2)
    table = pq.read_table(tmp_path / "P04/traffic/2020-06-01/t.parquet")
    assert table.schema.names == ["tenant", "bytes"]
    assert table.to_pylist() == [{"tenant": "y", "bytes": 10}, {"tenant": "x", "bytes": 20}]


def test_expand_copies_adds_duplicates_and_redelivered_files(spark):
    from etl.synthetic.faults import Delivery, FileFaults, expand_copies

    rows = spark.createDataFrame(
        [
            ("P01", "2020-06-02", 1, "none", "silver"),
            ("P01", "2020-06-02", 2, "duplicate_record", "silver"),
            ("P01", "2020-06-02", 3, "negative_value", "negative_value"),
            ("P02", "2020-06-02", 4, "duplicate_record", "silver"),
        ],
        "platform_id string, delivery_date string, rid long, fault string, outcome string",
    ).withColumn("delivery_date", F.to_date("delivery_date"))
    resend = FileFaults(frozenset({Delivery("P01", "logins", "2020-06-02")}), frozenset(), frozenset())
    got = expand_copies(rows, resend, "logins", "01").select("platform_id", "rid", "copy", "part", "outcome")
    expected = [
        ("P01", 1, 0, "01", "silver"),
        ("P01", 1, 0, "resend", "duplicate"),
        ("P01", 2, 0, "01", "silver"),
        ("P01", 2, 1, "01", "duplicate"),
        ("P01", 2, 0, "resend", "duplicate"),
        ("P01", 2, 1, "resend", "duplicate"),
        ("P01", 3, 0, "01", "negative_value"),
        ("P01", 3, 0, "resend", "negative_value"),  # a bad row is bad again, not a duplicate
        ("P02", 4, 0, "01", "silver"),
        ("P02", 4, 1, "01", "duplicate"),
    ]
    assertDataFrameEqual(
        got, spark.createDataFrame(expected, "platform_id string, rid long, copy int, part string, outcome string")
    )
    # another feed's redelivery, or none: originals and their duplicate copies only
    assert (
        expand_copies(rows, resend, "traffic", "00").count()
        == expand_copies(rows, FileFaults.none(), "traffic", "00").count()
        == 6
    )
    with pytest.raises(Exception, match="fault"):
        expand_copies(rows.drop("fault"), resend, "logins", "01").collect()


def test_the_cli_loads_the_index_engine_only_when_asked():
    import subprocess
    import sys

    probe = "import sys, jobs.cli; print(sorted(m for m in ('pandas', 'scipy', 'analytics.index') if m in sys.modules))"
    assert (
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )
    from click.testing import CliRunner

    from jobs.cli import main

    res = CliRunner().invoke(main, ["index", "--help"])
    assert res.exit_code == 0 and "compute" in res.output and "audit" in res.output


def test_sql_literals_type_as_lit_does():
    from etl.synthetic.rand import sql_literal

    assert [sql_literal(v) for v in ("it's", "a\\b", "中文", 7, 2**40, 0.1, -2.5, True, False, None)] == [
        "'it\\'s'",
        "'a\\\\b'",
        "'中文'",
        "7",
        "1099511627776",
        "0.1D",
        "-2.5D",
        "true",
        "false",
        "NULL",
    ]
    with pytest.raises(ValueError, match="no SQL literal for nan"):
        sql_literal(float("nan"))
    with pytest.raises(TypeError, match="no SQL literal for list"):
        sql_literal([1])


def test_pick_choose_and_lookup_from_literal_sql(spark):
    from etl.synthetic.rand import choose, lookup, pick

    df = spark.createDataFrame(
        [(0.0, "x"), (0.0999, "it's"), (0.1, "y"), (0.3, None), (0.35, "x"), (0.9999, "zz")], "u double, k string"
    )
    weights = {
        "a": 1,
        "b": 2,
        "never": 0,
        "c": 7,
    }  # cumulative 0.1, 0.1 + 0.2 (> 0.3 in floating point), the same: `never` can't be drawn
    got = df.select(
        "u",
        pick(F.col("u"), weights).alias("picked"),
        choose(F.col("u"), ["p", "q", "r"]).alias("chosen"),
        lookup(F.col("k"), {"x": 1.5, "it's": 2}, -1.0).alias("looked_up"),
        pick(F.col("u"), {"only": 3}).alias("single"),
    )
    expected = spark.createDataFrame(
        [
            (0.0, "a", "p", 1.5, "only"),
            (0.0999, "a", "p", 2.0, "only"),
            (0.1, "b", "p", -1.0, "only"),
            (0.3, "b", "p", -1.0, "only"),
            (0.35, "c", "q", 1.5, "only"),
            (0.9999, "c", "r", -1.0, "only"),
        ],
        "u double, picked string, chosen string, looked_up double, single string",
    )
    assertDataFrameEqual(got, expected)
    # the same category as the CASE WHEN u < cumulative ... chain it replaces, over many draws
    draws = spark.range(5000).select((F.col("id") / 5000.0).alias("u"))
    case, cumulative = None, 0.0
    for value, weight in list(weights.items())[:-1]:
        cumulative += weight / 10
        case = F.when(F.col("u") < cumulative, value) if case is None else case.when(F.col("u") < cumulative, value)
    assert draws.filter(pick(F.col("u"), weights) != case.otherwise("c")).count() == 0
    with pytest.raises(ValueError, match="weights must have a positive sum"):
        pick(F.col("u"), {"a": 0})
