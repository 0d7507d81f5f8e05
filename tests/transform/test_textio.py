"""Lines into Spark: a CSV record whose quoted field holds line breaks is joined back from its lines."""

from etl.file_check import FileFormat, check_file
from etl.textio import read_joined_lines, read_lines, spark_file_names


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


HOSTILE_NAMES = [
    "plain.txt",
    "a b[1]{x}.txt",
    "100% 20%20.txt",
    "hash#q?mark.txt",
    "plus+semi;eq=at@comma,$&.txt",
    "数据 文件.txt",
    "ideographic\u3000space.txt",
    "tilde~quote'(star)*!.txt",
    'back\\slash"caret^pipe|`<>.txt',
]


def test_spark_file_names_are_the_names_spark_reads_files_under_however_the_path_is_written(spark, tmp_path):
    folder = tmp_path / "dir with [glob] {chars}"
    folder.mkdir()
    for i, name in enumerate(HOSTILE_NAMES):
        (folder / name).write_text(f"line {i}\n")
    paths = [str(folder / n) for n in HOSTILE_NAMES]
    seen = {r.line: r.source_file for r in read_lines(spark, paths, "UTF-8").collect()}
    expected = {p: seen[f"line {i}"] for i, p in enumerate(paths)}
    assert spark_file_names(spark, paths) == expected
    assert expected[paths[1]].endswith("/dir%20with%20%5Bglob%5D%20%7Bchars%7D/a%20b%5B1%5D%7Bx%7D.txt")
    # the same files named as URIs, with a doubled slash: the same names
    written = [f"file://{paths[0]}", f"file:{paths[1]}", paths[2].replace("/dir with", "//dir with")]
    assert list(spark_file_names(spark, written).values()) == [expected[p] for p in paths[:3]]
