"""The scale-1 check's summary: the national count is published from it, so its sums are pinned."""

import importlib.util
import json
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "scale1_effective.py"


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("scale1_effective", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def figures(
    k,
    *,
    scale=0.002,
    passes=2,
    effective,
    truth_effective,
    fp=0,
    revision=None,
    seconds=(10.0, 20.0, 5.0),
    reconciled=True,
):
    tp = effective - fp
    fn = truth_effective - tp
    r = {
        "pass": k,
        "scale": scale,
        "seed": 7,
        "profile": "local",
        "seconds": dict(zip(("generate", "ingest", "classify"), seconds, strict=True)),
        "truth": {
            "passes": passes,
            "enterprises": 10_850,
            "effective": truth_effective,
            "rows_delivered": 1000 + k,
            "files": 3,
            "bytes": 99,
            "config_sha256": "c0ffee",
        },
        "ingest": None
        if reconciled is None
        else {"batch_id": f"b{k}", "files": 3, "reconciled": reconciled, "rows_read": 1000 + k, "quarantined": 7},
        "classify": {
            "rule_set": "activity-2of3-v1",
            "mlflow_run_id": f"run{k}",
            "connected": 10_850,
            "effective": effective,
            "evaluation": {
                "true_positive": tp,
                "false_positive": fp,
                "false_negative": fn,
                "true_negative": 10_850 - tp - fp - fn,
            },
        },
    }
    if revision is not None:
        r["code_revision"] = revision
    return r


def write(folder: Path, *records):
    folder.mkdir(exist_ok=True)
    for r in records:
        (folder / f"pass-{r['pass']:02d}.json").write_text(json.dumps(r))
    return folder


def test_all_passes_add_up_to_the_national_count_against_the_scaled_target(harness, tmp_path):
    results = write(
        tmp_path / "r",
        figures(0, effective=1620, truth_effective=1625, fp=2),
        figures(1, effective=1600, truth_effective=1610, revision="abc123", seconds=(None, 30.0, 6.0)),
    )
    s = harness.summarise(results)
    assert s["passes_done"] == [0, 1] and s["complete"] is True
    assert s["code_revisions"] == {"abc123": [1], "not recorded": [0]}
    assert (s["enterprises"], s["connected"], s["truth_effective"], s["classified_effective"], s["rows_delivered"]) == (
        21_700,
        21_700,
        3235,
        3220,
        2001,
    )
    assert (s["true_positive"], s["false_positive"], s["false_negative"]) == (3218, 2, 17)
    assert s["precision"] == pytest.approx(3218 / 3220) and s["recall"] == pytest.approx(3218 / 3235)
    assert s["seconds"] == {"generate": 10.0, "ingest": 50.0, "classify": 11.0}
    assert s["timed_passes"] == {"generate": [0], "ingest": [0, 1], "classify": [0, 1]}
    assert s["target"] == 3240  # round(1,619,865 x 0.002)
    assert s["deviation"] == pytest.approx(3220 / 3240 - 1)
    assert s["within_tolerance"] is True and s["all_reconciled"] is True


def test_a_count_off_by_more_than_one_percent_is_outside_tolerance(harness, tmp_path):
    results = write(
        tmp_path / "r",
        figures(0, effective=1600, truth_effective=1600),
        figures(1, effective=1600, truth_effective=1600),
    )
    s = harness.summarise(results)
    assert s["target"] == 3240 and s["classified_effective"] == 3200
    assert s["within_tolerance"] is False  # 3200 / 3240 - 1 = -1.23%


def test_a_partial_run_has_no_verdict_and_an_unreconciled_pass_shows(harness, tmp_path):
    results = write(tmp_path / "r", figures(1, effective=1600, truth_effective=1610, reconciled=False))
    s = harness.summarise(results)
    assert s["passes_done"] == [1] and s["complete"] is False
    assert "target" not in s and "within_tolerance" not in s
    assert s["all_reconciled"] is False


def test_a_pass_whose_ingest_an_earlier_attempt_did_is_not_counted_as_unreconciled(harness, tmp_path):
    results = write(tmp_path / "r", figures(0, effective=1620, truth_effective=1625, reconciled=None))
    assert harness.summarise(results)["all_reconciled"] is True


def test_passes_of_two_feeds_in_one_folder_are_refused(harness, tmp_path):
    results = write(
        tmp_path / "r",
        figures(0, effective=1620, truth_effective=1625),
        figures(1, scale=1.0, passes=10, effective=1, truth_effective=1),
    )
    with pytest.raises(
        SystemExit,
        match=(
            r"holds passes of several feeds \(scales \[0\.002, 1\.0\], passes \[2, 10\]\): "
            r"use one --results per feed"
        ),
    ):
        harness.summarise(results)


def test_an_empty_folder_is_refused(harness, tmp_path):
    (tmp_path / "r").mkdir()
    with pytest.raises(SystemExit, match=r"no pass has finished in .*/r$"):
        harness.summarise(tmp_path / "r")


def test_the_committed_scale1_figures_are_one_feed_and_all_reconciled(harness):
    s = harness.summarise(HARNESS.parent / "measured" / "scale1-seed7")
    assert s["scale"] == 1.0 and s["passes"] == 10 and len(s["configs"]) == 1
    assert s["all_reconciled"] is True and s["false_positive"] == 0
    assert s["enterprises"] == 1_085_000 * len(s["passes_done"])
    # all ten are in: the national count README publishes, and its verdict against 1,619,865
    assert s["complete"] is True and s["passes_done"] == list(range(10))
    assert (s["enterprises"], s["truth_effective"], s["classified_effective"]) == (10_850_000, 1_619_865, 1_618_864)
    assert (s["false_negative"], s["rows_delivered"]) == (1_001, 336_976_979)
    assert s["target"] == 1_619_865 and s["within_tolerance"] is True
