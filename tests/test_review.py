"""The manual questions (issue 12): review pack, scores file, merge, Gradescope PDF.

Cheap tests first, on an OUT folder written by the grader's own report functions (no execution):
the master's list, finding answers in notebooks, sanitizing, the pages, the scores file's every
bad input, the merge. Then one batch run of the class grader with ``--review`` over an export zip
and a plain notebook (two blank-based executions), and two re-grades from its cache.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grade_fixtures as fx
import nbformat
import pytest
from conftest import ROOT

from ds201_lab1 import manual, manual_pdf, review
from ds201_lab1.grade import report
from ds201_lab1.grade.outcome import Outcome
from ds201_lab1.grade.report import GradeResult

OK, NOT_JSON = Outcome("ok"), Outcome("rejected", "not a notebook: invalid JSON")

QUESTIONS = manual.manual_questions()
NAMES = [q.name for q in QUESTIONS]
PLOTS = ("q2_samples", "q2_label_plots")  # the manual questions answered by a plot
SOLUTIONS = nbformat.read(ROOT / "solutions" / "lab1.ipynb", as_version=4)  # the key, executed


def _answer_cells(nb) -> dict[str, int]:
    """Manual question -> index of its first answer cell (the cell after each BEGIN marker)."""
    starts = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and manual.BEGIN.search(c.source)]
    assert len(starts) == len(QUESTIONS), "the student notebook's manual regions changed"
    return {q.name: i + 1 for q, i in zip(QUESTIONS, starts)}


def answered(nb, tag: str) -> nbformat.NotebookNode:
    """``nb`` with every manual question answered: a text naming the question and ``tag``; the plot
    questions with the key's code and the key's executed plots as the student's own outputs."""
    mine, key = _answer_cells(nb), _answer_cells(SOLUTIONS)
    for q in QUESTIONS:
        cell = nb.cells[mine[q.name]]
        if q.name in PLOTS:
            solution = SOLUTIONS.cells[key[q.name]]
            cell.source = manual._strip_solution_markers(solution.source)
            cell.outputs = solution.outputs
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), q.name
        else:
            cell.source = f"ANSWER-{q.name}-{tag}: học máy với dữ liệu chuẩn hóa **đậm**"
    return nb


def _plan(points: dict[str, float]) -> dict:
    return {"assignment_name": "lab1", "questions": {q: {"possible": p} for q, p in points.items()}}


@pytest.fixture
def graded(tmp_path) -> dict:
    """An OUT folder as ``make grade`` leaves it (written by report's functions), and its submissions."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    fx.export_zip(answered(fx.blank(), "zip"), subs / "alice.zip")
    fx.write(answered(fx.blank(), "plain"), subs / "bob.ipynb")
    shutil.copy(ROOT / "student" / "lab1.ipynb", subs / "carol_blank.ipynb")
    (subs / "dave_notjson.ipynb").write_text("not JSON")
    plan = _plan({"q0_layers": 1, "q1_mnist_name": 2})
    results = [
        GradeResult("alice.zip", OK, {"q0_layers": 1.0, "q1_mnist_name": 2.0}),
        GradeResult("bob.ipynb", OK, {"q0_layers": 1.0, "q1_mnist_name": 0.0}),
        GradeResult("carol_blank.ipynb", OK, {"q0_layers": 0.0, "q1_mnist_name": 0.0}),
        GradeResult("dave_notjson.ipynb", NOT_JSON, {"q0_layers": 0.0, "q1_mnist_name": 0.0}),
    ]
    out.mkdir()
    report.write_csv(out / "final_grades.csv", plan, results)
    for r in results:
        report.write_feedback(out / "feedback", plan, r)
    return {"subs": subs, "out": out, "autograded": (out / "final_grades.csv").read_text()}


def _rows(out: Path) -> dict[str, dict[str, str]]:
    return {r["file"]: r for r in csv.DictReader(io.StringIO((out / "final_grades.csv").read_text()))}


def _fill(path: Path, scores: dict[str, dict[str, str]], key: str = "file", **extra_columns: str) -> None:
    """Fill the scores file like a grader in a spreadsheet: cells by row key and column."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    header = rows[0] + list(extra_columns)
    for row in rows[1:]:
        row += list(extra_columns.values())
        for col, value in scores.get(row[header.index(key)], {}).items():
            row[header.index(col)] = value
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows[1:]])
    path.write_text(buf.getvalue())


def _review(subs: Path, out: Path, *extra: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "ds201_lab1.review", str(subs), str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)


def _tags(html: str) -> list[tuple[str, list]]:
    from html.parser import HTMLParser

    found: list[tuple[str, list]] = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: found.append((tag, attrs))
    parser.feed(html)
    return found


# ---------------------------------------------------------------------------------------------
# The master and the notebooks
# ---------------------------------------------------------------------------------------------
def test_the_manual_questions_come_from_the_master():
    nb = json.loads((ROOT / "assignment" / "lab1.ipynb").read_text())
    configs = [c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in nb["cells"]]
    marked = [re.search(r"name: (\w+)", s).group(1) for s in configs if "BEGIN QUESTION" in s and "manual: true" in s]
    assert NAMES == marked and len(NAMES) == 8
    assert all(q.points > 0 and q.prompt and q.key for q in QUESTIONS)
    q = next(q for q in QUESTIONS if q.name == "q2_label_plots")
    assert "Matplotlib" in q.prompt and "BEGIN SOLUTION" not in q.key[0]["source"]


def test_a_master_edit_flows_through(tmp_path):
    nb = json.loads((ROOT / "assignment" / "lab1.ipynb").read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if "name: q2_set" in src:
            cell["source"] = src.replace("manual: true\n", "")  # no longer manual
        if "Kiểu dữ liệu `set`" in src:
            cell["source"] = src + "\n\n(edited prompt)"
    master = tmp_path / "lab1.ipynb"
    master.write_text(json.dumps(nb))
    names = [q.name for q in manual.manual_questions(master)]
    assert "q2_set" not in names and len(names) == 7
    edited = manual.manual_questions(master)
    assert all("(edited prompt)" not in q.prompt for q in edited)


def test_the_master_is_the_checkouts_or_the_one_named(graded, tmp_path):
    """The installed package computes no repository path: the review reads assignment/lab1.ipynb
    where it runs (the checkout, as `make` runs it) or --master, and the key's plots from the
    solutions/ beside that master. Run elsewhere without --master, it says so and changes nothing."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _review(graded["subs"], graded["out"], cwd=elsewhere)
    assert proc.returncode == 2 and "--master" in proc.stderr, proc.stderr
    assert (graded["out"] / "final_grades.csv").read_text() == graded["autograded"]
    grade = [sys.executable, "-m", "ds201_lab1.grade", str(graded["subs"]), str(tmp_path / "out2"), "--review"]
    proc = subprocess.run(grade, cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--master" in proc.stderr, proc.stderr  # before grading anything
    assert not (tmp_path / "out2").exists()

    term = tmp_path / "next-term"
    (term / "assignment").mkdir(parents=True)
    nb = json.loads((ROOT / "assignment" / "lab1.ipynb").read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if "name: q2_set" in src:
            cell["source"] = src.replace("manual: true\n", "")  # no longer manual in that master
    (term / "assignment" / "lab1.ipynb").write_text(json.dumps(nb))
    proc = _review(graded["subs"], graded["out"], "--master", str(term / "assignment" / "lab1.ipynb"), cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    pages = sorted(p.stem for p in (graded["out"] / "review").glob("*.html"))
    assert pages == sorted(["index", *(n for n in NAMES if n != "q2_set")])
    assert 'alt="key plot"' not in (graded["out"] / "review" / "q2_label_plots.html").read_text()  # not built there

    (term / "solutions").mkdir()
    shutil.copy(ROOT / "solutions" / "lab1.ipynb", term / "solutions" / "lab1.ipynb")
    proc = _review(graded["subs"], graded["out"], "--master", str(term / "assignment" / "lab1.ipynb"), cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert 'alt="key plot"' in (graded["out"] / "review" / "q2_label_plots.html").read_text()


def test_answers_are_found_by_prompt_order_or_similarity():
    nb = answered(fx.blank(), "x")
    found = manual.answers(nb, QUESTIONS)
    assert all(found[n] is not None and not found[n].blank for n in NAMES)
    assert "ANSWER-q2_set-x" in found["q2_set"].parts[0].source
    # A deleted question region: the others are still matched by their prompts.
    starts = _answer_cells(nb)
    del nb.cells[starts["q4_learning_rate"] - 1 : starts["q4_learning_rate"] + 1]
    found = manual.answers(nb, QUESTIONS)
    assert found["q4_learning_rate"] is None
    assert "ANSWER-ex5_explain-x" in found["ex5_explain"].parts[0].source
    assert all(r.blank for r in manual.answers(fx.blank(), QUESTIONS).values())


def test_notebook_content_is_sanitized():
    html = review.safe_html(
        manual.markdown_html(
            "<script>alert(1)</script> <img src=x onerror=alert(1)> [a](javascript:alert(1)) "
            "![t](http://tracker.example/p.png) [b](https://example.com) **ok**"
        )
    )
    tags = _tags(html)
    assert {t for t, _ in tags} <= {"p", "span", "strong"} and all(not attrs for _, attrs in tags)
    assert "tracker.example" not in html and "https://example.com" not in html and "<strong>ok</strong>" in html
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (10**6).to_bytes(4, "big") * 2).decode()
    part = manual.Part(
        "code",
        "x",
        [
            {"output_type": "display_data", "data": {"image/png": png}},  # a billion-pixel claim
            {"output_type": "display_data", "data": {"image/png": base64.b64encode(b"GIF89a").decode()}},
            {"output_type": "display_data", "data": {"text/html": "<script>x</script>"}},
            {"output_type": "stream", "name": "stdout", "text": "y" * 10_000},
        ],
    )
    outs = manual.outputs(part)
    assert [o.kind for o in outs] == ["omitted", "omitted", "omitted", "text"]
    assert len(outs[3].text) < 4100 and "more characters not shown" in outs[3].text


# ---------------------------------------------------------------------------------------------
# The review pack and the scores file
# ---------------------------------------------------------------------------------------------
def test_review_pages_hold_every_answer_with_the_plots(graded):
    proc = _review(graded["subs"], graded["out"])
    assert proc.returncode == 0, proc.stderr
    folder = graded["out"] / "review"
    index = (folder / "index.html").read_text()
    assert all(f'href="{n}.html"' in index for n in NAMES)
    for q in QUESTIONS:
        page = (folder / f"{q.name}.html").read_text()
        assert "Content-Security-Policy" in page and "<script" not in page
        assert "Rubric" in page and page.index("Rubric") < page.index("Prompt") < page.index("Key")
        cards = re.findall(r'<section class="card[^"]*" id="s\d+"><h3>([^<]+)</h3>', page)
        assert cards == ["alice.zip", "bob.ipynb", "carol_blank.ipynb"], q.name  # the non-notebook has no card
        body = page.split("Câu trả lời / Answers")[1]
        if q.name in PLOTS:
            assert body.count('<img alt="plot" src="data:image/png;base64,') == 2, q.name  # zip and .ipynb
        else:
            assert f"ANSWER-{q.name}-zip" in body and f"ANSWER-{q.name}-plain" in body
            assert "<strong>đậm</strong>" in body
        assert "left blank" in body.split(">carol_blank.ipynb<")[1]
        assert re.search(r"src=\"(?!data:)|href=\"http", page) is None  # nothing external
        assert "as submitted" in body  # the cache keeps no executed notebook here
    key = (folder / "q2_label_plots.html").read_text().split("Đáp án / Key")[1].split("Câu trả lời")[0]
    assert 'alt="key plot"' in key  # the key's own chart, from the executed solution
    template = list(csv.reader(io.StringIO((graded["out"] / "manual_scores.csv").read_text())))
    assert template[0] == ["file", "submission", *NAMES, "comment"]
    assert template[1][:2] == ["points-per-question", ""] and template[1][2:-1] == ["1"] * 8
    assert [r[:2] for r in template[2:]] == [["alice.zip", "1"], ["bob.ipynb", "2"], ["carol_blank.ipynb", "3"]]
    assert all(cell == "" for r in template[2:] for cell in r[2:])
    rows = _rows(graded["out"])
    assert rows["points-per-question"]["total_points_earned"] == "11"  # 3 autograded + 8 manual
    assert rows["alice.zip"]["q2_set"] == "" and "8 not graded yet" in rows["alice.zip"]["grading_status"]
    assert rows["dave_notjson.ipynb"]["q2_set"] == "0" and "manual" not in rows["dave_notjson.ipynb"]["grading_status"]


def test_anonymous_review_hides_names_and_keeps_numbers(graded):
    subs, out = graded["subs"], graded["out"]
    assert _review(subs, out, "--anonymous").returncode == 0
    names = ("alice", "bob", "carol", "dave")
    for path in (out / "review").rglob("*"):
        if path.is_file():
            text = re.sub(r"data:image/\w+;base64,[A-Za-z0-9+/=]+", "", path.read_text())  # images aside
            assert not any(n in text for n in names), path
    page = (out / "review" / "q2_set.html").read_text()
    assert re.findall(r"<h3>([^<]+)</h3>", page) == ["submission 1", "submission 2", "submission 3"]
    graders = list(csv.reader(io.StringIO((out / "review" / "manual_scores.csv").read_text())))
    assert graders[0] == ["submission", *NAMES, "comment"] and [r[0] for r in graders[2:]] == ["1", "2", "3"]
    # A late submission that sorts first gets the next number, kept in the instructor's file (a row
    # appended, every byte before it kept); the others keep theirs.
    before = (out / "manual_scores.csv").read_text()
    fx.write(answered(fx.blank(), "late"), subs / "aaa_late.ipynb")
    files = ("aaa_late.ipynb", "alice.zip", "bob.ipynb", "carol_blank.ipynb", "dave_notjson.ipynb")
    text = report.csv_text(
        {"questions": {"q0_layers": {"possible": 1}}}, [GradeResult(f, OK, {"q0_layers": 0.0}) for f in files]
    )
    (out / "final_grades.csv").write_text(text)
    assert _review(subs, out).returncode == 0  # no flag: the names stay hidden in this OUT
    page = (out / "review" / "q2_set.html").read_text()
    assert re.findall(r"<h3>([^<]+)</h3>", page) == [f"submission {n}" for n in (1, 2, 3, 4)]
    assert "ANSWER-q2_set-late" in page.split("<h3>submission 4</h3>")[1]
    after = (out / "manual_scores.csv").read_text()
    assert after.startswith(before) and after[len(before) :] == "aaa_late.ipynb,4" + "," * 9 + "\n"
    assert _review(subs, out, "--anonymous").returncode == 0
    assert (out / "manual_scores.csv").read_text() == after


def test_a_notebook_whose_question_cells_were_deleted_gets_a_no_answer_card(graded, tmp_path):
    subs, out = tmp_path / "copy" / "subs", tmp_path / "copy" / "out"
    shutil.copytree(graded["subs"], subs)
    shutil.copytree(graded["out"], out)
    shutil.rmtree(out / ".manual", ignore_errors=True)  # names shown (another test may have hidden them)
    nb = nbformat.v4.new_notebook(metadata={"otter": {"assignment_name": "lab1"}})
    nb.cells = [nbformat.v4.new_code_cell("layer_kinds = ['input', 'hidden', 'output']")]
    fx.write(nb, subs / "erin_deleted.ipynb")
    files = sorted(p.name for p in subs.iterdir())
    text = report.csv_text({"questions": {"q0_layers": {"possible": 1}}}, [GradeResult(f, OK, {"q0_layers": 0.0}) for f in files])
    (out / "final_grades.csv").write_text(text)
    proc = _review(subs, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for q in QUESTIONS:
        page = (out / "review" / f"{q.name}.html").read_text()
        card = page.split("<h3>erin_deleted.ipynb</h3>")[1].split("</section>")[0]
        assert "No answer found (the question's marker cells were deleted" in card, q.name
    assert "erin_deleted.ipynb" in (out / "manual_scores.csv").read_text()


def test_filled_scores_merge_into_grades_and_feedback(graded):
    subs, out = graded["subs"], graded["out"]
    assert _review(subs, out).returncode == 0
    scores = out / "manual_scores.csv"
    full = dict.fromkeys(NAMES, "1")
    _fill(
        scores,
        {
            "alice.zip": {**full, "comment": "Rất tốt / very good"},
            "bob.ipynb": {**full, "q2_set": "0.5", "ex5_explain": "0", "comment": "Thiếu ý / a point missing"},
            "carol_blank.ipynb": dict.fromkeys(NAMES, "0"),
        },
    )
    proc = _review(subs, out, "--manual", str(scores))
    assert proc.returncode == 0, proc.stderr
    rows = _rows(out)
    points = rows["points-per-question"]
    assert points["total_points_earned"] == "11" and all(points[n] == "1" for n in NAMES)
    header = next(csv.reader(io.StringIO((out / "final_grades.csv").read_text())))
    assert header == ["file", *sorted(["q0_layers", "q1_mnist_name", *NAMES]), *header[-3:]]
    assert rows["alice.zip"]["total_points_earned"] == "11" and rows["alice.zip"]["percent_correct"] == "1.0"
    assert rows["bob.ipynb"]["total_points_earned"] == "7.5" and rows["bob.ipynb"]["q2_set"] == "0.5"
    assert rows["bob.ipynb"]["grading_status"] == "ok" and rows["dave_notjson.ipynb"]["total_points_earned"] == "0"
    feedback = (out / "feedback" / "bob.md").read_text()
    assert "7.5 / 11" in feedback and "Thiếu ý / a point missing" in feedback
    assert "| `q2_set` | 0.5 / 1 |" in feedback and feedback.count("Manually graded questions") == 1
    # The class summary counts every point too.
    summary = json.loads((out / "summary.json").read_text())
    totals = [float(r["total_points_earned"]) for f, r in rows.items() if f != "points-per-question"]
    assert summary["possible_with_manual"] == 11 and summary["mean_total_with_manual"] == round(sum(totals) / len(totals), 4)
    assert summary["manual"]["q2_set"]["graded"] == len(totals)
    assert "Manually graded questions" in (out / "summary.md").read_text()
    # Merging again (same file) changes nothing: manual columns and sections are replaced, not added.
    files = ("final_grades.csv", "feedback/bob.md", "summary.md", "summary.json")
    before = [(out / f).read_text() for f in files]
    assert _review(subs, out, "--manual", str(scores)).returncode == 0
    assert [(out / f).read_text() for f in files] == before
    assert before[2].count("Manually graded questions") == 1


def test_half_filled_scores_show_what_is_left(graded):
    subs, out = graded["subs"], graded["out"]
    assert _review(subs, out).returncode == 0
    _fill(out / "manual_scores.csv", {"alice.zip": {"q2_set": "1", "ex3_compare": "1"}})
    proc = _review(subs, out, "--manual", str(out / "manual_scores.csv"))
    assert proc.returncode == 0, proc.stderr
    row = _rows(out)["alice.zip"]
    assert row["q2_set"] == "1" and row["q2_samples"] == "" and row["total_points_earned"] == "5"
    assert row["grading_status"].startswith("ok | manual: 6 not graded yet (q2_samples, q2_label_plots")
    assert "chưa chấm / not graded yet" in (out / "feedback" / "alice.md").read_text()
    assert "22 not graded yet" in proc.stderr or "22 not graded yet" in proc.stderr.replace("\n", " ")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"bob.ipynb": {"q2_set": "2"}}, "row 4 (file 'bob.ipynb'), column 'q2_set': 2 is outside 0–1"),
        ({"bob.ipynb": {"ex4_comment": "-1"}}, "row 4 (file 'bob.ipynb'), column 'ex4_comment': -1 is outside"),
        ({"bob.ipynb": {"q6_why_save": "good"}}, "column 'q6_why_save': 'good' is not a number"),
        ({"bob.ipynb": {"file": "zed.ipynb"}}, "row 4, column 'file': file 'zed.ipynb' is not a submission"),
        ({"bob.ipynb": {"q0_layers": "1"}}, "'q0_layers': not a manual question of the master"),
    ],
)
def test_bad_scores_are_refused_with_row_and_column_and_nothing_is_lost(graded, edit, message):
    subs, out = graded["subs"], graded["out"]
    assert _review(subs, out).returncode == 0
    scores = out / "manual_scores.csv"
    good = {"alice.zip": {"q2_set": "1", "comment": "kept"}}
    _fill(scores, good)
    assert _review(subs, out).returncode == 0  # merged: the default is OUT/manual_scores.csv
    merged = _rows(out)
    bad = out / "bad.csv"
    shutil.copy(scores, bad)
    extra = {"q0_layers": ""} if "q0_layers" in edit["bob.ipynb"] else {}
    _fill(bad, edit, **extra)
    proc = _review(subs, out, "--manual", str(bad))
    assert proc.returncode == 3 and message in proc.stderr, proc.stderr
    assert "kept the manual scores merged at" in proc.stderr
    assert _rows(out) == merged  # every autograded score, and the manual ones merged before
    autograded = {r["file"]: r for r in csv.DictReader(io.StringIO(graded["autograded"]))}
    for file, row in _rows(out).items():
        assert row["q0_layers"] == autograded[file]["q0_layers"]
        assert row["q1_mnist_name"] == autograded[file]["q1_mnist_name"]


def test_missing_scores_file_is_named_before_anything_runs(graded, tmp_path):
    proc = _review(graded["subs"], graded["out"], "--manual", str(tmp_path / "nope.csv"))
    assert proc.returncode == 2 and "no such file" in proc.stderr


# ---------------------------------------------------------------------------------------------
# The Gradescope PDF
# ---------------------------------------------------------------------------------------------
def _pdf_pages(path: Path) -> list[tuple[str, int]]:
    from pypdf import PdfReader

    return [(p.extract_text(), len(p.images)) for p in PdfReader(path).pages]


def test_pdf_holds_exactly_the_manual_answers_with_plots(tmp_path):
    nb = answered(fx.one_wrong(), "pdf")
    folder = tmp_path / "submission"
    fx.write(nb, folder / "lab1.ipynb")
    (folder / "student_made.pdf").write_bytes(b"%PDF-1.4 a PDF the student put in the zip")
    proc = subprocess.run(
        [sys.executable, "-m", "ds201_lab1.manual_pdf", str(folder)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in folder.glob("*.pdf")) == ["lab1.pdf"]  # otter's use_submission_pdf takes it
    pages = _pdf_pages(folder / "lab1.pdf")
    assert len(pages) == 8
    for (text, images), q in zip(pages, QUESTIONS):
        flat = " ".join(text.split())
        if q.name in PLOTS:
            assert images >= 1, q.name
        else:
            assert f"ANSWER-{q.name}-pdf" in flat and "học máy với dữ liệu chuẩn hóa" in flat, q.name
            assert images == 0
    everything = " ".join(t for t, _ in pages)
    assert "mnist_stands_for" not in everything and "layer_kinds" not in everything  # autograded answers left out
    assert "Câu hỏi 2.1" in pages[0][0] and "Manual question 1 of 8" in pages[0][0]


def test_otter_uploads_this_pdf_to_the_manual_assignment(tmp_path, monkeypatch):
    """Otter's own Gradescope step, offline: with ``use_submission_pdf`` it uploads the PDF this
    module wrote (no LaTeX, no browser) to the linked assignment; the upload is the only thing faked."""
    from types import SimpleNamespace

    from otter.generate.token import APIClient
    from otter.run.run_autograder.autograder_config import AutograderConfig
    from otter.run.run_autograder.runners.python_runner import PythonRunner

    folder = tmp_path / "autograder" / "submission"
    fx.write(answered(fx.blank(), "gs"), folder / "lab1.ipynb")
    (tmp_path / "autograder" / "submission_metadata.json").write_text(json.dumps({"users": [{"email": "s@x.edu"}]}))
    assert manual_pdf.main([str(folder)]) == 0
    uploads = []

    def upload(self, course_id, assignment_id, email, path):
        uploads.append((course_id, assignment_id, email, path, len(_pdf_pages(Path(path)))))
        return SimpleNamespace(status_code=200, text="")

    monkeypatch.setattr(APIClient, "upload_pdf_submission", upload)
    config = {"token": "t", "course_id": 1, "assignment_id": 2, "use_submission_pdf": True, "pagebreaks": True}
    runner = PythonRunner(AutograderConfig(config))
    monkeypatch.chdir(folder)
    assert runner.write_and_maybe_submit_pdf("lab1.ipynb") is None
    assert uploads == [(1, 2, "s@x.edu", "lab1.pdf", 8)]


def test_review_pdfs_are_named_by_question(graded):
    proc = _review(graded["subs"], graded["out"], "--pdf", "--anonymous")
    assert proc.returncode == 0, proc.stderr
    pdfs = sorted(p.name for p in (graded["out"] / "review" / "pdf").iterdir())
    assert pdfs == ["submission_1.pdf", "submission_2.pdf", "submission_3.pdf"]
    pages = _pdf_pages(graded["out"] / "review" / "pdf" / "submission_2.pdf")
    assert [t.split("\n")[1].split(" —")[0] for t, _ in pages] == NAMES
    assert "Left blank" in _pdf_pages(graded["out"] / "review" / "pdf" / "submission_3.pdf")[1][0]


def test_pdf_builder_reads_an_export_zip(tmp_path):
    zipped = fx.export_zip(answered(fx.blank(), "z"), tmp_path / "lab1_2026.zip")
    assert manual_pdf.main([str(zipped), "-o", str(tmp_path / "a.pdf")]) == 0
    assert len(_pdf_pages(tmp_path / "a.pdf")) == 8


# ---------------------------------------------------------------------------------------------
# With the class grader: a batch, then re-grades from its cache
# ---------------------------------------------------------------------------------------------
GRADE_ARGS = ("-j", "2", "--timeout", "600", "--memory", "5")


def _grade(subs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "ds201_lab1.grade", str(subs), str(out), *GRADE_ARGS, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> dict:
    """``--review --anonymous`` over an otter export zip and a plain notebook, both answered."""
    work = tmp_path_factory.mktemp("review-batch")
    subs = work / "subs"
    subs.mkdir()
    fx.export_zip(answered(fx.one_wrong(), "zip"), subs / "alice.zip")
    fx.write(answered(fx.blank(), "plain"), subs / "bob.ipynb")
    (subs / "dave_notjson.ipynb").write_text("not JSON")
    out = work / "out"
    proc = _grade(subs, out, "--review", "--anonymous")
    assert proc.returncode == 0, proc.stderr[-5000:]
    return {"subs": subs, "out": out, "stderr": proc.stderr}


def test_grading_a_batch_writes_a_review_page_per_manual_question(batch):
    out = batch["out"]
    assert f"review: {len(QUESTIONS)} manual question pages" in batch["stderr"]
    for q in QUESTIONS:
        page = (out / "review" / f"{q.name}.html").read_text()
        assert re.findall(r"<h3>([^<]+)</h3>", page) == ["submission 1", "submission 2"]  # zip, then .ipynb
        zipped, plain = page.split("<h3>submission 1</h3>")[1].split("<h3>submission 2</h3>")
        for tag, card in (("zip", zipped), ("plain", plain)):
            if q.name in PLOTS:
                assert '<img alt="plot" src="data:image/png;base64,' in card, (q.name, tag)
            else:
                assert f"ANSWER-{q.name}-{tag}" in card, (q.name, tag)
        text = re.sub(r"data:image/\w+;base64,[A-Za-z0-9+/=]+", "", page)
        assert "alice" not in text and "bob" not in text
    rows = _rows(out)
    assert rows["points-per-question"]["total_points_earned"] == "53"
    assert rows["alice.zip"]["q2_set"] == "" and "8 not graded yet" in rows["alice.zip"]["grading_status"]


def test_manual_scores_merge_and_survive_a_regrade_from_the_cache(batch, tmp_path):
    subs, out = batch["subs"], tmp_path / "out"
    shutil.copytree(batch["out"], out, symlinks=True)
    autograded = {f: r["total_points_earned"] for f, r in _rows(out).items()}
    graders = out / "review" / "manual_scores.csv"  # the anonymous graders' file: by number only
    _fill(
        graders,
        {"1": {**dict.fromkeys(NAMES, "1"), "comment": "Tốt lắm / well done"}, "2": {"q2_set": "0.5"}},
        key="submission",
    )
    proc = _grade(subs, out, "--review", "--manual", str(graders))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(0 executed" in proc.stderr  # re-verified from the cache
    rows = _rows(out)
    assert float(rows["alice.zip"]["total_points_earned"]) == float(autograded["alice.zip"]) + 8
    assert rows["alice.zip"]["grading_status"] == "ok" and rows["points-per-question"]["total_points_earned"] == "53"
    assert rows["bob.ipynb"]["q2_set"] == "0.5" and "7 not graded yet" in rows["bob.ipynb"]["grading_status"]
    feedback = (out / "feedback" / "alice.md").read_text()
    assert "Tốt lắm / well done" in feedback and "/ 53 (" in feedback
    merged = (out / "final_grades.csv").read_text()
    # A re-grade from the cache, without naming the file again: the scores merged last stay.
    proc = _grade(subs, out, "--review")
    assert proc.returncode == 0 and "(0 executed" in proc.stderr, proc.stderr[-3000:]
    assert (out / "final_grades.csv").read_text() == merged
    assert "Tốt lắm / well done" in (out / "feedback" / "alice.md").read_text()


def test_the_graders_executed_notebook_is_preferred_when_the_cache_keeps_it(graded):
    """The grader keeps each executed notebook (``OUT/.cache/<sha256>-<env>/artifacts/executed.ipynb``);
    it replaces the submitted notebook's outputs, and the page says so."""
    subs, out = graded["subs"], graded["out"]
    nb = answered(fx.blank(), "executed-by-grader")
    sha = review.submissions.sha256_bytes((subs / "bob.ipynb").read_bytes())
    fx.write(nb, out / ".cache" / f"{sha}-env" / "artifacts" / "executed.ipynb")
    assert _review(subs, out).returncode == 0
    page = (out / "review" / "q2_set.html").read_text()
    bob = page.split("<h3>bob.ipynb</h3>")[1].split("</section>")[0]
    assert "ANSWER-q2_set-executed-by-grader" in bob and "the grader&#x27;s own execution" in bob
    alice = page.split("<h3>alice.zip</h3>")[1].split("</section>")[0]
    assert "ANSWER-q2_set-zip" in alice and "as submitted" in alice
