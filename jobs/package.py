"""iiap package: what `spark-submit` needs to run iiap on a cluster, in one folder (README, "On a cluster").

- `iiap-code.zip`: the packages (etl, jobs, quality, analytics) for `--py-files`; the driver and the
  executors import iiap from it (the file check runs Python on the executors);
- `iiap_main.py`: the entry point `spark-submit` runs (the `iiap` command);
- `conf.zip`: `conf/` for `--archives conf.zip#conf` when the driver runs on the cluster (`--conf conf`);
- `jars/`: Delta Lake's jars as resolved into ./jars, for `--jars`;
- `MANIFEST.json`: each file's SHA-256 and the git revision it was built from.

The zips are reproducible: entries sorted, fixed timestamps, no caches. The Python environment itself (a packed
virtual environment for `--archives`) is `make package-env`'s.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

CODE_PACKAGES = ("etl", "jobs", "quality", "analytics")
CODE_ZIP, CONF_ZIP, MAIN, MANIFEST = "iiap-code.zip", "conf.zip", "iiap_main.py", "MANIFEST.json"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry holds: the same bytes on every build
ENTRY_POINT = '''"""spark-submit's entry point: the iiap command, its code from --py-files iiap-code.zip."""

from jobs.cli import main

main(prog_name="iiap")
'''


@dataclass(frozen=True)
class Package:
    folder: Path
    files: dict[str, str]  # name in the folder -> SHA-256


def _zip(out: Path, root: Path, members: list[Path], extra: dict[str, str] | None = None) -> None:
    entries = {p.relative_to(root).as_posix(): p.read_bytes() for p in members}
    entries |= {name: text.encode("utf-8") for name, text in (extra or {}).items()}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, _EPOCH)
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            z.writestr(info, entries[name])


def _sources(folder: Path, suffixes: tuple[str, ...] | None = None) -> list[Path]:
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and (suffixes is None or p.suffix in suffixes)
    ]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(project: Path, conf_dir: Path, jars: list[str], out: Path, revision: str) -> Package:
    """The package of the checkout at `project` (its `conf_dir`, the resolved `jars`) in `out`, replaced if there."""
    if out.exists():
        shutil.rmtree(out)
    (out / "jars").mkdir(parents=True)
    code = [p for pkg in CODE_PACKAGES for p in _sources(project / pkg, (".py",))]
    build_info = f'"""Written by iiap package: the commit this zip was built from."""\n\nREVISION = {revision!r}\n'
    _zip(out / CODE_ZIP, project, code, {"jobs/_build.py": build_info})
    _zip(out / CONF_ZIP, conf_dir, _sources(conf_dir))  # entries relative to conf/: --archives conf.zip#conf
    (out / MAIN).write_text(ENTRY_POINT, encoding="utf-8")
    for jar in jars:
        shutil.copy2(jar, out / "jars" / Path(jar).name)
    files = {p.relative_to(out).as_posix(): _sha256(p) for p in sorted(out.rglob("*")) if p.is_file()}
    (out / MANIFEST).write_text(json.dumps({"git_revision": revision, "files": files}, indent=2), encoding="utf-8")
    return Package(out, files)
