"""The one pass over a landing file: content hash, record count, and the reason a file cannot be read."""

import gzip
import hashlib
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.file_check import FILE_REASONS, FileFormat, check_file


def _fmt(**kw) -> FileFormat:
    base = dict(
        format="jsonl",
        compression="none",
        encoding="UTF-8",
        delimiter=None,
        fields=("a", "b"),
        max_line_bytes=100,
        max_columns=4,
    )
    return FileFormat(**(base | kw))


CSV = dict(format="csv", delimiter=",")


def _check(tmp_path, name: str, data: bytes, **kw):
    path = tmp_path / name
    path.write_bytes(data)
    return check_file(str(path), len(data), _fmt(**kw))


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_a_good_file_is_hashed_and_its_records_counted_without_blank_lines(tmp_path):
    data = b'{"a":1}\r\n\r\n  \t\n{"a":2}\n\n \r\n'  # spaces, tabs and CRs alone: blank, as Spark reads them
    c = _check(tmp_path, "f.jsonl", data)
    assert (c.reason_code, c.records, c.encoding, c.size) == (None, 2, "UTF-8", len(data))
    assert c.content_hash == hashlib.sha256(data).hexdigest()


def test_every_gzip_member_is_read_to_the_end(tmp_path):
    data = gzip.compress(b'{"a":1}\n' * 1000) + gzip.compress(b'{"a":2}\n')
    c = _check(tmp_path, "f.jsonl.gz", data, compression="gzip")
    assert (c.reason_code, c.records) == (None, 1001)
    assert c.content_hash == hashlib.sha256(data).hexdigest()  # the bytes as delivered, not decompressed


@pytest.mark.parametrize(
    "data, code, detail",
    [
        (
            gzip.compress(b'{"a":1}\n' * 1000, mtime=0)[:40],
            "unreadable_file",
            "the gzip stream ends early (truncated file)",
        ),
        (
            b"plain text, not gzip\n",
            "unreadable_file",
            "not a valid gzip stream (Error -3 while decompressing data: incorrect header check)",
        ),
        (b"", "unreadable_file", "a zero-byte file is not gzip"),
    ],
    ids=["truncated", "not_gzip", "empty"],
)
def test_a_gzip_file_that_cannot_be_decompressed_is_unreadable_and_still_known_by_its_content(
    tmp_path, data, code, detail
):
    c = _check(tmp_path, "f.jsonl.gz", data, compression="gzip")
    assert (c.reason_code, c.reason_detail, c.records) == (code, detail, None)
    assert c.content_hash == hashlib.sha256(data).hexdigest()


def test_bytes_that_do_not_decode_in_the_contract_encoding(tmp_path):
    c = _check(tmp_path, "f.csv", b"a,b\n1,\xff\xfe\n", encoding="UTF-8", **CSV)
    assert (c.reason_code, c.reason_detail) == ("undecodable_file", "byte 6 does not decode as UTF-8")


def test_a_utf8_byte_order_mark_declares_utf8_even_in_a_gbk_contract_and_is_not_part_of_the_header(tmp_path):
    data = b"\xef\xbb\xbf" + "a,b\r\n1,中文\r\n".encode()
    c = _check(tmp_path, "f.csv", data, encoding="GBK", **CSV)
    assert (c.reason_code, c.encoding, c.columns, c.header_line, c.records) == (None, "UTF-8", ("a", "b"), "a,b", 1)


def test_gbk_text_decodes_in_a_gbk_contract(tmp_path):
    c = _check(tmp_path, "f.csv", "a,b\n1,中文\n".encode("gbk"), encoding="GBK", **CSV)
    assert (c.reason_code, c.encoding, c.records) == (None, "GBK", 1)


def test_a_quoted_header_is_parsed_as_rfc_4180(tmp_path):
    c = _check(tmp_path, "f.csv", b'"a","b,c"\n1,2\n', **CSV)
    assert (c.columns, c.header_line) == (("a", "b,c"), '"a","b,c"')


@pytest.mark.parametrize(
    "data, code, detail",
    [
        (b"a,b\n" + b"x" * 101 + b"\n", "oversized_line", "line 2 has more than 100 bytes (101 or more)"),
        (b"a,b\n1,2\n" + b"y" * 150, "oversized_line", "line 3 has more than 100 bytes (150 or more)"),
        (b"a,a,b\n1,2,3\n", "duplicate_header", "the header names 'a' more than once"),
        (b"a,b,c,d,e\n1,2,3,4,5\n", "too_many_columns", "the header has 5 columns, at most 4 allowed"),
    ],
    ids=["long_line", "long_last_line", "duplicate_header", "too_many_columns"],
)
def test_csv_files_that_cannot_be_read_as_their_contract_says(tmp_path, data, code, detail):
    c = _check(tmp_path, "f.csv", data, **CSV)
    assert (c.reason_code, c.reason_detail) == (code, detail)


def test_an_empty_csv_is_a_delivery_of_no_records(tmp_path):
    c = _check(tmp_path, "f.csv", b"", **CSV)
    assert (c.reason_code, c.records, c.columns) == (None, 0, ())


def test_a_parquet_file_gives_its_rows_columns_and_types(tmp_path):
    c = _check(tmp_path, "f.parquet", _parquet(pa.table({"a": ["x", "y"], "n": [1, 2]})), format="parquet")
    assert (c.reason_code, c.records, c.columns, c.column_types) == (None, 2, ("a", "n"), ("string", "int64"))


@pytest.mark.parametrize(
    "data, code, detail",
    [
        (b"", "unreadable_file", "a zero-byte file is not Parquet"),
        (
            b"PAR1 not really PAR1",
            "unreadable_file",
            "not a readable Parquet file (Could not open Parquet input source '<Buffer>': Parquet file size is 20 "
            "bytes, smaller than the size reported by footer's (544828524bytes))",
        ),
        (
            _parquet(pa.table({"x": [1], "y": [2]})),
            "wrong_schema",
            "none of the contract's fields in columns x, y",
        ),
        (
            _parquet(pa.table({"a": [{"k": 1}]})),
            "wrong_schema",
            "nested columns a; the contract's fields are flat",
        ),
    ],
    ids=["empty", "bad_footer", "no_contract_field", "nested"],
)
def test_parquet_files_that_cannot_be_read(tmp_path, data, code, detail):
    c = _check(tmp_path, "f.parquet", data, format="parquet")
    assert (c.reason_code, c.reason_detail) == (code, detail)


def test_a_file_gone_before_it_is_read_is_vanished(tmp_path):
    c = check_file(str(tmp_path / "gone.jsonl"), 10, _fmt())
    assert c.reason_code == "vanished_file"
    assert c.reason_detail.startswith("could not be read: ")
    assert c.content_hash is None


def test_a_file_without_a_contract_is_only_hashed(tmp_path):
    (tmp_path / "x.txt").write_bytes(b"anything")
    c = check_file(str(tmp_path / "x.txt"), 8, None)
    assert (c.reason_code, c.records, c.content_hash) == (None, None, hashlib.sha256(b"anything").hexdigest())


def test_every_reason_code_is_documented_in_the_readme():
    readme = open("README.md", encoding="utf-8").read()
    assert [code for code in FILE_REASONS if f"`{code}`" not in readme] == []


@pytest.mark.parametrize(
    "data, records, continuations",
    [
        (b'a,b\n1,"x\ny"\n2,3\n', 2, (3,)),
        (b'a,b\r\n1,"x\r\n\r\ny ""q"" \r\nz"\r\n2,3\r\n', 2, (3, 4)),  # CRLF, a blank line and doubled quotes inside
        (b'a,b\n1,"x\n2,3\n4,5\n', 3, ()),  # a quote never closed: a row of its own, its neighbours untouched
        (b'a,b\n1,"x\n2,3\n4,"y\nz"\n', 3, (5,)),  # the stray quote's row alone, then a record over lines 4-5
        (b'a,b\n1,"x\ny",9\n2,3\n', 3, ()),  # closed, but one field too many: not one record of the header's width
        (b'a,b\n1,"' + b"x\n" * 2 + b'"\n', 1, (3, 4)),  # 3 lines: within max_record_lines
        (b'a,b\n1,"' + b"x\n" * 3 + b'"\n', 4, ()),  # 4 lines: longer than max_record_lines (3) allows
    ],
    ids=["one_break", "crlf_blank_doubled", "unclosed", "stray_then_record", "too_wide", "at_limit", "over_limit"],
)
def test_a_quoted_field_may_hold_line_breaks_and_a_stray_quote_keeps_to_its_row(tmp_path, data, records, continuations):
    c = _check(tmp_path, "f.csv", data, max_record_lines=3, **CSV)
    assert (c.reason_code, c.records, c.continuation_lines) == (None, records, continuations)


def test_quoted_line_breaks_across_read_chunks_and_gzip(tmp_path, monkeypatch):
    monkeypatch.setattr("etl.file_check.CHUNK", 7)
    data = b'a,b\n1,2\n3,"long\nvalue, still quoted\nend"\n4,5\n'
    plain = _check(tmp_path, "f.csv", data, **CSV)
    packed = _check(tmp_path, "f.csv.gz", gzip.compress(data, mtime=0), compression="gzip", **CSV)
    assert (plain.records, plain.continuation_lines) == (packed.records, packed.continuation_lines) == (3, (4, 5))
