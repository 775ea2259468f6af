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

The zip's grading environment is the project's own (``image/``): ``setup.sh`` (apt's Python of the
ASSIGNMENT CONFIG's ``python_version`` plus a venv holding ``requirements.txt``, whose pins come
from pyproject.toml; the datasets laid into the loader's cache once), ``run_autograder`` (offline
grading) and ``run_otter.py`` (a datasets pre-flight before otter's grading), the two scripts
executable. ``--data-zip`` writes a copy of the zip carrying the datasets, for images without
internet.
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
import tomllib
import zipfile
from pathlib import Path

import nbformat
import yaml

from . import GRADING_MODULES

# The checkout's files, relative to where the build runs (`make assignment` runs in the checkout).
MASTER = Path("assignment", "lab1.ipynb")
PYPROJECT = Path("pyproject.toml")
HISTORY = Path(".bench", "history.jsonl")
PACKAGE = Path(__file__).resolve().parent
NAME = "lab1"
ZIP_NAME = f"{NAME}-autograder.zip"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
STUDENT_REQUIREMENTS = MASTER.parent / "student-requirements.txt"  # copied to student/requirements.txt

IMAGE = PACKAGE / "image"  # the zip's setup.sh, run_autograder, run_otter.py
VENV_DIR = "/opt/ds201-venv"  # the grading image's Python environment (setup.sh makes it)
DATA_DIR = "/opt/ds201-data"  # the grading image's dataset cache (DS201_DATA_DIR)
DATA_FOLDER = "files/ds201_data"  # where --data-zip puts the .npz files inside the zip
EXECUTABLE = ("setup.sh", "run_autograder")

# What the grading environment needs, by name; the versions are pyproject.toml's (their one home).
GRADING_PACKAGES = ("tensorflow", "keras", "numpy", "scikit-learn", "matplotlib", "otter-grader",
                    "fpdf2", "markdown-it-py")  # the last two: the manual answers' PDF (manual_pdf)
GRADING_EXTRAS = {"otter-grader": "[grading]"}  # jupyter_client and ipykernel, to run notebooks


def pins(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """``{package: version}`` of ``GRADING_PACKAGES`` from pyproject.toml's dependencies (each must be ``==``)."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    found = {}
    for dep in deps:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(?:==\s*([^\s;,]+))?\s*", dep)
        if m and m.group(1).lower() in GRADING_PACKAGES:
            found[m.group(1).lower()] = m.group(2)
    loose = [p for p in GRADING_PACKAGES if not found.get(p)]
    if loose:
        raise BuildError(f"pyproject.toml must pin {', '.join(loose)} with ==: the grading image installs those versions")
    return found


def requirements() -> str:
    """The autograder zip's requirements.txt: every grading package at pyproject.toml's version."""
    return "".join(f"{p}{GRADING_EXTRAS.get(p, '')}=={v}\n" for p, v in pins().items())


def assignment_config(nb: nbformat.NotebookNode) -> dict:
    """The master's ASSIGNMENT CONFIG cell as a dict."""
    return yaml.safe_load(nb.cells[0].source) or {}


def python_version(config: dict) -> str:
    """The grading Python (``python_version`` at the config's top level, where otter 7 reads it)."""
    if "python_version" in (config.get("generate") or {}):
        raise BuildError("ASSIGNMENT CONFIG: python_version belongs at the top level, not under generate: (otter 7).")
    version = str(config.get("python_version", ""))
    if not re.fullmatch(r"3\.\d+", version):
        raise BuildError(f"ASSIGNMENT CONFIG: python_version must be set at the top level as \"3.N\", not {version!r}.")
    return version


def image_files(config: dict, data_in_zip: bool = False) -> dict[str, bytes]:
    """The zip's grading-environment files, rendered: setup.sh, run_autograder, run_otter.py, requirements.txt."""
    if (config.get("generate") or {}).get("pdf") or (config.get("export_cell") or {}).get("pdf"):
        raise BuildError("pdf must stay false: the zip's setup.sh installs no LaTeX and no browser (src/ds201_lab1/image).")
    values = {"@PYTHON@": python_version(config), "@VENV@": VENV_DIR, "@DATA_DIR@": DATA_DIR,
              "@DATA_IN_ZIP@": str(int(data_in_zip))}
    files = {}
    for name in ("setup.sh", "run_autograder", "run_otter.py"):
        text = (IMAGE / name).read_text()
        for key, value in values.items():
            text = text.replace(key, value)
        files[name] = text.encode()
    files["requirements.txt"] = requirements().encode()
    return files


class BuildError(RuntimeError):
    """The master notebook or the build went wrong; the message says how to fix it."""


def check_master(path: Path) -> nbformat.NotebookNode:
    """Read the master notebook, failing with a clear message when it is not one."""
    if not path.is_file():
        raise BuildError(
            f"{path} not found in {Path.cwd()}: the master notebook is assignment/lab1.ipynb of the checkout; "
            "run the build there (`make assignment`)."
        )
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
    (stage / "requirements.txt").write_text(requirements())
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


def _deterministic_zip(src: Path, dest: Path, replace: dict[str, bytes] | None = None) -> None:
    """Rewrite a zip with sorted entries and a fixed date, so the same inputs give the same bytes.

    ``replace`` adds or overrides entries; ``EXECUTABLE`` entries get mode 0755, the rest 0644.
    """
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in sorted(set(zin.namelist()) | set(replace)):
            if "__pycache__" in name:
                continue
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = (0o755 if name in EXECUTABLE else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, replace[name] if name in replace else zin.read(name))


def data_zip(src: Path, dest: Path, data_dir: Path | None = None) -> Path:
    """Write ``dest``: the autograder zip ``src`` plus ``mnist.npz`` and ``cifar10.npz`` from the dataset cache.

    For grading images without internet. The files go under ``files/ds201_data``: Gradescope
    unpacks them before setup.sh, which moves them into the image's cache; ``otter grade`` adds
    files/ after setup.sh, so run_autograder moves them there (setup.sh is told not to download).
    """
    from ds201_lab1 import data

    data_dir = data_dir or data.cache_dir()
    for name in data.LAYOUT:
        path = data_dir / f"{name}.npz"
        if not path.is_file():
            raise BuildError(data.missing_message([name], f"needed for {dest.name}"))
        try:
            data.read_npz(path, name)  # validated before it is shipped
        except data.DatasetError as e:
            raise BuildError(str(e)) from e
    config = assignment_config(check_master(MASTER))
    replace = {k: v for k, v in image_files(config, data_in_zip=True).items() if k == "setup.sh"}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    _deterministic_zip(src, tmp, replace)
    with zipfile.ZipFile(tmp, "a") as z:
        for name in data.LAYOUT:
            info = zipfile.ZipInfo(f"{DATA_FOLDER}/{name}.npz", date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED  # the images barely compress
            with open(data_dir / f"{name}.npz", "rb") as f, z.open(info, "w", force_zip64=True) as out:
                shutil.copyfileobj(f, out, 1 << 20)
    tmp.rename(dest)
    return dest


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
    files = image_files(assignment_config(check_master(MASTER)))
    with tempfile.TemporaryDirectory(prefix="ds201-build-") as tmp:
        dist = _run_otter_assign(_stage(Path(tmp)))
        ag, stu = dist / "autograder", dist / "student"
        zips = sorted(ag.glob(f"{NAME}-autograder_*.zip"))
        if len(zips) != 1:
            raise BuildError(f"expected one autograder zip from otter assign, found {[z.name for z in zips]}")
        _deterministic_zip(zips[0], Path(tmp) / ZIP_NAME, files)
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


def solution_inputs(out: Path) -> str:
    """A digest of what the executed solution is made from: the solution notebook and the autograder
    zip (its tests, checks, data loader and pins), both written byte for byte the same by every build."""
    h = hashlib.sha256()
    for path in (out / "autograder" / f"{NAME}.ipynb", out / "autograder" / ZIP_NAME):
        h.update(path.read_bytes())
    return h.hexdigest()


def _built_from(path: Path) -> str | None:
    try:
        return nbformat.read(path, as_version=4).metadata.get("ds201", {}).get("inputs")
    except (OSError, ValueError, AttributeError):
        return None


def execute_solution(out: Path) -> tuple[dict[str, dict], bool]:
    """Execute ``autograder/lab1.ipynb`` (proving it scores full marks): ``(per-question scores, solutions/ written)``.

    ``solutions/`` is rewritten only when what it is made from changed: its outputs hold timings and
    training logs that differ run to run, and a rebuild that changes nothing should change no file.
    """
    ag = out / "autograder"
    nb = nbformat.read(ag / f"{NAME}.ipynb", as_version=4)
    tests = (ag / "tests").resolve()  # the kernel runs in a scratch folder
    scores = run_notebook(nb, tests, SCORE_ALL.replace("TESTS_DIR", repr(str(tests))))
    if not scores:
        raise BuildError(f"the solution's execution ran no test file of {tests}: nothing proves it scores full marks")
    sol = out / "solutions"
    inputs = solution_inputs(out)
    if _built_from(sol / f"{NAME}.ipynb") == inputs and (sol / f"{NAME}.html").is_file():
        return scores, False
    _drop_tensorflow_chatter(nb)
    sol.mkdir(exist_ok=True)
    _strip_metadata(nb, {"kernelspec", "language_info", "otter"})  # otter: a valid submission
    nb.metadata["ds201"] = {"inputs": inputs}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # per-cell timestamps
    nbformat.write(nb, sol / f"{NAME}.ipynb")
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(nb)
    (sol / f"{NAME}.html").write_text(html)
    return scores, True


def record_timing(what: str, seconds: float, exitstatus: int, **extra) -> None:
    """Append one run's wall time to ``HISTORY`` (``make bench`` reads it); never fails the caller."""
    entry = {"what": what, "seconds": round(seconds, 1), "exitstatus": int(exitstatus), **extra}
    entry |= {"when": dt.datetime.now().isoformat(timespec="seconds"), "host": platform.node()}
    try:
        HISTORY.parent.mkdir(exist_ok=True)
        with open(HISTORY, "a") as f:
            f.write(json.dumps(entry) + "\n")
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    start = time.monotonic()
    parser = argparse.ArgumentParser(prog="ds201-build", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="where student/, autograder/, solutions/ go")
    parser.add_argument("--no-execute", action="store_true", help="skip executing the solution")
    parser.add_argument(
        "--data-zip",
        type=Path,
        metavar="ZIP",
        help="only write ZIP: autograder/lab1-autograder.zip plus the datasets of the cache (for images without internet)",
    )
    args = parser.parse_args(argv)
    if args.data_zip:
        try:
            path = data_zip(args.out / "autograder" / ZIP_NAME, args.data_zip)
        except BuildError as e:
            print(f"build failed: {e}", file=sys.stderr)
            return 1
        print(f"wrote {path} ({path.stat().st_size / 2**20:.0f} MiB)")
        return 0
    status = 0
    try:
        generate(args.out)
        print(f"wrote {args.out / 'student'} and {args.out / 'autograder'}")
        if not args.no_execute:
            scores, written = execute_solution(args.out)
            missed = {q: s for q, s in scores.items() if s["score"] != s["possible"]}
            total = sum(s["score"] for s in scores.values())
            possible = sum(s["possible"] for s in scores.values())
            print(f"solution scores {total:g}/{possible:g} on the autograded questions")
            if missed:
                raise BuildError("the solution misses points:\n" + json.dumps(missed, indent=2, ensure_ascii=False))
            if written:
                print(f"wrote {args.out / 'solutions'}")
            else:
                print(f"{args.out / 'solutions'} unchanged (the autograder it was made from is the same)")
    except BuildError as e:
        print(f"build failed: {e}", file=sys.stderr)
        status = 1
    if args.out.resolve() == Path.cwd() and not args.no_execute:  # the full `make assignment`
        record_timing("make assignment", time.monotonic() - start, status)
    return status


if __name__ == "__main__":
    sys.exit(main())
