"""Benchmark: generate + ingest at two scales, side by side in one run (on demand, not in CI).

    IIAP_PSEUDONYM_KEY=... .venv/bin/python benchmarks/foundation.py --scales 0.001 0.01

Reports per scale: wall seconds, files, rows, rows/s for both jobs and the ratio of
each figure to the first scale's, so fixed costs (per file, per Spark job) show up as
ratios well below the scale ratio. Results also go to benchmarks/results/ (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from etl.config import load_generator, load_settings
from etl.spark import build_session
from jobs import generate, ingest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.001, 0.01])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("IIAP_PSEUDONYM_KEY", "benchmark-only-key-0123456789")
    base = load_settings()
    spark = build_session(base, "iiap-benchmark")
    gen = load_generator()
    rows = []
    for scale in args.scales:
        work = Path(tempfile.mkdtemp(prefix=f"iiap-bench-{scale}-"))
        settings = base.model_copy(
            update={
                "pipeline": base.pipeline.model_copy(
                    update={"lakehouse_root": str(work / "lakehouse"), "landing_root": str(work / "landing")}
                )
            }
        )
        t0 = time.perf_counter()
        g = generate.run(spark, settings, gen, scale, args.seed, str(work))
        t1 = time.perf_counter()
        r = ingest.run(spark, settings)
        t2 = time.perf_counter()
        delivered = sum(f["rows_delivered"] for f in g.manifest["feeds"].values())
        rows.append(
            {
                "scale": scale,
                "files": g.files,
                "rows": delivered,
                "generate_s": round(t1 - t0, 1),
                "ingest_s": round(t2 - t1, 1),
                "generate_rows_per_s": round(delivered / (t1 - t0)),
                "ingest_rows_per_s": round(delivered / (t2 - t1)),
                "reconciled": all(c.reconciled for c in r.feeds.values()),
            }
        )
        shutil.rmtree(work, ignore_errors=True)
    first = rows[0]
    print(
        f"{'scale':>8} {'files':>6} {'rows':>10} {'gen s':>7} {'ingest s':>8} {'gen rows/s':>11} {'ing rows/s':>11}  "
        f"ratios to scale {first['scale']} (rows, gen s, ingest s)"
    )
    for row in rows:
        print(
            f"{row['scale']:>8} {row['files']:>6} {row['rows']:>10,} {row['generate_s']:>7} {row['ingest_s']:>8} "
            f"{row['generate_rows_per_s']:>11,} {row['ingest_rows_per_s']:>11,}"
            f"  {row['rows'] / first['rows']:.1f}x {row['generate_s'] / first['generate_s']:.2f}x "
            f"{row['ingest_s'] / first['ingest_s']:.2f}x"
        )
    print(
        f"driver peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (Python side; "
        "the JVM is separate)"
    )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"foundation-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
