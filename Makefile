# DS201 Lab 1 — the two commands: `make assignment` (rebuild) and `make test` (prove it).
# Each creates .venv and installs the project when it is missing.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SHARED_DATA ?= ../shared/data
SUBMISSIONS ?= submissions
OUT         ?= grades
JOBS        ?=
GRADE_ARGS  ?=
MANUAL      ?=
ANONYMOUS   ?=
REVIEW_ARGS := $(if $(MANUAL),--manual "$(MANUAL)") $(if $(ANONYMOUS),--anonymous)
SCHEDULER   ?=
BENCH_ARGS  ?=
PLATFORMS_ARGS ?=

.PHONY: assignment test install data lint thresholds bench grade review platforms clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

## Rebuild student/, autograder/ and solutions/ from assignment/lab1.ipynb.
assignment: $(VENV)/.installed
	$(PY) -m ds201_lab1.build

## Run every test (unit tests, the otter grading of the solution and the blank notebook, the build).
test: $(VENV)/.installed
	$(PY) -m pytest

## Grade every .ipynb / otter export .zip under $(SUBMISSIONS) into $(OUT), without Docker; then the
## manual questions' review pack (OUT/review/) and the merge of their scores (MANUAL=OUT/manual_scores.csv).
## SCHEDULER=tcp://HOST:8786 executes them on the workers of that Dask cluster (README: Grading on a cluster).
## JOBS=N for -j N; every other option, and the defaults, are the grader's own (GRADE_ARGS="--help").
grade: $(VENV)/.installed
	$(PY) -m ds201_lab1.grade "$(SUBMISSIONS)" "$(OUT)" $(if $(JOBS),-j $(JOBS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) --review $(REVIEW_ARGS) $(GRADE_ARGS)

## Only the review pack and the merge of MANUAL= (no grading; $(OUT)/final_grades.csv must exist).
review: $(VENV)/.installed
	$(PY) -m ds201_lab1.review "$(SUBMISSIONS)" "$(OUT)" $(REVIEW_ARGS)

## Lay out the offline dataset cache from $(SHARED_DATA) (no dataset host is reachable here), then
## expand it in place into memory-mappable .npy folders (the grader links them into OUT/.data).
data: $(VENV)/.installed
	$(PY) $(SHARED_DATA)/prepare.py "$$($(PY) -c 'from ds201_lab1.data import cache_dir; print(cache_dir())')"
	$(PY) -c 'from ds201_lab1.data import cache_dir, expand; expand(cache_dir(), cache_dir())'

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests tools bench assignment platforms

## Re-measure the accuracy spread across seeds behind the thresholds (README: Teaching assistants).
thresholds: $(VENV)/.installed
	$(PY) tools/measure_thresholds.py --seeds 0 1 2 3 4

## Print the grading-speed figures as a Markdown table (bench/RESULTS.md; ≈ 1 hour, --quick ≈ 5).
bench: $(VENV)/.installed
	$(PY) bench/bench.py $(BENCH_ARGS)

## Prove the autograder zip on `otter grade` (Docker) and an emulated Gradescope, scores equal to
## `make grade`'s (root; installs its apt packages; not part of `make test`). See README, Instructors.
platforms: $(VENV)/.installed
	$(PY) platforms/platforms.py $(PLATFORMS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
