"""Delta Lake's JVM jars, resolved once from Maven Central into the project.

Resolution uses Spark's own Ivy resolver (the same path as `--packages`), run in a
child process with a project-local Ivy home; the resolved jars are copied to ./jars
with a listing, and every later Spark start reads them from there with no network.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from etl.config import PROJECT_ROOT, Jars

JARS_DIR = PROJECT_ROOT / "jars"
IVY_DIR = PROJECT_ROOT / ".ivy2"
LISTING = "resolved.json"


class JarsMissing(RuntimeError):
    """The Delta jars have not been fetched into the project yet."""


def resolved_jars(jars: Jars, jars_dir: Path = JARS_DIR) -> list[str]:
    """Absolute paths of the resolved jars, checked against the configured packages."""
    listing = jars_dir / LISTING
    if not listing.is_file():
        raise JarsMissing(
            f"Delta jars not found in {jars_dir}; run `make setup` (or `python -m etl.jars`) once with network access"
        )
    meta = json.loads(listing.read_text())
    if tuple(meta["packages"]) != tuple(jars.packages):
        raise JarsMissing(
            f"{listing} was resolved for {meta['packages']}, conf/jars.yaml asks for {list(jars.packages)}; "
            "run `make setup`"
        )
    paths = [jars_dir / name for name in meta["files"]]
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        raise JarsMissing(f"jars listed in {listing} are missing: {absent}; run `make setup`")
    return [str(p) for p in paths]


_RESOLVE = """
import sys
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[1]").appName("iiap-resolve-jars")
         .config("spark.jars.packages", sys.argv[1]).config("spark.jars.ivy", sys.argv[2])
         .config("spark.ui.enabled", "false").getOrCreate())
spark.stop()
"""


def fetch(jars: Jars, jars_dir: Path = JARS_DIR, ivy_dir: Path = IVY_DIR) -> list[str]:
    """Resolve the configured packages (and their dependencies) and copy them into `jars_dir`."""
    try:
        return resolved_jars(jars, jars_dir)
    except JarsMissing:
        pass
    coordinates = ",".join(jars.packages)
    print(f"resolving {coordinates} from Maven Central into {jars_dir} ...", flush=True)
    result = subprocess.run([sys.executable, "-c", _RESOLVE, coordinates, str(ivy_dir)], capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
        raise RuntimeError(f"could not resolve {coordinates}:\n{tail}")
    files = sorted((ivy_dir / "jars").glob("*.jar"))
    if not files:
        raise RuntimeError(f"resolution of {coordinates} produced no jars in {ivy_dir / 'jars'}")
    jars_dir.mkdir(parents=True, exist_ok=True)
    for jar in files:
        shutil.copy2(jar, jars_dir / jar.name)
    (jars_dir / LISTING).write_text(
        json.dumps({"packages": list(jars.packages), "files": [f.name for f in files]}, indent=2)
    )
    print(f"{len(files)} jars in {jars_dir}", flush=True)
    return resolved_jars(jars, jars_dir)


if __name__ == "__main__":
    from etl.config import load_settings

    fetch(load_settings().jars)
