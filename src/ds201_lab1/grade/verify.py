"""The trusted stage: run the autograder's tests on the values rebuilt from one execution.

Runs as its own process (``python -m ds201_lab1.grade.verify``) and never imports or executes
anything that came from a submission. For each request it rebuilds every question's values from the
executor's artifacts (:mod:`.rebuild`) and runs the question's test file exactly as otter does —
``ExceptionTestFile.from_file(path).run(env)`` — so the scores are ``otter run``'s. The hidden tests
import ``ds201_lab1.checks`` from the autograder (zip or folder), the very checks ``otter run``
executes.

The :func:`plan` (which values each question's tests take, their points, the probes and files the
kernel must record) is made by the parent from the test files and :mod:`ds201_lab1.spec`, and
handed to every verifier. Failure messages of hidden test cases keep only the check's own message
(``CheckFailed``, which never contains the expected value); otter's "Error at line N" source
excerpt is dropped. With ``--outputs``, each model's test-set outputs are kept there across runs
(:class:`OutputsStore`): a re-grade after a threshold change does not run the models again.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import importlib.util
import inspect
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import KERAS_EXTRAS, NOT_IMPORTED_BY_GRADER, hidden, rebuild, skip_imports


# ---------------------------------------------------------------------------------------------
# The autograder: its tests, its copy of ds201_lab1, the plan
# ---------------------------------------------------------------------------------------------
def use_autograder_package(autograder: Path) -> None:
    """Make ``ds201_lab1.checks``/``.spec`` resolve to the autograder's copy, as ``otter run`` does."""
    import ds201_lab1

    pkg = autograder / "files" / "ds201_lab1"
    if pkg.is_dir() and str(pkg) not in ds201_lab1.__path__:
        ds201_lab1.__path__.insert(0, str(pkg))


def assignment_name(autograder: Path) -> str | None:
    config = autograder / "otter_config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text()).get("assignment_name")


def test_files(autograder: Path) -> list[Path]:
    tests = sorted((autograder / "tests").glob("*.py"))
    if not tests:
        raise SystemExit(f"{autograder / 'tests'} holds no test file: pass the built autograder zip or folder.")
    return tests


def exception_test_file() -> type:
    """otter's ``ExceptionTestFile``, imported without running ``otter/__init__``.

    That file imports ``otter.api`` and with it the exporters: 1.5 s of every process's start-up.
    Only ``otter.test_files`` is needed here, and the test files import nothing else of otter
    (``from otter.test_files import test_case``). An ``otter`` already imported in full is used as is.
    """
    if "otter" not in sys.modules:
        spec = importlib.util.find_spec("otter")
        if spec is not None and spec.submodule_search_locations:
            sys.modules["otter"] = importlib.util.module_from_spec(spec)  # the package, its __init__ not run
    from otter.test_files import ExceptionTestFile

    return ExceptionTestFile


# The inputs the public tests of assignment/lab1.ipynb call the student's functions with (the checks
# use spec.PROBES only). Recorded too, so that the public tests run here as in the student's kernel.
PUBLIC_PROBES: dict[str, list[tuple]] = {
    "sigmoid": [([-1.0, 0.0, 2.0],)],
    "tanh": [([-1.0, 0.0, 2.0],)],
    "relu": [([-1.0, 0.0, 2.0],)],
    "bce_loss": [([0.9, 0.2], [1.0, 0.0])],
    "bce_cost": [([0.9, 0.2], [1.0, 0.0])],
}


def autograder_spec(autograder: Path) -> Any:
    """The autograder's own ``ds201_lab1.spec`` (the probes its checks use), else the installed one."""
    path = autograder / "files" / "ds201_lab1" / "spec.py"
    if not path.is_file():
        from ds201_lab1 import spec

        return spec
    module_spec = importlib.util.spec_from_file_location("_ds201_autograder_spec", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def plan(autograder: Path) -> dict:
    """Questions (the values their tests take, points) and what the kernel must record."""
    ExceptionTestFile = exception_test_file()
    spec = autograder_spec(autograder)

    questions: dict[str, dict] = {}
    for path in test_files(autograder):
        tf = ExceptionTestFile.from_file(str(path))
        names: list[str] = []
        for tc in tf.test_cases:
            params = list(inspect.signature(tc.body.test_func).parameters)
            if "env" in params:
                raise SystemExit(
                    f"{path}: test {tc.name} takes `env` (the whole environment), which this grader cannot save."
                )
            names += [p for p in params if p not in names]
        questions[tf.name] = {
            "test": path.name,
            "names": names,
            "files": list(spec.SAVED_FILES.get(tf.name, [])),
            "possible": tf.possible,
        }
    probes = {
        name: [json.loads(rebuild.probe_key(spec.probe_arrays(args), {})) for args in [*calls, *PUBLIC_PROBES[name]]]
        for name, calls in sorted(spec.PROBES.items())
    }
    return {
        "assignment_name": assignment_name(autograder),
        "questions": questions,
        "snapshot": {  # what the kernel side needs (nothing secret)
            "values": {q: info["names"] for q, info in questions.items()},
            "probes": probes,
            "files": {q: info["files"] for q, info in questions.items() if info["files"]},
        },
    }


# ---------------------------------------------------------------------------------------------
# Running the tests
# ---------------------------------------------------------------------------------------------
def _split_otter_message(message: str) -> tuple[str, str]:
    """``(exception type, message)`` from otter's "❌ Test case failed\\nError at line …" text."""
    parts = (message or "").split("\n", 3)
    if len(parts) == 4 and parts[1].startswith("Error at line "):
        kind, _, text = parts[3].partition(": ")
        return kind.strip(), text.strip()
    return "", (message or "").strip()


def case_message(passed: bool, hidden: bool, message: str, failure_message: str | None) -> str:
    """What the feedback may show: public in full, hidden without otter's source excerpt."""
    if passed:
        return ""
    if not hidden:
        return "\n".join(m for m in (failure_message, message) if m)
    kind, text = _split_otter_message(message)
    if kind == "CheckFailed" or kind in rebuild.OWN_EXCEPTIONS:
        body = text
    else:
        body = (
            f"Bài kiểm tra ẩn báo lỗi {kind or 'không rõ'} khi chạy trên giá trị của bạn.\n"
            f"The hidden test raised {kind or 'an error'} on your values."
        )
    return "\n".join(m for m in (failure_message, body) if m)


def run_tests(the_plan: dict, autograder: Path, artifacts: Path, workdir: Path) -> dict:
    """Run every question's test file against the values rebuilt from ``artifacts``."""
    ExceptionTestFile = exception_test_file()
    results: dict[str, dict] = {}
    models: dict[str, Any] = {}  # this submission's rebuilt models, shared by its questions
    for qname, q in the_plan["questions"].items():
        cwd = workdir / re.sub(r"[^\w.-]", "_", qname)
        cwd.mkdir(parents=True, exist_ok=True)
        os.chdir(cwd)
        warnings: list[str] = []
        try:
            folder = rebuild._safe_child(artifacts, qname)
            env, warnings = rebuild.build_env(folder, q["names"], q["files"], cwd, models)
        except (rebuild.ArtifactError, rebuild.GraderLimitation) as e:
            env, warnings = {}, [f"{e}"]
        except Exception as e:  # malformed artifacts (deep nesting, bad JSON, …): this question only
            env, warnings = {}, [f"the saved values could not be read: {type(e).__name__}: {str(e)[:200]}"]
        tf = ExceptionTestFile.from_file(str(autograder / "tests" / q["test"]))
        tf.run(env)
        cases = [
            {
                "name": r.test_case.name,
                "hidden": bool(r.test_case.hidden),
                "points": r.test_case.points,
                "passed": bool(r.passed),
                "message": case_message(r.passed, r.test_case.hidden, r.message, r.test_case.failure_message),
            }
            for r in tf.test_case_results
        ]
        results[qname] = {"score": tf.score, "possible": tf.possible, "cases": cases, "warnings": warnings}
    return results


class OutputsStore:
    """Each model's test-set outputs on disk, for :data:`checks.outputs_store`: a re-grade after a
    threshold change reads them instead of running the models again.

    A file is named by the digest of the model's architecture and weights as this process rebuilt
    them (``checks._state``), the test data's own digest and the Keras and TensorFlow versions, so it
    answers only for the same model on the same data. Only verifiers write here (``OUT/.cache`` is
    hidden from the sandbox); a file that is not the expected float array is ignored and rewritten.
    """

    def __init__(self, folder: Path):
        import keras
        import tensorflow as tf

        self.folder = folder / f"keras-{keras.__version__}-tf-{tf.__version__}"
        self._data: dict[str, tuple[str, int]] = {}

    def _path(self, key: tuple[str, str]) -> tuple[Path, int]:
        from ds201_lab1 import checks

        state, variant = key
        if variant not in self._data:
            x = np.ascontiguousarray(checks.evaluation_data(variant)[0])
            self._data[variant] = (hashlib.blake2b(x.data, digest_size=8).hexdigest(), len(x))
        digest, rows = self._data[variant]
        return self.folder / f"{state}-{variant}-{digest}.npy", rows

    def get(self, key: tuple[str, str]) -> np.ndarray | None:
        path, rows = self._path(key)
        try:
            kept = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        return kept if kept.dtype == np.float32 and kept.ndim == 2 and len(kept) == rows else None

    def put(self, key: tuple[str, str], values: np.ndarray) -> None:
        """Keep ``values``; a store that cannot be written (disk full …) only costs the next re-grade time."""
        path, _ = self._path(key)
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(values, dtype=np.float32))
            os.replace(tmp, path)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            print(f"verify: the outputs store {self.folder} cannot be written ({e})", file=sys.stderr)


def warm_up(autograder: Path) -> None:
    """Import Keras and the checks, and prepare the checks' test data now, while the first notebook runs."""
    with hidden(KERAS_EXTRAS):
        import keras

    use_autograder_package(autograder)
    from ds201_lab1 import checks, spec

    for _, variant in spec.MODELS.values():  # the checks' float test sets, made once per process
        checks.evaluation_data(variant)
    keras.backend.clear_session()
    # TensorFlow and Keras are hundreds of thousands of objects that live as long as the process:
    # out of the garbage collector's sight, the collection after each submission takes
    # milliseconds instead of 0.3 s.
    gc.freeze()


def serve(autograder: Path, plan_path: Path, workdir: Path, outputs: Path | None = None) -> int:
    """Verify many submissions in one process: one JSON request per line on stdin, one answer per line.

    A request is ``{"artifacts": folder}``; the answer is ``{"questions": results, "elapsed": s}`` or
    ``{"error": message}``, after a first line ``{"ready": true}`` once warmed up. The answers use the
    original stdout; everything else that prints (Keras, a check) goes to stderr.
    """
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    the_plan = json.loads(plan_path.read_text())
    warm_up(autograder)
    import keras

    from ds201_lab1 import checks  # the autograder's copy (warm_up put it first)

    if outputs is not None:
        checks.outputs_store = OutputsStore(outputs)

    answers.write(json.dumps({"ready": True}) + "\n")
    while line := sys.stdin.readline():
        start = time.monotonic()
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        try:
            request = json.loads(line)
            results = run_tests(the_plan, autograder, Path(request["artifacts"]), workdir)
            answer: dict[str, Any] = {"questions": results, "elapsed": round(time.monotonic() - start, 2)}
        except Exception as e:  # one bad request must not end the process the others share
            answer = {"error": f"{type(e).__name__}: {str(e)[:500]}"}
        os.chdir("/")
        answers.write(json.dumps(answer) + "\n")
        checks.forget_outputs()  # free this submission's models and predictions while the parent reads
        keras.backend.clear_session()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ds201_lab1.grade.verify", description=__doc__.splitlines()[0])
    parser.add_argument("--autograder", type=Path, required=True, help="extracted autograder (tests/, files/)")
    parser.add_argument("--plan", type=Path, required=True, help="the plan the parent wrote")
    parser.add_argument("--workdir", type=Path, required=True, help="this process's scratch folder for the tests")
    parser.add_argument("--outputs", type=Path, help="where models' test-set outputs are kept across runs")
    args = parser.parse_args(argv)
    skip_imports(NOT_IMPORTED_BY_GRADER)
    outputs = args.outputs.resolve() if args.outputs else None
    return serve(args.autograder.resolve(), args.plan.resolve(), args.workdir.resolve(), outputs)


if __name__ == "__main__":
    sys.exit(main())
