"""Benchmark: what Great Expectations validation adds to ingest, side by side in one run (on demand).

    IIAP_PSEUDONYM_KEY=... .venv/bin/python benchmarks/quality_overhead.py --scale 0.01

Generates one feed (or reuses one with --feed), then ingests it into fresh lakehouses,
each variant in its own fresh process (a fresh JVM: the second ingest of one process
would run on a warmed-up JIT and so look cheaper): with the suites of conf/quality.yaml,
and with GE validation stubbed out (routing to quarantine, which is part of ingest either
way, still runs). `--repeats N` alternates the variants N times and reports medians.
Reports both wall times, the time measured inside GE per suite (seconds, Spark jobs),
and the overhead ratio. Target: validation adds at most 25% to ingest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from etl.config import load_generator, load_settings
from etl.spark import build_session
from jobs import generate, ingest
from quality import runner

VARIANTS = ("with", "without")


def _variant(name: str, landing: str, lakehouse: Path) -> dict:
    """One ingest in this process: `with` GE validation, or `without` (GE stubbed out)."""
    base = load_settings()
    spark = build_session(base, f"iiap-benchmark-quality-{name}")
    settings = base.model_copy(
        update={
            "pipeline": base.pipeline.model_copy(update={"lakehouse_root": str(lakehouse), "landing_root": landing})
        }
    )
    seen: dict = {"seconds": 0.0, "suites": {}}
    real_record = runner.Validator.record

    def record(self):
        real_record(self)
        seen["seconds"] += self.seconds
        seen["suites"].update(self.timings)

    runner.Validator.record = record
    if name == "without":
        runner.Validator.validate = lambda self, *a, **k: []  # routing and writes only
    t0 = time.perf_counter()
    result = ingest.run(spark, settings)
    wall = time.perf_counter() - t0
    spark.stop()
    return {"wall_s": wall, "ge_s": seen["seconds"], "expectations": len(result.quality), "suites": seen["suites"]}


def _feed(args, work: Path) -> tuple[str, dict]:
    if args.feed:
        manifest = json.loads((Path(args.feed) / "truth" / "manifest.json").read_text())
        return str(Path(args.feed) / "landing"), manifest
    base = load_settings()
    spark = build_session(base, "iiap-benchmark-quality-generate")
    g = generate.run(spark, base, load_generator(), args.scale, args.seed, str(work / "feed"))
    spark.stop()
    return g.landing, g.manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--feed", default=None, help="Reuse a feed written by iiap generate (its OUT folder) instead of generating one."
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="Alternate the two variants this many times; medians are reported."
    )
    parser.add_argument(
        "--variant", choices=VARIANTS, default=None, help=argparse.SUPPRESS
    )  # internal: one ingest per process
    parser.add_argument("--landing", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--lakehouse", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("IIAP_PSEUDONYM_KEY", "benchmark-only-key-0123456789")
    if args.variant:
        print(json.dumps(_variant(args.variant, args.landing, Path(args.lakehouse))))
        return

    work = Path(tempfile.mkdtemp(prefix=f"iiap-bench-quality-{args.scale}-"))
    landing, manifest = _feed(args, work)
    rows = sum(f["rows_delivered"] for f in manifest["feeds"].values())
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for i in range(args.repeats):
        for variant in VARIANTS:
            lakehouse = work / f"{variant}-{i}"
            cmd = [sys.executable, __file__, "--variant", variant, "--landing", landing, "--lakehouse", str(lakehouse)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            runs[variant].append(json.loads(out))
            shutil.rmtree(lakehouse, ignore_errors=True)
            print(f"[{i + 1}/{args.repeats}] {variant:7s} validation: {runs[variant][-1]['wall_s']:7.1f} s", flush=True)
    with_ge = statistics.median(r["wall_s"] for r in runs["with"])
    without = statistics.median(r["wall_s"] for r in runs["without"])
    ge_seconds = statistics.median(r["ge_s"] for r in runs["with"])
    suites = runs["with"][0]["suites"]
    report = {
        "scale": manifest["scale"],
        "files": manifest["files"],
        "rows": rows,
        "expectations": runs["with"][0]["expectations"],
        "repeats": args.repeats,
        "ingest_with_validation_s": round(with_ge, 1),
        "ingest_without_validation_s": round(without, 1),
        "time_inside_ge_s": round(ge_seconds, 1),
        "overhead": round(with_ge / without - 1, 3),
        "runs": {v: [round(r["wall_s"], 1) for r in rs] for v, rs in runs.items()},
        "by_suite": {
            name: {"seconds": round(s, 2), "spark_jobs": jobs}
            for name, (s, jobs) in sorted(suites.items(), key=lambda kv: -kv[1][0])
        },
    }
    print(
        f"scale {report['scale']}: {report['files']:,} files, {rows:,} rows, "
        f"{report['expectations']} expectation results, each variant in a fresh process"
    )
    print(f"ingest with validation    {with_ge:8.1f} s")
    print(f"ingest without validation {without:8.1f} s")
    print(f"time inside GE            {ge_seconds:8.1f} s")
    for name, t in report["by_suite"].items():
        print(f"  {name:45s} {t['seconds']:7.1f} s {t['spark_jobs']:5d} Spark jobs")
    print(f"validation adds {report['overhead']:.1%} to ingest (target <= 25%)")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"quality-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(report, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
