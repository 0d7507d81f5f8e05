"""Benchmark: what Great Expectations validation adds to ingest, side by side in one run (on demand).

    IIAP_PSEUDONYM_KEY=... .venv/bin/python benchmarks/quality_overhead.py --scale 0.01

Generates one feed, then ingests it twice into fresh lakehouses: with the suites of
conf/quality.yaml, and with GE validation stubbed out (routing to quarantine, which is
part of ingest either way, still runs). Reports both wall times, the time measured
inside GE, and the overhead ratio. Target: validation adds at most 25% to ingest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from etl.config import load_generator, load_settings
from etl.spark import build_session
from jobs import generate, ingest
from quality import runner


def _ingest(spark, base, landing: str, lakehouse: Path):
    settings = base.model_copy(update={"pipeline": base.pipeline.model_copy(update={"lakehouse_root": str(lakehouse), "landing_root": landing})})
    t0 = time.perf_counter()
    result = ingest.run(spark, settings)
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--feed", default=None, help="Reuse a feed written by iiap generate (its OUT folder) instead of generating one.")
    args = parser.parse_args()
    os.environ.setdefault("IIAP_PSEUDONYM_KEY", "benchmark-only-key-0123456789")
    base = load_settings()
    spark = build_session(base, "iiap-benchmark-quality")
    work = Path(tempfile.mkdtemp(prefix=f"iiap-bench-quality-{args.scale}-"))
    if args.feed:
        manifest = json.loads((Path(args.feed) / "truth" / "manifest.json").read_text())
        g = generate.GenerateResult(str(Path(args.feed) / "landing"), str(Path(args.feed) / "truth"), manifest["files"], manifest)
        args.scale = manifest["scale"]
    else:
        g = generate.run(spark, base, load_generator(), args.scale, args.seed, str(work / "feed"))
    rows = sum(f["rows_delivered"] for f in g.manifest["feeds"].values())

    spent: list[float] = []  # seconds inside GE, read from the Validator when it records the run
    suites: dict[str, tuple[float, int]] = {}  # per suite and Data Docs: seconds, Spark jobs
    real_record = runner.Validator.record

    def record(self):
        real_record(self)
        spent.append(self.seconds)
        suites.update(self.timings)

    runner.Validator.record = record
    with_ge, result = _ingest(spark, base, g.landing, work / "with_ge")
    runner.Validator.record = real_record
    ge_seconds = sum(spent)
    real_validate = runner.Validator.validate
    runner.Validator.validate = lambda self, *a, **k: []  # routing and writes only
    without, _ = _ingest(spark, base, g.landing, work / "without_ge")
    runner.Validator.validate = real_validate
    report = {
        "scale": args.scale, "files": g.files, "rows": rows, "expectations": len(result.quality),
        "ingest_with_validation_s": round(with_ge, 1), "ingest_without_validation_s": round(without, 1),
        "time_inside_ge_s": round(ge_seconds, 1), "overhead": round(with_ge / without - 1, 3),
        "by_suite": {name: {"seconds": round(s, 2), "spark_jobs": jobs} for name, (s, jobs) in sorted(suites.items(), key=lambda kv: -kv[1][0])},
    }
    print(f"scale {args.scale}: {g.files:,} files, {rows:,} rows, {report['expectations']} expectation results")
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
