"""iiap run, packaged (`iiap package`) and submitted to a real Spark standalone cluster: a master and two workers on
127.0.0.1, started from the pip-installed Spark. Every lakehouse table equals the local-mode run's, and the executors
ran in the workers' processes, not in the driver."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from etl import lake
from etl.catalog import TABLES, Tables
from etl.config import PROJECT_ROOT
from etl.jars import resolved_jars
from jobs import cli
from jobs.package import CODE_ZIP, MAIN, build
from tests.helpers import COLD_JVM_ENV, RUN_COLUMNS, ingest_differences, row_differences, settings_for, spark_test_conf

pytestmark = pytest.mark.cluster
SPARK_BIN = Path(sys.executable).parent  # the venv's spark-class and spark-submit (pip-installed Spark)
PLATFORMS = ("P01", "P02")  # a jsonl.gz one and a CSV one
LOCAL_ENV = {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_DAEMON_MEMORY": "256m", **COLD_JVM_ENV}


@dataclass(frozen=True)
class Cluster:
    url: str
    ui: str
    work_dirs: tuple[Path, ...]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _state(ui: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{ui}/json/", timeout=2) as r:
            return json.loads(r.read())
    except OSError:
        return None


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory):
    """A master and two workers (1 core, 1 GB each) on 127.0.0.1; every process stopped however the session ends."""
    root = tmp_path_factory.mktemp("standalone")
    env = {**os.environ, **LOCAL_ENV}
    port, ui_port = _free_port(), _free_port()
    url, ui = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}"
    daemons, work_dirs = [], tuple(root / f"worker{i}" for i in (1, 2))

    def start(name: str, *args: str) -> None:
        log = open(root / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        cmd = [str(SPARK_BIN / "spark-class"), *args]
        daemons.append(
            (subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log)
        )

    try:
        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
              "--webui-port", str(ui_port))  # fmt: skip
        for i, work in enumerate(work_dirs, 1):
            start(f"worker{i}", "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1",
                  "--memory", "1g", "--webui-port", str(_free_port()), "--work-dir", str(work), url)  # fmt: skip
        deadline = time.monotonic() + 180
        while (state := _state(ui)) is None or sum(w["state"] == "ALIVE" for w in state["workers"]) < 2:
            assert time.monotonic() < deadline, f"the cluster did not come up: {state}"
            assert all(p.poll() is None for p, _ in daemons), "a Spark daemon exited; see " + str(root)
            time.sleep(0.5)
        yield Cluster(url, ui, work_dirs)
    finally:
        for proc, _ in daemons:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, log in daemons:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()


def _cut(generated_landing: str, out: Path) -> Path:
    """Two platforms: their rosters and the first delivery day of each log feed."""
    src = Path(generated_landing)
    for pid in PLATFORMS:
        shutil.copytree(src / pid / "roster", out / pid / "roster")
        for feed in ("logins", "resource_usage", "traffic"):
            first = sorted(p.name for p in (src / pid / feed).iterdir())[0]
            shutil.copytree(src / pid / feed / first, out / pid / feed / first)
    return out


def _submit(settings, cluster: Cluster, package: Path, landing: Path, lakehouse: Path, work: Path):
    conf = {**spark_test_conf(settings), "spark.default.parallelism": "2"}  # two executors, both given tasks
    cmd = [
        str(SPARK_BIN / "spark-submit"),
        "--master", cluster.url,
        "--total-executor-cores", "2", "--executor-cores", "1", "--executor-memory", "1g",
        *[arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")],
        "--jars", ",".join(sorted(str(p) for p in (package / "jars").iterdir())),
        "--py-files", str(package / CODE_ZIP),
        str(package / MAIN),
        "--profile", "cluster", "--conf", str(settings.conf_dir),
        "--lakehouse", str(lakehouse), "--landing", str(landing),
        "run", "--summary", str(work / "summary.json"),
    ]  # fmt: skip
    env = {
        **os.environ,
        **LOCAL_ENV,
        "PYSPARK_PYTHON": sys.executable,
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
    }
    env.pop("PYSPARK_GATEWAY_PORT", None)
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1200)


def _table_differences(spark, here: Tables, there: Tables) -> list[str]:
    """Every catalogue table of the two lakehouses, row for row, but for the columns that name a run, a batch or a
    time; the ops tables of leases and run records name hosts, processes and times only."""
    out = ingest_differences(spark, here, there)  # the ingest's tables, and its validations
    classified = [
        lake.read(spark, t.quality_history).filter("run_kind = 'classify'").drop("batch_id", "validated_at")
        for t in (here, there)
    ]
    extra, missing = row_differences(*classified)
    if extra or missing:
        out.append(f"ops/quality_history of classify: {extra} rows not in the local run's, {missing} missing")
    by_ingest = set(here.written_by_ingest())
    ignore = (*RUN_COLUMNS, "run_id", "validated_at")
    for t in TABLES:
        path, ref = here.path(t.id), there.path(t.id)
        if path in by_ingest or t.layer == "ops":
            continue
        if not lake.exists(spark, path) or not lake.exists(spark, ref):
            out.append(f"{t.id}: exists {lake.exists(spark, path)} here, {lake.exists(spark, ref)} in local mode")
            continue
        extra, missing = row_differences(lake.read(spark, path), lake.read(spark, ref), ignore)
        if extra or missing:
            out.append(f"{t.id}: {extra} rows not in the local run's, {missing} missing")
    return out


def test_the_packaged_run_on_a_standalone_cluster_writes_what_local_mode_writes(
    spark, settings, generated, standalone_cluster, tmp_path, monkeypatch
):
    landing = _cut(generated.landing, tmp_path / "landing")
    package = build(PROJECT_ROOT, settings.conf_dir, resolved_jars(settings.jars), tmp_path / "dist", "test")
    work = tmp_path / "driver"
    work.mkdir()
    done = _submit(settings, standalone_cluster, package.folder, landing, tmp_path / "cluster_lake", work)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    summary = json.loads((work / "summary.json").read_text(encoding="utf-8"))
    assert (summary["status"], summary["spark"]["master"]) == ("done", standalone_cluster.url)
    assert [(s["stage"], s["status"]) for s in summary["stages"]] == [
        ("ingest", "done"),
        ("classify", "done"),
        ("economy", "done"),
        ("release", "done"),
    ]

    # the executors ran in the workers: one executor of the application in each worker, which ran tasks
    app = summary["spark"]["application_id"]
    for work_dir in standalone_cluster.work_dirs:
        (executor,) = (work_dir / app).iterdir()
        assert (executor / "stderr").read_text(encoding="utf-8").count("Finished task") > 0, executor
        assert (executor / CODE_ZIP).is_file()  # the code the executor imported iiap from
    (app_state,) = [a for a in _state(standalone_cluster.ui)["completedapps"] if a["id"] == app]
    assert app_state["state"] == "FINISHED"

    # the same run in local mode (this process's session) writes the same rows
    local = settings_for(settings, tmp_path / "local_lake", str(landing))
    tracking = local.pipeline.tracking.model_copy(update={"local_store": str(tmp_path / "local_mlflow")})
    local = local.model_copy(update={"pipeline": local.pipeline.model_copy(update={"tracking": tracking})})
    monkeypatch.setattr(cli, "_session", lambda s, name, extra=None: spark)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # an earlier test's mlflow.set_tracking_uri sets it
    res = CliRunner().invoke(cli.run, [], obj={"settings": local})
    assert res.exit_code == 0, res.output
    cluster_tables = Tables(settings_for(settings, tmp_path / "cluster_lake", str(landing)))
    assert _table_differences(spark, cluster_tables, Tables(local)) == []
    released = {s["stage"]: s for s in summary["stages"]}["release"]["result"]
    assert released["top"] and released["classification_run"] == summary["stages"][1]["outputs"]["mlflow_run"]
