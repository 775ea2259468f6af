"""A PDF of a notebook's manual answers, one question a page, without LaTeX or a browser.

Otter's Gradescope flow uploads a PDF of the manual questions (``filtering``: what lies between
``<!-- BEGIN QUESTION -->`` and ``<!-- END QUESTION -->``) to a linked manual-grading assignment.
Otter makes that PDF with LaTeX or headless Chromium; this module makes it with ``fpdf2`` (pure
PyPI) and the DejaVu fonts that ship inside matplotlib (Vietnamese included), so the grading image
needs neither. Markdown is rendered by ``manual.markdown_html`` (no raw HTML, no images, no link
targets: nothing is fetched); plots are the notebook's PNG/JPEG outputs, checked by ``manual``.

    python -m ds201_lab1.manual_pdf NOTEBOOK_OR_FOLDER [-o OUT.pdf]

A folder (Gradescope's ``/autograder/submission``) must hold one ``.ipynb`` or one otter export
``.zip``; the PDF is written next to it as ``<notebook>.pdf`` and every other PDF there is removed,
so otter's ``use_submission_pdf`` uploads this one and never a PDF the student put in the zip.
Without the master (on Gradescope) the pages are titled by order and carry the prompt as the
student's notebook shows it; with it (the review pack) they carry the question's name and points.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

from . import manual

FONT = "DejaVu"
MONO = "DejaVuMono"


def _fonts_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _new_pdf():
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    fonts = _fonts_dir()
    for family, base in ((FONT, "DejaVuSans"), (MONO, "DejaVuSansMono")):
        for style, suffix in (("", ""), ("B", "-Bold"), ("I", "-Oblique"), ("BI", "-BoldOblique")):
            pdf.add_font(family, style, str(fonts / f"{base}{suffix}.ttf"))
    pdf.set_fallback_fonts([FONT])  # the mono font lacks some Vietnamese letters
    pdf.set_font(FONT, size=10)
    return pdf


def _html(pdf, fragment: str) -> None:
    from fpdf.fonts import TextStyle

    mono = TextStyle(font_family=MONO, font_size_pt=8.5)
    fragment = fragment.replace("<p>", '<p line-height="1.35">').replace("<li>", '<li line-height="1.35">')
    pdf.write_html(
        unicodedata.normalize("NFC", fragment),
        font_family=FONT,
        tag_styles={"code": mono, "pre": mono},
        warn_on_tags_not_matching=False,
    )


def _code(pdf, text: str) -> None:
    pdf.set_font(MONO, size=8)
    pdf.set_fill_color(245, 245, 245)
    pdf.multi_cell(0, 4, unicodedata.normalize("NFC", manual.clip(text)), fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    pdf.ln(1)


def _image(pdf, out: manual.Output) -> None:
    from PIL import Image

    with Image.open(io.BytesIO(out.data)) as im:
        w, h = im.size
    width = min(pdf.epw, w * 0.2)  # 0.2 mm a pixel: a 100-dpi figure near its printed size
    height = width * h / w
    if height > pdf.eph * 0.8:
        height, width = pdf.eph * 0.8, pdf.eph * 0.8 * w / h
    if pdf.get_y() + height > pdf.page_break_trigger:
        pdf.add_page()
    pdf.image(io.BytesIO(out.data), w=width, h=height)
    pdf.ln(2)


def _parts(pdf, parts: list[manual.Part]) -> None:
    for p in parts:
        text = p.source.strip()
        if p.kind == "markdown" and text and text != manual.PLACEHOLDER:
            _html(pdf, manual.markdown_html(p.source))
        elif p.kind == "code":
            if text and text != "...":
                _code(pdf, p.source)
            for o in manual.outputs(p):
                if o.kind == "image":
                    _image(pdf, o)
                else:
                    _code(pdf, o.text)
        elif p.kind == "raw" and text:
            _code(pdf, p.source)


def build_pdf(nb: dict[str, Any], dest: Path, title: str = "", questions: list[manual.Question] | None = None) -> Path:
    """Write the manual answers of ``nb`` to ``dest``: one page a question, in notebook order."""
    found = manual.regions(nb)
    pages: list[tuple[str, str, manual.Region | None]] = []
    if questions:
        matched = manual.match(found, questions)
        for q in questions:
            pages.append((f"{q.name} — {q.points:g} điểm / point(s)", q.prompt, matched[q.name]))
    else:
        for i, region in enumerate(found, 1):
            pages.append((f"Câu hỏi chấm tay / Manual question {i} of {len(found)}", region.prompt, region))
    pdf = _new_pdf()
    pdf.set_title(title or "manual answers")
    pdf.set_creator("ds201_lab1.manual_pdf")
    if not pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, "Không tìm thấy câu hỏi chấm tay nào / No manual question found in this notebook.")
    for heading, prompt, region in pages:
        pdf.add_page()
        if title:
            pdf.set_font(FONT, "I", 8)
            pdf.cell(0, 5, unicodedata.normalize("NFC", title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "B", 13)
        pdf.multi_cell(0, 7, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", 9)
        pdf.set_text_color(80, 80, 80)
        _html(pdf, manual.markdown_html(prompt))
        pdf.set_text_color(0, 0, 0)
        pdf.set_draw_color(150, 150, 150)
        pdf.line(pdf.l_margin, pdf.get_y() + 1, pdf.w - pdf.r_margin, pdf.get_y() + 1)
        pdf.ln(3)
        pdf.set_font(FONT, size=10)
        if region is None:
            pdf.multi_cell(0, 6, "(Không tìm thấy câu trả lời / No answer found)", new_x="LMARGIN", new_y="NEXT")
        elif region.blank:
            pdf.multi_cell(0, 6, "(Để trống / Left blank)", new_x="LMARGIN", new_y="NEXT")
        else:
            _parts(pdf, region.parts)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    pdf.output(str(tmp))
    tmp.replace(dest)
    return dest


def _read(path: Path) -> tuple[dict[str, Any], Path]:
    """The notebook at ``path`` (an .ipynb, an export .zip, or a folder holding one) and where the PDF goes."""
    if path.is_dir():
        found = [p for p in sorted(path.iterdir()) if p.suffix.lower() in (".ipynb", ".zip") and p.is_file()]
        notebooks = [p for p in found if p.suffix.lower() == ".ipynb"] or found
        if len(notebooks) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise SystemExit(f"{path}: expected one .ipynb (or one export .zip), found: {names}")
        path = notebooks[0]
    data = path.read_bytes()
    if path.suffix.lower() == ".zip":
        from .grade import submissions  # the class grader's safe zip reader (not needed on Gradescope)

        data, _, problem = submissions.notebook_from_zip(data)
        if problem:
            raise SystemExit(f"{path}: {problem}")
    try:
        nb = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SystemExit(f"{path}: not a notebook ({e})") from e
    return nb, path.with_suffix(".pdf")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ds201-manual-pdf", description=__doc__.splitlines()[0])
    p.add_argument("path", type=Path, help="a notebook, an otter export zip, or a folder holding one")
    p.add_argument("-o", "--output", type=Path, default=None, help="the PDF (default: next to the notebook)")
    args = p.parse_args(argv)
    nb, dest = _read(args.path)
    dest = args.output or dest
    if args.output is None and args.path.is_dir():
        for other in args.path.glob("*.pdf"):  # otter's use_submission_pdf must find this one only
            other.unlink()
    build_pdf(nb, dest)
    print(f"manual answers: {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
