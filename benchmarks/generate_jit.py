"""Benchmark: `iiap generate --jit quick` against `--jit optimizing`, in turn, at each scale (on demand).

    .venv/bin/python benchmarks/generate_jit.py --scales 0.001 0.01 --pairs 3

Each run is a whole CLI process (JVM start included), as a user runs it. Runs alternate
quick, optimizing, quick, ... so that a drift in the machine's speed hits both; the ratio
quick/optimizing is taken pair by pair and its median reported. Both modes must write
byte-identical landing files (the compiler changes speed, never output): checked per scale.
Results also go to benchmarks/results/ (ignored by git).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("quick", "optimizing")


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(folder)).encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _run(scale: float, seed: int, mode: str) -> tuple[float, str]:
    work = Path(tempfile.mkdtemp(prefix=f"iiap-jit-{mode}-"))
    try:
        cmd = [
            str(ROOT / ".venv/bin/iiap"),
            "generate",
            "--scale",
            str(scale),
            "--seed",
            str(seed),
            "--out",
            str(work / "out"),
            "--jit",
            mode,
        ]
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        wall = time.perf_counter() - t0
        return wall, _tree_digest(work / "out" / "landing")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.001, 0.01])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = []
    for scale in args.scales:
        walls: dict[str, list[float]] = {m: [] for m in MODES}
        digests: set[str] = set()
        for i in range(args.pairs):
            for mode in MODES:
                wall, digest = _run(scale, args.seed, mode)
                walls[mode].append(wall)
                digests.add(digest)
                print(f"scale {scale} pair {i + 1}/{args.pairs} {mode:>10}: {wall:6.1f} s", file=sys.stderr, flush=True)
        ratios = [q / o for q, o in zip(walls["quick"], walls["optimizing"], strict=True)]
        rows.append(
            {
                "scale": scale,
                "pairs": args.pairs,
                **{f"{m}_s": [round(w, 1) for w in walls[m]] for m in MODES},
                "quick_median_s": round(statistics.median(walls["quick"]), 1),
                "optimizing_median_s": round(statistics.median(walls["optimizing"]), 1),
                "ratio_quick_to_optimizing": round(statistics.median(ratios), 3),
                "identical_output": len(digests) == 1,
            }
        )
    print(f"{'scale':>8} {'quick s':>8} {'optim. s':>8} {'quick/optim.':>12}  identical output")
    for r in rows:
        print(
            f"{r['scale']:>8} {r['quick_median_s']:>8} {r['optimizing_median_s']:>8} "
            f"{r['ratio_quick_to_optimizing']:>12.3f}  {'yes' if r['identical_output'] else 'NO'}"
            f"   (runs: quick {r['quick_s']}, optimizing {r['optimizing_s']})"
        )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"generate-jit-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(rows, indent=2))
    if not all(r["identical_output"] for r in rows):
        sys.exit("the two JIT modes wrote different landing files")


if __name__ == "__main__":
    main()
