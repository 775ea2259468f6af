"""Runs Otter-Grader's autograding process, after checking that the datasets are in the image (ds201-lab1).

Written into the autograder zip by ``make assignment`` (src/ds201_lab1/build.py) in place of
otter's own ``run_otter.py``. When a dataset is missing nothing is graded: results.json
(Gradescope) and results.pkl (``otter grade``'s CSV, column grading_status) carry one message,
"datasets missing: …", saying how to fix it, and the score is 0 — never a silent partial score.

Manual questions on Gradescope (README, "Manual questions"): when ``otter_config.json`` asks otter to
upload a PDF (``token`` or ``pdf``) from the submission's own PDF (``use_submission_pdf``), the PDF of
the manual answers is made first, here, with ``ds201_lab1.manual_pdf`` (no LaTeX, no browser).
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


def manual_pdf():
    """Write the manual answers' PDF into the submission folder when otter will upload it; else None.

    A failure never stops grading: otter then tries its own export, and with
    ``submit_blank_pdf_on_export_failure`` uploads a blank page and reports "PDF Generation Failed".
    """
    with open(os.path.join(AUTOGRADER, "source", "otter_config.json")) as f:
        config = json.load(f)
    if not (config.get("token") or config.get("pdf")) or not config.get("use_submission_pdf"):
        return None
    sys.path.insert(0, os.path.join(AUTOGRADER, "source", "files"))
    try:
        from ds201_lab1 import manual_pdf as pdf
    finally:
        sys.path.pop(0)
    try:
        return pdf.main([os.path.join(AUTOGRADER, "submission")])
    except (SystemExit, Exception) as e:  # any failure: otter's own fallback takes over
        print(f"manual answers' PDF not made: {e}", file=sys.stderr)
        return 1


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
    manual_pdf()
    from otter.run.run_autograder import main as run_autograder

    run_autograder(AUTOGRADER)
