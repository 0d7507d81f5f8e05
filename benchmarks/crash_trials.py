"""Real `kill -9` trials of `iiap ingest` at random moments, each recovered and compared with an uninterrupted batch.

    .venv/bin/python benchmarks/crash_trials.py LANDING WORK [--trials 50] [--seed 20201203]

LANDING: a small landing written by `iiap generate` (e.g. --scale 0.0003). WORK: a scratch folder. First one
uninterrupted `iiap ingest` (a subprocess, as an operator runs it) gives the reference lakehouse and its duration
T. Each trial starts `iiap ingest` on a fresh lakehouse, kills its whole process group (Python and the Spark JVM)
with SIGKILL at a moment drawn uniformly from [0, T], recovers it here (`ingest.run(recover_incomplete=True)`,
which takes the dead run's lease over and rolls its batch back) and compares every table the ingest writes with
the reference's (tests/helpers.ingest_differences). Trials run in order and are resumable: one JSON line per
trial is appended to WORK/trials.jsonl and trials already there are skipped. Prints the tally at the end; the
figures are recorded in benchmarks/measured/crash_trials.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

# this checkout's jobs and its tests' helpers (not importable from an installed package)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from etl.catalog import Tables  # noqa: E402
from etl.config import PROJECT_ROOT, load_settings  # noqa: E402
from etl.spark import build_session  # noqa: E402
from jobs import ingest  # noqa: E402
from tests.helpers import ingest_differences, settings_for  # noqa: E402


def _ingest(lakehouse: Path, landing: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "jobs", "--lakehouse", str(lakehouse), "--landing", landing, "ingest"]
    return subprocess.Popen(
        cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _reference(work: Path, landing: str) -> float:
    """The uninterrupted batch's lakehouse (kept between runs) and its duration."""
    done = work / "reference.json"
    if done.exists():
        return json.loads(done.read_text())["seconds"]
    shutil.rmtree(work / "reference", ignore_errors=True)
    start = time.monotonic()
    if _ingest(work / "reference", landing).wait() != 0:
        raise SystemExit("the uninterrupted ingest failed")
    seconds = time.monotonic() - start
    done.write_text(json.dumps({"seconds": seconds}))
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("landing")
    ap.add_argument("work", type=Path)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--seed", type=int, default=20201203)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("IIAP_PSEUDONYM_KEY", "benchmark-only-key-0123456789")
    landing = str(Path(args.landing).resolve())
    duration = _reference(args.work, landing)
    log = args.work / "trials.jsonl"
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    rng = random.Random(args.seed)
    moments = [rng.uniform(0, duration) for _ in range(args.trials)]
    settings = load_settings()
    spark = build_session(settings, "bench-crash-trials", {"spark.ui.enabled": "false"})
    ref = Tables(settings_for(settings, args.work / "reference", landing))
    print(f"uninterrupted ingest: {duration:.1f} s; {len(done)} of {args.trials} trials recorded")
    for i in range(len(done), args.trials):
        lakehouse = args.work / f"trial_{i:03d}"
        shutil.rmtree(lakehouse, ignore_errors=True)
        proc = _ingest(lakehouse, landing)
        time.sleep(moments[i])
        finished = proc.poll() is not None
        if not finished:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        written = sum(1 for p in ref.written_by_ingest() if (lakehouse / Path(p).parent.name / Path(p).name).exists())
        s = settings_for(settings, lakehouse, landing)
        recovered = ingest.run(spark, s, recover_incomplete=True)
        differences = ingest_differences(spark, Tables(s), ref)
        trial = {
            "trial": i,
            "killed_at_s": round(moments[i], 2),
            "killed": not finished,
            "tables_existing_at_kill": written,
            "recovered_batch": recovered.batch_id,
            "differences": differences,
        }
        with log.open("a") as out:
            out.write(json.dumps(trial) + "\n")
        print(json.dumps(trial), flush=True)
        shutil.rmtree(lakehouse, ignore_errors=True)
        done.append(trial)
    killed = [t for t in done if t["killed"]]
    bad = [t for t in done if t["differences"]]
    print(f"{len(done)} trials, {len(killed)} killed mid-run, {len(bad)} with tables unlike the reference")
    spark.stop()


if __name__ == "__main__":
    main()
