"""Which landing files are new deliveries: a delivery is known by its content, not by its path.

The manifest (ops/file_manifest) records every file a batch settled, with its content
hash. A file is new unless the manifest holds a delivery of the same platform, feed,
delivery date and content: a moved landing root, a touched file or a byte-identical
re-send is never read again (a re-send is recorded as `resent`). A file whose path, size
and modification time the manifest already holds is not even read again to hash it.

Corrections: a file of the same name (its path under the landing root) as one already
ingested, with other content, is not read. It is quarantined as `changed_redelivery`,
naming the earlier batch; a platform corrects a delivery by sending the corrected records
in a new file, where the feed's `on_existing` rule (conf/feeds.yaml) decides. A file that
was quarantined is tried again when its content changes, or when an operator names it
(`iiap ingest --retry PATH`).

Pure functions over plain values, so every rule is unit-tested without Spark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from etl.landing import LandingFile

INGESTED, QUARANTINED, RESENT = "ingested", "quarantined", "resent"
Identity = tuple[str | None, str | None, date | None, str | None]  # platform, feed, delivery date, content hash


@dataclass(frozen=True)
class Entry:
    """One manifest row, as far as deciding what is new needs it."""

    path: str
    relative: str
    platform_id: str | None
    feed: str | None
    delivery_date: date | None
    size: int
    mtime_ms: int
    content_hash: str | None
    status: str
    batch_id: str


def identity(f: LandingFile | Entry) -> Identity:
    return (f.platform_id, f.feed, f.delivery_date, f.content_hash)


@dataclass
class Known:
    """What the manifest says of earlier deliveries."""

    by_stat: dict[tuple[str, int, int], Entry] = field(default_factory=dict)
    by_content: dict[Identity, Entry] = field(default_factory=dict)
    ingested_names: dict[str, Entry] = field(default_factory=dict)  # relative path -> the delivery ingested under it

    @classmethod
    def of(cls, entries: list[Entry]) -> Known:
        k = cls()
        for e in sorted(entries, key=lambda e: e.batch_id):
            if e.content_hash is not None:  # a file that could not be read at all is listed and tried again
                k.by_stat[(e.path, e.size, e.mtime_ms)] = e
            if e.content_hash is not None and e.status != RESENT:
                k.by_content.setdefault(identity(e), e)
            if e.status == INGESTED:
                k.ingested_names[e.relative] = e
        return k


def to_check(found: list[LandingFile], known: Known, until: date | None, retry: frozenset[str]) -> list[LandingFile]:
    """Listed files that must be read to be settled: not yet recorded with this path, size and time, or retried."""
    return [
        f
        for f in found
        if (until is None or f.delivery_date is None or f.delivery_date <= until)
        and (f.path in retry or (f.path, f.size, f.mtime_ms) not in known.by_stat)
    ]


def settle(checked: list[LandingFile], known: Known, retry: frozenset[str]) -> list[tuple[LandingFile, str]]:
    """Each checked file's status in this batch: ingested, quarantined (with its reason) or resent."""
    out: list[tuple[LandingFile, str]] = []
    seen: dict[Identity, LandingFile] = {}
    for f in sorted(checked, key=lambda f: f.relative):
        earlier = known.by_content.get(identity(f)) if f.content_hash else None
        retried = f.path in retry and earlier is not None and earlier.status == QUARANTINED
        if f.content_hash and identity(f) in seen:
            out.append((f, RESENT))
        elif earlier is not None and not retried:
            out.append((f, RESENT))
        elif not f.readable:
            out.append((f, QUARANTINED))
        elif f.relative in known.ingested_names and known.ingested_names[f.relative].content_hash != f.content_hash:
            before = known.ingested_names[f.relative]
            detail = (
                f"{f.relative} was ingested in batch {before.batch_id} with other content "
                f"(sha256 {str(before.content_hash)[:12]}…, now {str(f.content_hash)[:12]}…); a changed file of "
                "the same name is not read: send corrections in a new file"
            )
            out.append((f.rejected("changed_redelivery", detail), QUARANTINED))
        else:
            out.append((f, INGESTED))
        if f.content_hash:
            seen.setdefault(identity(f), f)
    return out


def retry_problems(retry: frozenset[str], found: list[LandingFile], known: Known) -> list[str]:
    """Why an operator's --retry paths cannot be retried: not listed, or already ingested."""
    listed = {f.path: f for f in found}
    problems = []
    for path in sorted(retry):
        if path not in listed:
            problems.append(f"--retry {path}: no such file under the landing root")
            continue
        e = known.by_stat.get((path, listed[path].size, listed[path].mtime_ms))
        if e is not None and e.status == INGESTED:
            problems.append(
                f"--retry {path}: it was ingested in batch {e.batch_id}; only a quarantined file is retried"
            )
    return problems
