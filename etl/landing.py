"""Discover landing files and read the little the driver must know about each before Spark reads it.

Listing and header sniffing go through pyarrow's filesystems (local, HDFS, S3), so the
same code serves this machine and a cluster's object store.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass
from datetime import date

import pyarrow.parquet as pq
from pyarrow import fs as pafs

from etl.config import Contract


@dataclass(frozen=True)
class LandingFile:
    path: str  # as Spark sees it (URI or absolute path)
    relative: str
    size: int
    mtime_ms: int
    platform_id: str | None
    feed: str | None
    delivery_date: date | None
    problem: str | None = None  # why the file cannot be read through a contract


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
            )
        )
    return sorted(found, key=lambda f: f.relative)


def csv_header(file: LandingFile, contract: Contract) -> list[str]:
    """The field names in the first line of a CSV delivery."""
    fsys, _, prefix = _fs(file.path)
    path = file.path[len(prefix) :] if prefix and file.path.startswith(prefix) else file.path
    with fsys.open_input_stream(path, compression=None) as raw:
        stream = gzip.GzipFile(fileobj=raw) if contract.compression == "gzip" else raw
        text = io.TextIOWrapper(stream, encoding=contract.encoding, newline="")
        first = text.readline().rstrip("\r\n")
    return first.split(contract.delimiter) if first else []


def parquet_columns(file: LandingFile) -> list[str]:
    fsys, _, prefix = _fs(file.path)
    path = file.path[len(prefix) :] if prefix and file.path.startswith(prefix) else file.path
    with fsys.open_input_file(path) as f:
        return list(pq.read_schema(f).names)
