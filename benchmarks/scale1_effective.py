"""The scale-1 check, pass by pass: generate, ingest and classify the national feed (on demand).

    IIAP_PSEUDONYM_KEY=... .venv/bin/python benchmarks/scale1_effective.py --work /data/scale1 [--passes 0-9]

Scale 1 is ten passes of about 1.1M enterprises. The passes hold disjoint enterprises
(an enterprise's rows on all its platforms are in its pass), and the default rule judges
each enterprise on its own rows with fixed thresholds, so the national effective count is
the sum over passes of what `iiap classify` finds in each. Each pass therefore runs the
real jobs -- `iiap generate --scale 1 --passes K`, `iiap ingest` with every quality rule,
`iiap classify --truth` -- in a fresh process, with its own landing folder and lakehouse,
which are removed when its figures are saved (`--keep` keeps them): the disk and memory of
one pass, and a run that stops (a lost session, a killed job) resumes at the first pass
without figures. `WORK/results/pass-<K>.json` holds each pass's counts and timings; the
summary (printed, and `benchmarks/results/scale1-*.json`) adds them up against the white
paper's 1,619,865 once all ten are there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

TARGET = 1_619_865  # 有效企业, seed 000 section 二(一)1
TOLERANCE = 0.01


def one_pass(work: Path, k: int, scale: float, seed: int, profile: str) -> dict:
    """Generate, ingest and classify pass `k` of the feed; its figures."""
    from analytics.rules import load_classification
    from etl.config import load_generator, load_settings
    from etl.spark import build_session
    from jobs import classify, generate, ingest

    root = work / f"pass-{k:02d}"
    shutil.rmtree(root, ignore_errors=True)  # what an interrupted attempt left
    feed, lakehouse = root / "feed", root / "lakehouse"
    settings = load_settings(profile=profile, lakehouse_root=str(lakehouse), landing_root=str(feed / "landing"))
    tracking = settings.pipeline.tracking.model_copy(update={"local_store": str(work / "mlruns")})
    settings = settings.model_copy(update={"pipeline": settings.pipeline.model_copy(update={"tracking": tracking})})
    spark = build_session(settings, f"iiap-scale1-pass-{k:02d}")

    def progress(msg: str) -> None:
        print(f"  [pass {k:02d} {datetime.now():%H:%M:%S}] {msg}", flush=True)

    seconds = {}
    t0 = time.perf_counter()
    g = generate.run(spark, settings, load_generator(), scale, seed, str(feed), progress=progress, passes=[k])
    seconds["generate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    i = ingest.run(spark, settings, progress=progress)
    seconds["ingest"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    c = classify.run(spark, settings, load_classification(settings), None, str(feed / "truth"), progress=progress)
    seconds["classify"] = time.perf_counter() - t0
    spark.stop()
    m = g.manifest
    return {
        "pass": k, "scale": scale, "seed": seed, "profile": profile, "seconds": seconds,
        "enterprise_ids": json.loads((feed / "truth" / "passes" / f"{k:02d}.json").read_text())["enterprise_ids"],
        "truth": {"passes": m["passes"], "enterprises": m["enterprises"], "effective": m["effective"], "rows_delivered": sum(f["rows_delivered"] for f in m["feeds"].values()),
                  "files": m["files"], "bytes": m["bytes"], "config_sha256": m["config_sha256"]},
        "ingest": {"batch_id": i.batch_id, "files": i.files, "reconciled": all(f.reconciled for f in i.feeds.values()),
                   "rows_read": sum(f.rows_read for f in i.feeds.values()), "quarantined": sum(f.quarantine for f in i.feeds.values())},
        "classify": {"rule_set": c.rule_set, "mlflow_run_id": c.run_id, "connected": c.connected, "effective": c.effective, "evaluation": c.evaluation},
    }


def summarise(work: Path) -> dict:
    done = {r["pass"]: r for r in (json.loads(p.read_text()) for p in sorted((work / "results").glob("pass-*.json")))}
    if not done:
        raise SystemExit(f"no pass has finished in {work}")
    scales, passes = {r["scale"] for r in done.values()}, {r["truth"]["passes"] for r in done.values()}
    if len(scales) != 1 or len(passes) != 1:
        raise SystemExit(f"{work} holds passes of several feeds (scales {sorted(scales)}, passes {sorted(passes)}): use one --work per feed")
    (scale,), (passes,) = scales, passes
    total = {k: sum(r["classify"]["evaluation"][k] for r in done.values()) for k in ("true_positive", "false_positive", "false_negative", "true_negative")}
    tp, fp, fn = total["true_positive"], total["false_positive"], total["false_negative"]
    effective = sum(r["classify"]["effective"] for r in done.values())
    summary = {
        "scale": scale, "passes_done": sorted(done), "passes": passes, "complete": len(done) == passes,
        "configs": sorted({r["truth"]["config_sha256"] for r in done.values()}),
        "enterprises": sum(r["truth"]["enterprises"] for r in done.values()),
        "connected": sum(r["classify"]["connected"] for r in done.values()),
        "truth_effective": sum(r["truth"]["effective"] for r in done.values()),
        "classified_effective": effective,
        "rows_delivered": sum(r["truth"]["rows_delivered"] for r in done.values()),
        **total,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "seconds": {s: sum(r["seconds"][s] for r in done.values()) for s in ("generate", "ingest", "classify")},
        "all_reconciled": all(r["ingest"]["reconciled"] for r in done.values()),
    }
    if summary["complete"]:
        summary["target"] = target = round(TARGET * scale)
        summary["deviation"] = effective / target - 1
        summary["within_tolerance"] = abs(summary["deviation"]) <= TOLERANCE
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path, help="Folder for each pass's feed and lakehouse, and the figures (resumable).")
    parser.add_argument("--passes", default="0-9", help="Passes to run, e.g. 0-9 (default) or 3.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0, help="1 is the check; a small one tries the harness out.")
    parser.add_argument("--profile", default="local")
    parser.add_argument("--keep", action="store_true", help="Keep each pass's feed and lakehouse.")
    parser.add_argument("--one-pass", type=int, default=None, help=argparse.SUPPRESS)  # the child process of one pass
    args = parser.parse_args()
    os.environ.setdefault("IIAP_PSEUDONYM_KEY", "benchmark-only-key-0123456789")
    results = args.work / "results"
    results.mkdir(parents=True, exist_ok=True)

    if args.one_pass is not None:
        figures = one_pass(args.work, args.one_pass, args.scale, args.seed, args.profile)
        out = results / f"pass-{args.one_pass:02d}.json"
        out.with_suffix(".tmp").write_text(json.dumps(figures, indent=2))
        out.with_suffix(".tmp").rename(out)  # whole or absent
        if not args.keep:
            shutil.rmtree(args.work / f"pass-{args.one_pass:02d}", ignore_errors=True)
        return

    from jobs.generate import parse_passes

    for k in parse_passes(args.passes):
        if (results / f"pass-{k:02d}.json").exists():
            print(f"pass {k:02d}: done earlier", flush=True)
            continue
        print(f"pass {k:02d}: generate, ingest, classify", flush=True)
        cmd = [sys.executable, __file__, "--work", str(args.work), "--seed", str(args.seed), "--scale", str(args.scale), "--profile", args.profile, "--one-pass", str(k)]
        subprocess.run(cmd + (["--keep"] if args.keep else []), check=True)
        r = json.loads((results / f"pass-{k:02d}.json").read_text())
        print(f"pass {k:02d}: {r['classify']['effective']:,} classified effective of {r['truth']['effective']:,} true, "
              f"{r['truth']['rows_delivered']:,} rows; " + ", ".join(f"{s} {v:.0f} s" for s, v in r["seconds"].items()), flush=True)

    summary = summarise(args.work)
    print(json.dumps(summary, indent=2))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    out = Path(__file__).parent / "results" / f"scale1-{stamp}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
