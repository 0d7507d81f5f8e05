"""One pass over each new landing file before Spark reads it: its content hash, and whether it can be read at all.

A file that cannot be read through its contract is quarantined as a file, with a reason
code, so it never stops the rest of the batch. The pass streams the file's bytes once:
it hashes them (a delivery is known by its content, not its path), decompresses gzip to
the end (which checks the CRC and the length), decodes the text in the contract's encoding,
measures lines, counts records and reads the CSV header or the Parquet schema. The record
count is an independent tally that ingest reconciles bronze against.

The pass runs as Spark tasks (`check_files`), so on a cluster the executors read the files,
not the driver.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import zlib
from dataclasses import dataclass, replace

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

CHUNK = 1 << 20
UTF8_BOM = b"\xef\xbb\xbf"
# What Java's String.trim removes: Spark's line reader drops a line that holds nothing else (a blank line,
# spaces, tabs, a lone CR), so such a line is neither a record nor a numbered line here. No byte of a multi-byte
# UTF-8 or GBK character is in this range.
BLANK = bytes(range(0x21))


def _blanks(lines: list[bytes]) -> int:
    return sum(1 for line in lines if not line or (line[0] <= 0x20 and not line.strip(BLANK)))


# Why a whole file is quarantined (quarantine.records.reason_code, ops.file_manifest.reason_code).
FILE_REASONS = {
    "unrecognised_file": "the path does not fit the landing layout, or no contract or feed matches it",
    "vanished_file": "the file was listed but could not be opened when it was read",
    "unreadable_file": "truncated or corrupt gzip, a .gz that is not gzip, a zero-byte or corrupt Parquet file",
    "undecodable_file": "bytes that do not decode in the contract's encoding",
    "oversized_line": "a line longer than ingest.max_line_bytes (conf/pipeline.yaml)",
    "too_many_columns": "a CSV header or Parquet schema with more columns than ingest.max_columns",
    "duplicate_header": "a CSV header or Parquet schema that names a column twice",
    "wrong_schema": "a Parquet file with none of the contract's fields for its feed, or a nested column",
    "changed_redelivery": "a file of the same name as one already ingested, with other content (see README)",
}


@dataclass(frozen=True)
class FileFormat:
    """What the pass needs of a contract (plain values: it is shipped to Spark tasks)."""

    format: str  # jsonl | csv | parquet
    compression: str  # none | gzip
    encoding: str
    delimiter: str | None
    fields: tuple[str, ...]  # the contract's source field names for the file's feed
    max_line_bytes: int
    max_columns: int
    max_record_lines: int = 50  # non-blank lines one CSV record may span (quoted line breaks)


@dataclass(frozen=True)
class FileCheck:
    """What one pass over a file found. `reason_code` set: the file is quarantined, nothing of it is read."""

    path: str
    size: int
    content_hash: str | None = None  # SHA-256 of the bytes as delivered
    records: int | None = None  # data records: non-blank lines (CSV: after the header), Parquet rows
    encoding: str | None = None  # the encoding Spark reads it in: UTF-8 when a UTF-8 byte-order mark says so
    columns: tuple[str, ...] = ()  # CSV header names (byte-order mark removed) or Parquet columns
    column_types: tuple[str, ...] = ()  # Parquet column types, the rest of the schema its files are grouped by
    header_line: str | None = None  # a CSV file's header line as Spark reads it (no byte-order mark, no CR)
    # CSV: numbers of the non-blank lines (the header is 1) that continue the record of the line before them,
    # because a quoted field holds a line break (etl.textio.read_joined_lines joins them)
    continuation_lines: tuple[int, ...] = ()
    reason_code: str | None = None
    reason_detail: str | None = None


class _Unreadable(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code, self.detail = code, detail


def _open(path: str) -> tuple[pafs.FileSystem, str]:
    if "://" in path and not path.startswith("file://"):
        return pafs.FileSystem.from_uri(path)
    return pafs.LocalFileSystem(), path.removeprefix("file://")


class _QuotedBreaks:
    """CSV records that span lines: a quoted field may hold line breaks (RFC 4180).

    A line with an odd number of quotes opens a quoted field; the record goes on until a
    later line with an odd number closes it. The lines are one record only when, joined
    by LF, they parse as exactly one record of the header's width within
    `max_record_lines` lines; otherwise the opening line is a lone row with an unbalanced
    quote (bronze quarantines it) and the lines after it are judged afresh, so a stray
    quote never swallows its neighbours. Lines are numbered as Spark reads them: blank
    lines (`BLANK`) are not counted, the header is line 1.
    """

    def __init__(self, text: _Lines):
        self.text, self.fmt = text, text.fmt
        self.line_no = 0
        self.pending: list[tuple[int, bytes]] = []
        self.continuations: list[int] = []

    def lines(self, lines: list[bytes], nonblank: int, quoted: bool) -> None:
        if not quoted and not self.pending:  # no quote in these lines: nothing to join, only count them
            self.line_no += nonblank
            return
        for line in lines:
            text = line[:-1] if line.endswith(b"\r") else line
            if text.strip(BLANK):
                self.line_no += 1
                if self.line_no > 1:
                    self._push(self.line_no, text)

    def _push(self, n: int, text: bytes) -> None:
        odd = text.count(b'"') % 2 == 1
        if self.pending:
            self.pending.append((n, text))
            if odd:
                self._close()
            elif len(self.pending) >= self.fmt.max_record_lines:
                self._break()
        elif odd:
            self.pending.append((n, text))

    def _close(self) -> None:
        text = b"\n".join(t for _, t in self.pending).decode(self.text.encoding, errors="replace")
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=self.fmt.delimiter, strict=True))
        except csv.Error:
            rows = []
        if len(rows) == 1 and len(rows[0]) == len(self.text.header()):
            self.continuations.extend(n for n, _ in self.pending[1:])
            self.pending = []
        else:
            self._break()

    def _break(self) -> None:
        """The opening line is a row of its own; the lines after it are judged again."""
        rest, self.pending = self.pending[1:], []
        for n, text in rest:
            self._push(n, text)

    def end(self) -> tuple[int, ...]:
        while self.pending:
            self._break()
        return tuple(self.continuations)


class _Lines:
    """Text statistics over decompressed chunks: record count, longest line, decodability, first line."""

    def __init__(self, fmt: FileFormat):
        self.fmt = fmt
        self.carry = b""
        self.records = 0
        self.first: bytes | None = None
        self.decoder = None
        self.encoding = fmt.encoding
        self.offset = 0
        self.line_no = 0
        self.quoted = _QuotedBreaks(self) if fmt.format == "csv" else None

    def feed(self, data: bytes, final: bool = False) -> None:
        if self.decoder is None:
            if len(data) < len(UTF8_BOM) and not final and UTF8_BOM.startswith(data):
                self.carry += data
                return
            data = self.carry + data
            self.carry = b""
            bom = data.startswith(UTF8_BOM)
            if bom:  # a byte-order mark declares UTF-8, whatever the contract says
                self.encoding = "UTF-8"
                data = data[len(UTF8_BOM) :]
                self.offset = len(UTF8_BOM)
            self.decoder = codecs.getincrementaldecoder(self.encoding)("strict")
        try:
            self.decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise _Unreadable(
                "undecodable_file", f"byte {self.offset + exc.start} does not decode as {self.encoding}"
            ) from None
        text = self.carry + data
        lines = text.split(b"\n")
        self.carry = b"" if final else lines.pop()
        if len(self.carry) > self.fmt.max_line_bytes:
            self._oversized(self.line_no + len(lines) + 1, len(self.carry))
        if lines:
            longest = max(map(len, lines))
            if longest > self.fmt.max_line_bytes:
                at = next(i for i, line in enumerate(lines) if len(line) == longest)
                self._oversized(self.line_no + at + 1, longest)
            if self.first is None:
                self.first = next((line for line in lines if line.strip(BLANK)), None)
            nonblank = len(lines) - _blanks(lines)
            self.records += nonblank
            if self.quoted is not None:
                self.quoted.lines(lines, nonblank, b'"' in text)
        self.line_no += len(lines)
        self.offset += len(data)

    def _oversized(self, line_no: int, length: int) -> None:
        raise _Unreadable(
            "oversized_line", f"line {line_no} has more than {self.fmt.max_line_bytes} bytes ({length} or more)"
        )

    def header_line(self) -> str | None:
        return None if self.first is None else self.first.rstrip(b"\r").decode(self.encoding)

    def header(self) -> tuple[str, ...]:
        text = self.header_line()
        if text is None:
            return ()
        return tuple(next(csv.reader([text], delimiter=self.fmt.delimiter, quotechar='"', doublequote=True)))


def _gunzip(chunks, sink: _Lines) -> None:
    """Every gzip member to the end: a truncated or corrupt stream, or one that is not gzip, raises.

    Output is taken in bounded pieces, so a highly compressed file does not expand in memory at once.
    """
    d, inside = zlib.decompressobj(16 + zlib.MAX_WBITS), False
    try:
        for chunk in chunks:
            data = chunk
            while data:
                inside = True
                sink.feed(d.decompress(data, 16 * CHUNK))
                if d.eof:  # a member ends; another may follow
                    data, d, inside = d.unused_data, zlib.decompressobj(16 + zlib.MAX_WBITS), False
                else:
                    data = d.unconsumed_tail
        if inside:
            sink.feed(d.flush())
    except zlib.error as exc:
        raise _Unreadable("unreadable_file", f"not a valid gzip stream ({exc})") from None
    if inside and not d.eof:
        raise _Unreadable("unreadable_file", "the gzip stream ends early (truncated file)")
    sink.feed(b"", final=True)


def _text(chunks, fmt: FileFormat, size: int) -> FileCheck:
    lines = _Lines(fmt)
    if fmt.compression == "gzip":
        if size == 0:
            raise _Unreadable("unreadable_file", "a zero-byte file is not gzip")
        _gunzip(chunks, lines)
    else:
        for chunk in chunks:
            lines.feed(chunk)
        lines.feed(b"", final=True)
    columns: tuple[str, ...] = ()
    records, continuations = lines.records, ()
    if fmt.format == "csv":
        columns = lines.header()
        _check_names(columns, fmt.max_columns, "header")
        continuations = lines.quoted.end()
        records = max(records - 1 - len(continuations), 0) if columns else 0
    header_line = lines.header_line() if fmt.format == "csv" else None
    return FileCheck(
        "",
        size,
        records=records,
        encoding=lines.encoding,
        columns=columns,
        header_line=header_line,
        continuation_lines=continuations,
    )


def _check_names(names: tuple[str, ...], max_columns: int, what: str) -> None:
    if len(names) > max_columns:
        raise _Unreadable("too_many_columns", f"the {what} has {len(names)} columns, at most {max_columns} allowed")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise _Unreadable("duplicate_header", f"the {what} names {', '.join(map(repr, repeated))} more than once")


def _parquet(chunks, fmt: FileFormat, size: int) -> FileCheck:
    data = b"".join(chunks)
    if size == 0 or not data:
        raise _Unreadable("unreadable_file", "a zero-byte file is not Parquet")
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a corrupt file
        raise _Unreadable("unreadable_file", f"not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    names = tuple(table.schema.names)
    _check_names(names, fmt.max_columns, "schema")
    nested = [n for n, t in zip(names, table.schema.types, strict=True) if t.num_fields > 0]
    if nested:
        raise _Unreadable("wrong_schema", f"nested columns {', '.join(nested)}; the contract's fields are flat")
    if fmt.fields and not set(names) & set(fmt.fields):
        raise _Unreadable("wrong_schema", f"none of the contract's fields in columns {', '.join(names)}")
    types = tuple(str(t) for t in table.schema.types)
    return FileCheck("", size, records=table.num_rows, columns=names, column_types=types)


def _hashed(raw, digest):
    while chunk := raw.read(CHUNK):
        digest.update(chunk)
        yield chunk


def check_file(path: str, size: int, fmt: FileFormat | None) -> FileCheck:
    """One pass over one file; never raises for what the file holds. `fmt` None: only its hash (no contract)."""
    digest = hashlib.sha256()
    try:
        fsys, inner = _open(path)
        with fsys.open_input_stream(inner, compression=None) as raw:
            chunks = _hashed(raw, digest)
            try:
                found = None if fmt is None else (_parquet if fmt.format == "parquet" else _text)(chunks, fmt, size)
            except _Unreadable as bad:
                found = FileCheck(path, size, reason_code=bad.code, reason_detail=bad.detail)
            for _ in chunks:  # the rest of a file the inspection stopped in, so that it is known by its content too
                pass
    except (FileNotFoundError, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return FileCheck(path, size, reason_code="vanished_file", reason_detail=f"could not be read: {detail}")
    found = found or FileCheck(path, size)
    return replace(found, path=path, content_hash=digest.hexdigest())


def check_files(spark, items: list[tuple[str, int, FileFormat | None]]) -> dict[str, FileCheck]:
    """`check_file` over many files as Spark tasks (a cluster's executors read them), by path."""
    if not items:
        return {}
    slices = min(len(items), 4 * spark.sparkContext.defaultParallelism)
    ordered = sorted(items, key=lambda it: -it[1])  # large files first, dealt round the tasks
    dealt = [ordered[i::slices] for i in range(slices)]
    checks = spark.sparkContext.parallelize(dealt, slices).flatMap(lambda part: [check_file(*it) for it in part])
    return {c.path: c for c in checks.collect()}
