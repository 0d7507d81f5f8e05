"""Discover landing files: what their paths say (platform, feed, delivery date), and why one fits no contract.

Listing goes through pyarrow's filesystems (local, HDFS, S3), so the same code serves this
machine and a cluster's object store; what a file holds is found by etl.file_check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date

from pyarrow import fs as pafs

from etl.config import Contract
from etl.file_check import FileCheck


@dataclass(frozen=True)
class LandingFile:
    path: str  # as Spark sees it (URI or absolute path)
    relative: str
    size: int
    mtime_ms: int
    platform_id: str | None
    feed: str | None
    delivery_date: date | None
    problem: str | None = None  # why the file cannot be read (reason_detail)
    reason_code: str | None = None  # set with `problem`: unrecognised_file, or a code of etl.file_check
    content_hash: str | None = None  # SHA-256 of its bytes, from etl.file_check (None: not read)
    records: int | None = None  # data records the pass counted, reconciled against bronze
    encoding: str | None = None  # the encoding Spark reads it in
    columns: tuple[str, ...] = ()  # CSV header or Parquet columns
    column_types: tuple[str, ...] = ()  # Parquet column types
    header_line: str | None = None  # a CSV file's header line
    continuation_lines: tuple[int, ...] = ()  # CSV lines that continue a quoted field (etl.file_check)

    @property
    def readable(self) -> bool:
        return self.reason_code is None

    def with_check(self, check: FileCheck) -> LandingFile:
        """The file with what its check found; a file already unrecognised keeps its reason and gains its hash."""
        if not self.readable:
            return replace(self, content_hash=check.content_hash)
        return replace(
            self,
            problem=check.reason_detail,
            reason_code=check.reason_code,
            content_hash=check.content_hash,
            records=check.records,
            encoding=check.encoding,
            columns=check.columns,
            column_types=check.column_types,
            header_line=check.header_line,
            continuation_lines=check.continuation_lines,
        )

    def rejected(self, code: str, detail: str) -> LandingFile:
        return replace(self, reason_code=code, problem=detail)


def _fs(root: str) -> tuple[pafs.FileSystem, str, str]:
    """(filesystem, path inside it, prefix that turns a path back into what Spark reads)."""
    if "://" in root:
        fsys, path = pafs.FileSystem.from_uri(root)
        scheme = root.split("://", 1)[0]
        return fsys, path, f"{scheme}://" if scheme != "file" else "file://"
    return pafs.LocalFileSystem(), root, ""


def discover(root: str, pattern: str, contracts: dict[str, Contract], feeds: tuple[str, ...]) -> list[LandingFile]:
    """Every file under `root`, parsed against the landing layout; files that do not fit carry a problem."""
    fsys, base, prefix = _fs(root)
    info = fsys.get_file_info(base)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"landing directory {root} does not exist")
    regex = re.compile(pattern)
    found = []
    for f in fsys.get_file_info(pafs.FileSelector(base, recursive=True)):
        if f.type != pafs.FileType.File:
            continue
        rel = f.path[len(base.rstrip("/")) + 1 :]
        if rel.split("/")[-1].startswith((".", "_")):
            continue  # hidden and marker files (_SUCCESS, .crc) are not deliveries
        m = regex.match(rel)
        pid = feed = delivery = None
        problem = None
        if not m:
            problem = "path does not match the landing layout"
        else:
            pid, feed = m["platform_id"], m["feed"]
            try:
                delivery = date.fromisoformat(m["delivery_date"])
            except ValueError:
                problem = f"bad delivery date {m['delivery_date']!r}"
            if pid not in contracts:
                problem = f"no contract for platform {pid}"
            elif feed not in feeds:
                problem = f"unknown feed {feed!r}"
            elif not rel.endswith(contracts[pid].file_extension()):
                problem = f"expected a {contracts[pid].file_extension()} file for {pid}"
        found.append(
            LandingFile(
                prefix + f.path,
                rel,
                f.size,
                int(f.mtime_ns // 1_000_000) if f.mtime_ns else 0,
                pid,
                feed,
                delivery,
                problem,
                "unrecognised_file" if problem else None,
            )
        )
    return sorted(found, key=lambda f: f.relative)
