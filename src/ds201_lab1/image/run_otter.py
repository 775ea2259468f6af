"""Runs Otter-Grader's autograding process, after checking that the datasets are in the image (ds201-lab1).

Written into the autograder zip by ``make assignment`` (src/ds201_lab1/build.py) in place of
otter's own ``run_otter.py``. When a dataset is missing nothing is graded: results.json
(Gradescope) and results.pkl (``otter grade``'s CSV, column grading_status) carry one message,
"datasets missing: …", saying how to fix it, and the score is 0 — never a silent partial score.
"""

import json
import os
import sys

AUTOGRADER = os.environ.get("DS201_AUTOGRADER_DIR", "/autograder")  # another folder only in tests


def missing_datasets():
    """The loader's DatasetsMissing when a dataset is not in the cache, else None."""
    sys.path.insert(0, os.path.join(AUTOGRADER, "source", "files"))
    try:
        from ds201_lab1 import data
    finally:
        sys.path.pop(0)
    try:
        data.require()
    except data.DatasetsMissing as e:
        return e
    finally:
        data.load.cache_clear()  # the kernel loads its own copy
    return None


def report(error):
    """Write the failure where Gradescope and otter grade read results; score 0."""
    import dill
    from otter.test_files import GradingResults

    message = str(error)
    print(message, file=sys.stderr)
    results = os.path.join(AUTOGRADER, "results")
    os.makedirs(results, exist_ok=True)
    test = {"name": "datasets missing", "score": 0, "max_score": 0, "status": "failed",
            "visibility": "visible", "output": message}
    with open(os.path.join(results, "results.json"), "w") as f:
        json.dump({"score": 0, "output": message, "tests": [test]}, f, indent=2, ensure_ascii=False)
    with open(os.path.join(results, "results.pkl"), "wb") as f:
        # a plain RuntimeError: the instructor's machine unpickles it without this package
        dill.dump(GradingResults.without_results(RuntimeError(message)), f)


if __name__ == "__main__":
    error = missing_datasets()
    if error is not None:
        report(error)
        sys.exit(0)  # otter grade reads results.pkl only after a zero exit
    from otter.run.run_autograder import main as run_autograder

    run_autograder(AUTOGRADER)
