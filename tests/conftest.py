"""Shared fixtures. The one full-size execution of the solution per test run lives here.

``solution_run`` grades the built solution notebook with ``otter run`` and the built autograder
zip, exactly as an instructor would; one extra last cell saves the trained models and the
public-test results into a folder (it only writes files), so that the exercise tests can run the
hidden tests against variants without training anything again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from ds201_lab1 import spec

ROOT = Path(__file__).resolve().parents[1]
STUDENT = ROOT / "student"
AUTOGRADER = ROOT / "autograder"
ZIP = AUTOGRADER / "lab1-autograder.zip"
MODELS = tuple(variable for variable, _ in spec.MODELS.values())

SAVE_ARTIFACTS = """
import glob as _glob, json as _json, os as _os
import numpy as _np
from otter.test_files import ExceptionTestFile as _ETF
_out = _os.environ["DS201_TEST_ARTIFACTS"]
for _name in %r:
    globals()[_name].save(_os.path.join(_out, _name + ".keras"))
_np.save(_os.path.join(_out, "cm_ex4.npy"), cm_ex4)
_public = {}
for _path in sorted(_glob.glob(_os.path.join(%r, "*.py"))):
    _tf = _ETF.from_file(_path)
    _tf.run(globals())
    _public[_tf.name] = [[_r.passed, _r.message] for _r in _tf.test_case_results]
with open(_os.path.join(_out, "public.json"), "w") as _f:
    _json.dump(_public, _f)
"""


_START = pytest.StashKey[float]()
# Options that run only part of the suite: such a run is not a `make test` timing.
_PARTIAL = ("keyword", "markexpr", "deselect", "maxfail", "lf", "failedfirst", "stepwise", "collectonly")


def pytest_sessionstart(session) -> None:
    session.config.stash[_START] = time.monotonic()
    _require_data()


def pytest_sessionfinish(session, exitstatus) -> None:
    """Record the whole suite's wall time in .bench/history.jsonl for `make bench`.

    Only a run of the whole suite is recorded: no path or node arguments (pytest falls back to
    ``testpaths``) and none of -k, -m, --deselect, -x/--maxfail, --lf, --ff, --sw, --collect-only.
    """
    config = session.config
    partial = any(getattr(config.option, o, None) for o in _PARTIAL)
    if partial or config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return
    from ds201_lab1.build import record_timing

    seconds = time.monotonic() - config.stash.get(_START, time.monotonic())
    record_timing("make test", seconds, int(exitstatus), tests=session.testscollected)


def _require_data() -> None:
    """Stop the run at once, with the fix, when the offline dataset cache is missing."""
    from ds201_lab1.data import cache_dir

    missing = [n for n in ("mnist.npz", "cifar10.npz") if not (cache_dir() / n).is_file()]
    if missing:
        pytest.exit(
            f"The dataset cache {cache_dir()} lacks {missing}: run `make data` (or set DS201_DATA_DIR).",
            returncode=2,
        )


def otter_run(notebook: Path, out: Path, env: dict[str, str] | None = None) -> dict:
    """``otter run`` with the built zip, as the CLI does it; returns results.json."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "otter", "run", "-a", str(ZIP), "-o", str(out), "--no-logo", str(notebook)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=3600,
    )
    assert proc.returncode == 0, f"otter run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads((out / "results.json").read_text())


def scores(results: dict) -> dict[str, tuple[float, float]]:
    """Question -> (score, max_score) from otter's results.json."""
    out: dict[str, tuple[float, float]] = {}
    for t in results["tests"]:
        if "score" not in t:  # the "Public Tests" summary entry carries no score
            continue
        name = t["name"].split(" - ")[0]
        s, m = out.get(name, (0.0, 0.0))
        out[name] = (s + t["score"], m + t["max_score"])
    return out


@pytest.fixture(scope="session")
def solution_run(tmp_path_factory) -> tuple[dict, Path]:
    work = tmp_path_factory.mktemp("solution")
    artifacts = work / "artifacts"
    artifacts.mkdir()
    nb = nbformat.read(AUTOGRADER / "lab1.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(SAVE_ARTIFACTS % (MODELS, str(STUDENT / "tests"))))
    path = work / "lab1.ipynb"
    nbformat.write(nb, path)
    results = otter_run(path, work / "out", env={"DS201_TEST_ARTIFACTS": str(artifacts)})
    return results, artifacts


@pytest.fixture(scope="session")
def blank_run(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("blank")
    shutil.copy(STUDENT / "lab1.ipynb", work / "lab1.ipynb")
    return otter_run(work / "lab1.ipynb", work / "out")


@pytest.fixture(scope="session")
def question_points() -> dict[str, float]:
    """Autograded question -> points, read from the built hidden tests."""
    from otter.test_files import ExceptionTestFile

    return {p.stem: ExceptionTestFile.from_file(str(p)).possible for p in sorted((AUTOGRADER / "tests").glob("*.py"))}
