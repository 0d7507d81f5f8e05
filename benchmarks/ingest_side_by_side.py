"""Whole `iiap ingest` of one landing by two checkouts, in turn (A B A B ...), each into a new lakehouse.

    .venv/bin/python benchmarks/ingest_side_by_side.py CHECKOUT_A CHECKOUT_B LANDING [--pairs 2] [--work DIR]

Each checkout needs its own `make setup` (its .venv and jars). Wall seconds per run (a subprocess, JVM start
included) and the ratio A/B pair by pair, so a drift of the machine's speed hits both sides of a pair alike. Each
run's progress lines are kept in WORK/<side><n>.log, for the time of each phase. The key is a fixed benchmark key.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path


def _ingest(checkout: Path, landing: str, lakehouse: Path, log: Path) -> float:
    shutil.rmtree(lakehouse, ignore_errors=True)
    cmd = [str(checkout / ".venv/bin/python"), "-m", "jobs", "--lakehouse", str(lakehouse), "--landing", landing]
    env = os.environ | {"IIAP_PSEUDONYM_KEY": "benchmark-key-0123456789"}
    start = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run([*cmd, "ingest"], cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: ingest failed (exit {done.returncode}), see {log}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("landing")
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/ingest_side_by_side"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    ratios = []
    for n in range(1, args.pairs + 1):
        a = _ingest(args.a.resolve(), args.landing, args.work / "lake_a", args.work / f"a{n}.log")
        b = _ingest(args.b.resolve(), args.landing, args.work / "lake_b", args.work / f"b{n}.log")
        ratios.append(a / b)
        print(f"pair {n}: A {a:.1f} s, B {b:.1f} s, A/B {a / b:.3f}", flush=True)
    print(f"A/B median {statistics.median(ratios):.3f} over {len(ratios)} pairs")


if __name__ == "__main__":
    main()
