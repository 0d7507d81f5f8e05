"""MLflow tracking shared by the jobs that publish numbers (classification, index releases).

A run records what its output is a function of: the Delta version of every input
table, the rule set, the window and the code's git revision.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from etl.config import PROJECT_ROOT, Settings


def tracking_uri(settings: Settings) -> str:
    """MLFLOW_TRACKING_URI, else the configured URI, else a SQLite store inside the project."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    cfg = settings.pipeline.tracking
    if cfg.uri:
        return cfg.uri
    return f"sqlite:///{_local_store(settings) / 'mlflow.db'}"


def _local_store(settings: Settings) -> Path:
    store = Path(settings.path(settings.pipeline.tracking.local_store))
    store.mkdir(parents=True, exist_ok=True)
    return store


def experiment_id(settings: Settings, job: str) -> str:
    """The job's experiment (created on first use, with artifacts beside a local store)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(settings))
    name = f"{settings.pipeline.tracking.experiment_prefix}-{job}"
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    uri = tracking_uri(settings)
    artifacts = (
        (_local_store(settings) / "artifacts").as_uri()
        if uri.startswith("sqlite:///") and not settings.pipeline.tracking.uri
        else None
    )
    return mlflow.create_experiment(name, artifact_location=artifacts)


ABANDONED = "iiap.abandoned"


def fail_abandoned_runs(settings: Settings, experiment: str) -> list[str]:
    """Mark FAILED the runs of `experiment` on this lakehouse still RUNNING: a job killed before MLflow could end
    its run. Called under the lakehouse's lease (etl/lease.py), so no such run can be alive."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri(settings))
    lakehouse = settings.lakehouse
    found = client.search_runs([experiment], f"attributes.status = 'RUNNING' and tags.lakehouse = '{lakehouse}'")
    for run in found:
        client.set_tag(run.info.run_id, ABANDONED, "its job ended without ending the run; marked failed by a later run")
        client.set_terminated(run.info.run_id, "FAILED")
    return [run.info.run_id for run in found]


@contextmanager
def started_run(settings: Settings, experiment: str, run_name: str) -> Iterator:
    """A job's MLflow run, tagged with its lakehouse, after the abandoned runs of earlier jobs are marked failed."""
    import mlflow

    fail_abandoned_runs(settings, experiment)
    with mlflow.start_run(experiment_id=experiment, run_name=run_name, tags={"lakehouse": settings.lakehouse}) as run:
        yield run


def job_run_params(settings: Settings, run_id: str, job: str, described: str, error: type[Exception]) -> dict[str, str]:
    """The params of MLflow run `run_id`, which must be a run of `job` (its `job` tag); else `error`, saying why."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = tracking_uri(settings)
    try:
        run = MlflowClient(uri).get_run(run_id)
    except MlflowException as exc:
        raise error(f"MLflow run {run_id} not found at {uri}: {exc.message}") from None
    if run.data.tags.get("job") != job:
        raise error(f"MLflow run {run_id} is not {described} (job {run.data.tags.get('job')!r})")
    return run.data.params


def git_revision(root: Path = PROJECT_ROOT) -> str:
    """HEAD's commit, with `-dirty` if tracked files differ from it; `unknown` outside a git checkout. Code run from
    `iiap package`'s zip carries the commit it was built from."""
    try:
        from jobs._build import REVISION  # only in the zip

        return REVISION
    except ImportError:
        pass
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


def to_csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
