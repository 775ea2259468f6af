"""Every autograded check of the lab, shared by the hidden tests and the project's grader.

Each public function checks one question's answer and returns ``None`` when it is right; when it
is wrong it raises :class:`CheckFailed` (an ``AssertionError``) whose message says what is wrong
and where to look, in Vietnamese then English. The order inside a check is always type, then
shape, then value.

The truth is never read from the submission: counts, labels, predictions and accuracies are
recomputed here from this module's own copy of the data (:func:`truth_mnist`,
:func:`truth_cifar10`) and the student's model object. Expected values stay out of the messages
of value checks, so a failure does not hand out the answer.
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata
from functools import cache
from typing import Any

import numpy as np

from . import data

# ---------------------------------------------------------------------------------------------
# Thresholds: see docs/thresholds.md for the measured spread and how to reproduce it.
# ---------------------------------------------------------------------------------------------
ACCURACY_THRESHOLDS: dict[str, float] = {
    "base": 0.94,  # section 5: Dense(784, relu) + Dense(10, softmax), raw pixels (provided code)
    "ex1": 0.82,  # sigmoid + sigmoid, raw pixels
    "ex2": 0.75,  # relu + sigmoid, raw pixels: the widest spread across seeds
    "ex3": 0.96,  # exercise 2 on normalised pixels; unnormalised scores at most 0.92
    "ex5": 0.35,  # CIFAR-10, two Dense layers, normalised; the handout's model is at chance (0.10)
    "ex6": 0.95,  # the student's own MNIST network, normalised
}
ACCURACY_TOLERANCE = 2e-4  # a reported accuracy may differ from ours by float noise only
STEPS_PER_EPOCH_BASE = math.ceil(60000 / 128)  # batch 128 on the full training set


class CheckFailed(AssertionError):
    """A wrong answer. The message is bilingual: Vietnamese, then English."""


def fail(vi: str, en: str) -> None:
    raise CheckFailed(f"{vi}\n{en}")


# ---------------------------------------------------------------------------------------------
# The check's own data (a private copy, never the notebook's arrays)
# ---------------------------------------------------------------------------------------------
@cache
def truth_mnist() -> data.Split:
    return data.load.__wrapped__("mnist")


@cache
def truth_cifar10() -> data.Split:
    return data.load.__wrapped__("cifar10")


def mnist_vectors(normalised: bool) -> tuple[np.ndarray, np.ndarray]:
    """Our test images as float32 784-vectors (optionally /255) and their integer labels."""
    _, (x_test, y_test) = truth_mnist()
    x = x_test.reshape(len(x_test), -1).astype("float32")
    return (x / 255.0 if normalised else x), y_test.astype("int64")


def cifar_vectors() -> tuple[np.ndarray, np.ndarray]:
    _, (x_test, y_test) = truth_cifar10()
    return x_test.reshape(len(x_test), -1).astype("float32") / 255.0, y_test.reshape(-1).astype("int64")


# ---------------------------------------------------------------------------------------------
# Small typed helpers
# ---------------------------------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (numbers.Real, np.floating, np.integer)) and not isinstance(v, bool)


def expect_int(value: Any, name: str, where: str) -> int:
    if not _is_int(value):
        fail(
            f"`{name}` phải là một số nguyên (int), hiện là {type(value).__name__}. Xem {where}.",
            f"`{name}` must be an integer (int), got {type(value).__name__}. See {where}.",
        )
    return int(value)


def expect_number(value: Any, name: str, where: str) -> float:
    if not _is_number(value):
        fail(
            f"`{name}` phải là một số, hiện là {type(value).__name__}. Xem {where}.",
            f"`{name}` must be a number, got {type(value).__name__}. See {where}.",
        )
    out = float(value)
    if not math.isfinite(out):
        fail(f"`{name}` không hữu hạn ({out}). Xem {where}.", f"`{name}` is not finite ({out}). See {where}.")
    return out


def expect_str(value: Any, name: str, where: str) -> str:
    if not isinstance(value, str):
        fail(
            f"`{name}` phải là một chuỗi (str), hiện là {type(value).__name__}. Xem {where}.",
            f"`{name}` must be a string (str), got {type(value).__name__}. See {where}.",
        )
    return str(value)


def expect_array(value: Any, name: str, where: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """A real numeric array of the given shape (``None`` = any length on that axis)."""
    if not isinstance(value, (np.ndarray, list, tuple)) and not hasattr(value, "numpy"):
        fail(
            f"`{name}` phải là một mảng NumPy, hiện là {type(value).__name__}. Xem {where}.",
            f"`{name}` must be a NumPy array, got {type(value).__name__}. See {where}.",
        )
    arr = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        fail(
            f"`{name}` phải chứa số, hiện có dtype {arr.dtype}. Xem {where}.",
            f"`{name}` must hold numbers, its dtype is {arr.dtype}. See {where}.",
        )
    ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape))
    if not ok:
        want = tuple("N" if s is None else s for s in shape)
        fail(
            f"`{name}` có kích thước {arr.shape}, cần {want}. Xem {where}.",
            f"`{name}` has shape {arr.shape}, expected {want}. See {where}.",
        )
    return arr


def normalise_text(s: str) -> str:
    """Lower-case, accents removed, punctuation folded to spaces: for free-text keys."""
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c)).replace("đ", "d").replace("Đ", "d")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", s.lower()).split())


def expect_choice(value: Any, name: str, where: str, options: set[str]) -> str:
    text = normalise_text(expect_str(value, name, where))
    if text not in options:
        fail(
            f"`{name}` = {value!r} không phải là một lựa chọn hợp lệ. Xem {where}.",
            f"`{name}` = {value!r} is not one of the allowed choices. See {where}.",
        )
    return text


def wrong(name: str, where: str, hint_vi: str = "", hint_en: str = "") -> None:
    fail(
        f"`{name}` chưa đúng. {hint_vi} Xem {where}.".replace("  ", " "),
        f"`{name}` is not right. {hint_en} See {where}.".replace("  ", " "),
    )


# ---------------------------------------------------------------------------------------------
# Section 0–2: the data
# ---------------------------------------------------------------------------------------------
def q0_layers(layer_kinds: Any) -> None:
    where = "câu hỏi 0 / question 0"
    if not isinstance(layer_kinds, (list, tuple, set)):
        fail(
            f"`layer_kinds` phải là một list các chuỗi. Xem {where}.",
            f"`layer_kinds` must be a list of strings. See {where}.",
        )
    kinds = set()
    for k in layer_kinds:
        words = normalise_text(expect_str(k, "layer_kinds[i]", where)).replace("layer", "").split()
        kinds.add(" ".join(words))
    if kinds != {"input", "hidden", "output"}:
        wrong("layer_kinds", where, "Có ba loại layer.", "There are three kinds of layer.")


def q1_mnist_name(mnist_stands_for: Any) -> None:
    where = "câu hỏi 1 / question 1"
    text = normalise_text(expect_str(mnist_stands_for, "mnist_stands_for", where))
    key = "modified national institute of standards and technology"
    if text != key:
        wrong("mnist_stands_for", where, "Viết đầy đủ bằng tiếng Anh.", "Write the full English name.")


def q2_shapes(n_train: Any, n_test: Any, train_test_ratio: Any, image_size: Any, n_pixels: Any) -> None:
    where = "mục 2, khảo sát dữ liệu / section 2, exploring the data"
    (x_train, _), (x_test, _) = truth_mnist()
    if expect_int(n_train, "n_train", where) != len(x_train):
        wrong("n_train", where, "Đếm số ảnh của X_train.", "Count the images in X_train.")
    if expect_int(n_test, "n_test", where) != len(x_test):
        wrong("n_test", where, "Đếm số ảnh của X_test.", "Count the images in X_test.")
    ratio = expect_number(train_test_ratio, "train_test_ratio", where)
    if not math.isclose(ratio, len(x_train) / len(x_test), rel_tol=1e-6):
        wrong("train_test_ratio", where, "Tỉ lệ là n_train / n_test.", "The ratio is n_train / n_test.")
    if not isinstance(image_size, (tuple, list)) or len(image_size) != 2:
        fail(
            f"`image_size` phải là một tuple (cao, rộng). Xem {where}.",
            f"`image_size` must be a tuple (height, width). See {where}.",
        )
    size = tuple(expect_int(s, "image_size[i]", where) for s in image_size)
    if size != tuple(x_train.shape[1:]):
        wrong("image_size", where)
    if expect_int(n_pixels, "n_pixels", where) != int(np.prod(x_train.shape[1:])):
        wrong("n_pixels", where, "Số điểm ảnh = cao × rộng.", "Pixels = height × width.")


def q2_labels(n_labels: Any, label_set: Any) -> None:
    where = "mục 2, các nhãn / section 2, the labels"
    (_, y_train), _ = truth_mnist()
    truth = {int(v) for v in np.unique(y_train)}
    if not isinstance(label_set, (set, frozenset)):
        fail(
            f"`label_set` phải là một set (dùng set(...)), hiện là {type(label_set).__name__}. Xem {where}.",
            f"`label_set` must be a set (use set(...)), got {type(label_set).__name__}. See {where}.",
        )
    labels = {expect_int(v, "phần tử của label_set / an element of label_set", where) for v in label_set}
    if expect_int(n_labels, "n_labels", where) != len(truth):
        wrong("n_labels", where)
    if labels != truth:
        wrong("label_set", where, "Dùng set(y_train).", "Use set(y_train).")


def q2_label_counts(label_counts: Any) -> None:
    where = "mục 2, phân bố nhãn / section 2, label distribution"
    (_, y_train), _ = truth_mnist()
    if isinstance(label_counts, dict):
        if set(map(int, label_counts)) != set(range(10)):
            wrong("label_counts", where, "Cần đủ 10 nhãn 0–9.", "All 10 labels 0–9 are needed.")
        label_counts = [label_counts[k] for k in sorted(label_counts, key=int)]
    counts = expect_array(label_counts, "label_counts", where, (10,))
    if not np.issubdtype(counts.dtype, np.integer):
        fail(
            f"`label_counts` phải chứa số nguyên. Xem {where}.",
            f"`label_counts` must hold integers. See {where}.",
        )
    truth = np.bincount(y_train.astype("int64"), minlength=10)
    if not np.array_equal(counts.astype("int64"), truth):
        wrong(
            "label_counts",
            where,
            "label_counts[d] là số ảnh train có nhãn d.",
            "label_counts[d] is the number of training images labelled d.",
        )


def q2_reshape(X_train: Any, X_test: Any, vector_dim: Any, minus_one_means: Any) -> None:
    where = "mục 2, reshape / section 2, reshape"
    (x_train, _), (x_test, _) = truth_mnist()
    d = int(np.prod(x_train.shape[1:]))
    xtr = expect_array(X_train, "X_train", where, (len(x_train), d))
    xte = expect_array(X_test, "X_test", where, (len(x_test), d))
    if not np.array_equal(xtr, x_train.reshape(len(x_train), d)) or not np.array_equal(
        xte, x_test.reshape(len(x_test), d)
    ):
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
    if text not in {"multi", "multiclass", "da", "dalop"}:
        wrong("blank_3", where)


def q2_one_hot(y_train: Any, y_train_5: Any) -> None:
    where = "mục 2, one-hot / section 2, one-hot"
    (_, labels), _ = truth_mnist()
    y = expect_array(y_train, "y_train", where, (len(labels), 10))
    truth = np.eye(10, dtype="float32")[labels.astype("int64")]
    if not np.array_equal(y.astype("float32"), truth):
        wrong(
            "y_train",
            where,
            "Dùng keras.utils.to_categorical(y_train, 10).",
            "Use keras.utils.to_categorical(y_train, 10).",
        )
    v = expect_array(y_train_5, "y_train_5", where, (10,))
    if not np.array_equal(v.astype("float32"), truth[5]):
        wrong("y_train_5", where, "Đây là y_train[5] sau one-hot.", "This is y_train[5] after one-hot.")


# ---------------------------------------------------------------------------------------------
# Section 3–4: the network and its loss
# ---------------------------------------------------------------------------------------------
PROBES = np.array([-30.0, -5.0, -1.0, -0.5, 0.0, 0.25, 1.0, 3.0, 30.0])


def _probe(func: Any, name: str, where: str, x: np.ndarray) -> np.ndarray:
    if not callable(func):
        fail(
            f"`{name}` phải là một hàm. Xem {where}.",
            f"`{name}` must be a function. See {where}.",
        )
    try:
        out = func(x.copy())
    except Exception as e:  # the student's function raised: report it, do not crash the grader
        fail(
            f"`{name}` báo lỗi khi gọi với một mảng NumPy: {type(e).__name__}: {e}. Xem {where}.",
            f"`{name}` raised when called on a NumPy array: {type(e).__name__}: {e}. See {where}.",
        )
    return expect_array(out, f"{name}(x)", where, x.shape).astype("float64")


def q3_activations(sigmoid: Any, tanh: Any, relu: Any) -> None:
    where = "mục 3, hàm kích hoạt / section 3, activation functions"
    x = PROBES
    with np.errstate(over="ignore"):
        reference = {
            "sigmoid": 1.0 / (1.0 + np.exp(-x)),
            "tanh": (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
            "relu": np.where(x > 0, x, 0.0),
        }
    for name, func in (("sigmoid", sigmoid), ("tanh", tanh), ("relu", relu)):
        got = _probe(func, name, where, x)
        if not np.allclose(got, reference[name], rtol=1e-6, atol=1e-6):
            wrong(
                name,
                where,
                "So sánh với công thức, thử với số âm, 0 và số dương.",
                "Compare with the formula; try negative numbers, 0 and positive numbers.",
            )


def q3_output_shape(dense_output_shape: Any) -> None:
    where = "mục 3, lớp Dense đầu tiên / section 3, the first Dense layer"
    if not isinstance(dense_output_shape, (tuple, list)):
        fail(
            f"`dense_output_shape` phải là một tuple, ví dụ (None, 5). Xem {where}.",
            f"`dense_output_shape` must be a tuple, e.g. (None, 5). See {where}.",
        )
    if tuple(dense_output_shape) != (None, 784):
        wrong(
            "dense_output_shape",
            where,
            "Chiều đầu tiên (batch) là None.",
            "The first (batch) dimension is None.",
        )


def q3_units(output_units_reason: Any) -> None:
    where = "mục 3, lớp đầu ra / section 3, the output layer"
    if expect_choice(output_units_reason, "output_units_reason", where, {"a", "b", "c"}) != "b":
        wrong("output_units_reason", where)


def q3_prob_sum(prob_sum: Any) -> None:
    where = "mục 3, softmax / section 3, softmax"
    if not math.isclose(expect_number(prob_sum, "prob_sum", where), 1.0, abs_tol=1e-9):
        wrong("prob_sum", where)


def q3_layer_roles(layer_roles: Any) -> None:
    where = "mục 3, vai trò của các lớp / section 3, the layers' roles"
    if not isinstance(layer_roles, (list, tuple)) or len(layer_roles) != 2:
        fail(
            f"`layer_roles` phải là một list hai chuỗi. Xem {where}.",
            f"`layer_roles` must be a list of two strings. See {where}.",
        )
    roles = [normalise_text(expect_str(r, "layer_roles[i]", where)).replace("layer", "").strip() for r in layer_roles]
    if roles != ["hidden", "output"]:
        wrong("layer_roles", where, "Theo đúng thứ tự của các lớp.", "In the order of the layers.")


def dense_params(n_in: int, units: int) -> int:
    """Weights plus biases of a Dense layer."""
    return n_in * units + units


def q3_params(params_layer_1: Any, params_layer_2: Any, params_total: Any, model: Any) -> None:
    where = "mục 3, model.summary() / section 3, model.summary()"
    p1 = dense_params(784, 784)
    p2 = dense_params(784, 10)
    if expect_int(params_layer_1, "params_layer_1", where) != p1:
        wrong("params_layer_1", where, "Trọng số + bias.", "Weights + biases.")
    if expect_int(params_layer_2, "params_layer_2", where) != p2:
        wrong("params_layer_2", where, "Trọng số + bias.", "Weights + biases.")
    if expect_int(params_total, "params_total", where) != p1 + p2:
        wrong("params_total", where)
    _expect_model(model, "model", where)
    if int(model.count_params()) != p1 + p2:
        wrong(
            "model",
            where,
            "Mô hình phải là Dense(784, relu) + Dense(10, softmax) trên đầu vào 784.",
            "The model must be Dense(784, relu) + Dense(10, softmax) on 784 inputs.",
        )


def _reference_bce(y_hat: np.ndarray, y: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    p = np.clip(y_hat, eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def q4_bce(bce_loss: Any, bce_cost: Any) -> None:
    where = "mục 4, binary cross-entropy / section 4, binary cross-entropy"
    y_hat = np.array([0.9, 0.2, 0.5, 0.99, 0.01, 0.7])
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    for name, f in (("bce_loss", bce_loss), ("bce_cost", bce_cost)):
        if not callable(f):
            fail(f"`{name}` phải là một hàm. Xem {where}.", f"`{name}` must be a function. See {where}.")
    try:
        loss = bce_loss(y_hat.copy(), y.copy())
        cost = bce_cost(y_hat.copy(), y.copy())
        edge_loss = bce_loss(np.array([0.0, 1.0, 1.0, 0.0]), np.array([1.0, 0.0, 1.0, 0.0]))
        edge_cost = bce_cost(np.array([0.0, 1.0]), np.array([1.0, 0.0]))
    except Exception as e:
        fail(
            f"Hàm báo lỗi: {type(e).__name__}: {e}. Xem {where}.",
            f"The function raised: {type(e).__name__}: {e}. See {where}.",
        )
    loss = expect_array(loss, "bce_loss(y_hat, y)", where, y.shape).astype("float64")
    if not np.allclose(loss, _reference_bce(y_hat, y), rtol=1e-4, atol=1e-6):
        wrong(
            "bce_loss",
            where,
            "L = -(y·log(ŷ) + (1−y)·log(1−ŷ)) cho từng phần tử.",
            "L = -(y·log(ŷ) + (1−y)·log(1−ŷ)) element by element.",
        )
    cost = expect_number(np.asarray(cost).reshape(-1)[0] if np.ndim(cost) else cost, "bce_cost(y_hat, y)", where)
    if not math.isclose(cost, float(_reference_bce(y_hat, y).mean()), rel_tol=1e-4):
        wrong("bce_cost", where, "J = trung bình của L trên m mẫu.", "J is the mean of L over the m samples.")
    edge = expect_array(edge_loss, "bce_loss([0, 1, 1, 0], [1, 0, 1, 0])", where, (4,)).astype("float64")
    edge_c = float(np.asarray(edge_cost, dtype="float64").reshape(-1)[0])
    if not (np.all(np.isfinite(edge)) and math.isfinite(edge_c)):
        wrong(
            "bce_loss / bce_cost",
            where,
            "Với ŷ = 0 hoặc 1, log(0) = -inf: hãy clip ŷ vào [eps, 1 − eps].",
            "With ŷ = 0 or 1, log(0) = -inf: clip ŷ to [eps, 1 − eps].",
        )
    if not (edge[0] > 10 and edge[1] > 10 and edge[2] < 1e-3 and edge[3] < 1e-3):
        wrong(
            "bce_loss",
            where,
            "Dự đoán sai hoàn toàn phải có loss rất lớn, dự đoán đúng hoàn toàn loss ≈ 0.",
            "A completely wrong prediction must cost a lot, a perfect one about 0.",
        )


# ---------------------------------------------------------------------------------------------
# Models: spec and accuracy
# ---------------------------------------------------------------------------------------------
def _expect_model(model: Any, name: str, where: str) -> None:
    import keras

    if model is None:
        fail(
            f"Không tìm thấy `{name}`: hãy chạy ô tạo mô hình. Xem {where}.",
            f"`{name}` was not found: run the cell that builds it. See {where}.",
        )
    if not isinstance(model, keras.Model):
        fail(
            f"`{name}` phải là một mô hình Keras, hiện là {type(model).__name__}. Xem {where}.",
            f"`{name}` must be a Keras model, got {type(model).__name__}. See {where}.",
        )


def _input_dim(model: Any) -> int | None:
    try:
        shape = model.inputs[0].shape
    except (AttributeError, IndexError, ValueError, TypeError):
        return None
    return None if len(shape) != 2 else shape[-1]


def expect_trained_model(model: Any, name: str, where: str, input_dim: int) -> None:
    """A built Keras model on ``input_dim`` inputs with 10 outputs, trained at least one step."""
    _expect_model(model, name, where)
    got = _input_dim(model)
    if got != input_dim:
        fail(
            f"`{name}` nhận đầu vào {got}, cần vector {input_dim} chiều (keras.Input(shape=({input_dim},))). Xem {where}.",
            f"`{name}` takes input {got}; it needs {input_dim}-vectors (keras.Input(shape=({input_dim},))). See {where}.",
        )
    out = model.outputs[0].shape
    if len(out) != 2 or out[-1] != 10:
        fail(
            f"`{name}` có đầu ra {tuple(out)}, cần (None, 10). Xem {where}.",
            f"`{name}` has output {tuple(out)}; it needs (None, 10). See {where}.",
        )
    if getattr(model, "optimizer", None) is None or int(model.optimizer.iterations) == 0:
        fail(
            f"`{name}` chưa được huấn luyện: hãy compile rồi gọi {name}.fit(...). Xem {where}.",
            f"`{name}` has not been trained: compile it, then call {name}.fit(...). See {where}.",
        )


def layer_summary(model: Any) -> list[tuple[str, int | None, str | None]]:
    """(class name, units, activation name) of every layer, in order."""
    out = []
    for layer in model.layers:
        act = getattr(layer, "activation", None)
        out.append((type(layer).__name__, getattr(layer, "units", None), getattr(act, "__name__", None)))
    return out


def expect_dense_stack(model: Any, name: str, where: str, spec: list[tuple[int, str]]) -> None:
    """The model is exactly these Dense layers: ``[(units, activation), ...]``."""
    layers = layer_summary(model)
    kinds = [k for k, _, _ in layers]
    if kinds != ["Dense"] * len(spec):
        fail(
            f"`{name}` có các lớp {kinds}; bài tập yêu cầu {len(spec)} lớp Dense. Xem {where}.",
            f"`{name}` has layers {kinds}; the exercise asks for {len(spec)} Dense layers. See {where}.",
        )
    for i, ((_, units, act), (want_units, want_act)) in enumerate(zip(layers, spec), start=1):
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


def expect_training_setup(model: Any, name: str, where: str, optimizer: str, lr: float, loss: str) -> None:
    opt = model.optimizer
    if type(opt).__name__ != optimizer:
        fail(
            f"`{name}` dùng optimizer {type(opt).__name__}; bài tập yêu cầu {optimizer}. Xem {where}.",
            f"`{name}` uses optimizer {type(opt).__name__}; the exercise asks for {optimizer}. See {where}.",
        )
    got_lr = float(np.asarray(opt.learning_rate))
    if not math.isclose(got_lr, lr, rel_tol=1e-5):
        fail(
            f"`{name}` có learning_rate {got_lr:g}; bài tập yêu cầu {lr:g}. Xem {where}.",
            f"`{name}` has learning_rate {got_lr:g}; the exercise asks for {lr:g}. See {where}.",
        )
    got_loss = model.loss
    loss_name = type(got_loss).__name__ if not isinstance(got_loss, str) else got_loss
    aliases = {
        "BinaryCrossentropy": {"BinaryCrossentropy", "binary_crossentropy"},
        "CategoricalCrossentropy": {"CategoricalCrossentropy", "categorical_crossentropy"},
    }[loss]
    if loss_name not in aliases and getattr(got_loss, "__name__", None) not in aliases:
        fail(
            f"`{name}` dùng loss {loss_name}; bài tập yêu cầu {loss}. Xem {where}.",
            f"`{name}` uses loss {loss_name}; the exercise asks for {loss}. See {where}.",
        )


def predicted_labels(model: Any, x: np.ndarray, batch: int = 2000) -> np.ndarray:
    """The model's class (argmax) for every row of ``x``, computed here, batch by batch."""
    import keras

    out = []
    for i in range(0, len(x), batch):
        probs = keras.ops.convert_to_numpy(model(x[i : i + batch], training=False))
        out.append(np.argmax(probs, axis=-1))
    return np.concatenate(out).astype("int64")


def accuracy_of(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    pred = predicted_labels(model, x)
    return int(np.count_nonzero(pred == y)) / len(y)


def expect_accuracy(model: Any, name: str, where: str, key: str, x: np.ndarray, y: np.ndarray) -> float:
    acc = accuracy_of(model, x, y)
    threshold = ACCURACY_THRESHOLDS[key]
    if acc < threshold:
        fail(
            f"Độ chính xác của `{name}` trên tập test là {acc:.4f}, cần ít nhất {threshold}. "
            f"Kiểm tra dữ liệu đầu vào (chuẩn hóa?), số epoch và cấu hình. Xem {where}.",
            f"`{name}` scores {acc:.4f} on the test set; at least {threshold} is needed. "
            f"Check its input data (normalised?), epochs and settings. See {where}.",
        )
    return acc


# ---- section 4–6: the base model ------------------------------------------------------------
BASE_WHERE = "mục 3–5, mô hình cơ bản / sections 3–5, the base model"


def base_model(model: Any) -> None:
    expect_trained_model(model, "model", BASE_WHERE, 784)
    expect_dense_stack(model, "model", BASE_WHERE, [(784, "relu"), (10, "softmax")])


def q4_train_time(train_time: Any, model: Any) -> None:
    where = "mục 4, thời gian huấn luyện / section 4, training time"
    t = expect_number(train_time, "train_time", where)
    if t <= 0:
        wrong("train_time", where, "Thời gian phải dương (giây).", "The time must be positive (seconds).")
    base_model(model)
    steps = int(model.optimizer.iterations)
    if steps != 10 * STEPS_PER_EPOCH_BASE:
        fail(
            f"`model` đã chạy {steps} bước tối ưu; 10 epoch với batch 128 là "
            f"{10 * STEPS_PER_EPOCH_BASE} bước. Chỉ gọi model.fit một lần. Xem {where}.",
            f"`model` ran {steps} optimizer steps; 10 epochs at batch 128 are "
            f"{10 * STEPS_PER_EPOCH_BASE}. Call model.fit exactly once. See {where}.",
        )


def q5_pred_shape(pred_shape: Any) -> None:
    where = "mục 5, model.predict / section 5, model.predict"
    _, y = mnist_vectors(False)
    if not isinstance(pred_shape, (tuple, list)) or len(pred_shape) != 2:
        fail(
            f"`pred_shape` phải là một tuple (a, b). Xem {where}.",
            f"`pred_shape` must be a tuple (a, b). See {where}.",
        )
    a = expect_int(pred_shape[0], "pred_shape[0]", where)
    b = expect_int(pred_shape[1], "pred_shape[1]", where)
    if (a, b) != (len(y), 10):
        wrong("pred_shape", where, "a = số ảnh test, b = số lớp.", "a = test images, b = classes.")


def q5_argmax(chosen_class_prob: Any) -> None:
    where = "mục 5 / section 5"
    if expect_choice(chosen_class_prob, "chosen_class_prob", where, {"highest", "lowest"}) != "highest":
        wrong("chosen_class_prob", where)


def q5_image_50(probs_50: Any, pred_label_50: Any, true_label_50: Any, model: Any) -> None:
    where = "mục 5, ảnh 50 / section 5, image 50"
    base_model(model)
    x, y = mnist_vectors(False)
    p = expect_array(probs_50, "probs_50", where, (10,)).astype("float64")
    import keras

    truth = keras.ops.convert_to_numpy(model(x[50:51], training=False))[0].astype("float64")
    if not np.allclose(p, truth, atol=1e-4):
        wrong("probs_50", where, "Đây là model.predict(X_test)[50].", "This is model.predict(X_test)[50].")
    if expect_int(pred_label_50, "pred_label_50", where) != int(np.argmax(truth)):
        wrong("pred_label_50", where)
    if expect_int(true_label_50, "true_label_50", where) != int(y[50]):
        wrong("true_label_50", where, "Nhãn đúng nằm trong y_test.", "The true label is in y_test.")


SELECTED = (100, 1001, 4123)


def q5_selected(selected_labels: Any, model: Any) -> None:
    where = "mục 5, ảnh 100, 1001, 4123 / section 5, images 100, 1001, 4123"
    base_model(model)
    got = expect_array(selected_labels, "selected_labels", where, (len(SELECTED),))
    if not np.issubdtype(got.dtype, np.integer):
        fail(
            f"`selected_labels` phải chứa số nguyên. Xem {where}.",
            f"`selected_labels` must hold integers. See {where}.",
        )
    x, _ = mnist_vectors(False)
    truth = predicted_labels(model, x[list(SELECTED)])
    if not np.array_equal(got.astype("int64"), truth):
        wrong(
            "selected_labels",
            where,
            "Nhãn dự đoán của mô hình, theo thứ tự.",
            "The model's predicted labels, in order.",
        )


def q5_accuracy(accuracy: Any, model: Any) -> None:
    where = "mục 5, độ chính xác / section 5, accuracy"
    acc_given = expect_number(accuracy, "accuracy", where)
    if acc_given > 1:
        fail(
            f"`accuracy` = {acc_given} trông như phần trăm; hãy ghi dạng tỉ lệ trong [0, 1]. Xem {where}.",
            f"`accuracy` = {acc_given} looks like a percentage; give a fraction in [0, 1]. See {where}.",
        )
    base_model(model)
    x, y = mnist_vectors(False)
    acc = expect_accuracy(model, "model", where, "base", x, y)
    if abs(acc_given - acc) > ACCURACY_TOLERANCE:
        wrong(
            "accuracy",
            where,
            "Tính accuracy_score(y_test, y_pred_label) trên toàn bộ tập test.",
            "Compute accuracy_score(y_test, y_pred_label) over the whole test set.",
        )


def q6_save(model: Any, path: str = "lab1_model.keras") -> None:
    where = "mục 6, lưu mô hình / section 6, saving the model"
    import os

    import keras

    base_model(model)
    if not os.path.isfile(path):
        fail(
            f"Không tìm thấy tệp {path}: hãy gọi model.save('{path}'). Xem {where}.",
            f"File {path} not found: call model.save('{path}'). See {where}.",
        )
    try:
        loaded = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:
        fail(
            f"Không mở được {path}: {type(e).__name__}: {e}. Xem {where}.",
            f"{path} cannot be loaded: {type(e).__name__}: {e}. See {where}.",
        )
    x, _ = mnist_vectors(False)
    ours = keras.ops.convert_to_numpy(model(x[:200], training=False))
    theirs = keras.ops.convert_to_numpy(loaded(x[:200], training=False))
    if ours.shape != theirs.shape or not np.allclose(ours, theirs, atol=1e-5):
        wrong(
            path,
            where,
            "Mô hình đã lưu phải cho cùng dự đoán với `model`: lưu sau khi huấn luyện.",
            "The saved model must predict as `model` does: save it after training.",
        )


# ---- exercises 1–6 -------------------------------------------------------------------------
EX_WHERE = {
    "ex1": "Bài tập 1 / Exercise 1",
    "ex2": "Bài tập 2 / Exercise 2",
    "ex3": "Bài tập 3 / Exercise 3",
    "ex4": "Bài tập 4 / Exercise 4",
    "ex5": "Bài tập 5 / Exercise 5",
    "ex6": "Bài tập 6 / Exercise 6",
}


def ex1_spec(model_1: Any) -> None:
    w = EX_WHERE["ex1"]
    expect_trained_model(model_1, "model_1", w, 784)
    expect_dense_stack(model_1, "model_1", w, [(784, "sigmoid"), (10, "sigmoid")])
    expect_training_setup(model_1, "model_1", w, "Adam", 0.01, "BinaryCrossentropy")


def ex1_accuracy(model_1: Any) -> None:
    w = EX_WHERE["ex1"]
    expect_trained_model(model_1, "model_1", w, 784)
    expect_accuracy(model_1, "model_1", w, "ex1", *mnist_vectors(False))


def ex2_spec(model_2: Any) -> None:
    w = EX_WHERE["ex2"]
    expect_trained_model(model_2, "model_2", w, 784)
    expect_dense_stack(model_2, "model_2", w, [(784, "relu"), (10, "sigmoid")])
    expect_training_setup(model_2, "model_2", w, "Adam", 0.01, "BinaryCrossentropy")


def ex2_accuracy(model_2: Any) -> None:
    w = EX_WHERE["ex2"]
    expect_trained_model(model_2, "model_2", w, 784)
    expect_accuracy(model_2, "model_2", w, "ex2", *mnist_vectors(False))


def ex3_data(X_train_new: Any, X_test_new: Any) -> None:
    w = EX_WHERE["ex3"]
    (x_train, _), (x_test, _) = truth_mnist()
    for name, value, ref in (("X_train_new", X_train_new, x_train), ("X_test_new", X_test_new, x_test)):
        arr = expect_array(value, name, w, (len(ref), 784))
        if not np.issubdtype(arr.dtype, np.floating):
            fail(
                f"`{name}` phải là số thực (float) sau khi chia cho 255, hiện là {arr.dtype}. Xem {w}.",
                f"`{name}` must be float after dividing by 255, got {arr.dtype}. See {w}.",
            )
        rows = slice(None, None, 97)  # a spread-out sample of rows keeps the check cheap
        if not np.allclose(arr[rows], ref.reshape(len(ref), 784)[rows] / 255.0, atol=1e-6):
            wrong(name, w, "Chuẩn hóa: chia giá trị điểm ảnh cho 255.", "Normalise: divide the pixel values by 255.")


def ex3_spec(model_2_new: Any) -> None:
    w = EX_WHERE["ex3"]
    expect_trained_model(model_2_new, "model_2_new", w, 784)
    expect_dense_stack(model_2_new, "model_2_new", w, [(784, "relu"), (10, "sigmoid")])
    expect_training_setup(model_2_new, "model_2_new", w, "Adam", 0.01, "BinaryCrossentropy")


def ex3_accuracy(model_2_new: Any) -> None:
    w = EX_WHERE["ex3"]
    expect_trained_model(model_2_new, "model_2_new", w, 784)
    expect_accuracy(model_2_new, "model_2_new", w, "ex3", *mnist_vectors(True))


def confusion(model: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rows = true labels, columns = the model's predictions (computed here)."""
    cm = np.zeros((10, 10), dtype="int64")
    np.add.at(cm, (y, predicted_labels(model, x)), 1)
    return cm


def ex4_confusion(cm_ex4: Any, model_2_new: Any) -> None:
    w = EX_WHERE["ex4"]
    cm = expect_array(cm_ex4, "cm_ex4", w, (10, 10))
    if not np.issubdtype(cm.dtype, np.integer):
        fail(f"`cm_ex4` phải chứa số nguyên (số đếm). Xem {w}.", f"`cm_ex4` must hold integers (counts). See {w}.")
    expect_trained_model(model_2_new, "model_2_new", w, 784)
    _, y = mnist_vectors(True)
    if int(cm.sum()) != len(y):
        wrong(
            "cm_ex4",
            w,
            f"Tổng các ô phải bằng số ảnh test ({len(y)}).",
            f"The cells must add up to the test images ({len(y)}).",
        )
    # The matrix of model_2_new on normalised test images; or on raw ones, so that a mistake in
    # exercise 3's preprocessing is not charged twice. Two predictions may flip between batchings
    # of the same float32 maths: allow that, no more.
    for normalised in (True, False):
        truth = confusion(model_2_new, mnist_vectors(normalised)[0], y)
        if int(np.abs(cm.astype("int64") - truth).sum()) <= 4:
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
    for name, shape, ref in (
        ("cifar_train_shape", cifar_train_shape, x_train),
        ("cifar_test_shape", cifar_test_shape, x_test),
    ):
        if not isinstance(shape, (tuple, list)) or tuple(int(s) for s in shape if _is_int(s)) != ref.shape:
            wrong(name, w, "Kích thước ảnh gốc (trước khi reshape).", "The raw images' shape (before reshaping).")
    d = int(np.prod(x_train.shape[1:]))
    rows = slice(None, None, 97)
    for name, value, ref in (("X_train_CIFAR10", X_train_CIFAR10, x_train), ("X_test_CIFAR10", X_test_CIFAR10, x_test)):
        arr = expect_array(value, name, w, (len(ref), d))
        if not np.allclose(arr[rows], ref.reshape(len(ref), d)[rows] / 255.0, atol=1e-6):
            wrong(
                name,
                w,
                "Reshape thành vector 3072 chiều rồi chia cho 255.",
                "Reshape to 3072-vectors, then divide by 255.",
            )
    y1 = expect_array(y_train_CIFAR10, "y_train_CIFAR10", w, (len(y_train), 10))
    if not np.array_equal(y1.astype("float32"), np.eye(10, dtype="float32")[y_train.reshape(-1)]):
        wrong("y_train_CIFAR10", w, "One-hot với to_categorical.", "One-hot with to_categorical.")
    y2 = expect_array(y_test_CIFAR10, "y_test_CIFAR10", w, (len(y_test),))
    if not np.array_equal(y2.astype("int64"), y_test.reshape(-1).astype("int64")):
        wrong("y_test_CIFAR10", w, "Giữ nhãn số nguyên, dạng (10000,).", "Keep integer labels, shape (10000,).")


def ex5_spec(model_cifar: Any) -> None:
    w = EX_WHERE["ex5"]
    expect_trained_model(model_cifar, "model_cifar", w, 3072)
    layers = layer_summary(model_cifar)
    dense = [layer for layer in layers if layer[0] == "Dense"]
    if len(dense) != 2 or layers[-1][0] != "Dense":
        fail(
            f"`model_cifar` có các lớp {[k for k, _, _ in layers]}; cần đúng hai lớp Dense, lớp cuối là Dense. Xem {w}.",
            f"`model_cifar` has layers {[k for k, _, _ in layers]}; it needs exactly two Dense layers, the last one Dense. See {w}.",
        )


def ex5_accuracy(model_cifar: Any) -> None:
    w = EX_WHERE["ex5"]
    expect_trained_model(model_cifar, "model_cifar", w, 3072)
    expect_accuracy(model_cifar, "model_cifar", w, "ex5", *cifar_vectors())


def ex6_spec(model_3: Any) -> None:
    import keras

    w = EX_WHERE["ex6"]
    expect_trained_model(model_3, "model_3", w, 784)
    if not isinstance(model_3, keras.Sequential):
        fail(f"`model_3` phải là một keras.Sequential. Xem {w}.", f"`model_3` must be a keras.Sequential. See {w}.")
    layers = layer_summary(model_3)
    kinds = [k for k, _, _ in layers]
    if any(k not in {"Dense", "Dropout"} for k in kinds) or kinds[-1] != "Dense":
        fail(
            f"`model_3` có các lớp {kinds}; chỉ dùng Dense và Dropout, lớp cuối là Dense. Xem {w}.",
            f"`model_3` has layers {kinds}; use only Dense and Dropout, the last one Dense. See {w}.",
        )
    if kinds.count("Dense") < 3:
        fail(
            f"`model_3` cần ít nhất hai lớp Dense ẩn (cộng lớp đầu ra). Xem {w}.",
            f"`model_3` needs at least two hidden Dense layers (plus the output layer). See {w}.",
        )


def ex6_accuracy(model_3: Any) -> None:
    w = EX_WHERE["ex6"]
    expect_trained_model(model_3, "model_3", w, 784)
    expect_accuracy(model_3, "model_3", w, "ex6", *mnist_vectors(True))
