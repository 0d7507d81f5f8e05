"""iiap package: the code zip spark-submit ships (--py-files), its entry point, conf/ as a zip, the jars; the same
bytes on every build."""

import json
import subprocess
import sys
import zipfile

from etl.config import DEFAULT_CONF_DIR, PROJECT_ROOT
from jobs.package import CODE_PACKAGES, CODE_ZIP, CONF_ZIP, MAIN, MANIFEST, build


def _jars(tmp_path) -> list[str]:
    folder = tmp_path / "resolved"
    folder.mkdir()
    for name in ("io.delta_delta-spark_4.1_2.13-4.2.0.jar", "io.delta_delta-storage-4.2.0.jar"):
        (folder / name).write_bytes(name.encode())
    return sorted(str(p) for p in folder.iterdir())


def test_the_package_holds_the_code_conf_jars_and_entry_point(tmp_path):
    built = build(PROJECT_ROOT, DEFAULT_CONF_DIR, _jars(tmp_path), tmp_path / "dist", "abc123")
    assert sorted(built.files) == [
        CONF_ZIP,
        CODE_ZIP,
        MAIN,
        "jars/io.delta_delta-spark_4.1_2.13-4.2.0.jar",
        "jars/io.delta_delta-storage-4.2.0.jar",
    ]
    code = zipfile.ZipFile(built.folder / CODE_ZIP).namelist()
    shipped = {
        p.relative_to(PROJECT_ROOT).as_posix() for pkg in CODE_PACKAGES for p in (PROJECT_ROOT / pkg).rglob("*.py")
    }
    assert set(code) == shipped | {"jobs/_build.py"}  # every module, nothing else (no tests, no caches)
    assert zipfile.ZipFile(built.folder / CODE_ZIP).read("jobs/_build.py").decode().endswith("REVISION = 'abc123'\n")
    conf = zipfile.ZipFile(built.folder / CONF_ZIP).namelist()
    assert {"pipeline.yaml", "quality.yaml", "profiles/cluster.yaml", "indices/release.yaml"} <= set(conf)
    assert not any(n.startswith("conf/") for n in conf)  # --archives conf.zip#conf unpacks into ./conf
    manifest = json.loads((built.folder / MANIFEST).read_text(encoding="utf-8"))
    assert manifest == {"git_revision": "abc123", "files": built.files}
    (tmp_path / "other").mkdir()
    again = build(PROJECT_ROOT, DEFAULT_CONF_DIR, _jars(tmp_path / "other"), tmp_path / "again", "abc123")
    assert again.files == built.files  # reproducible: the same bytes from another build


def test_the_entry_point_runs_iiap_from_the_zip_alone(tmp_path):
    built = build(PROJECT_ROOT, DEFAULT_CONF_DIR, _jars(tmp_path), tmp_path / "dist", "abc123")
    env = {"PYTHONPATH": str(built.folder / CODE_ZIP), "PATH": "/usr/bin:/bin"}
    probe = (
        "import jobs.cli, etl.config, analytics.tracking as t, pathlib; "
        "print(jobs.cli.__file__); print(etl.config.PROJECT_ROOT == pathlib.Path.cwd()); print(t.git_revision())"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"{built.folder / CODE_ZIP}/jobs/cli.py", "True", "abc123"]
    res = subprocess.run(
        [sys.executable, str(built.folder / MAIN), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Usage: iiap [OPTIONS] COMMAND [ARGS]...")
    assert "  run " in res.stdout and "  package " in res.stdout
