"""Ingests of one landing in one SparkSession per side, under two sets of Spark confs, in turn (A B A B ...).

    .venv/bin/python benchmarks/session_conf.py LANDING --a k=v ... --b k=v ... [--runs 4] [--rounds 1]

Each side is a process of its own (JVM options such as the garbage collector need their own JVM) that starts a
session with the test suite's confs (tests.helpers.spark_test_conf) updated by the side's, then ingests LANDING
`--runs` times, each into a new lakehouse: the first run pays the JVM's warm-up, as the first ingest of a test
worker does. It prints the wall seconds of each run and the CPU seconds of the whole side (its Python process and
its JVM, read from /proc), which is what two test workers on two cores compete for. `--base` names the confs both
sides start from: `tests` (default) or `profile` (conf/profiles/local.yaml alone, as `iiap ingest` runs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "benchmark-key-0123456789"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def side(landing: str, work: Path, runs: int, base: str, conf: dict[str, str]) -> dict:
    """One side: `runs` ingests in one session; wall per run, CPU of the Python process and its JVM."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("IIAP_PSEUDONYM_KEY", KEY)
    from etl.config import load_settings
    from etl.spark import build_session
    from jobs import ingest
    from tests.helpers import settings_for, spark_test_conf

    settings = load_settings()
    spark = build_session(settings, "session-conf", {**(spark_test_conf(settings) if base == "tests" else {}), **conf})
    walls = []
    for i in range(runs):
        lakehouse = work / f"lake_{i}"
        shutil.rmtree(lakehouse, ignore_errors=True)
        start = time.monotonic()
        ingest.run(spark, settings_for(settings, str(lakehouse), landing))
        walls.append(round(time.monotonic() - start, 1))
    own = resource.getrusage(resource.RUSAGE_SELF)
    jvm = _cpu_seconds(spark.sparkContext._gateway.proc.pid)
    return {"walls": walls, "cpu_seconds": round(own.ru_utime + own.ru_stime + jvm, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("landing")
    ap.add_argument("--a", nargs="*", default=[], help="Spark confs of side A, k=v")
    ap.add_argument("--b", nargs="*", default=[], help="Spark confs of side B, k=v")
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--base", choices=("tests", "profile"), default="tests")
    ap.add_argument("--work", type=Path, default=Path("/tmp/session_conf"))
    ap.add_argument("--side", help=argparse.SUPPRESS)  # internal: run one side and print its JSON
    args = ap.parse_args()
    if args.side:
        conf = dict(kv.split("=", 1) for kv in getattr(args, args.side))
        print(json.dumps(side(args.landing, args.work / args.side, args.runs, args.base, conf)))
        return
    for r in range(args.rounds):
        for name in ("a", "b"):
            confs = getattr(args, name)
            cmd = [sys.executable, __file__, args.landing, "--side", name, "--runs", str(args.runs)]
            cmd += ["--base", args.base, "--work", str(args.work), f"--{name}", *confs]
            out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            print(json.dumps({"round": r, "side": name, "confs": confs, **result}), flush=True)


if __name__ == "__main__":
    main()
