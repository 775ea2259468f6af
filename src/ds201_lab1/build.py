"""``make assignment``: split the master notebook with otter assign and lay out what it makes.

From ``assignment/lab1.ipynb`` (the single source of truth) this writes

- ``student/``    — the released notebook and its public tests;
- ``autograder/`` — the autograder zip (byte-for-byte reproducible), its config and requirements,
  and the solution notebook with every test (instructor-only);
- ``solutions/``  — the solution executed top to bottom, as a notebook and as HTML.

Otter runs in a scratch folder that holds a copy of the master notebook, the pinned requirements
and this package (which the hidden tests import), so nothing is written next to the master and no
timestamped zips pile up. The executed solution is checked against every test in
``autograder/tests`` in the same kernel: a build whose solution misses a point fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat

from . import GRADING_MODULES

ROOT = Path(__file__).resolve().parents[2]
MASTER = ROOT / "assignment" / "lab1.ipynb"
PACKAGE = Path(__file__).resolve().parent
NAME = "lab1"
ZIP_NAME = f"{NAME}-autograder.zip"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
STUDENT_REQUIREMENTS = MASTER.parent / "student-requirements.txt"  # copied to student/requirements.txt

# What the grading environment needs (the autograder zip's requirements.txt). Pins match
# pyproject.toml: these two change results.
REQUIREMENTS = """\
tensorflow==2.21.0
otter-grader==7.0.0
numpy
matplotlib
scikit-learn
"""


class BuildError(RuntimeError):
    """The master notebook or the build went wrong; the message says how to fix it."""


def check_master(path: Path) -> nbformat.NotebookNode:
    """Read the master notebook, failing with a clear message when it is not one."""
    if not path.is_file():
        raise BuildError(f"{path} not found: the master notebook lives at assignment/lab1.ipynb.")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:  # nbformat raises several unrelated types for a broken file
        raise BuildError(
            f"{path} is not a readable notebook ({type(e).__name__}: {e}). "
            "Restore it with `git checkout assignment/lab1.ipynb` or fix the JSON."
        ) from e
    first = nb.cells[0] if nb.cells else None
    if first is None or first.cell_type != "raw" or not first.source.startswith("# ASSIGNMENT CONFIG"):
        raise BuildError(f"{path}: the first cell must be the raw '# ASSIGNMENT CONFIG' cell (Otter Assign v1).")
    return nb


def _stage(workdir: Path) -> Path:
    stage = workdir / "stage"
    stage.mkdir()
    shutil.copy(MASTER, stage / MASTER.name)
    (stage / "requirements.txt").write_text(REQUIREMENTS)
    copy_checks_package(stage)
    return stage


def copy_checks_package(dest: Path) -> Path:
    """Copy the modules the hidden tests import into ``dest/ds201_lab1``."""
    pkg = dest / PACKAGE.name
    pkg.mkdir(parents=True, exist_ok=True)
    for name in GRADING_MODULES:
        shutil.copy(PACKAGE / name, pkg / name)
    return pkg


def _run_otter_assign(stage: Path) -> Path:
    cmd = [sys.executable, "-m", "otter", "assign", "--no-run-tests", "--no-pdfs", MASTER.name, "dist"]
    proc = subprocess.run(cmd, cwd=stage, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"otter assign failed:\n{proc.stdout}\n{proc.stderr}")
    return stage / "dist"


def _deterministic_zip(src: Path, dest: Path) -> None:
    """Rewrite a zip with sorted entries and a fixed date, so the same inputs give the same bytes."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in sorted(zin.namelist()):
            if "__pycache__" in name:
                continue
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, zin.read(name))


def _strip_metadata(nb: nbformat.NotebookNode, keep: set[str]) -> None:
    """Keep only ``keep`` of the notebook's metadata, without the kernel's version."""
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in keep}
    nb.metadata.get("language_info", {}).pop("version", None)


def _clean_notebook(path: Path) -> None:
    """Drop kernel and widget metadata otter leaves behind; keep otter's own keys; stable cell ids."""
    nb = nbformat.read(path, as_version=4)
    _strip_metadata(nb, {"kernelspec", "language_info", "otter"})
    for index, cell in enumerate(nb.cells):  # otter gives its own cells random ids: fix them
        digest = hashlib.sha1(f"{index}\0{cell.cell_type}\0{cell.source}".encode()).hexdigest()
        cell.id = digest[:12]
    nbformat.write(nb, path)


def _replace_dir(dest: Path, files: dict[str, Path]) -> None:
    """Make ``dest`` hold exactly ``files`` (relative name -> source), written via a temp dir."""
    tmp = dest.with_name(dest.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    for rel, src in files.items():
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, target)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def generate(out: Path) -> None:
    """Run otter assign and write ``student/`` and ``autograder/`` under ``out``."""
    check_master(MASTER)
    with tempfile.TemporaryDirectory(prefix="ds201-build-") as tmp:
        dist = _run_otter_assign(_stage(Path(tmp)))
        ag, stu = dist / "autograder", dist / "student"
        zips = sorted(ag.glob(f"{NAME}-autograder_*.zip"))
        if len(zips) != 1:
            raise BuildError(f"expected one autograder zip from otter assign, found {[z.name for z in zips]}")
        _deterministic_zip(zips[0], Path(tmp) / ZIP_NAME)
        for nb in (ag / f"{NAME}.ipynb", stu / f"{NAME}.ipynb"):
            _clean_notebook(nb)
        student_files = {f"{NAME}.ipynb": stu / f"{NAME}.ipynb"}
        # issue 13: the students' pinned install (source: assignment/student-requirements.txt)
        student_files["requirements.txt"] = STUDENT_REQUIREMENTS
        student_files |= {f"tests/{p.name}": p for p in sorted((stu / "tests").glob("*.py"))}
        ag_files = {
            f"{NAME}.ipynb": ag / f"{NAME}.ipynb",
            ZIP_NAME: Path(tmp) / ZIP_NAME,
            "otter_config.json": ag / "otter_config.json",
            "requirements.txt": ag / "requirements.txt",
        }
        ag_files |= {f"tests/{p.name}": p for p in sorted((ag / "tests").glob("*.py"))}
        _replace_dir(out / "student", student_files)
        _replace_dir(out / "autograder", ag_files)


# Run at the end of the executed solution, in its kernel: every test file against the globals.
SCORE_ALL = """
import glob as _glob, json as _json
from otter.test_files import ExceptionTestFile as _ETF
_scores = {}
for _path in sorted(_glob.glob(TESTS_DIR + "/*.py")):
    _tf = _ETF.from_file(_path)
    _tf.run(globals())
    _scores[_tf.name] = {"score": _tf.score, "possible": _tf.possible,
                         "failed": [r.message for r in _tf.test_case_results if not r.passed]}
print(_json.dumps(_scores))
"""


def run_notebook(nb: nbformat.NotebookNode, tests: Path, probe: str, timeout: int = 1800) -> dict:
    """Execute ``nb`` top to bottom in a scratch folder, then ``probe``; return the probe's JSON.

    The scratch folder holds the notebook, its ``tests`` and the modules the hidden tests import,
    as a grading run would. The export cell is skipped: it re-runs the whole notebook to validate a
    student's zip. ``nb`` is executed in place (its outputs are filled in).
    """
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="ds201-run-") as tmp:
        copy_checks_package(Path(tmp))
        nbformat.write(nb, Path(tmp) / f"{NAME}.ipynb")  # otter.Notebook reads it
        shutil.copytree(tests, Path(tmp) / "tests")  # grader.check runs every test, hidden too
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": tmp}})
        with client.setup_kernel(env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}):
            for index, cell in enumerate(nb.cells):
                if "grader.export(" not in cell.source:
                    client.execute_cell(cell, index)
            cell = nbformat.v4.new_code_cell(probe)
            nb.cells.append(cell)  # nbclient writes the executed cell back into nb
            try:
                client.execute_cell(cell, len(nb.cells) - 1)
            finally:
                nb.cells.pop()
    return json.loads(cell.outputs[-1]["text"].strip().splitlines()[-1])


_CHATTER = re.compile(r"^([IWE]\d{4} |WARNING: All log messages before absl|To enable the following instructions|$)")


def _drop_tensorflow_chatter(nb: nbformat.NotebookNode) -> None:
    """Remove stderr outputs made only of TensorFlow's C++ start-up log lines."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.get("name") == "stderr" and all(_CHATTER.match(ln) for ln in o.get("text", "").splitlines()))
            ]


def execute_solution(out: Path) -> dict[str, dict]:
    """Execute ``autograder/lab1.ipynb`` into ``solutions/``; return per-question scores."""
    ag = out / "autograder"
    nb = nbformat.read(ag / f"{NAME}.ipynb", as_version=4)
    scores = run_notebook(nb, ag / "tests", SCORE_ALL.replace("TESTS_DIR", repr(str(ag / "tests"))))
    _drop_tensorflow_chatter(nb)
    sol = out / "solutions"
    sol.mkdir(exist_ok=True)
    _strip_metadata(nb, {"kernelspec", "language_info"})
    nbformat.write(nb, sol / f"{NAME}.ipynb")
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(nb)
    (sol / f"{NAME}.html").write_text(html)
    return scores


def record_timing(what: str, seconds: float, exitstatus: int, **extra) -> None:
    """Append one run's wall time to ``.bench/history.jsonl`` (``make bench`` reads it); never fails the caller."""
    entry = {"what": what, "seconds": round(seconds, 1), "exitstatus": int(exitstatus), **extra}
    entry |= {"when": dt.datetime.now().isoformat(timespec="seconds"), "host": platform.node()}
    try:
        (ROOT / ".bench").mkdir(exist_ok=True)
        with open(ROOT / ".bench" / "history.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    start = time.monotonic()
    parser = argparse.ArgumentParser(prog="ds201-build", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="where student/, autograder/, solutions/ go")
    parser.add_argument("--no-execute", action="store_true", help="skip executing the solution")
    args = parser.parse_args(argv)
    status = 0
    try:
        generate(args.out)
        print(f"wrote {args.out / 'student'} and {args.out / 'autograder'}")
        if not args.no_execute:
            scores = execute_solution(args.out)
            missed = {q: s for q, s in scores.items() if s["score"] != s["possible"]}
            total = sum(s["score"] for s in scores.values())
            possible = sum(s["possible"] for s in scores.values())
            print(f"solution scores {total:g}/{possible:g} on the autograded questions")
            if missed:
                raise BuildError("the solution misses points:\n" + json.dumps(missed, indent=2, ensure_ascii=False))
            print(f"wrote {args.out / 'solutions'}")
    except BuildError as e:
        print(f"build failed: {e}", file=sys.stderr)
        status = 1
    if args.out.resolve() == ROOT and not args.no_execute:  # the full `make assignment`
        record_timing("make assignment", time.monotonic() - start, status)
    return status


if __name__ == "__main__":
    sys.exit(main())
