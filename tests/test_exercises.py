"""Exercises 1–6: the hidden tests pass the solution's models and fail each typical mistake.

The models come from the one full-size execution of the solution (``solution_run``); every variant
is the honest set of answers with one mistake laid on it, graded by the built hidden tests in
``autograder/tests``. A mistake must cost points in its own question and nowhere else.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import AUTOGRADER

from ds201_lab1 import checks, spec

EXERCISES = ("ex1", "ex2", "ex3", "ex4", "ex5", "ex6")


def grade(env: dict) -> dict[str, tuple[float, float, list[str]]]:
    from otter.test_files import ExceptionTestFile

    out = {}
    for q in EXERCISES:
        tf = ExceptionTestFile.from_file(str(AUTOGRADER / "tests" / f"{q}.py"))
        tf.run(dict(env))
        out[q] = (tf.score, tf.possible, [r.message for r in tf.test_case_results if not r.passed])
    return out


@pytest.fixture(scope="module")
def honest(solution_answers) -> dict:
    """The solution's answers a case does not replace (conftest: loaded once per test run)."""
    return dict(solution_answers)


@pytest.fixture(scope="module")
def honest_scores(honest):
    return grade(honest)


def test_the_solution_passes_every_exercise(honest_scores):
    for q, (score, possible, failed) in honest_scores.items():
        assert score == possible, f"{q}: {failed}"


def handout_cifar_model():
    """The handout's exercise 5 model: raw pixels into sigmoid units, Dropout after the output.

    Trained for a few steps on a slice (the real thing takes 6+ minutes and stays at chance).
    """
    import keras

    (x, y), _ = checks.truth_cifar10()
    model = keras.Sequential(
        [
            keras.Input((3072,)),
            keras.layers.Dense(3072, activation="sigmoid"),
            keras.layers.Dense(10, activation="sigmoid"),
            keras.layers.Dropout(0.02),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.BinaryCrossentropy())
    model.fit(x[:1024].reshape(1024, -1).astype("float32"), np.eye(10)[y[:1024, 0]], batch_size=64, epochs=1, verbose=0)
    return model


VARIANTS = {
    # question -> (what the mistake is, how to lay it on the honest answers, text the message must hold)
    "ex1": (
        "relu instead of sigmoid in layer 1",
        lambda e: {"model_1": e["model_2"]},
        "Layer 1 of `model_1` has activation relu; the exercise asks for sigmoid",
    ),
    "ex2": ("model missing", lambda e: {"model_2": None}, "`model_2` was not found"),
    "ex3": (
        "exercise 2's model on unnormalised data",
        lambda e: {
            "model_2_new": e["model_2"],
            "X_train_new": e["X_train_new"] * 255,
            "X_test_new": e["X_test_new"] * 255,
            # exercise 4 then shows this model's matrix, on the same unnormalised images
            "cm_ex4": checks.confusion(e["model_2"], *checks.mnist_vectors(False)),
        },
        "Normalise: divide the pixel values by 255",
    ),
    "ex4": ("confusion matrix of the wrong model", None, "`cm_ex4` is not right"),
    "ex5": ("the handout's model", lambda e: {"model_cifar": handout_cifar_model()}, "needs exactly two Dense layers"),
    "ex6": ("model missing", lambda e: {"model_3": None}, "`model_3` was not found"),
}


def _wrong_cm(env):
    return {"cm_ex4": checks.confusion(env["model_2"], *checks.mnist_vectors(True))}


@pytest.mark.parametrize("question", EXERCISES)
def test_a_typical_mistake_fails_its_question_and_only_it(question, honest, honest_scores):
    what, change, message = VARIANTS[question]
    env = {**honest, **(change(honest) if change else _wrong_cm(honest))}
    got = grade(env)
    score, possible, failed = got[question]
    assert score < possible, f"{question} ({what}) still scores {score}/{possible}"
    assert any(message in m for m in failed), f"{question} ({what}): expected {message!r} in {failed}"
    for other in EXERCISES:
        if other != question:
            assert got[other][:2] == honest_scores[other][:2], (
                f"{question}'s mistake ({what}) changed {other}: {got[other]}"
            )


def test_unnormalised_ex3_fails_on_accuracy_alone(honest):
    """Even with normalised arrays handed in, a model trained on raw pixels misses the threshold."""
    got = grade({**honest, "model_2_new": honest["model_2"]})
    score, possible, failed = got["ex3"]
    assert score < possible and any("on the test set; at least" in m for m in failed), failed


def test_the_handout_cifar_model_is_at_chance():
    model = handout_cifar_model()
    x, y = checks.cifar_vectors()
    assert checks.accuracy_of(model, x, y) < spec.ACCURACY_THRESHOLDS["ex5"]
