"""A job killed mid-run leaves its MLflow run RUNNING; the next job on the same lakehouse marks it failed."""

import mlflow

from analytics import tracking


def _settings(settings, tmp_path):
    store = settings.pipeline.tracking.model_copy(update={"local_store": str(tmp_path / "mlflow"), "uri": None})
    pipeline = settings.pipeline.model_copy(update={"tracking": store, "lakehouse_root": str(tmp_path / "lake")})
    return settings.model_copy(update={"pipeline": pipeline})


def test_runs_left_running_on_this_lakehouse_are_marked_failed(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    s = _settings(settings, tmp_path)
    experiment = tracking.experiment_id(s, "classification")
    client = mlflow.MlflowClient(tracking.tracking_uri(s))
    killed = client.create_run(experiment, tags={"lakehouse": s.lakehouse}).info.run_id
    elsewhere = client.create_run(experiment, tags={"lakehouse": "/another/lakehouse"}).info.run_id
    finished = client.create_run(experiment, tags={"lakehouse": s.lakehouse}).info.run_id
    client.set_terminated(finished, "FINISHED")
    with tracking.started_run(s, experiment, "next") as active:
        assert active.data.tags["lakehouse"] == s.lakehouse
    status = {r: client.get_run(r).info.status for r in (killed, elsewhere, finished, active.info.run_id)}
    assert status == {killed: "FAILED", elsewhere: "RUNNING", finished: "FINISHED", active.info.run_id: "FINISHED"}
    assert client.get_run(killed).data.tags[tracking.ABANDONED] == (
        "its job ended without ending the run; marked failed by a later run"
    )
    assert tracking.fail_abandoned_runs(s, experiment) == []
