"""Lines into Spark: a CSV record whose quoted field holds line breaks is joined back from its lines."""

from etl.file_check import FileFormat, check_file
from etl.textio import read_joined_lines, read_lines


def _check(path, encoding="UTF-8"):
    return check_file(str(path), path.stat().st_size, FileFormat("csv", "none", encoding, ",", ("a", "b"), 1000, 10))


def test_the_lines_of_quoted_fields_are_joined_in_file_order_across_the_splits_spark_reads(spark, tmp_path):
    records = ["a,b"]
    for i in range(1, 400):
        records.append(f'{i},"first\nsecond ""{i}""\nthird"' if i % 7 == 0 else f"{i},plain {i}")
    text = "\r\n\r\n".join(r.replace("\n", "\r\n") for r in records) + "\r\n"  # CRLF, a blank line after each
    path = tmp_path / "split.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    check = _check(path)
    assert (check.records, len(check.continuation_lines)) == (399, 2 * (399 // 7))
    spark.conf.set("spark.sql.files.maxPartitionBytes", "2048")  # 7,772 bytes: read in 4 splits
    try:
        lines = read_joined_lines(spark, str(path), "UTF-8", check.continuation_lines)
        got = sorted(r.line for r in lines.collect())
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert got == sorted(records)


def test_lines_of_spaces_and_tabs_are_blank_for_spark_and_for_the_check_even_inside_a_quoted_field(spark, tmp_path):
    lines = ["a,b", '1,"中文', '  "', "   ", '2,"x', "\t", 'y"', " \t\r"]
    path = tmp_path / "gbk.csv"
    path.write_bytes("\n".join(lines).encode("gbk") + b"\n")
    check = _check(path, "GBK")
    assert (check.records, check.continuation_lines) == (2, (3, 5))
    plain = sorted(r.line for r in read_lines(spark, [str(path)], "GBK").collect())
    assert plain == sorted(["a,b", '1,"中文', '  "', '2,"x', 'y"'])
    joined = sorted(r.line for r in read_joined_lines(spark, str(path), "GBK", check.continuation_lines).collect())
    assert joined == sorted(["a,b", '1,"中文\n  "', '2,"x\ny"'])
