"""DS201 Lab 1, auto-graded: data loading, answer checks, the build and the grader.

One module per job:

- ``spec``   — the graded facts, declared once: thresholds, model → data, probes, saved files;
- ``data``   — MNIST and CIFAR-10 in Keras' layout, from an offline cache or Keras' download;
- ``checks`` — every autograded check, with bilingual failure messages (used by the hidden tests);
- ``build``  — ``make assignment``: otter assign, then the student/autograder/solutions layout;
- ``grade``  — grade a folder of submissions without Docker (``python -m ds201_lab1.grade``);
- ``manual``, ``review``, ``manual_pdf`` — the manual questions: their answers found and rendered
  safely, the review pack and the scores merged into the grades, the PDF for Gradescope.
"""

__version__ = "0.1.0"

# The modules the hidden tests import, and the manual answers' PDF for otter's Gradescope upload
# (run_otter.py), shipped in the autograder zip (never to students) …
GRADING_MODULES = ("__init__.py", "data.py", "spec.py", "checks.py", "manual.py", "manual_pdf.py")
# … and the ones a notebook may import while the project's grader executes it (never the checks).
KERNEL_MODULES = ("__init__.py", "data.py")
