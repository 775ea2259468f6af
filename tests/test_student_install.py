"""The students' install (issue 13): `student/requirements.txt`, as the README's one line installs it
into a fresh virtualenv, gives a Jupyter kernel that opens the notebook and starts otter and Keras.

Slow the first time on a machine (it downloads TensorFlow); pip's cache makes later runs quick.
"""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
from conftest import STUDENT


def test_student_requirements_are_pinned_like_the_autograder():
    from ds201_lab1 import build

    lines = (STUDENT / "requirements.txt").read_text().split()
    student = dict(line.lower().split("==") for line in lines if "==" in line)
    pins = build.pins()  # pyproject.toml's: the grading image's versions
    for name in ("tensorflow", "otter-grader", "numpy", "matplotlib", "scikit-learn"):
        assert student.get(name) == pins[name], f"student/requirements.txt pins {name} unlike pyproject.toml"
    assert {"jupyterlab", "ipykernel"} <= set(student)


def test_the_student_install_works_in_a_fresh_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # no system site-packages
    bin_ = venv / "bin"
    # the README's line: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
    proc = subprocess.run(
        [str(bin_ / "pip"), "install", "-q", "-r", "requirements.txt"], cwd=STUDENT, capture_output=True, text=True, timeout=3600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    specs = json.loads(subprocess.run([str(bin_ / "jupyter"), "kernelspec", "list", "--json"], capture_output=True, text=True, check=True).stdout)
    assert "python3" in specs["kernelspecs"], specs
    # the notebook's first two cells (otter, then Keras and the loaders) in that kernel
    nb = nbformat.read(STUDENT / "lab1.ipynb", as_version=4)
    nb.cells = [c for c in nb.cells if c.cell_type == "code"][:2]
    nb.cells.append(nbformat.v4.new_code_cell("print(otter.__version__, keras.__version__, load_mnist.__name__)"))
    work = tmp_path / "work"
    work.mkdir()
    (work / "tests").symlink_to(STUDENT / "tests")
    nbformat.write(nb, work / "lab1.ipynb")
    proc = subprocess.run(
        [str(bin_ / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--inplace", "lab1.ipynb"],
        cwd=work, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = nbformat.read(work / "lab1.ipynb", as_version=4).cells[-1].outputs
    assert "7.0.0 3." in out[0]["text"] and "load" in out[0]["text"], out
