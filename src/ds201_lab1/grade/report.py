"""What the grader writes: ``final_grades.csv``, one feedback file per submission, a class summary.

``final_grades.csv`` has otter grade's layout: ``file``, one column per question (sorted), then
``total_points_earned``, ``percent_correct`` and ``grading_status``, with a ``points-per-question``
row first; rows sorted by file. It is rewritten atomically (temp file + rename) after every
submission. Feedback files are Markdown, bilingual (Vietnamese, then English): every question with
its points and, for a failed test case, its message — public tests in full, hidden tests with the
check's own message only (it never holds the expected value).

Output names are injective: :func:`output_names` gives every submission of a batch its own
feedback file, whatever the names (a short hash of the file's name is appended where two names
would map to one file after normalisation: ``a.ipynb`` and ``a.zip``, names that differ only in
characters the file name drops, in case or in Unicode normalisation). CSV cells that a spreadsheet
would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) get a
leading ``'``, as OWASP recommends.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import outcome as oc
from .outcome import Outcome

POINTS_POSSIBLE_LABEL = "points-per-question"
FILE, TOTAL, PERCENT, STATUS = "file", "total_points_earned", "percent_correct", "grading_status"


@dataclass
class GradeResult:
    """One submission's grade, whatever happened to it."""

    file: str
    outcome: Outcome  # what happened (its status() is the CSV's grading_status)
    scores: dict[str, float]  # question -> points earned
    details: dict[str, dict] = field(default_factory=dict)  # question -> verify's cases and warnings
    cell_errors: list[dict] = field(default_factory=list)  # cells that raised, from the execution
    running: dict | None = None  # the cell running when the execution was stopped (timeout, memory, death)
    how: str = "rejected"  # "executed" in this run, "cached" (execution reused), "rejected" (never executed)
    elapsed: float = 0.0  # seconds this run spent on it
    seconds: dict[str, float] = field(default_factory=dict)  # where they went (grading-log.jsonl, the bench)
    repairs: str = ""  # what reading the file repaired (submissions.Submission.repairs), shown in the status

    @property
    def executed(self) -> bool:
        return self.how == "executed"

    @property
    def status(self) -> str:
        status = self.outcome.status()
        return f"{status}; repaired: {self.repairs}" if self.repairs else status

    @property
    def total(self) -> float:
        return sum(self.scores.values())


def possible(plan: dict) -> dict[str, float]:
    return {q: float(info["possible"]) for q, info in plan["questions"].items()}


def _num(x: float) -> str:
    x = round(float(x), 5)
    return str(int(x)) if x.is_integer() else repr(x)


def _utf8(text: str) -> bytes:
    """UTF-8 that never fails (a lone surrogate is written escaped)."""
    return text.encode("utf-8", "backslashreplace")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet runs as a formula (OWASP: a leading ``'``)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_text(plan: dict, results: list[GradeResult]) -> str:
    points = possible(plan)
    questions = sorted(points)
    total_possible = sum(points.values())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([FILE, *questions, TOTAL, PERCENT, STATUS])
    w.writerow([POINTS_POSSIBLE_LABEL, *(_num(points[q]) for q in questions), _num(total_possible), "1.0", "--"])
    for r in sorted(results, key=lambda r: r.file):
        percent = round(r.total / total_possible, 4) if total_possible else 0.0
        w.writerow(
            [
                csv_cell(r.file),
                *(_num(r.scores.get(q, 0.0)) for q in questions),
                _num(r.total),
                repr(float(percent)),
                csv_cell(r.status),
            ]
        )
    return buf.getvalue()


def write_csv(path: Path, plan: dict, results: list[GradeResult]) -> None:
    _atomic_write(path, _utf8(csv_text(plan, results)))


# ---------------------------------------------------------------------------------------------
# Feedback
# ---------------------------------------------------------------------------------------------
def feedback_name(file: str) -> str:
    """The plain feedback file name of ``file`` (not injective: :func:`output_names` makes it so)."""
    stem = re.sub(r"\.(ipynb|zip)$", "", file, flags=re.I)
    name = re.sub(r"[^\w.-]+", "_", unicodedata.normalize("NFC", stem.replace("/", "__")))
    return name.lstrip(".")[:150] + ".md"


def _key(name: str) -> str:
    """What two file names must differ in to be two files everywhere (case-insensitive disks too)."""
    return unicodedata.normalize("NFC", name).casefold()


def output_names(files: Iterable[str]) -> dict[str, str]:
    """file -> its feedback file name, distinct for distinct files: the plain name where no other file
    of the batch maps to it, else the plain name with a short hash of the file's name."""
    files = sorted(set(files))
    plain = {f: feedback_name(f) for f in files}
    counts: dict[str, int] = {}
    for name in plain.values():
        counts[_key(name)] = counts.get(_key(name), 0) + 1
    out: dict[str, str] = {}
    taken = {_key(n) for f, n in plain.items() if counts[_key(n)] == 1}
    for f in files:
        name = plain[f]
        if counts[_key(name)] > 1:
            digest = hashlib.sha256(f.encode("utf-8", "surrogatepass")).hexdigest()
            for size in (8, 16, 64):
                candidate = f"{name[:-3]}-{digest[:size]}.md"
                if _key(candidate) not in taken:
                    break
            name = candidate
            taken.add(_key(name))
        out[f] = name
    return out


def _code(text: str) -> str:
    """``text`` as inline Markdown code, whatever backticks it holds."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    return f"{ticks} {text} {ticks}" if longest else f"`{text}`"


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


SUMMARY_KINDS = {
    oc.OK: "ok",
    oc.CELL_TIMEOUT: "cell timeout (graded)",
    oc.MEMORY_ERROR: "MemoryError (graded)",
    oc.TIMEOUT: "timeout",
    oc.MEMORY: "memory limit",
    oc.DISK: "disk limit",
    oc.KERNEL_DIED: "kernel died",
    oc.GRADER_ERROR: "grader error",
    oc.WRONG_ASSIGNMENT: "wrong assignment",
    oc.REJECTED: "not gradable",
}

SAVED_NOTE = (
    "\n\nCác câu đã được chạy `grader.check` trước khi notebook bị dừng vẫn được chấm; các câu sau đó được 0 điểm."
    "\n\n*The questions whose `grader.check` ran before the notebook was stopped were graded; the later ones got 0.*"
)

# What happened, and what to do — Vietnamese, then English.
EXPLAIN = {
    oc.CELL_TIMEOUT: (
        "Một ô chạy quá thời gian cho phép nên đã bị ngắt; các ô còn lại vẫn chạy và được chấm. Tìm vòng lặp "
        "không dừng trong ô đó.\n\n"
        "*One cell ran past the per-cell time limit and was interrupted; the other cells ran and were graded. "
        "Look for an endless loop in that cell.*"
    ),
    oc.MEMORY_ERROR: (
        "Một ô xin quá nhiều bộ nhớ (MemoryError); các ô còn lại vẫn chạy và được chấm. Tìm mảng quá lớn.\n\n"
        "*One cell asked for too much memory (MemoryError); the other cells ran and were graded. Look for an "
        "oversized array.*"
    ),
    oc.TIMEOUT: (
        "Notebook chạy quá thời gian cho phép nên đã bị dừng. Tìm vòng lặp không dừng hoặc ô chạy quá lâu; "
        "chạy *Kernel → Restart & Run All* trước khi nộp.\n\n"
        "*The notebook ran past the time limit and was stopped. Look for an endless loop or a cell that runs "
        "too long; run Kernel → Restart & Run All before submitting.*"
    ),
    oc.MEMORY: (
        "Notebook dùng quá giới hạn bộ nhớ nên đã bị dừng. Tìm mảng quá lớn (ví dụ `np.ones((60000, 60000))`).\n\n"
        "*The notebook used more memory than allowed and was stopped. Look for an oversized array.*"
    ),
    oc.DISK: (
        "Notebook ghi quá nhiều dữ liệu ra đĩa nên đã bị dừng. Tìm vòng lặp ghi tệp không dừng.\n\n"
        "*The notebook wrote more to disk than allowed and was stopped. Look for a loop that writes files.*"
    ),
    oc.KERNEL_DIED: (
        "Kernel Python bị dừng đột ngột (ví dụ `os._exit`, `exit()` trong mã C, hoặc lỗi của thư viện). "
        "Xóa lệnh đó rồi chạy lại toàn bộ notebook.\n\n"
        "*The Python kernel died (e.g. `os._exit`, or a crash in a library). Remove that call and run the "
        "whole notebook again.*"
    ),
    oc.REJECTED: (
        "Tệp nộp không phải là notebook của bài lab này. Nộp tệp `lab1.ipynb` đã lưu, hoặc tệp zip do "
        "`grader.export()` tạo ra.\n\n"
        "*The submitted file is not this lab's notebook. Submit your saved `lab1.ipynb`, or the zip that "
        "`grader.export()` writes.*"
    ),
    oc.WRONG_ASSIGNMENT: (
        "Notebook này thuộc bài khác (metadata `otter.assignment_name`). Hãy làm trên `lab1.ipynb` được phát.\n\n"
        "*This notebook belongs to another assignment (metadata `otter.assignment_name`). Work in the released "
        "`lab1.ipynb`.*"
    ),
    oc.GRADER_ERROR: (
        "Bài nộp không chấm được; hãy báo cho giảng viên.\n\n*The submission could not be graded; tell your instructor.*"
    ),
}


def explain(outcome: Outcome) -> str:
    text = EXPLAIN.get(outcome.kind, EXPLAIN[oc.GRADER_ERROR])
    return text + SAVED_NOTE if outcome.stopped else text


def feedback_text(plan: dict, result: GradeResult, assignment: str = "") -> str:
    points = possible(plan)
    total_possible = sum(points.values())
    percent = 100 * result.total / total_possible if total_possible else 0.0
    lines = [
        f"# Kết quả chấm điểm / Grading feedback{' — ' + assignment if assignment else ''}",
        "",
        f"- **Bài nộp / Submission:** {_code(result.file)}",
        f"- **Điểm / Score:** {_num(result.total)} / {_num(total_possible)} ({percent:.1f}%)",
        f"- **Trạng thái / Status:** {result.status}",
        "",
    ]
    if result.outcome.kind != oc.OK:
        lines += [explain(result.outcome), ""]
    if result.running and result.running.get("cell") is not None:
        code = f": `{result.running['line']}`" if result.running.get("line") else ""
        lines += [f"Ô đang chạy khi bị dừng / Cell running when stopped: {result.running['cell'] + 1}{code}", ""]
    lines += ["## Các câu hỏi / Questions", "", "| Câu hỏi / Question | Điểm / Points | |", "|---|---:|:---:|"]
    for q in sorted(points):
        got = result.scores.get(q, 0.0)
        mark = "✅" if got == points[q] and points[q] > 0 else ("❌" if got == 0 else "➖")
        lines.append(f"| `{q}` | {_num(got)} / {_num(points[q])} | {mark} |")
    failed = [(q, d) for q, d in sorted(result.details.items()) if any(not c["passed"] for c in d.get("cases", []))]
    if failed:
        lines += ["", "## Những gì chưa đúng / What is not right", ""]
        for q, d in failed:
            lines += [f"### `{q}` — {_num(result.scores.get(q, 0.0))} / {_num(points.get(q, 0.0))}", ""]
            for c in d["cases"]:
                if c["passed"]:
                    continue
                kind = "ẩn / hidden" if c["hidden"] else "công khai / public"
                lines += [
                    f"**{c['name']}** ({kind}, {_num(c['points'] or 0)} điểm / points)",
                    "",
                    _fence(c["message"]),
                    "",
                ]
            for w in d.get("warnings", []):
                lines += [f"> Ghi chú của trình chấm / Grader note: {w}", ""]
    if result.cell_errors:
        lines += ["", "## Ô báo lỗi khi chạy / Cells that raised an error", ""]
        for e in result.cell_errors:
            where = "ô của trình chấm / grader's cell" if e.get("cell") is None else f"ô / cell {e['cell'] + 1}"
            code = f" `{e['line']}`" if e.get("line") else ""
            lines.append(f"- {where}{code}: `{e.get('ename', '')}`")
    return "\n".join(lines).rstrip() + "\n"


def write_feedback(folder: Path, plan: dict, result: GradeResult, name: str | None = None) -> Path:
    """Write ``result``'s feedback as ``name`` (from :func:`output_names`; default its plain name)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or feedback_name(result.file))
    _atomic_write(path, _utf8(feedback_text(plan, result, plan.get("assignment_name") or "")))
    return path


# ---------------------------------------------------------------------------------------------
# Class summary
# ---------------------------------------------------------------------------------------------
def summary_data(plan: dict, results: list[GradeResult]) -> dict[str, Any]:
    points = possible(plan)
    n = len(results)
    questions = {}
    for q in sorted(points):
        got = [r.scores.get(q, 0.0) for r in results]
        questions[q] = {
            "possible": points[q],
            "mean": round(sum(got) / n, 4) if n else 0.0,
            "pass_rate": round(sum(1 for g in got if g == points[q]) / n, 4) if n else 0.0,
        }
    totals = [r.total for r in results]
    statuses: dict[str, int] = {}
    for r in results:
        key = SUMMARY_KINDS[r.outcome.kind]
        statuses[key] = statuses.get(key, 0) + 1
    return {
        "submissions": n,
        "possible": sum(points.values()),
        "mean_total": round(sum(totals) / n, 4) if n else 0.0,
        "statuses": dict(sorted(statuses.items())),
        "questions": questions,
        "totals": sorted(totals),
    }


def write_summary(out: Path, plan: dict, results: list[GradeResult]) -> None:
    data = summary_data(plan, results)
    _atomic_write(out / "summary.json", json.dumps(data, indent=1).encode())
    lines = [
        "# Tổng kết lớp / Class summary",
        "",
        f"- Bài nộp / Submissions: {data['submissions']}",
        f"- Điểm trung bình / Mean score: {data['mean_total']:.2f} / {_num(data['possible'])}",
        "- Trạng thái / Statuses: " + ", ".join(f"{k}: {v}" for k, v in data["statuses"].items()),
        "",
        "| Câu hỏi / Question | Điểm / Points | Trung bình / Mean | Tỉ lệ đạt / Pass rate |",
        "|---|---:|---:|---:|",
    ]
    for q, s in data["questions"].items():
        lines.append(f"| `{q}` | {_num(s['possible'])} | {s['mean']:.2f} | {100 * s['pass_rate']:.0f}% |")
    lines += ["", "![Phân bố điểm / Score histogram](score_histogram.png)", ""]
    _atomic_write(out / "summary.md", "\n".join(lines).encode())
    _histogram(out / "score_histogram.png", data["totals"], data["possible"])


def _histogram(path: Path, totals: list[float], top: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    bins = [i - 0.5 for i in range(int(top) + 2)]
    ax.hist(totals, bins=bins, color="#4c72b0", edgecolor="white")
    ax.set_xlabel("Tổng điểm / Total points")
    ax.set_ylabel("Số bài / Submissions")
    ax.set_title(f"Phân bố điểm / Score distribution (n = {len(totals)})")
    ax.set_xlim(-0.5, top + 0.5)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    _atomic_write(path, buf.getvalue())
