"""Every autograded check of the lab: the hidden tests call ``checks.<question>(…)``.

Each check returns ``None`` when the answer is right; otherwise it raises :class:`CheckFailed` (an
``AssertionError``) whose message says what is wrong and where to look, in Vietnamese then English
(:func:`fail`). The order inside a check is always type, then shape, then value, in the plain
DeepLearning.AI / nbgrader style: ``isinstance``, ``np.asarray``, ``np.allclose`` and the model's
own ``predict``.

- The truth is never read from the submission: counts, labels, predictions and accuracies are
  recomputed here from this module's own copy of the data (:func:`truth_mnist`,
  :func:`truth_cifar10`, read-only) and the student's model. Value checks never show the expected
  value, so a failure does not hand out the answer.
- Thresholds, which model is measured on which data, the inputs a student's function is called
  with, and the files a question opens are declared once, in :mod:`.spec`.
- Every reasonable form of a right answer passes (a tuple or a list, a set or a list without
  repeats, NumPy scalars, ``to_categorical`` or ``np.eye``, Sequential or functional models,
  ``Activation`` layers or ``activation=``…): see ``tests/fairness.py``.
- The same checks run in the student's kernel (``otter run``, Gradescope) and in the project's
  trusted verifier on values rebuilt from saved artifacts (read-only memory-mapped arrays, rebuilt
  Keras models), so they test by ``isinstance``, never by exact type. A value the grader could not
  rebuild arrives as an object whose type name says why; type messages show that name.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import cache
from numbers import Integral, Real
from typing import Any

import numpy as np

from . import data, spec

ACCURACY_TOLERANCE = 2e-4  # a reported accuracy may differ from ours by float noise only (2 images)
STEPS_PER_EPOCH_BASE = -(-60000 // 128)  # ceil(60000 / 128): batch 128 on the full training set
PREDICT_BATCH = 4096  # the checks' own predict calls: large batches, one pass
LEARNED_MIN_ACCURACY = {784: 0.5, 3072: 0.2}  # evidence of training: far above chance (0.1), far below thresholds


class CheckFailed(AssertionError):
    """A wrong answer. The message is bilingual: Vietnamese, then English."""


def fail(vi: str, en: str) -> None:
    raise CheckFailed(f"{vi}\n{en}")


def wrong(name: str, where: str, hint_vi: str = "", hint_en: str = "") -> None:
    """A value is wrong: say which and where, with a hint that never gives the expected value."""
    fail(
        " ".join(f"`{name}` chưa đúng. {hint_vi} Xem {where}.".split()),
        " ".join(f"`{name}` is not right. {hint_en} See {where}.".split()),
    )


def _type_name(value: Any) -> str:
    return type(value).__name__


def expect_type(ok: bool, value: Any, name: str, where: str, vi: str, en: str) -> None:
    """Unless ``ok``: `name` must be <what>, got <its type's name> (what the grader could not rebuild says why)."""
    if not ok:
        fail(
            f"`{name}` phải là {vi}, hiện là {_type_name(value)}. Xem {where}.",
            f"`{name}` must be {en}, got {_type_name(value)}. See {where}.",
        )


# ---- The checks' own copy of the data (read-only), and the test data each model is measured on ------
@cache
def truth_mnist() -> data.Split:
    return data.mnist()


@cache
def truth_cifar10() -> data.Split:
    return data.cifar10()


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.flags.writeable = False
    return arrays


@cache
def mnist_vectors(normalised: bool) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test images as float32 784-vectors (optionally /255) and their integer labels."""
    _, (x_test, y_test) = truth_mnist()
    x = x_test.reshape(len(x_test), -1).astype("float32")
    return _frozen(x / 255.0 if normalised else x, y_test.astype("int64"))


@cache
def cifar_vectors() -> tuple[np.ndarray, np.ndarray]:
    """The CIFAR-10 test images as float32 3072-vectors /255 and their integer labels."""
    _, (x_test, y_test) = truth_cifar10()
    return _frozen(x_test.reshape(len(x_test), -1).astype("float32") / 255.0, y_test.reshape(-1).astype("int64"))


def evaluation_data(variant: str) -> tuple[np.ndarray, np.ndarray]:
    """The test set of a :data:`spec.MODELS` data variant, as the checks prepare it."""
    return {
        spec.MNIST_RAW: lambda: mnist_vectors(False),
        spec.MNIST_NORMALISED: lambda: mnist_vectors(True),
        spec.CIFAR_NORMALISED: cifar_vectors,
    }[variant]()


# ---- Type, then shape -------------------------------------------------------------------------------
def expect_int(value: Any, name: str, where: str) -> int:
    ok = isinstance(value, (Integral, np.integer)) and not isinstance(value, bool)
    expect_type(ok, value, name, where, "một số nguyên (int)", "an integer (int)")
    return int(value)


def expect_number(value: Any, name: str, where: str) -> float:
    ok = isinstance(value, (Real, np.integer, np.floating)) and not isinstance(value, bool)
    expect_type(ok, value, name, where, "một số", "a number")
    out = float(value)
    if not np.isfinite(out):
        fail(f"`{name}` không hữu hạn ({out}). Xem {where}.", f"`{name}` is not finite ({out}). See {where}.")
    return out


def expect_str(value: Any, name: str, where: str) -> str:
    expect_type(isinstance(value, str), value, name, where, "một chuỗi (str)", "a string (str)")
    return str(value)


def expect_array(value: Any, name: str, where: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """A numeric array (ndarray, list, tuple, tensor, pandas…) of ``shape`` (``None``: any length)."""
    ok = isinstance(value, (np.ndarray, list, tuple)) or hasattr(value, "__array__") and not isinstance(value, str)
    expect_type(ok, value, name, where, "một mảng NumPy", "a NumPy array")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):  # ragged lists
        arr = np.asarray(None)
    if arr.dtype.kind not in "biuf":
        fail(
            f"`{name}` phải chứa số, hiện có dtype {arr.dtype}. Xem {where}.",
            f"`{name}` must hold numbers, its dtype is {arr.dtype}. See {where}.",
        )
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        want = tuple("N" if s is None else s for s in shape)
        fail(
            f"`{name}` có kích thước {arr.shape}, cần {want}. Xem {where}.",
            f"`{name}` has shape {arr.shape}, expected {want}. See {where}.",
        )
    return arr


def expect_integers(arr: np.ndarray, name: str, where: str) -> np.ndarray:
    """Counts or labels: integers, or floats holding whole numbers (e.g. a confusion matrix as floats)."""
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.array_equal(arr, np.round(arr)):
        return arr.astype("int64")
    if arr.dtype.kind not in "iu":
        fail(f"`{name}` phải chứa số nguyên. Xem {where}.", f"`{name}` must hold integers. See {where}.")
    return arr.astype("int64")


def expect_sequence(value: Any, name: str, where: str, length: int, example: str) -> list:
    """An ordered answer: a tuple or a list (or a 1-D array) of ``length`` items."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or len(value) != length:
        fail(
            f"`{name}` phải là một tuple (hoặc list) {length} phần tử, ví dụ {example}; hiện là "
            f"{_type_name(value)}. Xem {where}.",
            f"`{name}` must be a tuple (or list) of {length} items, e.g. {example}; got {_type_name(value)}. "
            f"See {where}.",
        )
    return list(value)


# ---- Free text --------------------------------------------------------------------------------------
def normalise_text(s: str) -> str:
    """Lower-case, accents removed (đ → d), punctuation folded to spaces: for free-text keys."""
    s = unicodedata.normalize("NFKD", s.lower().replace("đ", "d"))
    s = "".join(c for c in s if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", s).split())


# A layer kind however it is written: "Hidden layers", "hidden-layer", "lớp ẩn", "outputs"…
_KIND_WORDS = {"input": "input", "hidden": "hidden", "output": "output", "vao": "input", "an": "hidden", "ra": "output"}


def layer_kind(text: str) -> str:
    words = [w for w in normalise_text(text).split() if w not in {"layer", "layers", "lop", "cac", "dau", "the", "a"}]
    words = [w[:-1] if w in {"inputs", "outputs"} else w for w in words]
    return _KIND_WORDS.get(" ".join(words), " ".join(words))


def expect_choice(value: Any, name: str, where: str, options: set[str]) -> str:
    text = normalise_text(expect_str(value, name, where))
    if text not in options:
        shown = ", ".join(f'"{o}"' for o in sorted(options))
        fail(
            f"`{name}` = {value!r} không phải là một lựa chọn hợp lệ ({shown}). Xem {where}.",
            f"`{name}` = {value!r} is not one of the allowed choices ({shown}). See {where}.",
        )
    return text


# ---- Sections 0–2: the data -------------------------------------------------------------------------
def _kinds(value: Any, name: str, where: str) -> list[str]:
    return [layer_kind(expect_str(k, f"{name}[i]", where)) for k in value]


def q0_layers(layer_kinds: Any) -> None:
    where = "câu hỏi 0 / question 0"
    ok = isinstance(layer_kinds, (list, tuple, set, frozenset))
    expect_type(ok, layer_kinds, "layer_kinds", where, "một list các chuỗi", "a list of strings")
    if set(_kinds(layer_kinds, "layer_kinds", where)) != {"input", "hidden", "output"}:
        wrong("layer_kinds", where, "Hình vẽ có ba loại layer.", "The picture shows three kinds of layer.")


MNIST_NAME = "modified national institute of standards and technology"


def q1_mnist_name(mnist_stands_for: Any) -> None:
    where = "câu hỏi 1 / question 1"
    text = normalise_text(expect_str(mnist_stands_for, "mnist_stands_for", where))
    text = re.sub(r"^the ", "", text)
    text = re.sub(r"( mnist)?( (database|data base|dataset|data set))?( mnist)?$", "", text)
    if text != MNIST_NAME:
        wrong("mnist_stands_for", where, "Viết đầy đủ bằng tiếng Anh.", "Write the full English name.")


def q2_shapes(n_train: Any, n_test: Any, train_test_ratio: Any, image_size: Any, n_pixels: Any) -> None:
    where = "mục 2, khảo sát dữ liệu / section 2, exploring the data"
    (x_train, _), (x_test, _) = truth_mnist()
    if expect_int(n_train, "n_train", where) != len(x_train):
        wrong("n_train", where, "Đếm số ảnh của X_train.", "Count the images in X_train.")
    if expect_int(n_test, "n_test", where) != len(x_test):
        wrong("n_test", where, "Đếm số ảnh của X_test.", "Count the images in X_test.")
    ratio = expect_number(train_test_ratio, "train_test_ratio", where)
    if not np.isclose(ratio, len(x_train) / len(x_test), rtol=1e-6, atol=0):
        wrong("train_test_ratio", where, "Tỉ lệ là n_train / n_test.", "The ratio is n_train / n_test.")
    size = expect_sequence(image_size, "image_size", where, 2, "(cao, rộng) / (height, width)")
    if tuple(expect_int(s, "image_size[i]", where) for s in size) != x_train.shape[1:]:
        wrong("image_size", where)
    if expect_int(n_pixels, "n_pixels", where) != x_train.shape[1] * x_train.shape[2]:
        wrong("n_pixels", where, "Số điểm ảnh = cao × rộng.", "Pixels = height × width.")


def q2_labels(n_labels: Any, label_set: Any) -> None:
    where = "mục 2, các nhãn / section 2, the labels"
    (_, y_train), _ = truth_mnist()
    truth = set(np.unique(y_train).tolist())
    if isinstance(label_set, np.ndarray) and label_set.ndim == 1:
        label_set = label_set.tolist()
    ok = isinstance(label_set, (set, frozenset, list, tuple))
    expect_type(ok, label_set, "label_set", where, "một set (dùng set(...))", "a set (use set(...))")
    labels = [expect_int(v, "phần tử của label_set / an element of label_set", where) for v in label_set]
    if len(set(labels)) != len(labels):
        fail(
            f"`label_set` có phần tử lặp lại: mỗi nhãn chỉ một lần (dùng set(...)). Xem {where}.",
            f"`label_set` repeats labels: each label once (use set(...)). See {where}.",
        )
    if expect_int(n_labels, "n_labels", where) != len(truth):
        wrong("n_labels", where)
    if set(labels) != truth:
        wrong("label_set", where, "Dùng set(y_train).", "Use set(y_train).")


def q2_label_counts(label_counts: Any) -> None:
    where = "mục 2, phân bố nhãn / section 2, label distribution"
    (_, y_train), _ = truth_mnist()
    if hasattr(label_counts, "items") and callable(label_counts.items):  # dict, Counter, pandas Series
        by_label = {}
        for k, v in label_counts.items():
            by_label[expect_int(k, "nhãn của label_counts / a label of label_counts", where)] = v
        if set(by_label) != set(range(10)):
            wrong("label_counts", where, "Cần đủ 10 nhãn 0–9.", "All 10 labels 0–9 are needed.")
        label_counts = [by_label[d] for d in range(10)]
    counts = expect_integers(expect_array(label_counts, "label_counts", where, (10,)), "label_counts", where)
    if counts.tolist() != np.bincount(y_train, minlength=10).tolist():
        wrong(
            "label_counts",
            where,
            "label_counts[d] là số ảnh train có nhãn d.",
            "label_counts[d] is the number of training images labelled d.",
        )


def q2_reshape(X_train: Any, X_test: Any, vector_dim: Any, minus_one_means: Any) -> None:
    where = "mục 2, reshape / section 2, reshape"
    (x_train, _), (x_test, _) = truth_mnist()
    d = x_train.shape[1] * x_train.shape[2]
    xtr = expect_array(X_train, "X_train", where, (len(x_train), d))
    xte = expect_array(X_test, "X_test", where, (len(x_test), d))
    if not (np.array_equal(xtr, x_train.reshape(len(x_train), d)) and np.array_equal(xte, x_test.reshape(len(x_test), d))):
        wrong(
            "X_train / X_test",
            where,
            "Chỉ reshape, chưa chuẩn hóa hay xáo trộn.",
            "Only reshape: do not normalise or shuffle yet.",
        )
    if expect_int(vector_dim, "vector_dim", where) != d:
        wrong("vector_dim", where)
    if expect_choice(minus_one_means, "minus_one_means", where, {"a", "b", "c"}) != "b":
        wrong("minus_one_means", where)


def q2_fill_blanks(blank_1: Any, blank_2: Any, blank_3: Any) -> None:
    where = "mục 2, điền vào chỗ trống / section 2, fill in the blanks"
    if expect_int(blank_1, "blank_1", where) != 10:
        wrong("blank_1", where)
    if expect_int(blank_2, "blank_2", where) != 10:
        wrong("blank_2", where)
    text = normalise_text(expect_str(blank_3, "blank_3", where)).replace(" ", "")
    if text.removesuffix("class") not in {"multi", "multiple", "da", "dalop"}:
        wrong("blank_3", where)


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(10)[np.asarray(labels).reshape(-1).astype("int64")]


def q2_one_hot(y_train: Any, y_train_5: Any) -> None:
    where = "mục 2, one-hot / section 2, one-hot"
    (_, labels), _ = truth_mnist()
    y = expect_array(y_train, "y_train", where, (len(labels), 10))
    truth = _one_hot(labels)
    if not np.array_equal(y, truth):
        wrong("y_train", where, "Dùng keras.utils.to_categorical(y_train, 10).", "Use keras.utils.to_categorical(y_train, 10).")
    if not np.array_equal(expect_array(y_train_5, "y_train_5", where, (10,)), truth[5]):
        wrong("y_train_5", where, "Đây là y_train[5] sau one-hot.", "This is y_train[5] after one-hot.")


# ---- Sections 3–4: the network and its loss. A student's function is called on spec.PROBES only. ----
def _call_probes(func: Any, name: str, where: str) -> list[tuple[tuple[np.ndarray, ...], Any]]:
    """``[(inputs, output)]`` of ``func`` on each of its probes in :data:`spec.PROBES`, in order."""
    expect_type(callable(func), func, name, where, "một hàm", "a function")
    out = []
    for args in spec.PROBES[name]:
        arrays = spec.probe_arrays(args)
        try:
            out.append((arrays, func(*spec.probe_arrays(args))))
        except Exception as e:  # the student's function raised: report it, do not crash the test
            fail(
                f"`{name}` báo lỗi khi gọi với mảng NumPy: {type(e).__name__}: {e}. Xem {where}.",
                f"`{name}` raised when called on NumPy arrays: {type(e).__name__}: {e}. See {where}.",
            )
    return out


ACTIVATION_REFERENCES = {
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
}


def q3_activations(sigmoid: Any, tanh: Any, relu: Any) -> None:
    where = "mục 3, hàm kích hoạt / section 3, activation functions"
    for name, func in (("sigmoid", sigmoid), ("tanh", tanh), ("relu", relu)):
        for (x,), out in _call_probes(func, name, where):
            got = expect_array(out, f"{name}(x)", where, x.shape)
            if not np.allclose(got, ACTIVATION_REFERENCES[name](x), rtol=1e-6, atol=1e-6):
                wrong(
                    name,
                    where,
                    "So sánh với công thức, thử với số âm, 0 và số dương.",
                    "Compare with the formula; try negative numbers, 0 and positive numbers.",
                )


def q3_output_shape(dense_output_shape: Any) -> None:
    where = "mục 3, lớp Dense đầu tiên / section 3, the first Dense layer"
    items = expect_sequence(dense_output_shape, "dense_output_shape", where, 2, "(None, 5)")
    if items[0] is not None:
        wrong("dense_output_shape", where, "Chiều đầu tiên (batch) là None.", "The first (batch) dimension is None.")
    if expect_int(items[1], "dense_output_shape[1]", where) != 784:
        wrong("dense_output_shape", where)


def q3_units(output_units_reason: Any) -> None:
    where = "mục 3, lớp đầu ra / section 3, the output layer"
    if expect_choice(output_units_reason, "output_units_reason", where, {"a", "b", "c"}) != "b":
        wrong("output_units_reason", where)


def q3_prob_sum(prob_sum: Any) -> None:
    where = "mục 3, softmax / section 3, softmax"
    # a sum computed in float32 by the model itself (0.99999994, 1.0000001) is right too
    if not abs(expect_number(prob_sum, "prob_sum", where) - 1.0) <= 1e-5:
        wrong("prob_sum", where)


def q3_layer_roles(layer_roles: Any) -> None:
    where = "mục 3, vai trò của các lớp / section 3, the layers' roles"
    if not isinstance(layer_roles, (list, tuple)) or len(layer_roles) != 2:
        fail(
            f"`layer_roles` phải là một list hai chuỗi, theo thứ tự các lớp. Xem {where}.",
            f"`layer_roles` must be a list of two strings, in the order of the layers. See {where}.",
        )
    roles = _kinds(layer_roles, "layer_roles", where)
    if roles == ["output", "hidden"]:
        wrong("layer_roles", where, "Hãy ghi theo đúng thứ tự của các lớp.", "Give them in the order of the layers.")
    if roles != ["hidden", "output"]:
        wrong(
            "layer_roles",
            where,
            "Mỗi lớp là một trong input / hidden / output (xem câu hỏi 0).",
            "Each layer is one of input / hidden / output (see question 0).",
        )


def dense_params(n_in: int, units: int) -> int:
    """Weights plus biases of a Dense layer."""
    return n_in * units + units


def q3_params(params_layer_1: Any, params_layer_2: Any, params_total: Any, model: Any) -> None:
    where = "mục 3, model.summary() / section 3, model.summary()"
    p1, p2 = dense_params(784, 784), dense_params(784, 10)
    if expect_int(params_layer_1, "params_layer_1", where) != p1:
        wrong("params_layer_1", where, "Trọng số + bias.", "Weights + biases.")
    if expect_int(params_layer_2, "params_layer_2", where) != p2:
        wrong("params_layer_2", where, "Trọng số + bias.", "Weights + biases.")
    if expect_int(params_total, "params_total", where) != p1 + p2:
        wrong("params_total", where)
    expect_model(model, "model", where)
    if model.count_params() != p1 + p2:
        wrong(
            "model",
            where,
            "Mô hình phải là Dense(784, relu) + Dense(10, softmax) trên đầu vào 784.",
            "The model must be Dense(784, relu) + Dense(10, softmax) on 784 inputs.",
        )


def _reference_bce(y_hat: np.ndarray, y: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    p = np.clip(y_hat, eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _one_number(value: Any, name: str, where: str) -> float:
    """A cost: a number, or a 0-d/one-element array or tensor holding one."""
    if not isinstance(value, (Real, np.generic)) and hasattr(value, "__array__"):
        arr = np.asarray(value)
        if arr.size == 1 and arr.dtype.kind in "iuf":
            value = arr.reshape(-1)[0]
    return expect_number(value, name, where)


def q4_bce(bce_loss: Any, bce_cost: Any) -> None:
    where = "mục 4, binary cross-entropy / section 4, binary cross-entropy"
    (loss_in, loss), (edge_in, edge) = _call_probes(bce_loss, "bce_loss", where)
    (cost_in, cost), (edge_cost_in, edge_cost) = _call_probes(bce_cost, "bce_cost", where)
    loss = expect_array(loss, "bce_loss(y_hat, y)", where, loss_in[0].shape)
    reference = _reference_bce(*loss_in)
    if not np.allclose(loss, reference, rtol=1e-4, atol=1e-6):
        wrong(
            "bce_loss",
            where,
            "L = -(y·log(ŷ) + (1−y)·log(1−ŷ)) cho từng phần tử.",
            "L = -(y·log(ŷ) + (1−y)·log(1−ŷ)) element by element.",
        )
    if not np.isclose(_one_number(cost, "bce_cost(y_hat, y)", where), _reference_bce(*cost_in).mean(), rtol=1e-4):
        wrong("bce_cost", where, "J = trung bình của L trên m mẫu.", "J is the mean of L over the m samples.")
    clip_hint = ("Với ŷ = 0 hoặc 1, log(0) = -inf: hãy clip ŷ vào [eps, 1 − eps].", "With ŷ = 0 or 1, log(0) = -inf: clip ŷ to [eps, 1 − eps].")
    edge = expect_array(edge, "bce_loss(y_hat, y) với ŷ ∈ {0, 1} / with ŷ ∈ {0, 1}", where, edge_in[0].shape)
    if not np.all(np.isfinite(edge)):
        wrong("bce_loss", where, *clip_hint)
    try:
        _one_number(edge_cost, "bce_cost(y_hat, y)", where)
    except CheckFailed:
        wrong("bce_cost", where, *clip_hint)
    y_hat, y = edge_in
    if not (np.all(edge[y_hat != y] > 10) and np.all(edge[y_hat == y] < 1e-3)):
        wrong(
            "bce_loss",
            where,
            "Dự đoán sai hoàn toàn phải có loss rất lớn, dự đoán đúng hoàn toàn loss ≈ 0.",
            "A completely wrong prediction must cost a lot, a perfect one about 0.",
        )


# ---- Models: architecture, training, predictions ----------------------------------------------------
def expect_model(model: Any, name: str, where: str) -> None:
    import keras

    if model is None:
        fail(
            f"Không tìm thấy `{name}`: hãy chạy ô tạo mô hình. Xem {where}.",
            f"`{name}` was not found: run the cell that builds it. See {where}.",
        )
    expect_type(isinstance(model, keras.Model), model, name, where, "một mô hình Keras", "a Keras model")


def _shape_of(tensors: Any) -> tuple | None:
    try:
        return tuple(tensors[0].shape)
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


def _as_float(value: Any) -> float | None:
    """A Keras variable or number (``iterations``, ``learning_rate``) as a float, or None."""
    try:
        return float(np.asarray(value.numpy() if hasattr(value, "numpy") else value))
    except (TypeError, ValueError, AttributeError, RuntimeError):
        return None


def trained_steps(model: Any) -> int:
    steps = _as_float(getattr(getattr(model, "optimizer", None), "iterations", None))
    return int(steps) if steps is not None and np.isfinite(steps) else 0


def expect_trained_model(model: Any, name: str, where: str, input_dim: int) -> None:
    """A built Keras model on ``input_dim``-vectors with 10 outputs, trained at least one step."""
    expect_model(model, name, where)
    shape = _shape_of(getattr(model, "inputs", None))
    if shape is None or len(shape) != 2 or shape[1] != input_dim:
        fail(
            f"`{name}` nhận đầu vào {shape}, cần vector {input_dim} chiều (keras.Input(shape=({input_dim},))). Xem {where}.",
            f"`{name}` takes input {shape}; it needs {input_dim}-vectors (keras.Input(shape=({input_dim},))). See {where}.",
        )
    out = _shape_of(getattr(model, "outputs", None))
    if out is None or len(out) != 2 or out[1] != 10:
        fail(
            f"`{name}` có đầu ra {out}, cần (None, 10). Xem {where}.",
            f"`{name}` has output {out}; it needs (None, 10). See {where}.",
        )
    if getattr(model, "optimizer", None) is None or trained_steps(model) == 0:
        fail(
            f"`{name}` chưa được huấn luyện: hãy compile rồi gọi {name}.fit(...). Xem {where}.",
            f"`{name}` has not been trained: compile it, then call {name}.fit(...). See {where}.",
        )


def outputs(model: Any, x: np.ndarray) -> np.ndarray:
    """The model's own forward pass on ``x`` (``model(x, training=False)``), in large batches.

    Eager calls, not ``predict``: for the checks' few, large inputs, ``predict``'s tf.data pipeline
    and its tracing of every new model cost more than the maths."""
    import keras

    parts = [
        keras.ops.convert_to_numpy(model(x[i : i + PREDICT_BATCH], training=False))
        for i in range(0, len(x), PREDICT_BATCH)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 10), "float32")


_TEST_OUTPUTS: dict[tuple[str, str], np.ndarray] = {}
# Where the project's grader keeps test-set outputs across runs (its verifier sets it: see
# ``grade/verify.py``, ``OutputsStore``); ``otter run`` and a student's kernel leave it None.
outputs_store: Any = None


def _state(model: Any) -> str:
    """A digest of the model's architecture and weights: its outputs depend on nothing else."""
    h = hashlib.sha1(model.to_json().encode())
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def test_outputs(model: Any, variant: str) -> np.ndarray:
    """:func:`outputs` on a whole test set (:func:`evaluation_data`), once per model state: the checks
    of one submission ask for the same model's predictions several times."""
    key = (_state(model), variant)
    if key not in _TEST_OUTPUTS:
        if len(_TEST_OUTPUTS) >= 16:
            _TEST_OUTPUTS.clear()
        kept = outputs_store.get(key) if outputs_store is not None else None
        if kept is None:
            kept = outputs(model, evaluation_data(variant)[0])
            if outputs_store is not None:
                outputs_store.put(key, kept)
        _TEST_OUTPUTS[key] = kept
    return _TEST_OUTPUTS[key]


def forget_outputs() -> None:
    """Forget the test-set outputs kept by :func:`test_outputs` (the grader's verifier does, between
    submissions: each submission's checks compute their own)."""
    _TEST_OUTPUTS.clear()


def predicted_labels(model: Any, x: np.ndarray) -> np.ndarray:
    return outputs(model, x).argmax(axis=-1)


def accuracy_of(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predicted_labels(model, x) == y))


LEARNED_ROWS = 1000


def expect_learned(model: Any, key: str, where: str) -> None:
    """Evidence of training beyond the optimizer's step counter (which a notebook can set): on the
    first 1000 images of the model's test data (:data:`spec.MODELS`), or of the same images scaled
    the other way (a preprocessing mistake is another check's business), far above chance. Comes
    after the architecture checks."""
    name, variant = spec.MODELS[key]
    x, y = evaluation_data(variant)
    x, y = x[:LEARNED_ROWS], y[:LEARNED_ROWS]
    least = LEARNED_MIN_ACCURACY[x.shape[1]]
    if np.mean(test_outputs(model, variant)[:LEARNED_ROWS].argmax(axis=-1) == y) >= least:
        return
    if accuracy_of(model, x / 255.0 if variant == spec.MNIST_RAW else x * 255.0, y) >= least:
        return
    fail(
        f"`{name}` chưa học được gì: độ chính xác trên tập kiểm tra chỉ ngang đoán ngẫu nhiên. Hãy huấn luyện "
        f"nó bằng {name}.fit(...) và kiểm tra dữ liệu đầu vào. Xem {where}.",
        f"`{name}` has learned nothing: its test accuracy is at chance level. Train it with {name}.fit(...) "
        f"and check its input data. See {where}.",
    )


def expect_accuracy(model: Any, key: str, where: str) -> float:
    """The model's accuracy on its test data (:data:`spec.MODELS`) reaches :data:`spec.ACCURACY_THRESHOLDS`."""
    name, variant = spec.MODELS[key]
    acc = float(np.mean(test_outputs(model, variant).argmax(axis=-1) == evaluation_data(variant)[1]))
    threshold = spec.ACCURACY_THRESHOLDS[key]
    if acc < threshold:
        fail(
            f"Độ chính xác của `{name}` trên tập test là {acc:.4f}, cần ít nhất {threshold}. "
            f"Kiểm tra dữ liệu đầu vào (chuẩn hóa?), số epoch và cấu hình. Xem {where}.",
            f"`{name}` scores {acc:.4f} on the test set; at least {threshold} is needed. "
            f"Check its input data (normalised?), epochs and settings. See {where}.",
        )
    return acc


def _activation_name(func: Any) -> str | None:
    name = getattr(func, "__name__", None)
    return name if isinstance(name, str) else None


def layer_stack(model: Any) -> list[tuple[str, int | None, str | None]]:
    """``(kind, units, activation)`` of each layer in order, without the InputLayer; an
    ``Activation``/``ReLU``/``Softmax`` layer right after a linear ``Dense`` is merged into it, so
    ``Dense(10), Activation("softmax")`` reads as ``Dense(10, activation="softmax")``."""
    stack: list[tuple[str, int | None, str | None]] = []
    for layer in model.layers:
        kind = _type_name(layer)
        if kind == "InputLayer":
            continue
        act = {"ReLU": "relu", "Softmax": "softmax"}.get(kind) or _activation_name(getattr(layer, "activation", None))
        if kind in ("Activation", "ReLU", "Softmax") and stack and stack[-1][0] == "Dense" and stack[-1][2] == "linear":
            stack[-1] = ("Dense", stack[-1][1], act)
            continue
        units = getattr(layer, "units", None)
        stack.append((kind, None if units is None else int(units), act))
    return stack


def expect_dense_stack(model: Any, name: str, where: str, want: list[tuple[int, str]]) -> None:
    """The model is exactly these Dense layers, ``[(units, activation), ...]`` (Sequential or functional)."""
    stack = layer_stack(model)
    kinds = [k for k, _, _ in stack]
    if kinds != ["Dense"] * len(want):
        fail(
            f"`{name}` có các lớp {kinds}; bài tập yêu cầu {len(want)} lớp Dense. Xem {where}.",
            f"`{name}` has layers {kinds}; the exercise asks for {len(want)} Dense layers. See {where}.",
        )
    for i, ((_, units, act), (want_units, want_act)) in enumerate(zip(stack, want), start=1):
        if units != want_units:
            fail(
                f"Lớp {i} của `{name}` có {units} units; bài tập yêu cầu {want_units}. Xem {where}.",
                f"Layer {i} of `{name}` has {units} units; the exercise asks for {want_units}. See {where}.",
            )
        if act != want_act:
            fail(
                f"Lớp {i} của `{name}` dùng activation {act}; bài tập yêu cầu {want_act}. Xem {where}.",
                f"Layer {i} of `{name}` has activation {act}; the exercise asks for {want_act}. See {where}.",
            )


def _loss_name(loss: Any) -> str:
    """``"binarycrossentropy"`` for "binary_crossentropy", BinaryCrossentropy() or the function."""
    name = loss if isinstance(loss, str) else _activation_name(loss) or _type_name(loss)
    return name.replace("_", "").lower()


def expect_training_setup(model: Any, name: str, where: str, optimizer: str, lr: float, loss: str) -> None:
    opt = model.optimizer
    if _type_name(opt) != optimizer:
        fail(
            f"`{name}` dùng optimizer {_type_name(opt)}; bài tập yêu cầu {optimizer}. Xem {where}.",
            f"`{name}` uses optimizer {_type_name(opt)}; the exercise asks for {optimizer}. See {where}.",
        )
    got_lr = _as_float(getattr(opt, "learning_rate", None))
    if got_lr is None or not np.isclose(got_lr, lr, rtol=1e-5, atol=0):
        shown = "?" if got_lr is None else f"{got_lr:g}"
        fail(
            f"`{name}` có learning_rate {shown}; bài tập yêu cầu {lr:g}. Xem {where}.",
            f"`{name}` has learning_rate {shown}; the exercise asks for {lr:g}. See {where}.",
        )
    got = getattr(model, "loss", None)
    if _loss_name(got) != loss.lower():
        shown = got if isinstance(got, str) else _activation_name(got) or _type_name(got)
        fail(
            f"`{name}` dùng loss {shown}; bài tập yêu cầu {loss}. Xem {where}.",
            f"`{name}` uses loss {shown}; the exercise asks for {loss}. See {where}.",
        )


# ---- Sections 4–6: the base model -------------------------------------------------------------------
BASE_WHERE = "mục 3–5, mô hình cơ bản / sections 3–5, the base model"


def base_model(model: Any) -> None:
    expect_trained_model(model, "model", BASE_WHERE, 784)
    expect_dense_stack(model, "model", BASE_WHERE, [(784, "relu"), (10, "softmax")])
    expect_learned(model, "base", BASE_WHERE)


def q4_train_time(train_time: Any, model: Any) -> None:
    where = "mục 4, thời gian huấn luyện / section 4, training time"
    if expect_number(train_time, "train_time", where) <= 0:
        wrong("train_time", where, "Thời gian phải dương (giây).", "The time must be positive (seconds).")
    base_model(model)
    steps = trained_steps(model)
    if steps != 10 * STEPS_PER_EPOCH_BASE:
        fail(
            f"`model` đã chạy {steps} bước tối ưu; 10 epoch với batch 128 là "
            f"{10 * STEPS_PER_EPOCH_BASE} bước. Chạy lại ô huấn luyện (nó huấn luyện lại từ đầu). Xem {where}.",
            f"`model` ran {steps} optimizer steps; 10 epochs at batch 128 are "
            f"{10 * STEPS_PER_EPOCH_BASE}. Run the training cell again (it trains from scratch). See {where}.",
        )


def q5_pred_shape(pred_shape: Any) -> None:
    where = "mục 5, model.predict / section 5, model.predict"
    a, b = (expect_int(v, "pred_shape[i]", where) for v in expect_sequence(pred_shape, "pred_shape", where, 2, "(a, b)"))
    if (a, b) != (len(mnist_vectors(False)[1]), 10):
        wrong("pred_shape", where, "a = số ảnh test, b = số lớp.", "a = test images, b = classes.")


def q5_argmax(chosen_class_prob: Any) -> None:
    where = "mục 5 / section 5"
    if expect_choice(chosen_class_prob, "chosen_class_prob", where, {"highest", "lowest"}) != "highest":
        wrong("chosen_class_prob", where)


def _top_labels(out: np.ndarray, tol: float = 1e-5) -> list[set[int]]:
    """Per row, the classes within ``tol`` of the row's largest output: the argmax, plus any class
    float32 noise in another batching of the same model could have put first."""
    return [set(np.flatnonzero(row >= row.max() - tol).tolist()) for row in out.astype("float64")]


def q5_image_50(probs_50: Any, pred_label_50: Any, true_label_50: Any, model: Any) -> None:
    where = "mục 5, ảnh 50 / section 5, image 50"
    probs = expect_array(probs_50, "probs_50", where, (10,))
    pred = expect_int(pred_label_50, "pred_label_50", where)
    true = expect_int(true_label_50, "true_label_50", where)
    base_model(model)
    y = evaluation_data(spec.MNIST_RAW)[1]
    out = test_outputs(model, spec.MNIST_RAW)[50:51]
    if not np.allclose(probs, out[0], atol=1e-4):
        wrong("probs_50", where, "Đây là model.predict(X_test)[50].", "This is model.predict(X_test)[50].")
    if pred not in _top_labels(out)[0]:
        wrong("pred_label_50", where)
    if true != y[50]:
        wrong("true_label_50", where, "Nhãn đúng nằm trong y_test.", "The true label is in y_test.")


SELECTED = (100, 1001, 4123)


def q5_selected(selected_labels: Any, model: Any) -> None:
    where = "mục 5, ảnh 100, 1001, 4123 / section 5, images 100, 1001, 4123"
    got = expect_integers(expect_array(selected_labels, "selected_labels", where, (len(SELECTED),)), "selected_labels", where)
    base_model(model)
    tops = _top_labels(test_outputs(model, spec.MNIST_RAW)[list(SELECTED)])
    if any(label not in top for label, top in zip(got.tolist(), tops)):
        wrong("selected_labels", where, "Nhãn dự đoán của mô hình, theo thứ tự.", "The model's predicted labels, in order.")


def q5_accuracy(accuracy: Any, model: Any) -> None:
    where = "mục 5, độ chính xác / section 5, accuracy"
    given = expect_number(accuracy, "accuracy", where)
    if given > 1:
        fail(
            f"`accuracy` = {given} trông như phần trăm; hãy ghi dạng tỉ lệ trong [0, 1]. Xem {where}.",
            f"`accuracy` = {given} looks like a percentage; give a fraction in [0, 1]. See {where}.",
        )
    base_model(model)
    acc = expect_accuracy(model, "base", where)
    if not abs(given - acc) <= ACCURACY_TOLERANCE:
        wrong(
            "accuracy",
            where,
            "Tính accuracy_score(y_test, y_pred_label) trên toàn bộ tập test.",
            "Compute accuracy_score(y_test, y_pred_label) over the whole test set.",
        )


def q6_save(model: Any, path: str = spec.SAVED_FILES["q6_save"][0]) -> None:
    import os

    import keras

    where = "mục 6, lưu mô hình / section 6, saving the model"
    base_model(model)
    if not os.path.isfile(path):
        fail(
            f"Không tìm thấy tệp {path}: hãy gọi model.save('{path}'). Xem {where}.",
            f"File {path} not found: call model.save('{path}'). See {where}.",
        )
    try:
        loaded = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # any reason a file does not load is the student's to see
        fail(
            f"Không mở được {path}: {type(e).__name__}: {e}. Xem {where}.",
            f"{path} cannot be loaded: {type(e).__name__}: {e}. See {where}.",
        )
    x = mnist_vectors(False)[0][:200]
    ours, theirs = outputs(model, x), outputs(loaded, x)
    if ours.shape != theirs.shape or not np.allclose(ours, theirs, atol=1e-5):
        wrong(
            path,
            where,
            "Mô hình đã lưu phải cho cùng dự đoán với `model`: lưu sau khi huấn luyện.",
            "The saved model must predict as `model` does: save it after training.",
        )


# ---- Exercises 1–6 ----------------------------------------------------------------------------------
EX_WHERE = {f"ex{i}": f"Bài tập {i} / Exercise {i}" for i in range(1, 7)}


def _ex_spec(key: str, model: Any, layers: list[tuple[int, str]]) -> None:
    name, w = spec.MODELS[key][0], EX_WHERE[key]
    expect_trained_model(model, name, w, 784)
    expect_dense_stack(model, name, w, layers)
    expect_training_setup(model, name, w, "Adam", 0.01, "BinaryCrossentropy")
    expect_learned(model, key, w)


def _ex_accuracy(key: str, model: Any) -> None:
    name, variant = spec.MODELS[key]
    expect_trained_model(model, name, EX_WHERE[key], 3072 if variant == spec.CIFAR_NORMALISED else 784)
    expect_accuracy(model, key, EX_WHERE[key])


def ex1_spec(model_1: Any) -> None:
    _ex_spec("ex1", model_1, [(784, "sigmoid"), (10, "sigmoid")])


def ex1_accuracy(model_1: Any) -> None:
    _ex_accuracy("ex1", model_1)


def ex2_spec(model_2: Any) -> None:
    _ex_spec("ex2", model_2, [(784, "relu"), (10, "sigmoid")])


def ex2_accuracy(model_2: Any) -> None:
    _ex_accuracy("ex2", model_2)


def _expect_scaled(value: Any, name: str, where: str, raw: np.ndarray, hint: tuple[str, str]) -> None:
    """``value`` is ``raw`` flattened to vectors and divided by 255, as floats (a sample of rows)."""
    flat = raw.reshape(len(raw), -1)
    arr = expect_array(value, name, where, flat.shape)
    if arr.dtype.kind != "f":
        fail(
            f"`{name}` phải là số thực (float) sau khi chia cho 255, hiện là {arr.dtype}. Xem {where}.",
            f"`{name}` must be float after dividing by 255, got {arr.dtype}. See {where}.",
        )
    rows = slice(None, None, 97)  # a spread-out sample of rows keeps the check cheap
    if not np.allclose(arr[rows], flat[rows] / 255.0, atol=1e-6):
        wrong(name, where, *hint)


def ex3_data(X_train_new: Any, X_test_new: Any) -> None:
    w = EX_WHERE["ex3"]
    (x_train, _), (x_test, _) = truth_mnist()
    hint = ("Chuẩn hóa: chia giá trị điểm ảnh cho 255.", "Normalise: divide the pixel values by 255.")
    _expect_scaled(X_train_new, "X_train_new", w, x_train, hint)
    _expect_scaled(X_test_new, "X_test_new", w, x_test, hint)


def ex3_spec(model_2_new: Any) -> None:
    _ex_spec("ex3", model_2_new, [(784, "relu"), (10, "sigmoid")])


def ex3_accuracy(model_2_new: Any) -> None:
    _ex_accuracy("ex3", model_2_new)


def confusion(model: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rows = true labels, columns = the model's predictions (computed here)."""
    return _confusion(y, predicted_labels(model, x))


def _confusion(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return (_one_hot(y).T @ _one_hot(predicted)).astype("int64")


def ex4_confusion(cm_ex4: Any, model_2_new: Any) -> None:
    w = EX_WHERE["ex4"]
    cm = expect_integers(expect_array(cm_ex4, "cm_ex4", w, (10, 10)), "cm_ex4", w)
    expect_trained_model(model_2_new, "model_2_new", w, 784)
    _, y = mnist_vectors(True)
    if cm.sum() != len(y):
        wrong("cm_ex4", w, f"Tổng các ô phải bằng số ảnh test ({len(y)}).", f"The cells must add up to the test images ({len(y)}).")
    # model_2_new's matrix on normalised test images, or on raw ones (a mistake in exercise 3's
    # preprocessing is not charged twice). Two predictions may flip between batchings of the same
    # float32 maths: allow that, no more.
    for variant in (spec.MNIST_NORMALISED, spec.MNIST_RAW):
        if np.abs(cm - _confusion(y, test_outputs(model_2_new, variant).argmax(axis=-1))).sum() <= 4:
            return
    wrong(
        "cm_ex4",
        w,
        "Hàng = nhãn đúng (y_test), cột = nhãn dự đoán của model_2_new trên X_test_new.",
        "Rows = true labels (y_test), columns = model_2_new's predictions on X_test_new.",
    )


def ex5_data(
    X_train_CIFAR10: Any,
    y_train_CIFAR10: Any,
    X_test_CIFAR10: Any,
    y_test_CIFAR10: Any,
    cifar_train_shape: Any,
    cifar_test_shape: Any,
) -> None:
    w = EX_WHERE["ex5"]
    (x_train, y_train), (x_test, y_test) = truth_cifar10()
    for name, shape, ref in (("cifar_train_shape", cifar_train_shape, x_train), ("cifar_test_shape", cifar_test_shape, x_test)):
        items = expect_sequence(shape, name, w, 4, "(N, 32, 32, 3)")
        if tuple(expect_int(s, f"{name}[i]", w) for s in items) != ref.shape:
            wrong(name, w, "Kích thước ảnh gốc (trước khi reshape).", "The raw images' shape (before reshaping).")
    hint = ("Reshape thành vector 3072 chiều rồi chia cho 255.", "Reshape to 3072-vectors, then divide by 255.")
    _expect_scaled(X_train_CIFAR10, "X_train_CIFAR10", w, x_train, hint)
    _expect_scaled(X_test_CIFAR10, "X_test_CIFAR10", w, x_test, hint)
    if not np.array_equal(expect_array(y_train_CIFAR10, "y_train_CIFAR10", w, (len(y_train), 10)), _one_hot(y_train)):
        wrong("y_train_CIFAR10", w, "One-hot với to_categorical.", "One-hot with to_categorical.")
    if not np.array_equal(expect_array(y_test_CIFAR10, "y_test_CIFAR10", w, (len(y_test),)), y_test.reshape(-1)):
        wrong("y_test_CIFAR10", w, "Giữ nhãn số nguyên, dạng (10000,).", "Keep integer labels, shape (10000,).")


def ex5_spec(model_cifar: Any) -> None:
    w = EX_WHERE["ex5"]
    expect_trained_model(model_cifar, "model_cifar", w, 3072)
    kinds = [k for k, _, _ in layer_stack(model_cifar)]
    ok = kinds.count("Dense") == 2 and kinds[-1] == "Dense"
    _expect_layers(ok, "model_cifar", kinds, w, "cần đúng hai lớp Dense, lớp cuối là Dense", "it needs exactly two Dense layers, the last one Dense")
    expect_learned(model_cifar, "ex5", w)


def _expect_layers(ok: bool, name: str, kinds: list[str], where: str, vi: str, en: str) -> None:
    if not ok:
        fail(f"`{name}` có các lớp {kinds}; {vi}. Xem {where}.", f"`{name}` has layers {kinds}; {en}. See {where}.")


def ex5_accuracy(model_cifar: Any) -> None:
    _ex_accuracy("ex5", model_cifar)


def ex6_spec(model_3: Any) -> None:
    import keras

    w = EX_WHERE["ex6"]
    expect_trained_model(model_3, "model_3", w, 784)
    expect_type(isinstance(model_3, keras.Sequential), model_3, "model_3", w, "một keras.Sequential", "a keras.Sequential")
    kinds = [k for k, _, _ in layer_stack(model_3)]
    ok = all(k in {"Dense", "Dropout"} for k in kinds) and kinds[-1:] == ["Dense"]
    _expect_layers(ok, "model_3", kinds, w, "chỉ dùng Dense và Dropout, lớp cuối là Dense", "use only Dense and Dropout, the last one Dense")
    if kinds.count("Dense") < 3:
        fail(
            f"`model_3` cần ít nhất hai lớp Dense ẩn (cộng lớp đầu ra). Xem {w}.",
            f"`model_3` needs at least two hidden Dense layers (plus the output layer). See {w}.",
        )
    expect_learned(model_3, "ex6", w)


def ex6_accuracy(model_3: Any) -> None:
    _ex_accuracy("ex6", model_3)
