"""Shared fixtures. The one full-size execution of the solution per test run lives here.

``solution_run`` grades the built solution notebook with ``otter run`` and the built autograder
zip, exactly as an instructor would; one extra last cell saves the trained models and the
public-test results into a folder (it only writes files), so that the exercise tests can run the
hidden tests against variants without training anything again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from helpers import AUTOGRADER, ROOT, STUDENT, ZIP, otter_run, otter_scores  # noqa: F401 (re-exported)

from ds201_lab1 import spec

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


def pytest_sessionstart(session) -> None:
    _require_data()


def _require_data() -> None:
    """Stop the run at once, with the fix, when the offline dataset cache is missing."""
    from ds201_lab1.data import cache_dir

    missing = [n for n in ("mnist.npz", "cifar10.npz") if not (cache_dir() / n).is_file()]
    if missing:
        pytest.exit(
            f"The dataset cache {cache_dir()} lacks {missing}: run `make data` (or set DS201_DATA_DIR).",
            returncode=2,
        )


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
def solution_answers(solution_run) -> dict:
    """The solution's answers as its kernel held them: the trained models (loaded once per test run)
    and the data arrays, rebuilt from the checks' own copy of the data. Tests copy it before changing it."""
    import keras
    import numpy as np

    from ds201_lab1 import checks, data

    _, artifacts = solution_run
    env = {name: keras.models.load_model(artifacts / f"{name}.keras") for name in MODELS}
    env["load_mnist"], env["load_cifar10"] = data.mnist, data.cifar10
    (x_train, _), (x_test, y_test) = checks.truth_mnist()
    env["X_test"], env["y_test"] = x_test.reshape(len(x_test), -1), y_test
    env["X_train_new"] = x_train.reshape(len(x_train), -1).astype("float32") / 255
    env["X_test_new"] = env["X_test"].astype("float32") / 255
    env["cm_ex4"] = np.load(artifacts / "cm_ex4.npy")
    (cx_train, cy_train), (cx_test, cy_test) = checks.truth_cifar10()
    env["cifar_train_shape"], env["cifar_test_shape"] = cx_train.shape, cx_test.shape
    env["X_train_CIFAR10"] = cx_train.reshape(len(cx_train), -1).astype("float32") / 255
    env["X_test_CIFAR10"] = cx_test.reshape(len(cx_test), -1).astype("float32") / 255
    env["y_train_CIFAR10"] = keras.utils.to_categorical(cy_train.reshape(-1), 10)
    env["y_test_CIFAR10"] = cy_test.reshape(-1)
    return env


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
