"""DS201 Lab 1, auto-graded: data loading, answer checks, the build and the grader.

One module per job:

- ``data``   — MNIST and CIFAR-10 in Keras' layout, from an offline cache or Keras' download;
- ``checks`` — every autograded check, with bilingual failure messages (used by the hidden tests);
- ``build``  — ``make assignment``: otter assign, then the student/autograder/solutions layout;
- ``grade``  — grade a folder of submissions without Docker (``python -m ds201_lab1.grade``);
- ``manual``, ``review``, ``manual_pdf`` — the manual questions: their answers found and rendered
  safely, the review pack and the scores merged into the grades, the PDF for Gradescope.
"""

__version__ = "0.1.0"
