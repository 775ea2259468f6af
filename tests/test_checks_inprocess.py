"""The hidden checks in the student's kernel: patched libraries and lying objects pass no wrong answer.

Under ``otter run``, ``otter grade`` and Gradescope the hidden tests call ``ds201_lab1.checks``
inside the student's kernel, after the student's code, which may have monkeypatched anything. Each
test here lays one family of attacks with pytest's ``monkeypatch`` (undone after the test) and
shows that a wrong answer still fails; the last ones show that honest answers still pass while
every function the checks must not rely on raises. Tiny models, trained one step: seconds.

What no in-process check can stop (replacing builtins, this module, ``sys.modules``, otter itself,
tracing the check) is listed in checks.py under "Plain values"; the project's grader stops those.
"""

from __future__ import annotations

import math
import sys
import unicodedata

import numpy as np
import pytest

from ds201_lab1 import checks
from ds201_lab1.checks import CheckFailed


def fails(func, *args, match: str | None = None) -> str:
    with pytest.raises(CheckFailed, match=match) as info:
        func(*args)
    vi, en = str(info.value).split("\n", 1)
    assert vi and en, "every message has a Vietnamese line, then an English one"
    return str(info.value)


def always(value):
    return lambda *args, **kwargs: value


def boom(*args, **kwargs):
    raise RuntimeError("a check called a function a notebook can replace")


# ---------------------------------------------------------------------------------------------
# Honest values and tiny models
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist():
    (x_train, y_train), (x_test, y_test) = checks.truth_mnist()
    return {
        "x_train": x_train.reshape(len(x_train), -1),
        "x_test": x_test.reshape(len(x_test), -1),
        "y_train": y_train,
        "y_test": y_test,
        "one_hot": np.eye(10, dtype="float32")[y_train],
        "counts": np.bincount(y_train, minlength=10),
    }


def _bce_loss(y_hat, y):
    y_hat = np.clip(y_hat, 1e-7, 1 - 1e-7)
    return -(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))


def _bce_cost(y_hat, y):
    return float(np.mean(_bce_loss(y_hat, y)))


@pytest.fixture(scope="module")
def models():
    """The base model's and exercises' shapes, trained briefly on a slice: clearly above chance (the
    checks' evidence of training), below every threshold."""
    import keras

    (x, y), _ = checks.truth_mnist()

    def make(layers, loss, lr, normalised=True):
        m = keras.Sequential([keras.Input((784,)), *layers])
        m.compile(optimizer=keras.optimizers.Adam(lr), loss=loss)
        xs = x[:2000].reshape(2000, -1).astype("float32")
        m.fit(xs / 255 if normalised else xs, np.eye(10)[y[:2000]], batch_size=64, epochs=2, verbose=0)
        return m

    d = keras.layers.Dense
    bce = keras.losses.BinaryCrossentropy()
    return {
        "base": make(
            [d(784, activation="relu"), d(10, activation="softmax")], "categorical_crossentropy", 0.001, False
        ),
        "relu": make([d(784, activation="relu"), d(10, activation="sigmoid")], bce, 0.01),
        "relu_lr": make([d(784, activation="relu"), d(10, activation="sigmoid")], bce, 0.001),
        "deep": make(
            [d(32, activation="relu"), d(32, activation="relu"), d(10, activation="softmax")],
            "categorical_crossentropy",
            0.001,
        ),
    }


def _one_hot_of(labels_for_rows):
    """A stand-in for a model's outputs: one-hot rows of the labels an attacker wants, found by pixels."""
    x_raw, y = checks.mnist_vectors(False)
    wanted = {}
    for x in (x_raw, x_raw / 255.0):
        for row, label in zip(x, labels_for_rows(y)):
            wanted[row.tobytes()] = int(label)

    def outputs(x):
        x = np.asarray(x, dtype="float32")
        return np.eye(10, dtype="float32")[[wanted.get(row.tobytes(), 0) for row in x]]

    return outputs


# ---------------------------------------------------------------------------------------------
# Patched libraries that always say "yes" do not pass a wrong answer
# ---------------------------------------------------------------------------------------------
def test_numpy_comparisons_that_always_agree(monkeypatch, mnist):
    for name in ("array_equal", "array_equiv", "allclose", "isclose"):
        monkeypatch.setattr(np, name, always(True))
    monkeypatch.setattr(np, "all", always(True))
    fails(checks.q2_one_hot, mnist["one_hot"] * 0.5, mnist["one_hot"][5], match="y_train")
    fails(checks.q2_label_counts, mnist["counts"][::-1].copy(), match="label_counts")
    fails(checks.q2_reshape, mnist["x_train"] // 2, mnist["x_test"], 784, "b", match="X_train / X_test")
    fails(checks.ex3_data, mnist["x_train"].astype("float32"), mnist["x_test"] / 255.0, match="X_train_new")
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    fails(checks.q3_activations, sigmoid, np.tanh, lambda x: np.abs(x), match="relu")
    fails(checks.q4_bce, lambda y_hat, y: 2 * _bce_loss(y_hat, y), _bce_cost, match="bce_loss")


def test_math_isclose_that_always_agrees(monkeypatch, models):
    monkeypatch.setattr(math, "isclose", always(True))
    monkeypatch.setattr(math, "isfinite", always(True))
    fails(checks.q2_shapes, 60000, 10000, 5.0, (28, 28), 784, match="train_test_ratio")
    fails(checks.q3_prob_sum, 0.5, match="prob_sum")
    fails(checks.q4_bce, _bce_loss, lambda y_hat, y: float(np.sum(_bce_loss(y_hat, y))), match="bce_cost")
    fails(checks.ex2_spec, models["relu_lr"], match="learning_rate 0.001")


def test_numpy_counts_and_labels_that_lie(monkeypatch, mnist, models):
    wrong_counts = mnist["counts"][::-1].copy()
    monkeypatch.setattr(np, "unique", always(np.arange(9)))
    monkeypatch.setattr(np, "bincount", always(wrong_counts))
    monkeypatch.setattr(np, "count_nonzero", lambda a, *args, **kwargs: np.size(a))
    fails(checks.q2_labels, 9, set(range(9)), match="n_labels")
    fails(checks.q2_label_counts, wrong_counts, match="label_counts")
    fails(checks.ex6_accuracy, models["deep"], match="at least")

    model = models["base"]
    probs = model.predict(checks.mnist_vectors(False)[0][50:51], verbose=0)[0]
    wrong_label = (int(probs.argmax()) + 1) % 10
    monkeypatch.setattr(np, "argmax", always(np.int64(wrong_label)))
    fails(checks.q5_image_50, probs, wrong_label, int(mnist["y_test"][50]), model, match="pred_label_50")


def test_numpy_reductions_that_lie(monkeypatch, models):
    """ndarray.sum/.mean/.max/.all are Python code in numpy._core._methods: a notebook can replace them."""
    import numpy._core._methods as methods

    model = models["relu"]
    cm = checks.confusion(model, *checks.mnist_vectors(True))
    wrong = cm.T.copy() if not np.array_equal(cm, cm.T) else cm + np.eye(10, dtype=cm.dtype)
    answers = iter([10000])  # the first sum (the cells' total) is what the check wants; then all "zero"
    monkeypatch.setattr(methods, "umr_sum", lambda *args, **kwargs: next(answers, 0))
    monkeypatch.setattr(methods, "umr_maximum", always(0))
    monkeypatch.setattr(methods, "umr_all", always(True))
    fails(checks.ex4_confusion, wrong, model, match="cm_ex4")


def test_patched_keras_and_sklearn_do_not_change_predictions(monkeypatch, tmp_path, models):
    """The model's predict, evaluate and __call__ say it is perfect (or says what the answer says)."""
    import keras
    import sklearn.metrics

    base, deep = models["base"], models["deep"]
    ours = checks.predicted_labels(base, checks.mnist_vectors(False)[0])
    claimed = (ours + 1) % 10  # labels the model does not predict: the attacker's answers
    perfect, agree = _one_hot_of(lambda y: y), _one_hot_of(lambda y: claimed)
    untrained = keras.models.clone_model(base)
    untrained.save(tmp_path / "lab1_model.keras")

    def patch(outputs):
        monkeypatch.setattr(keras.Model, "__call__", lambda self, x, *a, **k: outputs(x))
        monkeypatch.setattr(keras.Model, "predict", lambda self, x, *a, **k: outputs(x))
        monkeypatch.setattr(keras.Model, "evaluate", always([0.0, 1.0]))
        monkeypatch.setattr(sklearn.metrics, "accuracy_score", always(1.0))
        monkeypatch.setattr(np, "mean", always(1.0))

    patch(perfect)
    fails(checks.ex6_accuracy, deep, match="at least")
    fails(checks.q5_accuracy, 1.0, base, match="at least")
    patch(agree)
    fails(checks.q5_selected, claimed[list(checks.SELECTED)], base, match="selected_labels")
    x_raw, y = checks.mnist_vectors(False)
    fails(checks.q5_image_50, agree(x_raw[50:51])[0], int(claimed[50]), int(y[50]), base, match="probs_50")
    claimed_cm = np.zeros((10, 10), dtype="int64")
    np.add.at(claimed_cm, (y, claimed), 1)  # the matrix the patched model "predicts"
    fails(checks.ex4_confusion, claimed_cm, models["relu"], match="cm_ex4")
    monkeypatch.chdir(tmp_path)
    fails(checks.q6_save, base, "lab1_model.keras", match="lab1_model.keras")


def test_patched_text_functions_do_not_pass_a_wrong_answer(monkeypatch):
    monkeypatch.setattr(unicodedata, "normalize", always("modified national institute of standards and technology"))
    fails(checks.q1_mnist_name, "Mixed National Institute", match="mnist_stands_for")
    monkeypatch.setattr(unicodedata, "normalize", always("b"))
    fails(checks.q3_units, "c", match="output_units_reason")


def test_a_patched_load_model_that_returns_the_model_itself(monkeypatch, tmp_path, models):
    import keras

    keras.models.clone_model(models["base"]).save(tmp_path / "lab1_model.keras")  # saved before training
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(keras.models, "load_model", lambda *a, **k: models["base"])
    fails(checks.q6_save, models["base"], "lab1_model.keras", match="lab1_model.keras")


# ---------------------------------------------------------------------------------------------
# Objects that lie fail the type check
# ---------------------------------------------------------------------------------------------
class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


class LyingStr(str):
    """str(...) of it, and its lower(), say the right answer; it equals everything."""

    lie = "Modified National Institute of Standards and Technology"

    def __str__(self):
        return self.lie

    def lower(self):
        return self.lie.lower()

    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


class LyingChoice(LyingStr):
    lie = "b"


class LyingInt(int):
    def __int__(self):
        return 60000

    def __index__(self):
        return 60000


class LyingFloat(float):
    def __float__(self):
        return 1.0


class LyingFloat64(np.float64):
    def __float__(self):
        return 1.0


class LyingList(list):
    def __array__(self, dtype=None, copy=None):
        return np.eye(10, dtype="float32")[checks.truth_mnist()[0][1]]


class ArrayWithNumpy(np.ndarray):
    def numpy(self):
        return np.eye(10, dtype="float32")[checks.truth_mnist()[0][1]]

    def __eq__(self, other):
        return np.ones(np.shape(other), bool)


class LyingSet(set):
    def __iter__(self):
        return iter(range(10))


class LyingDict(dict):
    def __iter__(self):
        return iter(range(10))

    def __getitem__(self, key):
        return int(np.bincount(checks.truth_mnist()[0][1], minlength=10)[key])


class LyingTuple(tuple):
    def __iter__(self):
        return iter((28, 28))

    def __len__(self):
        return 2


class FakeTensor:
    """Claims to be a TensorFlow tensor; its numpy() does not return an ndarray."""

    __module__ = "tensorflow.python.framework.ops"

    def numpy(self):
        return LyingList()


def _lying_answers(mnist):
    wrong_one_hot = (mnist["one_hot"] * 0.5).tolist()
    return [
        (checks.q1_mnist_name, (LyingStr("Mixed"),), "must be a string.*LyingStr"),
        (checks.q3_units, (LyingChoice("c"),), "must be a string.*LyingChoice"),
        (checks.q2_shapes, (LyingInt(5), 10000, 6.0, (28, 28), 784), "must be an integer.*LyingInt"),
        (checks.q3_prob_sum, (LyingFloat(0.5),), "must be a number.*LyingFloat"),
        (checks.q3_prob_sum, (LyingFloat64(0.5),), "must be a number.*LyingFloat64"),
        (checks.q3_output_shape, ((None, AlwaysEqual()),), "dense_output_shape"),
        (checks.q5_pred_shape, ((AlwaysEqual(), 10),), "must be an integer.*AlwaysEqual"),  # the old checks too
        (checks.q3_layer_roles, ([AlwaysEqual(), AlwaysEqual()],), "must be a string.*AlwaysEqual"),  # idem
        (checks.q2_labels, (10, LyingSet({1})), "must be a set.*LyingSet"),
        (checks.q2_label_counts, (LyingDict({0: 1}),), "NumPy array.*LyingDict"),
        (checks.q2_shapes, (60000, 10000, 6.0, LyingTuple((1,)), 784), "image_size"),
        (checks.q2_one_hot, (LyingList(wrong_one_hot), mnist["one_hot"][5]), "NumPy array.*LyingList"),
        (checks.q2_one_hot, ((mnist["one_hot"] * 0.5).view(ArrayWithNumpy), mnist["one_hot"][5]), "ArrayWithNumpy"),
        (checks.q2_one_hot, (FakeTensor(), mnist["one_hot"][5]), "NumPy array.*FakeTensor"),
    ]


def test_lying_objects_fail_the_type_check(mnist):
    for check, args, match in _lying_answers(mnist):
        fails(check, *args, match=match)


def test_a_rebound_ndarray_type_does_not_let_a_subclass_in(monkeypatch, mnist):
    """``np.ndarray = Sub``: a check that looked the type up by name would accept the subclass."""

    class Agreeable(np.ndarray):
        def __eq__(self, other):
            return np.ones(np.shape(other), bool)

        __ne__ = lambda self, other: np.zeros(np.shape(other), bool)  # noqa: E731

    monkeypatch.setattr(np, "ndarray", Agreeable)
    fails(checks.q2_one_hot, (mnist["one_hot"] * 0.5).view(Agreeable), mnist["one_hot"][5], match="Agreeable")


# ---------------------------------------------------------------------------------------------
# Honest answers do not need any of those functions
# ---------------------------------------------------------------------------------------------
NUMPY_FUNCTIONS = (
    "array_equal array_equiv allclose isclose mean average argmax argmin unique bincount count_nonzero "
    "asarray array eye prod abs absolute all any sum max min isfinite clip log exp tanh where maximum "
    "minimum concatenate issubdtype sort nonzero add subtract multiply divide power equal"
).split()


@pytest.fixture
def hostile(monkeypatch):
    """Every function a check could be tempted to call on an answer raises (Keras's predict, evaluate
    and __call__ included); patch it after computing what the test needs."""
    import keras
    import numpy._core._methods as methods
    import sklearn.metrics

    def apply(numpy: bool = True):
        if numpy:  # NumPy's, math's and Keras's array helpers (keras.models.load_model needs them)
            for name in NUMPY_FUNCTIONS:
                monkeypatch.setattr(np, name, boom)
            for name in ("umr_sum", "umr_prod", "umr_maximum", "umr_minimum", "umr_any", "umr_all"):
                monkeypatch.setattr(methods, name, boom)
            for name in ("isclose", "isfinite", "exp", "log", "ceil", "prod"):
                monkeypatch.setattr(math, name, boom)
            monkeypatch.setattr(keras.ops, "convert_to_numpy", boom)
        normalize = unicodedata.normalize  # pytest's terminal uses it too: refuse only the checks

        def normalize_except_for_checks(form, text):
            if sys._getframe(1).f_code.co_filename == checks.__file__:
                boom()
            return normalize(form, text)

        monkeypatch.setattr(unicodedata, "normalize", normalize_except_for_checks)
        monkeypatch.setattr(sklearn.metrics, "accuracy_score", boom)
        for name in ("__call__", "predict", "evaluate", "predict_on_batch"):
            monkeypatch.setattr(keras.Model, name, boom)

    return apply


def test_honest_values_pass_without_those_functions(hostile, mnist):
    one_hot, counts = mnist["one_hot"], mnist["counts"]
    hostile()
    checks.q0_layers(["Input layer", "hidden", "OUTPUT"])
    checks.q1_mnist_name("Modified National Institute of Standards and Technology")
    checks.q2_shapes(60000, 10000, 6.0, (28, 28), 784)
    checks.q2_labels(10, set(range(10)))
    checks.q2_label_counts(counts)
    checks.q2_label_counts({d: int(c) for d, c in enumerate(counts)})
    checks.q2_reshape(mnist["x_train"], mnist["x_test"], np.int64(784), "b")
    checks.q2_fill_blanks(10, np.int64(10), "Đa lớp")
    checks.q2_one_hot(one_hot, one_hot[5])
    checks.q3_output_shape((None, 784))
    checks.q3_units("b")
    checks.q3_prob_sum(np.float32(1.0))
    checks.q3_layer_roles(["hidden", "output"])
    checks.q5_pred_shape((10000, 10))
    checks.q5_argmax("highest")
    checks.ex3_data(mnist["x_train"] / np.float32(255), mnist["x_test"] / np.float32(255))


def test_honest_functions_pass_without_those_functions(hostile):
    # the student's own functions may use NumPy: they get the module as it was
    exp, maximum, tanh, clip, log = np.exp, np.maximum, np.tanh, np.clip, np.log
    hostile()

    def loss(y_hat, y):
        y_hat = clip(y_hat, 1e-7, 1 - 1e-7)
        return -(y * log(y_hat) + (1 - y) * log(1 - y_hat))

    checks.q3_activations(lambda x: 1 / (1 + exp(-x)), lambda x: tanh(x), lambda x: maximum(x, 0))
    checks.q4_bce(loss, lambda y_hat, y: sum(loss(y_hat, y).tolist()) / len(y))  # ndarray.mean needs umr_sum


def test_honest_models_pass_without_those_functions(hostile, monkeypatch, tmp_path, models, request):
    base, relu, deep = models["base"], models["relu"], models["deep"]
    x_raw, y = checks.mnist_vectors(False)
    probs = base.predict(x_raw, verbose=0)  # what the student's notebook computed, before the patches
    labels = probs.argmax(1)
    accuracy = float(np.mean(labels == y))
    cm = np.zeros((10, 10), dtype="int64")
    np.add.at(cm, (y, relu.predict(checks.mnist_vectors(True)[0], verbose=0).argmax(1)), 1)  # sklearn's way
    base.save(tmp_path / "lab1_model.keras")
    steps = int(base.optimizer.iterations.numpy())
    request.addfinalizer(lambda: base.optimizer.iterations.assign(steps))
    base.optimizer.iterations.assign(10 * checks.STEPS_PER_EPOCH_BASE)  # as if fit for 10 epochs
    for key in checks.ACCURACY_THRESHOLDS:
        monkeypatch.setitem(checks.ACCURACY_THRESHOLDS, key, 0.0)  # one-step models: test the plumbing
    monkeypatch.chdir(tmp_path)
    hostile()
    p1 = checks.dense_params(784, 784)
    checks.q3_params(p1, checks.dense_params(784, 10), p1 + checks.dense_params(784, 10), base)
    checks.q4_train_time(12.5, base)
    checks.q5_image_50(probs[50], int(labels[50]), int(y[50]), base)
    checks.q5_selected(labels[list(checks.SELECTED)], base)
    checks.q5_accuracy(accuracy, base)
    checks.ex2_spec(relu)
    checks.ex3_accuracy(relu)
    checks.ex4_confusion(cm, relu)
    checks.ex6_spec(deep)
    checks.ex6_accuracy(deep)
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    hostile(numpy=False)  # keras.models.load_model itself needs NumPy's and math's functions
    checks.q6_save(base)
