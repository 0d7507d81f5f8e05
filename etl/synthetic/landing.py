"""Spark part files -> the landing layout the platforms deliver into.

<landing>/<platform_id>/<feed>/<YYYY-MM-DD>/<platform_id>_<feed>_<YYYYMMDD>_<part>_<n><ext>
"""

from __future__ import annotations

import re
from collections import defaultdict

from pyarrow import fs as pafs

_PARTITIONED = re.compile(r"platform_id=(?P<platform_id>[^/]+)/feed=(?P<feed>[^/]+)/delivery_date=(?P<date>[^/]+)/part=(?P<part>[^/]+)/(?P<file>part-[^/]+)$")


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), uri


def move_partitioned(staging: str, landing: str, extension: dict[str, str], fixed: dict[str, str] | None = None) -> list[str]:
    """Move Spark's partitioned part files into the landing layout; returns the new paths."""
    fsys, root = filesystem(staging)
    _, landing_root = filesystem(landing)
    infos = fsys.get_file_info(pafs.FileSelector(root, recursive=True))
    groups: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        rel = info.path[len(root.rstrip("/")) + 1 :]
        if fixed:
            rel = "/".join(f"{k}={v}" for k, v in fixed.items()) + "/" + rel
        m = _PARTITIONED.search(rel)
        if m:
            groups[(m["platform_id"], m["feed"], m["date"], m["part"])].append(info.path)
    moved = []
    for (pid, feed, date, part), files in sorted(groups.items()):
        target_dir = f"{landing_root.rstrip('/')}/{pid}/{feed}/{date}"
        fsys.create_dir(target_dir, recursive=True)
        for n, src in enumerate(sorted(files), start=1):
            target = f"{target_dir}/{pid}_{feed}_{date.replace('-', '')}_{part}_{n}{extension[pid]}"
            fsys.move(src, target)
            moved.append(target)
    return moved


def remove_dir(uri: str) -> None:
    fsys, root = filesystem(uri)
    if fsys.get_file_info(root).type != pafs.FileType.NotFound:
        fsys.delete_dir(root)
