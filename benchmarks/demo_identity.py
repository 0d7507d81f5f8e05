"""Are two demo runs the same? Landing files, ground truth and every lakehouse table, compared row for row.

    .venv/bin/python benchmarks/demo_identity.py RUN_A RUN_B

RUN_A and RUN_B are project folders in which `make demo` ran (each with data/ and
lakehouse/). A restructuring that claims "behaviour unchanged" is checked with it: run
the demo on the old and the new checkout, then compare. What legitimately differs
between two runs is left out: batch ids, run ids and wall-clock times (columns named in
VOLATILE), and each run's own folder inside paths (replaced by `<root>`).
Exits 1 on any difference and prints the first rows that differ.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from pyspark.sql import functions as F

VOLATILE = {
    "batch_id",
    "run_id",
    "ingested_at",
    "quarantined_at",
    "at",
    "started_at",
    "finished_at",
    "validated_at",
    "mtime_ms",
}


def file_digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def delta_tables(lakehouse: Path) -> list[str]:
    return sorted(
        p.parent.relative_to(lakehouse).as_posix()
        for p in lakehouse.glob("*/*/_delta_log")
        if not p.parent.parent.name.startswith("_")
    )


def canonical_rows(spark, path: Path, root: str) -> list[str]:
    """Every row as JSON text with sorted keys, volatile columns left out, the run's folder replaced; sorted."""
    df = spark.read.format("delta").load(str(path))
    keep = sorted(c for c in df.columns if c not in VOLATILE)
    text = F.to_json(F.struct(*[F.col(c) for c in keep]))
    rows = [r[0].replace(root, "<root>") for r in df.select(text.alias("j")).collect()]
    return sorted(rows)


def compare(a: Path, b: Path) -> list[str]:
    from etl.config import load_settings
    from etl.spark import build_session

    problems: list[str] = []
    for sub in ("data/landing", "data/truth"):
        da, db = file_digests(a / sub), file_digests(b / sub)
        if sub == "data/truth":  # parquet part files carry a writer's random name; compare their rows below
            da = {k: v for k, v in da.items() if not k.startswith("enterprises/")}
            db = {k: v for k, v in db.items() if not k.startswith("enterprises/")}
        differ = sorted(k for k in set(da) | set(db) if da.get(k) != db.get(k))
        print(f"{sub}: {len(da)} and {len(db)} files, {len(differ)} differ")
        problems += [f"{sub}/{k} differs" for k in differ[:5]]
    spark = build_session(load_settings(), "iiap-demo-identity", {"spark.ui.enabled": "false"})
    truth = [
        sorted(
            json.dumps(r.asDict(), sort_keys=True, default=str)
            for r in spark.read.parquet(str(p / "data/truth/enterprises")).collect()
        )
        for p in (a, b)
    ]
    print(
        f"truth enterprises: {len(truth[0])} and {len(truth[1])} rows, "
        f"{'same' if truth[0] == truth[1] else 'DIFFERENT'}"
    )
    if truth[0] != truth[1]:
        problems.append("truth enterprises differ")
    ta, tb = delta_tables(a / "lakehouse"), delta_tables(b / "lakehouse")
    if ta != tb:
        problems.append(f"tables differ: only in A {sorted(set(ta) - set(tb))}, only in B {sorted(set(tb) - set(ta))}")
    for name in sorted(set(ta) & set(tb)):
        ra = canonical_rows(spark, a / "lakehouse" / name, str(a))
        rb = canonical_rows(spark, b / "lakehouse" / name, str(b))
        same = ra == rb
        print(
            f"{name:32s} {len(ra):>9,} {len(rb):>9,} rows  {'same' if same else 'DIFFERENT'}  "
            f"{hashlib.sha256(''.join(ra).encode()).hexdigest()[:12]}"
        )
        if not same:
            only_a, only_b = sorted(set(ra) - set(rb))[:2], sorted(set(rb) - set(ra))[:2]
            problems.append(f"{name}: rows differ; only in A: {only_a}; only in B: {only_b}")
    spark.stop()
    return problems


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    problems = compare(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
    for p in problems:
        print("DIFF", p[:2000])
    print("identical" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
