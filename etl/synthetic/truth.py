"""The ground truth of a generated feed, written one pass at a time and merged.

A pass writes `truth/passes/<part>.json` last, so the file marks the pass complete;
`truth/manifest.json` is the merge of every pass file present. Passes of one feed can
be written by several `iiap generate --passes` runs into the same folder, in any order,
because every pass is a function of (config, scale, seed, pass) alone: the identity
below, which all the passes of a folder must share.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from pyarrow import fs as pafs

from etl.synthetic import delivery_files

GENERATOR = "iiap generate"
IDENTITY_KEYS = ("generator", "scale", "seed", "window", "passes", "config_sha256")


def config_sha256(*models) -> str:
    """A fingerprint of everything a pass's rows depend on besides scale and seed."""
    dumped = [m.model_dump(mode="json") if hasattr(m, "model_dump") else m for m in models]
    return hashlib.sha256(
        json.dumps(dumped, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    ).hexdigest()


def pass_path(truth_dir: str, part: str) -> str:
    return f"{truth_dir.rstrip('/')}/passes/{part}.json"


def read_passes(truth_dir: str) -> dict[int, dict]:
    """{pass: its manifest} of the passes that finished in `truth_dir`."""
    fsys, root = delivery_files.filesystem(f"{truth_dir.rstrip('/')}/passes")
    if fsys.get_file_info(root).type != pafs.FileType.Directory:
        return {}
    found = {}
    for info in fsys.get_file_info(pafs.FileSelector(root, recursive=False)):
        if info.type == pafs.FileType.File and info.base_name.endswith(".json"):
            with fsys.open_input_stream(info.path) as f:
                m = json.loads(f.read().decode("utf-8"))
            found[m["pass"]] = m
    return found


def identity_conflicts(identity: dict, passes: dict[int, dict]) -> list[str]:
    """'key: theirs != ours' for every identity key on which an existing pass differs."""
    diffs = set()
    for m in passes.values():
        for k in IDENTITY_KEYS:
            if m.get(k) != identity[k]:
                diffs.add(f"{k}: {m.get(k)!r} != {identity[k]!r}")
    return sorted(diffs)


def write_json(path: str, doc: dict) -> None:
    fsys, p = delivery_files.filesystem(path)
    fsys.create_dir(p.rsplit("/", 1)[0], recursive=True)
    with fsys.open_output_stream(p) as f:
        f.write(json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8"))


def merge(passes: dict[int, dict], feeds: list[str]) -> dict:
    """The feed's manifest over the passes written so far; `complete` once all of them are."""
    first = passes[min(passes)]
    outcomes: dict[str, Counter] = {feed: Counter() for feed in feeds}
    archetypes: Counter = Counter()
    for m in passes.values():
        archetypes.update(m["archetypes"])
        for feed in feeds:
            outcomes[feed].update(m["outcomes"].get(feed, {}))
    by_feed = {}
    for feed in feeds:
        counts = dict(outcomes[feed])
        by_feed[feed] = {
            "rows_delivered": sum(counts.values()),
            "silver": counts.pop("silver", 0),
            "duplicates": counts.pop("duplicate", 0),
            "quarantine": dict(sorted(counts.items())),
        }
    no_faults = {"redelivered": [], "renamed_column": [], "extra_column": []}
    return {
        **{k: first[k] for k in ("generator", "scale", "seed", "window")},
        "enterprises": sum(m["enterprises"] for m in passes.values()),
        "effective": sum(m["effective"] for m in passes.values()),
        "archetypes": dict(sorted(archetypes.items())),
        "passes": first["passes"],
        "passes_written": sorted(passes),
        "complete": len(passes) == first["passes"],
        "feeds": by_feed,
        "file_faults": passes[0]["file_faults"] if 0 in passes else no_faults,  # injected into the first pass only
        "files": sum(m["files"] for m in passes.values()),
        "bytes": sum(m["bytes"] for m in passes.values()),
        "config_sha256": first["config_sha256"],
    }
