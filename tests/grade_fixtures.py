"""Submissions for the class grader's tests, built from the committed notebooks.

Every one but the solution starts from the blank student notebook, so it runs in about a minute:
the cheap questions (sections 0–3) answered with the solution's code and one of them wrong, or one
injected cell that loops forever, kills the kernel or allocates far too much memory.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import nbformat
from conftest import AUTOGRADER, STUDENT

# The questions answered from the solution in the "one wrong answer" notebook: no model training.
CHEAP = (
    "q0_layers",
    "q1_mnist_name",
    "q2_shapes",
    "q2_labels",
    "q2_label_counts",
    "q2_reshape",
    "q2_fill_blanks",
    "q2_one_hot",
    "q3_activations",
    "q3_output_shape",
    "q3_units",
    "q3_prob_sum",
    "q3_layer_roles",
    "q3_params",
)
WRONG = "q1_mnist_name"
WRONG_ANSWER = 'mnist_stands_for = "Mixed National Institute of Standards and Technology"\n'

LOOP = "while True:\n    pass\n"
EXIT = "import os\n\nos._exit(0)\n"
HUGE = "import numpy as np\n\nhuge = np.ones((60_000, 60_000))  # 28.8 GB\n"
HOG = "import numpy as np\n\nchunks = []\nwhile True:\n    chunks.append(np.ones(2**27))  # 1 GiB more each time\n"


def _checked(cell) -> str | None:
    m = re.fullmatch(r'grader\.check\("(\w+)"\)', cell.source.strip()) if cell.cell_type == "code" else None
    return m.group(1) if m else None


def _answer_cells(nb, tag: str) -> dict[str, int]:
    """Question -> index of the nearest cell tagged ``tag`` before its ``grader.check`` cell."""
    out = {}
    for i, cell in enumerate(nb.cells):
        q = _checked(cell)
        if q is None:
            continue
        j = i - 1
        while j >= 0 and tag not in nb.cells[j].metadata.get("tags", []):
            j -= 1
        out[q] = j
    return out


def blank() -> nbformat.NotebookNode:
    return nbformat.read(STUDENT / "lab1.ipynb", as_version=4)


def solution() -> nbformat.NotebookNode:
    return nbformat.read(AUTOGRADER / "lab1.ipynb", as_version=4)


def one_wrong() -> nbformat.NotebookNode:
    """The blank notebook with sections 0–3 answered from the solution, and ``WRONG`` answered wrong."""
    nb, sol = blank(), solution()
    mine, theirs = _answer_cells(nb, "otter_answer_cell"), _answer_cells(sol, "otter_assign_solution_cell")
    for q in CHEAP:
        nb.cells[mine[q]].source = WRONG_ANSWER if q == WRONG else sol.cells[theirs[q]].source
    return nb


def with_cell(source: str) -> nbformat.NotebookNode:
    """The blank notebook with one cell injected right after its setup cells."""
    nb = blank()
    setup = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "load_mnist" in c.source)
    nb.cells.insert(setup + 1, nbformat.v4.new_code_cell(source))
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def export_zip(nb: nbformat.NotebookNode, path: Path) -> Path:
    """An otter-export-like zip: the notebook and an ``.OTTER_LOG`` (never read by the grader)."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("lab1.ipynb", nbformat.writes(nb))
        zf.writestr(".OTTER_LOG", b"\x80\x04not a pickle the grader may open")
    return path


def cheap_batch(folder: Path) -> dict[str, Path]:
    """The blank-based submissions (no full solution): name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    subs = {
        "blank": shutil.copy(STUDENT / "lab1.ipynb", folder / "blank.ipynb"),
        "wrong": export_zip(one_wrong(), folder / "wrong.zip"),
        "loop": write(with_cell(LOOP), folder / "loop.ipynb"),
        "exit": write(with_cell(EXIT), folder / "exit.ipynb"),
        "memory": write(with_cell(HUGE), folder / "memory.ipynb"),
        "hog": write(with_cell(HOG), folder / "hog.ipynb"),
    }
    (folder / "notjson.ipynb").write_text("this is not JSON {")
    subs["notjson"] = folder / "notjson.ipynb"
    other = blank()
    other.metadata["otter"] = {"assignment_name": "lab2"}
    subs["lab2"] = write(other, folder / "lab2.ipynb")
    empty = nbformat.v4.new_notebook(metadata={"otter": {"assignment_name": "lab1"}})
    empty.cells.append(nbformat.v4.new_code_cell("   "))
    (folder / "empty.ipynb").write_text(json.dumps(empty))
    subs["empty"] = folder / "empty.ipynb"
    return {k: Path(v) for k, v in subs.items()}
