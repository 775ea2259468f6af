"""The manual questions' grading: the review pack, the scores file, and their merge into the grades.

Run as ``python -m ds201_lab1.review SUBMISSIONS OUT [--anonymous] [--manual CSV] [--pdf]`` after
``make grade`` wrote ``OUT/final_grades.csv`` (or by ``make grade`` itself, ``--review``). It writes

- ``OUT/review/index.html`` and one self-contained page per manual question of the master: the
  rubric, prompt and key at the top, then every submission's answer side by side (Markdown
  rendered, plots as images from the notebook the grader executed when the cache keeps it, else
  from the submitted one; the page says which). No script, no external URL (a CSP forbids them).
  ``--anonymous`` shows "submission N" instead of file names; nothing under ``OUT/review`` names
  a student then, and the numbers stay the same from run to run. Later runs on that OUT stay
  anonymous without the flag (``OUT/.manual/anonymous``; delete it to show names again).
- ``OUT/manual_scores.csv`` (never overwritten once it exists): one row per submission with a
  notebook (``file``, ``submission`` N), one empty column per manual question, ``comment``. With
  ``--anonymous`` also ``OUT/review/manual_scores.csv``, the same without ``file``, for graders.
- the merge: the filled file (``--manual``; by default the one merged last, else
  ``OUT/manual_scores.csv``) is checked (every error names its row and column) and merged into
  ``final_grades.csv`` (manual columns, totals over every point, ``points-per-question`` row) and
  into each ``feedback/*.md`` (scores and comment). An empty cell is "not graded yet": it counts 0
  and the row's ``grading_status`` names it. A file with errors is not merged: the scores merged
  last (``OUT/.manual/merged.json``) are kept instead, so nothing graded is lost.
- ``--pdf``: ``OUT/review/pdf/<name>.pdf`` per submission, the manual answers only (``manual_pdf``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import manual
from .grade import report, submissions
from .manual import Question, Region, escape

SCORES = "manual_scores.csv"
KEY, LABEL, COMMENT = "file", "submission", "comment"
NO_NOTEBOOK = "không có notebook của bài này / no notebook of this lab"
STATUS_TAG = " | manual:"  # appended to grading_status while manual cells are empty
FEEDBACK_TAG = "<!-- manual-scores -->"
MAX_NOTEBOOK_BYTES = submissions.MAX_NOTEBOOK_BYTES

RUBRIC = (
    "<b>Thang điểm / Rubric</b> — {points} điểm / point(s). "
    "<b>{points}</b>: đúng và đủ các ý của đáp án (lời giải khác nhưng đúng vẫn được trọn điểm) / "
    "right and complete against the key (another correct answer gets full marks too); "
    "<b>{half}</b>: đúng một phần hoặc thiếu ý chính / partly right, or a main point missing; "
    "<b>0</b>: để trống, sai, hoặc không phải câu trả lời của câu này / blank, wrong, or not an answer to "
    "this question. Ghi điểm vào / Enter the score in <code>{scores}</code>, cột / column <code>{name}</code>."
)


class ScoresError(ValueError):
    """A scores file that cannot be merged; ``problems`` lists every error with its row and column."""

    def __init__(self, path: Path, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{path}: not merged, {len(problems)} problem(s):\n{lines}\n"
            "Fix them and run the same command again; final_grades.csv keeps every autograded score "
            "and the manual scores merged last."
        )


# ---------------------------------------------------------------------------------------------
# The submissions to review
# ---------------------------------------------------------------------------------------------
@dataclass
class Entry:
    """One submission of final_grades.csv, as the review sees it."""

    file: str
    status: str
    number: int = 0  # the anonymous "submission N"
    notebook: dict[str, Any] | None = None
    source: str = ""  # "executed" or "submitted": where the outputs come from
    answers: dict[str, Region | None] = field(default_factory=dict)

    def label(self, anonymous: bool) -> str:
        return f"submission {self.number}" if anonymous else self.file


def read_grades(out: Path) -> tuple[list[str], list[str], list[list[str]]]:
    """``(header, points row, rows)`` of ``OUT/final_grades.csv``."""
    path = out / "final_grades.csv"
    if not path.is_file():
        raise SystemExit(f"{path} not found: grade first (`make grade SUBMISSIONS=… OUT={out}`), then review")
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    if len(rows) < 2 or rows[0][:1] != [report.FILE] or rows[1][:1] != [report.POINTS_POSSIBLE_LABEL]:
        raise SystemExit(f"{path} is not a grader's final_grades.csv (no header and points-per-question row)")
    return rows[0], rows[1], rows[2:]


def executed_notebook(out: Path, sha256: str) -> dict[str, Any] | None:
    """The notebook as the grader executed it, when its cache keeps one (``artifacts/executed.ipynb``)."""
    found = sorted(out.glob(f".cache/{sha256}-*/artifacts/executed.ipynb"), key=lambda p: p.stat().st_mtime)
    if not sha256 or not found or found[-1].stat().st_size > MAX_NOTEBOOK_BYTES:
        return None
    try:
        nb = json.loads(found[-1].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return nb if isinstance(nb, dict) else None


def read_notebook(path: Path) -> tuple[dict[str, Any] | None, str]:
    """``(notebook, sha256)`` of a submission, read as the grader reads it (a zip's one notebook
    member, in memory), without nbformat's slow validation; ``(None, "")`` when it is not one."""
    if path.is_symlink() or not path.is_file() or path.stat().st_size > submissions.MAX_SUBMISSION_BYTES:
        return None, ""
    data = path.read_bytes()
    sha256 = submissions.sha256_bytes(data)
    if path.suffix.lower() == ".zip":
        data, _, problem = submissions.notebook_from_zip(data)
        if problem:
            return None, sha256
    try:
        nb = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return None, sha256
    return (nb if isinstance(nb, dict) and isinstance(nb.get("cells"), list) else None), sha256


def load(root: Path, out: Path, questions: list[Question], assignment: str | None = None) -> list[Entry]:
    """Every submission of final_grades.csv with its notebook (executed if kept, else submitted);
    none for a file that is not a notebook or one of another assignment (as the grader rejects them)."""
    header, _, rows = read_grades(out)
    status_col = header.index(report.STATUS)
    entries = []
    for row in rows:
        entry = Entry(row[0], row[status_col].split(STATUS_TAG)[0])
        submitted, sha256 = read_notebook(root / row[0])
        if submitted is not None and assignment is not None:
            otter = (submitted.get("metadata") or {}).get("otter") or {}
            submitted = submitted if isinstance(otter, dict) and otter.get("assignment_name") == assignment else None
        if submitted is not None:
            executed = executed_notebook(out, sha256)
            entry.notebook, entry.source = (executed, "executed") if executed else (submitted, "submitted")
            entry.answers = manual.answers(entry.notebook, questions)
        entries.append(entry)
    return entries


# ---------------------------------------------------------------------------------------------
# The scores file
# ---------------------------------------------------------------------------------------------
def _delimiter(text: str) -> str:
    """``;`` when the header has more of them than commas (spreadsheets in some locales), else ``,``."""
    first = text.splitlines()[0] if text.strip() else ""
    return ";" if first.count(";") > first.count(",") else ","


def _read_csv(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8-sig")  # a spreadsheet may add a BOM
    return list(csv.reader(io.StringIO(text), delimiter=_delimiter(text)))


def numbering(out: Path, entries: list[Entry]) -> None:
    """Give each entry its "submission N": kept from OUT/manual_scores.csv, new ones after, sorted."""
    known: dict[str, int] = {}
    path = out / SCORES
    if path.is_file():
        rows = _read_csv(path)
        if rows and KEY in rows[0] and LABEL in rows[0]:
            k, n = rows[0].index(KEY), rows[0].index(LABEL)
            for row in rows[1:]:
                if len(row) > max(k, n) and row[n].strip().isdigit():
                    known[row[k]] = int(row[n])
    nxt = max(known.values(), default=0) + 1
    for e in sorted(entries, key=lambda e: e.file):
        if e.file in known:
            e.number = known[e.file]
        else:
            e.number, nxt = nxt, nxt + 1


def write_template(out: Path, entries: list[Entry], questions: list[Question], anonymous: bool) -> list[Path]:
    """The empty scores file(s). An existing one keeps every byte (it may hold a grader's work): a
    submission it lacks gets an empty row appended, so each number stays in the instructor's file."""
    written = []
    reviewable = [e for e in entries if e.notebook is not None]
    targets = [(out / SCORES, True)] + ([(out / "review" / SCORES, False)] if anonymous else [])
    for path, with_file in targets:
        key = (lambda e: e.file) if with_file else (lambda e: str(e.number))
        if path.exists():
            rows = _read_csv(path)
            col = rows[0].index(KEY if with_file else LABEL) if rows and (KEY if with_file else LABEL) in rows[0] else 0
            have = {row[col].strip() for row in rows[1:] if len(row) > col}
            new = [e for e in sorted(reviewable, key=lambda e: e.number) if key(e) not in have]
            if not new or not rows:
                continue
            text = path.read_text(encoding="utf-8-sig")
            buf = io.StringIO()
            w = csv.writer(buf, delimiter=_delimiter(text), lineterminator="\n")
            for e in new:
                w.writerow([{KEY: e.file, LABEL: str(e.number)}.get(name.strip(), "") for name in rows[0]])
            with open(path, "a", encoding="utf-8") as f:
                f.write(("" if text.endswith("\n") else "\n") + buf.getvalue())
            written.append(path)
            continue
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(([KEY] if with_file else []) + [LABEL, *(q.name for q in questions), COMMENT])
        w.writerow(
            [report.POINTS_POSSIBLE_LABEL]
            + ([""] if with_file else [])
            + [report._num(q.points) for q in questions]
            + [""]
        )
        for e in sorted(reviewable, key=(lambda e: e.file) if with_file else (lambda e: e.number)):
            w.writerow(([e.file] if with_file else []) + [str(e.number)] + [""] * len(questions) + [""])
        path.parent.mkdir(parents=True, exist_ok=True)
        report._atomic_write(path, buf.getvalue().encode())
        written.append(path)
    return written


@dataclass
class Scores:
    """A scores file, checked: file -> question -> points (None: not graded yet), file -> comment."""

    source: str
    points: dict[str, dict[str, float | None]]
    comments: dict[str, str]


def _score(cell: str, delimiter_comma: bool) -> float:
    text = cell.strip().replace(",", ".") if delimiter_comma else cell.strip()
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
        raise ValueError
    return float(text)


def read_scores(path: Path, entries: list[Entry], questions: list[Question]) -> Scores:
    """Check a filled scores file against the graded submissions; ``ScoresError`` lists every problem."""
    try:
        rows = _read_csv(path)
    except (OSError, UnicodeDecodeError) as e:
        raise ScoresError(path, [f"cannot read it as UTF-8 CSV text ({e}); save it from the spreadsheet as CSV"]) from e
    if not rows:
        raise ScoresError(path, ["the file is empty; start from the OUT/manual_scores.csv the review wrote"])
    comma = _delimiter(path.read_text(encoding="utf-8-sig")) == ";"  # then 0,5 is a decimal comma
    header = [h.strip() for h in rows[0]]
    points = {q.name: q.points for q in questions}
    files = {e.file for e in entries}
    by_number = {str(e.number): e.file for e in entries}
    problems = []
    if KEY not in header and LABEL not in header:
        problems.append(f"row 1 (header): no '{KEY}' or '{LABEL}' column; keep the header of the file the review wrote")
    for c, name in enumerate(header, 1):
        if name and name not in (KEY, LABEL, COMMENT, *points):
            problems.append(
                f"row 1, column {c} '{name}': not a manual question of the master (they are: "
                f"{', '.join(points)}); remove that column"
            )
    if problems:
        raise ScoresError(path, problems)
    col = {name: i for i, name in enumerate(header) if name}
    result = Scores(str(path), {}, {})
    seen: dict[str, int] = {}
    for r, row in enumerate(rows[1:], 2):
        row = row + [""] * (len(header) - len(row))
        key = row[col[KEY]].strip() if KEY in col else ""
        label = row[col[LABEL]].strip() if LABEL in col else ""
        if report.POINTS_POSSIBLE_LABEL in (key, label) or not any(cell.strip() for cell in row):
            continue
        if key:
            file = key if key in files else None
            what = f"file '{key}'"
        else:
            file = by_number.get(label.removeprefix("submission").strip())
            what = f"submission '{label}'"
        if file is None:
            problems.append(
                f"row {r}, column '{KEY if key else LABEL}': {what} is not a submission of final_grades.csv; "
                "fix it or delete the row"
            )
            continue
        if file in seen:
            problems.append(f"row {r}: {what} already has row {seen[file]}; keep one row per submission")
            continue
        seen[file] = r
        result.points[file] = {}
        for q in questions:
            cell = row[col[q.name]].strip() if q.name in col else ""
            if not cell:
                result.points[file][q.name] = None
                continue
            try:
                value = _score(cell, comma)
            except ValueError:
                problems.append(
                    f"row {r} ({what}), column '{q.name}': '{cell}' is not a number; enter 0 to {q.points:g}"
                )
                continue
            if value < 0 or value > points[q.name]:
                problems.append(
                    f"row {r} ({what}), column '{q.name}': {cell} is outside 0–{q.points:g} "
                    f"({q.name} is worth {q.points:g} point(s))"
                )
                continue
            result.points[file][q.name] = value
        if COMMENT in col and row[col[COMMENT]].strip():
            result.comments[file] = row[col[COMMENT]].strip()[:2000]
    if problems:
        raise ScoresError(path, problems)
    return result


# ---------------------------------------------------------------------------------------------
# The merge into final_grades.csv and the feedback files
# ---------------------------------------------------------------------------------------------
def merge(out: Path, entries: list[Entry], questions: list[Question], scores: Scores | None) -> dict[str, int]:
    """Write the manual columns into final_grades.csv and each feedback file; ``{"ungraded": n, …}``.

    A submission without a notebook has no answer to grade: its manual cells are 0 unless the file
    scores it. Idempotent: manual columns and sections merged before are replaced.
    """
    header, points_row, rows = read_grades(out)
    manual_names = [q.name for q in questions]
    total_i, status_i = header.index(report.TOTAL), header.index(report.STATUS)
    auto = [h for h in header[1:total_i] if h not in manual_names]
    possible = {h: float(points_row[header.index(h)]) for h in auto}
    possible.update({q.name: q.points for q in questions})
    names = sorted(possible)
    total_possible = sum(possible.values())
    notebooks = {e.file for e in entries if e.notebook is not None}
    given = scores.points if scores else {}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([report.FILE, *names, report.TOTAL, report.PERCENT, report.STATUS])
    w.writerow(
        [report.POINTS_POSSIBLE_LABEL, *(report._num(possible[n]) for n in names), report._num(total_possible)]
        + ["1.0", "--"]
    )
    counts = {"graded": 0, "ungraded": 0}
    per_file = {}
    for row in rows:
        file = row[0]
        got: dict[str, float | None] = {h: float(row[header.index(h)] or 0) for h in auto}
        for q in manual_names:
            if file in given:
                got[q] = given[file].get(q)  # None: not graded yet
            else:
                got[q] = None if file in notebooks else 0.0  # no notebook: no answer to grade
        ungraded = [q for q in manual_names if got[q] is None]
        counts["ungraded"] += len(ungraded)
        counts["graded"] += (len(manual_names) - len(ungraded)) if file in notebooks or file in given else 0
        total = sum(v or 0.0 for v in got.values())
        status = row[status_i].split(STATUS_TAG)[0]
        if ungraded:
            status += f"{STATUS_TAG} {len(ungraded)} not graded yet ({', '.join(ungraded)})"
        percent = round(total / total_possible, 4) if total_possible else 0.0
        cells = ["" if got[n] is None else report._num(got[n]) for n in names]
        w.writerow([file, *cells, report._num(total), repr(float(percent)), status])
        per_file[file] = (got, total, total_possible)
    report._atomic_write(out / "final_grades.csv", buf.getvalue().encode())
    comments = scores.comments if scores else {}
    for file, (got, total, top) in per_file.items():
        _merge_feedback(out / "feedback" / report.feedback_name(file), questions, got, total, top, comments.get(file))
    _merge_summary(out, questions, per_file, total_possible)
    return counts


def _merge_summary(out: Path, questions: list[Question], per_file: dict, total_possible: float) -> None:
    """Add the manual questions to the class summary (``summary.json``'s ``"manual"``, a section of
    ``summary.md``): each question's mean over the submissions graded so far, and the totals over every point."""
    manual_data = {}
    for q in questions:
        given = [got[q.name] for got, _, _ in per_file.values() if got[q.name] is not None]
        manual_data[q.name] = {
            "possible": q.points,
            "graded": len(given),
            "mean": round(sum(given) / len(given), 4) if given else None,
        }
    totals = [total for _, total, _ in per_file.values()]
    extra = {
        "manual": manual_data,
        "possible_with_manual": total_possible,
        "mean_total_with_manual": round(sum(totals) / len(totals), 4) if totals else 0.0,
    }
    path = out / "summary.json"
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        data = {}
    report._atomic_write(path, json.dumps(data | extra, indent=1).encode())
    md = out / "summary.md"
    lines = [
        "## Câu hỏi chấm tay / Manually graded questions",
        "",
        f"- Điểm trung bình, tính cả câu chấm tay / Mean score, manual questions included: "
        f"{extra['mean_total_with_manual']:.2f} / {report._num(total_possible)} (ô trống tính 0 / empty cells count 0)",
        "",
        "| Câu hỏi / Question | Điểm / Points | Đã chấm / Graded | Trung bình / Mean |",
        "|---|---:|---:|---:|",
    ]
    for name, s in manual_data.items():
        mean = "—" if s["mean"] is None else f"{s['mean']:.2f}"
        lines.append(f"| `{name}` | {report._num(s['possible'])} | {s['graded']}/{len(per_file)} | {mean} |")
    _write_section(md, md.read_text(encoding="utf-8") if md.is_file() else "", lines)


def _write_section(path: Path, text: str, lines: list[str]) -> None:
    """Write ``text`` with its manual-scores section (after ``FEEDBACK_TAG``) replaced by ``lines``."""
    head = text.split("\n" + FEEDBACK_TAG)[0].rstrip() + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    report._atomic_write(path, (head + "\n" + "\n".join([FEEDBACK_TAG, "", *lines]) + "\n").encode())


def _merge_feedback(
    path: Path, questions: list[Question], got: dict[str, float | None], total: float, top: float, comment: str | None
) -> None:
    text = path.read_text(encoding="utf-8") if path.is_file() else f"# Grading feedback\n\n- `{path.stem}`\n"
    text = text.split("\n" + FEEDBACK_TAG)[0]
    pending = [q.name for q in questions if got[q.name] is None]
    note = f" — {len(pending)} câu chấm tay chưa chấm / manual question(s) not graded yet" if pending else ""
    score = (
        f"- **Điểm / Score:** {report._num(total)} / {report._num(top)} ({100 * total / top if top else 0:.1f}%){note}"
    )
    text, n = re.subn(r"^- \*\*Điểm / Score:\*\* .*$", lambda m: score, text, count=1, flags=re.M)
    lines = ["## Câu hỏi chấm tay / Manually graded questions", ""]
    if not n:
        lines += [score, ""]
    lines += ["| Câu hỏi / Question | Điểm / Points |", "|---|---:|"]
    for q in questions:
        value = got[q.name]
        shown = "chưa chấm / not graded yet" if value is None else f"{report._num(value)} / {report._num(q.points)}"
        lines.append(f"| `{q.name}` | {shown} |")
    if comment:
        lines += ["", "**Nhận xét của người chấm / Grader's comment:**", ""]
        lines += ["> " + ln for ln in comment.splitlines()]
    _write_section(path, text, lines)


# ---------------------------------------------------------------------------------------------
# The pages
# ---------------------------------------------------------------------------------------------
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body{font-family:system-ui,"DejaVu Sans",sans-serif;margin:1.5em;line-height:1.45;color:#222}
header,.key{background:#f4f6fa;border:1px solid #d8dde8;border-radius:6px;padding:.6em 1em;margin-bottom:1em}
.rubric{background:#fff8e1;border:1px solid #f0d98c;border-radius:6px;padding:.6em 1em;margin:.5em 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:1em}
.card{border:1px solid #ccd;border-radius:6px;padding:.5em .9em;overflow:auto;max-height:60em}
.card h3{margin:.2em 0;font-size:1.05em}.meta{color:#666;font-size:.85em}
.blank{background:#fafafa;color:#888}.missing{background:#fff0f0}
img{max-width:100%;height:auto;border:1px solid #eee}
pre{background:#f7f7f7;padding:.5em;overflow:auto;white-space:pre-wrap;font-size:.85em}
details summary{cursor:pointer;color:#446}table{border-collapse:collapse}td,th{border:1px solid #ccd;padding:.2em .5em}
"""
SOURCE_NOTE = {
    "executed": "hình từ lần chạy của trình chấm / plots from the grader's own execution",
    "submitted": "hình do sinh viên tự chạy (notebook đã nộp) / plots as submitted (the student's own run)",
}


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="vi"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def safe_html(fragment: str) -> str:
    """Defence in depth after ``manual.markdown_html``: only plain formatting tags survive."""
    import bleach

    tags = {"p", "br", "strong", "em", "b", "i", "code", "pre", "ul", "ol", "li", "blockquote", "h1", "h2", "h3"}
    tags |= {"h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "span", "s", "del"}
    return bleach.clean(fragment, tags=tags, attributes={}, protocols=[], strip=True)


def render_parts(parts: list[manual.Part], code_open: bool = False) -> str:
    html = []
    for p in parts:
        text = p.source.strip()
        if p.kind == "markdown":
            if text and text != manual.PLACEHOLDER:
                html.append(safe_html(manual.markdown_html(p.source)))
        elif p.kind == "code":
            outs = manual.outputs(p)
            if text and text != "...":
                code = f"<pre><code>{escape(manual.clip(p.source))}</code></pre>"
                opened = " open" if code_open or not outs else ""
                html.append(f"<details{opened}><summary>mã / code</summary>{code}</details>")
            for o in outs:
                if o.kind == "image":
                    html.append(f'<img alt="plot" src="{manual.data_uri(o)}">')
                elif o.kind == "error":
                    html.append(f'<pre class="error">{escape(o.text)}</pre>')
                else:
                    html.append(f"<pre>{escape(o.text)}</pre>")
        elif text:
            html.append(f"<pre>{escape(manual.clip(p.source))}</pre>")
    return "\n".join(html)


def _key_outputs(question: Question, solutions: Path) -> str:
    """The key's plots from the executed solution (``manual.solutions_of`` the master), when it is built."""
    if not solutions.is_file() or not any(c["cell_type"] == "code" for c in question.key):
        return ""
    try:
        nb = json.loads(solutions.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    region = manual.answers(nb, [question]).get(question.name)
    if region is None:
        return ""
    outs = [o for p in region.parts if p.kind == "code" for o in manual.outputs(p) if o.kind == "image"]
    return "\n".join(f'<img alt="key plot" src="{manual.data_uri(o)}">' for o in outs)


def question_page(q: Question, entries: list[Entry], anonymous: bool, index: int, total: int, solutions: Path) -> str:
    key = render_parts([manual.Part(c["cell_type"], c["source"]) for c in q.key], code_open=True)
    cards = []
    for e in sorted(entries, key=lambda e: e.number if anonymous else e.file):
        if e.notebook is None:
            continue
        region = e.answers.get(q.name)
        label = escape(e.label(anonymous))
        meta = f"{escape(SOURCE_NOTE[e.source])} · {escape(e.status)}"
        row = f"submission {e.number}" if anonymous else f"{e.file} (submission {e.number})"
        if region is None:
            body = (
                "<p>Không tìm thấy câu trả lời (ô đánh dấu của câu hỏi đã bị xóa) / No answer found (the "
                "question's marker cells were deleted from the notebook).</p>"
            )
            cls = "missing"
        elif region.blank:
            body, cls = "<p>(để trống / left blank)</p>", "blank"
        else:
            body, cls = render_parts(region.parts), ""
        cards.append(
            f'<section class="card {cls}" id="s{e.number}"><h3>{label}</h3>'
            f'<div class="meta">{meta}<br>CSV: row <code>{escape(row)}</code>, column <code>{q.name}</code></div>'
            f"{body}</section>"
        )
    nav = f'<a href="index.html">mục lục / index</a> · câu / question {index} / {total}'
    half = report._num(q.points / 2)
    body = (
        f"<header><h1>{escape(q.name)} — {report._num(q.points)} điểm / point(s)</h1><p>{nav}</p>"
        f'<div class="rubric">{RUBRIC.format(points=report._num(q.points), half=half, scores=SCORES, name=q.name)}'
        f"</div></header>"
        f'<section class="key"><h2>Đề bài / Prompt</h2>{safe_html(manual.markdown_html(q.prompt))}</section>'
        f'<section class="key"><h2>Đáp án / Key</h2>{key}{_key_outputs(q, solutions)}</section>'
        f'<h2>Câu trả lời / Answers ({len(cards)})</h2><div class="grid">{"".join(cards)}</div>'
    )
    return _page(f"{q.name} — review", body)


def index_page(questions: list[Question], entries: list[Entry], anonymous: bool) -> str:
    have = [e for e in entries if e.notebook is not None]
    items = []
    for i, q in enumerate(questions, 1):
        blank = sum(1 for e in have if e.answers.get(q.name) is not None and e.answers[q.name].blank)
        missing = sum(1 for e in have if e.answers.get(q.name) is None)
        items.append(
            f'<li><a href="{q.name}.html">{i}. {escape(q.name)}</a> — {report._num(q.points)} điểm / point(s); '
            f"{len(have) - blank - missing} trả lời / answered, {blank} trống / blank, {missing} không thấy / "
            "not found</li>"
        )
    executed = sum(1 for e in have if e.source == "executed")
    without = [e for e in entries if e.notebook is None]
    scores = f"review/{SCORES}" if anonymous else SCORES
    body = (
        "<header><h1>Chấm tay / Manual grading</h1>"
        f"<p>{len(questions)} câu hỏi chấm tay / manual questions, {len(have)} bài nộp / submissions "
        f"({executed} từ lần chạy của trình chấm / from the grader's execution, {len(have) - executed} như đã "
        f"nộp / as submitted).{' Tên đã ẩn / Names hidden.' if anonymous else ''}</p>"
        f"<p>Ghi điểm vào / Enter the scores in <code>{scores}</code> (một hàng mỗi bài, một cột mỗi câu, và "
        "cột <code>comment</code>; ô trống = chưa chấm / one row per submission, one column per question, a "
        "<code>comment</code> column; an empty cell is not graded yet), then run "
        f"<code>make grade … MANUAL=&lt;OUT&gt;/{scores}</code>.</p></header><ol>{''.join(items)}</ol>"
    )
    if without:
        rows = "".join(
            f"<li>{escape(e.label(anonymous))}: {escape(NO_NOTEBOOK if anonymous else e.status)}</li>"
            for e in sorted(without, key=lambda e: e.file)
        )
        body += f"<h2>Không có notebook / Without a notebook (0 điểm chấm tay / 0 manual points)</h2><ul>{rows}</ul>"
    return _page("Manual grading — index", body)


def write_pages(
    out: Path, questions: list[Question], entries: list[Entry], anonymous: bool, solutions: Path
) -> list[Path]:
    """The index and one page per question; the key's plots come from ``solutions`` when it exists."""
    folder = out / "review"
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {folder / "index.html": index_page(questions, entries, anonymous)}
    for i, q in enumerate(questions, 1):
        wanted[folder / f"{q.name}.html"] = question_page(q, entries, anonymous, i, len(questions), solutions)
    for stale in folder.glob("*.html"):
        if stale not in wanted:
            stale.unlink()
    for path, text in wanted.items():
        report._atomic_write(path, text.encode())
    return list(wanted)


def write_pdfs(out: Path, questions: list[Question], entries: list[Entry], anonymous: bool) -> list[Path]:
    from . import manual_pdf

    folder = out / "review" / "pdf"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.pdf"):
        old.unlink()
    written = []
    for e in entries:
        if e.notebook is not None:
            name = f"submission_{e.number}" if anonymous else report.feedback_name(e.file)[: -len(".md")]
            written.append(manual_pdf.build_pdf(e.notebook, folder / f"{name}.pdf", e.label(anonymous), questions))
    return written


# ---------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------
def _memory(out: Path) -> Path:
    return out / ".manual" / "merged.json"


def run(
    root: Path,
    out: Path,
    *,
    manual_csv: Path | None = None,
    anonymous: bool = False,
    pdf: bool = False,
    master: Path = manual.MASTER,
) -> int:
    """The review pack, the scores file, the merge. 0, or 3 when the scores file had errors."""
    try:
        questions = manual.manual_questions(master)
    except manual.MasterError as e:
        print(f"review: {e}", file=sys.stderr)
        return 3
    hidden = out / ".manual" / "anonymous"  # once names are hidden in OUT, they stay hidden
    if anonymous:
        hidden.parent.mkdir(parents=True, exist_ok=True)
        hidden.write_text("the review pages of this folder hide names; delete this file to show them\n")
    anonymous = hidden.is_file()
    entries = load(root.resolve(), out.resolve(), questions, manual.assignment_name(master))
    numbering(out, entries)
    write_pages(out, questions, entries, anonymous, manual.solutions_of(master))
    created = write_template(out, entries, questions, anonymous)
    if pdf:
        write_pdfs(out, questions, entries, anonymous)
    memory = _memory(out)
    try:
        last = json.loads(memory.read_text()) if memory.is_file() else None
    except ValueError:
        last = None  # a damaged record: the scores file itself is merged below
    source = manual_csv or (Path(last["source"]) if last and Path(last["source"]).is_file() else out / SCORES)
    code, scores = 0, None
    try:
        scores = read_scores(source, entries, questions)
    except ScoresError as e:
        print(str(e), file=sys.stderr)
        code = 3
        if last:
            scores = Scores(last["source"], last["points"], last["comments"])
            print(f"kept the manual scores merged at {last['when']} from {last['source']}", file=sys.stderr)
    if code == 0 and scores is not None:
        memory.parent.mkdir(exist_ok=True)
        record = {
            "source": str(Path(source).resolve()),
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "points": scores.points,
            "comments": scores.comments,
        }
        report._atomic_write(memory, json.dumps(record, indent=1).encode())
    counts = merge(out, entries, questions, scores)
    made = f"; scores to fill in: {', '.join(str(p) for p in created)}" if created else ""
    print(
        f"review: {len(questions)} manual question pages in {out / 'review'}{' (names hidden)' if anonymous else ''}"
        f"{made}; manual scores: {counts['graded']} graded, {counts['ungraded']} not graded yet"
        + (f" (from {source})" if scores is not None and code == 0 else ""),
        file=sys.stderr,
    )
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ds201-review", description=__doc__.splitlines()[0])
    p.add_argument("submissions", type=Path, help="the folder that was graded")
    p.add_argument("out", type=Path, help="the grader's output folder (holds final_grades.csv)")
    add_arguments(p)
    p.add_argument("--pdf", action="store_true", help="also one PDF of the manual answers per submission")
    args = p.parse_args(argv)
    check_arguments(p, args)
    if not args.submissions.is_dir():
        p.error(f"{args.submissions} is not a folder: pass the folder that was graded")
    return run(
        args.submissions, args.out, manual_csv=args.manual, anonymous=args.anonymous, pdf=args.pdf, master=args.master
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--manual``, ``--anonymous`` and ``--master``, shared with ``python -m ds201_lab1.grade``."""
    p.add_argument(
        "--manual",
        type=Path,
        default=None,
        help=f"the filled scores file to merge (default: the one merged last, else OUT/{SCORES})",
    )
    p.add_argument("--anonymous", action="store_true", help='review pages show "submission N", not file names')
    p.add_argument(
        "--master",
        type=Path,
        default=manual.MASTER,
        help=f"the master notebook, which lists the manual questions (default: {manual.MASTER}, from where you run it)",
    )


def check_arguments(p: argparse.ArgumentParser, args: argparse.Namespace, review: bool = True) -> None:
    """Refuse, before any grading, a missing scores file or (when the review runs) an unusable master."""
    if args.manual is not None and not args.manual.is_file():
        p.error(f"--manual {args.manual}: no such file; pass the scores CSV the review wrote (OUT/{SCORES})")
    if review:
        try:
            manual.manual_questions(args.master)
        except manual.MasterError as e:
            p.error(str(e))


if __name__ == "__main__":
    sys.exit(main())
