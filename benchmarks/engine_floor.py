"""Benchmark: `iiap ingest` against the engine's own floor on the same files, in turn (on demand).

    .venv/bin/python benchmarks/engine_floor.py LANDING [--pairs 2] [--work DIR]

The floor is the least a Spark ingest of these files can do: one job that reads every delivered file
(decompresses it, decodes it in its platform's encoding, splits it into lines; Parquet deliveries read as
rows and rendered as JSON text) and appends the lines with their source path to one Delta table. No parsing
into fields, no checks, no quarantine, no second table. It runs in its own process with the same session
settings as `iiap ingest` (`etl.spark.build_session` with the profile's conf), so both pay a JVM start.
Each pair runs iiap then the floor, each into a new lakehouse; the ratio is per pair, so a drift of the
machine's speed hits both sides of a pair alike. Each run's output is kept in WORK/<side><n>.log.

`--floor-only LAKEHOUSE` runs the floor once (what each pair's floor side runs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from functools import reduce
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = {"IIAP_PSEUDONYM_KEY": "benchmark-key-0123456789"}


def landing_files(landing: Path, platforms: set[str]) -> list[tuple[str, str, str]]:
    """(platform, feed, path) of every file under LANDING/<platform>/<feed>/<date>/."""
    found = []
    for path in sorted(landing.glob("*/*/*/*")):
        platform, feed = path.parts[-4], path.parts[-3]
        if path.is_file() and platform in platforms:
            found.append((platform, feed, str(path)))
    return found


def floor(landing: Path, lakehouse: Path) -> dict:
    """Read every file of the landing into lines and append them, with their source path, to one Delta table."""
    from delta.tables import DeltaTable
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    from etl.config import load_settings
    from etl.spark import build_session
    from etl.textio import literal_path, read_lines

    settings = load_settings()
    spark = build_session(settings, "iiap-engine-floor")
    started = time.monotonic()
    text: dict[str, list[str]] = defaultdict(list)  # encoding -> paths
    parquet: dict[tuple[str, str], list[str]] = defaultdict(list)  # (platform, feed) -> paths: one schema each
    files = landing_files(landing, set(settings.contracts))
    for platform, feed, path in files:
        contract = settings.contracts[platform]
        if contract.format == "parquet":
            parquet[(platform, feed)].append(path)
        else:
            text[contract.encoding].append(path)
    parts: list[DataFrame] = [read_lines(spark, paths, encoding) for encoding, paths in sorted(text.items())]
    for _, paths in sorted(parquet.items()):
        rows = spark.read.option("mergeSchema", "true").parquet(*[literal_path(p) for p in paths])
        parts.append(
            rows.select(
                F.to_json(F.struct(*[F.col(c) for c in rows.columns])).alias("line"),
                F.col("_metadata.file_path").alias("source_file"),
            )
        )
    target = str(lakehouse / "floor" / "lines")
    reduce(DataFrame.unionByName, parts).write.format("delta").mode("append").save(target)
    seconds = time.monotonic() - started
    # the count Delta recorded in the commit: a scan back would make the floor slower than it is
    metrics = DeltaTable.forPath(spark, target).history(1).first()["operationMetrics"]
    written = int(metrics["numOutputRows"])
    spark.stop()
    return {"files": len(files), "lines": written, "seconds_after_session_start": round(seconds, 1)}


def _run(cmd: list[str], log: Path) -> float:
    start = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(cmd, cwd=ROOT, env=os.environ | KEY, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed (exit {done.returncode}), see {log}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("landing", type=Path)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/engine_floor"))
    ap.add_argument("--floor-only", type=Path, metavar="LAKEHOUSE")
    args = ap.parse_args()
    if args.floor_only:
        print(json.dumps(floor(args.landing.resolve(), args.floor_only)), flush=True)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    python, landing = sys.executable, str(args.landing.resolve())
    ratios, pairs = [], []
    for n in range(1, args.pairs + 1):
        lakes = {side: args.work / f"lake_{side}" for side in ("iiap", "floor")}
        for lake in lakes.values():
            shutil.rmtree(lake, ignore_errors=True)
        iiap = _run(
            [python, "-m", "jobs", "--lakehouse", str(lakes["iiap"]), "--landing", landing, "ingest"],
            args.work / f"iiap{n}.log",
        )
        base = _run(
            [python, str(Path(__file__).resolve()), landing, "--floor-only", str(lakes["floor"])],
            args.work / f"floor{n}.log",
        )
        ratios.append(iiap / base)
        pairs.append({"iiap_seconds": round(iiap, 1), "floor_seconds": round(base, 1), "ratio": round(iiap / base, 3)})
        print(f"pair {n}: iiap ingest {iiap:.1f} s, floor {base:.1f} s, ratio {iiap / base:.2f}", flush=True)
    print(f"ingest / floor: median {statistics.median(ratios):.2f} over {len(ratios)} pairs")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    record = {"landing": landing, "pairs": pairs, "median_ratio": round(statistics.median(ratios), 3)}
    path = out / f"engine_floor-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"figures: {path}")


if __name__ == "__main__":
    main()
