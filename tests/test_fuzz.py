"""Property-based fuzzing of what a submission can be (issue 15): nothing a file holds or is named
stops the batch, and every file gets one row and one feedback file of its own.

Hypothesis generates hostile batches: notebooks (valid, damaged, nbformat 3, unknown cell types,
lone surrogates, control characters, deep nesting, large), their bytes (UTF-8 with and without a
BOM, UTF-16/32, legacy 8-bit, flipped bytes, random bytes), export zips (several notebooks,
``../`` and absolute members, damaged archives), and file names (control characters, characters
that are not UTF-8, Unicode normalisation variants, case variants, spreadsheet formulas, long
names). Two profiles:

- fast (in ``make test``): the reading and reporting layers on many batches — every file read,
  what the executor would write and run built for the gradable ones, the CSV, feedback files and
  summary written — and the real command line on one small batch (its gradable notebooks are a
  cell or two);
- long (``pytest -m fuzz_long tests/test_fuzz.py``): the same with many more examples, and the
  command line on several batches.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import nbformat
import pytest
from helpers import grade, grading_log
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ds201_lab1.grade import outcome as oc
from ds201_lab1.grade import report, sandbox, submissions
from ds201_lab1.grade.report import GradeResult

FAST = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
LONG = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
CLI_FAST = settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), database=None)
CLI_LONG = settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), database=None)
PLAN = {"questions": {"q0_layers": {"possible": 1}, "q1_mnist_name": {"possible": 2}}, "assignment_name": "lab1"}

# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------
hostile_text = st.text(
    st.one_of(  # everything: control characters, and lone surrogates (as JSON escapes can give) often
        st.characters(exclude_categories=[]),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=[]),
        st.sampled_from("\x00\r\n\t\x1b\u200b\u202e\ufeff\u0300`'\"\\="),
    ),
    max_size=40,
)
code = st.one_of(st.sampled_from(["x = 1", "layer_kinds = ['input', 'hidden', 'output']", "pass"]), hostile_text)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), hostile_text)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def cells(draw) -> dict:
    kind = draw(st.sampled_from(["code", "code", "markdown", "raw", "heading", "", None]))
    source = draw(st.one_of(code, st.lists(code, max_size=3), json_value))
    cell = {"cell_type": kind, "metadata": draw(st.one_of(st.just({}), json_value)), "source": source}
    if kind == "code":
        cell |= {"outputs": draw(st.one_of(st.just([]), json_value)), "execution_count": None}
    if draw(st.booleans()):
        cell.pop(draw(st.sampled_from(sorted(cell))))
    return cell


@st.composite
def notebooks(draw) -> object:
    """A parsed-JSON notebook: mostly plausible, often broken somewhere."""
    lab = draw(st.sampled_from(["lab1", "lab1", "lab2", None]))
    meta = {"otter": {"assignment_name": lab}} if lab else draw(st.one_of(st.just({}), json_value))
    body = draw(st.lists(cells(), max_size=5))
    shape = draw(st.sampled_from(["v4", "v4", "v3", "odd"]))
    if shape == "v4":
        nb = {"cells": body, "metadata": meta, "nbformat": 4, "nbformat_minor": draw(st.integers(0, 10))}
    elif shape == "v3":
        v3_cells = [{**c, "input": c.get("source", ""), "language": "python"} for c in body]
        nb = {"worksheets": [{"cells": v3_cells, "metadata": {}}], "metadata": meta, "nbformat": 3, "nbformat_minor": 0}
    else:
        nb = draw(json_value)
    return nb


def _deep(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"cells": [], "metadata": ' + '{"a": ' * depth + "1" + "}" * depth + "}"


@st.composite
def notebook_bytes(draw) -> bytes:
    how = draw(st.sampled_from(["json"] * 6 + ["deep", "random", "flipped", "empty"]))
    if how == "deep":
        return _deep(draw(st.sampled_from([60, 70, 1_000, 200_000])), draw(st.sampled_from(["list", "dict"]))).encode()
    if how == "random":
        return draw(st.binary(max_size=200))
    if how == "empty":
        return draw(st.sampled_from([b"", b"   ", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00\x00"]))
    text = json.dumps(draw(notebooks()), ensure_ascii=draw(st.booleans()))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "cp1258", "latin-1"]))
    data = text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")
    if how == "flipped" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    return data


@st.composite
def zip_bytes(draw) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for _ in range(draw(st.integers(0, 3))):
            name = draw(
                st.one_of(
                    st.sampled_from(["lab1.ipynb", "../x.ipynb", "/abs.ipynb", "a/b.ipynb", ".OTTER_LOG", "x.txt"]),
                    hostile_text.map(lambda s: s.replace("\x00", "") + ".ipynb"),
                )
            )
            try:
                zf.writestr(name or "x.ipynb", draw(notebook_bytes()))
            except (ValueError, UnicodeEncodeError):
                pass
    data = buf.getvalue()
    if draw(st.booleans()) and len(data) > 10:
        cut = draw(st.integers(1, len(data) - 1))
        data = data[:cut]
    return data


@st.composite
def file_names(draw) -> bytes:
    """A file name as bytes (what the disk holds): any bytes but ``/`` and NUL, not hidden."""
    base = draw(
        st.one_of(
            hostile_text.map(lambda s: s.encode("utf-8", "surrogateescape") if s else b"x"),
            st.binary(min_size=1, max_size=30),
            st.sampled_from(["bài 1", "ba\u0300i 1", "BÀI 1", "bài_1", "=1+2", "+cmd", "-x", "@SUM(A1)", "\tx"]).map(
                lambda s: s.encode()
            ),
        )
    )
    base = base.replace(b"/", b"_").replace(b"\x00", b"_")[:180]
    if base.startswith(b"."):
        base = b"_" + base
    return base + draw(st.sampled_from([b".ipynb", b".IPYNB", b".zip", b".Zip"]))


@st.composite
def batches(draw, max_files: int = 6) -> list[tuple[bytes, bytes]]:
    names = draw(st.lists(file_names(), min_size=1, max_size=max_files, unique=True))
    out = []
    for name in names:
        is_zip = name.lower().endswith(b".zip")
        out.append((name, draw(zip_bytes() if is_zip else notebook_bytes())))
    return out


# ---------------------------------------------------------------------------------------------
# The reading and reporting layers
# ---------------------------------------------------------------------------------------------
def _lay_out(folder: Path, batch: list[tuple[bytes, bytes]]) -> None:
    for name, data in batch:
        path = os.path.join(os.fsencode(folder), name)
        with open(path, "wb") as f:
            f.write(data)


def _what_the_executor_does(nb: dict) -> None:
    """What happens to a gradable notebook before the kernel runs it (no kernel here)."""
    text = nbformat.writes(nbformat.from_dict(nb))
    text.encode("utf-8")  # prepare_scratch writes it as UTF-8
    spec = {"work": "/w", "tests_dir": "/w/t", "tests": ["/w/t/q0_layers.py"]}
    for cell, _ in sandbox.prepare_cells(nbformat.reads(text, as_version=4), spec):
        sandbox._first_line(cell.source)
        sandbox.CHECK_CALL.findall(cell.source)


def check_layers(batch: list[tuple[bytes, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, out = Path(tmp) / "subs", Path(tmp) / "out"
        root.mkdir()
        _lay_out(root, batch)
        paths = submissions.discover(root)
        assert len(paths) == len(batch)
        subs = [submissions.read_submission(p, root, "lab1") for p in paths]
        results = []
        for sub in subs:
            assert (sub.notebook is None) == (sub.rejected is not None), sub
            assert sub.name and sub.name.encode("utf-8")  # shown as valid text, whatever the disk holds
            if sub.rejected is None:
                _what_the_executor_does(sub.notebook)
                outcome = oc.Outcome(oc.OK)
            else:
                outcome = sub.rejected
                assert outcome.status()
            results.append(GradeResult(sub.name, outcome, {"q0_layers": 0.0, "q1_mnist_name": 0.0}, repairs=sub.repairs))
        out.mkdir()
        names = report.output_names(r.file for r in results)
        assert len({n.casefold() for n in names.values()}) == len(results)
        for r in results:
            report.write_feedback(out / "feedback", PLAN, r, names[r.file])
            json.dumps({"file": r.file, "status": r.status}).encode("ascii")
        report.write_csv(out / "final_grades.csv", PLAN, results)
        rows = list(csv.reader(io.StringIO((out / "final_grades.csv").read_text())))
        assert len(rows) == 2 + len(batch)
        assert len({r[0] for r in rows[2:]}) == len(batch)
        assert not [r for r in rows[2:] for c in (r[0], r[-1]) if c[:1] in report.FORMULA_START]
        assert len(list((out / "feedback").iterdir())) == len(batch)
        report.summary_data(PLAN, results)


@FAST
@given(batches())
def test_fuzz_reading_and_reporting(batch):
    check_layers(batch)


@pytest.mark.fuzz_long
@LONG
@given(batches(max_files=10))
def test_fuzz_reading_and_reporting_long(batch):
    check_layers(batch)


# ---------------------------------------------------------------------------------------------
# The real command line
# ---------------------------------------------------------------------------------------------
def _tiny(source: str) -> bytes:
    nb = nbformat.v4.new_notebook(metadata={"otter": {"assignment_name": "lab1"}})
    nb.cells.append(nbformat.v4.new_code_cell(source))
    return nbformat.writes(nb).encode()


def check_cli(batch: list[tuple[bytes, bytes]], gradable: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, out = Path(tmp) / "subs", Path(tmp) / "out"
        root.mkdir()
        taken = {n for n, _ in batch}
        extra = [(f"tiny{i}.ipynb".encode(), data) for i, data in enumerate(gradable)]
        files = batch + [(n, d) for n, d in extra if n not in taken]
        _lay_out(root, files)
        proc = grade(root, out, "-j", "2", "--timeout", "120", "--memory", "3", timeout=900)
        assert proc.returncode in (0, 2), proc.stderr[-3000:]  # 2: a grader error, still one row per file
        rows = list(csv.reader(io.StringIO((out / "final_grades.csv").read_text())))
        assert len(rows) == 2 + len(files), (rows, proc.stderr[-3000:])
        assert len(list((out / "feedback").iterdir())) == len(files)
        assert len(grading_log(out)[-1]) == len(files)
        assert not [r for r in rows[2:] if "grader error" in r[-1]], proc.stderr[-3000:]


tiny_gradable = st.lists(st.sampled_from(["x = 1", "layer_kinds = ['input', 'hidden', 'output']"]), min_size=1, max_size=2).map(
    lambda sources: [_tiny(s) for s in sources]
)


@CLI_FAST
@given(batches(max_files=12), tiny_gradable)
def test_fuzz_command_line(batch, gradable):
    check_cli(batch, gradable)


@pytest.mark.fuzz_long
@CLI_LONG
@given(batches(max_files=25), tiny_gradable)
def test_fuzz_command_line_long(batch, gradable):
    check_cli(batch, gradable)
