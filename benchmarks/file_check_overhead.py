"""What the one pass over every new file (etl.file_check) costs next to Spark reading the same files into bronze.

    .venv/bin/python benchmarks/file_check_overhead.py LANDING [--reps 3]

LANDING: a landing folder written by `iiap generate` (e.g. the demo's data/landing).
Side by side in one Spark session, each repeated: (a) the file check of every file, as
Spark tasks, as `iiap ingest` runs it; (b) reading every readable file through its
contract to bronze rows, as ingest does, and counting them. Prints the medians and the
ratio a / b; the figures are recorded in benchmarks/measured/.
"""

from __future__ import annotations

import argparse
import statistics
import time

from etl.bronze import read_raw, to_bronze
from etl.config import FEED_NAMES, load_settings
from etl.file_check import check_files
from etl.landing import discover
from etl.spark import build_session
from jobs.ingest import _file_format


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("landing")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    settings = load_settings()
    spark = build_session(settings, "bench-file-check", {"spark.ui.enabled": "false"})
    found = discover(args.landing, settings.pipeline.ingest.landing_pattern, settings.contracts, FEED_NAMES)
    items = [(f.path, f.size, _file_format(settings, f)) for f in found]
    print(f"{len(found)} files, {sum(f.size for f in found) / 1e6:.1f} MB")

    def check():
        return check_files(spark, items)

    checks = check()  # warm-up (Python workers start)
    files = [f.with_check(checks[f.path]) for f in found]
    readable = [f for f in files if f.readable]

    def read():
        total = 0
        for feed in FEED_NAMES:
            by_platform: dict[str, list] = {}
            for f in readable:
                if f.feed == feed:
                    by_platform.setdefault(f.platform_id, []).append(f)
            for pid, fs in sorted(by_platform.items()):
                c = settings.contracts[pid]
                total += to_bronze(read_raw(spark, fs, {pid: c}), {pid: c}, feed, settings.feeds.feeds[feed]).count()
        return total

    rows = read()  # warm-up
    assert rows == sum(f.records for f in readable), "bronze rows differ from the records the check counted"
    a, b = [], []
    for _ in range(args.reps):
        t = time.perf_counter()
        check()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        read()
        b.append(time.perf_counter() - t)
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"file check: median {ma:.2f} s (min {min(a):.2f}, max {max(a):.2f})")
    print(f"bronze read of {rows:,} rows: median {mb:.2f} s (min {min(b):.2f}, max {max(b):.2f})")
    print(f"ratio check / read: {ma / mb:.3f}")
    spark.stop()


if __name__ == "__main__":
    main()
