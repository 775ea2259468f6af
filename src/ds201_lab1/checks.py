"""Every autograded check of the lab, shared by the hidden tests and the project's grader.

Each public function checks one question's answer and returns ``None`` when it is right; when it
is wrong it raises :class:`CheckFailed` (an ``AssertionError``) whose message says what is wrong
and where to look, in Vietnamese then English. The order inside a check is always type, then
shape, then value.

The truth is never read from the submission: counts, labels, predictions and accuracies are
recomputed here from this module's own copy of the data (:func:`truth_mnist`,
:func:`truth_cifar10`) and the student's model object. Expected values stay out of the messages
of value checks, so a failure does not hand out the answer.

Under ``otter run``, ``otter grade`` and Gradescope these checks run inside the student's kernel,
after the student's code: see "Plain values" below for what that means and how far they hold.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
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
STEPS_PER_EPOCH_BASE = -(-60000 // 128)  # ceil(60000 / 128): batch 128 on the full training set


class CheckFailed(AssertionError):
    """A wrong answer. The message is bilingual: Vietnamese, then English."""


def fail(vi: str, en: str) -> None:
    raise CheckFailed(f"{vi}\n{en}")


# ---------------------------------------------------------------------------------------------
# Plain values
#
# On otter's path the hidden tests run in the student's kernel after the student's code, which
# may have replaced any *module attribute* (np.mean, np.array_equal, np.argmax, np.asarray,
# np.ndarray, math.isclose, unicodedata.normalize, sklearn's accuracy_score, keras.Model.predict
# or __call__ …) and may hand in objects that lie: an __eq__ that is always true, a __float__,
# __int__, __array__, __len__ or __iter__ that returns something else, subclasses of float, str,
# list or np.ndarray that override them. What such code cannot change are the methods of C types
# (``np.ndarray.argmax = f`` raises TypeError) and of exact builtin values. So every check:
#
# 1. accepts only exact types: ``int``, ``float``, ``bool``, ``str``, ``list``, ``tuple``,
#    ``set``, ``frozenset``, ``dict``, exact NumPy scalars and exact ``ndarray`` (``type(x) is``,
#    never isinstance), and tensors through their ``.numpy()`` (which must return an exact
#    ndarray). Anything else fails the type check with its type's name;
# 2. turns the answer into plain values with C methods (``.item()``, ``.tolist()``, ``.astype``,
#    ``.reshape``, ``.argmax``, ``.nonzero``, ``.sort``, operators) and compares those. NumPy
#    *module* functions are not used on student data, nor are the reductions ``.sum()``,
#    ``.mean()``, ``.max()``, ``.all()``, ``.any()``: NumPy forwards those methods to Python code
#    in ``numpy._core._methods`` whose globals (``umr_sum`` …) a notebook can replace;
# 3. computes predictions with :func:`forward`, a NumPy forward pass over the model's weights,
#    never through the model's own predict/evaluate/__call__ (unless the model holds a layer or
#    activation forward() does not know: then it falls back to calling the model);
# 4. finds ``ndarray`` and the NumPy scalar types among C (static) types, and names dtypes by
#    their one-letter codes ("d", "f", "q", "?"), because ``np.ndarray`` and ``np.sctypeDict``
#    are rebindable too.
#
# This is as far as a test running in the student's own process can go; it cannot stop code that
# replaces builtins, this module or ``sys.modules`` entries, patches otter, traces the check
# (sys.settrace) or rewrites memory (ctypes). The project's grader (``make grade``) runs the same
# checks in a separate, trusted process.
# ---------------------------------------------------------------------------------------------
# A type's C slots, read past anything its metaclass says: its name, module and flags.
_TYPE_NAME, _TYPE_MODULE, _TYPE_FLAGS = (type.__dict__[k] for k in ("__name__", "__module__", "__flags__"))
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: set on every class made by Python code


def _c_type(module: str, name: str) -> type:
    """The C (static) type ``module.name`` among object's direct subclasses: no class statement can fake it."""
    for t in object.__subclasses__():
        static = not _TYPE_FLAGS.__get__(t, type) & _HEAPTYPE
        if static and _TYPE_NAME.__get__(t, type) == name and _TYPE_MODULE.__get__(t, type) == module:
            return t
    raise ImportError(f"{module}.{name} not found")  # pragma: no cover - not a NumPy we know


ARRAY: type = _c_type("numpy", "ndarray")
# Exact NumPy scalar types (bool, integers, floats, str_), taken from arrays made by the C type.
_NP_SCALARS: tuple[type, ...] = tuple(type(ARRAY((1,), code)[0]) for code in "?bBhHiIlLqQefdgU")
_NOT_PLAIN = object()


def _type_name(value: Any) -> str:
    return _TYPE_NAME.__get__(type(value), type)


def _is(t: type, types: tuple[type, ...]) -> bool:
    """``t`` is one of ``types``, by identity (``t in types`` would call a metaclass's __eq__)."""
    for s in types:
        if t is s:
            return True
    return False


def plain_scalar(value: Any) -> Any:
    """An exact ``bool``/``int``/``float``/``str`` or NumPy scalar as a plain Python value, else ``_NOT_PLAIN``."""
    t = type(value)
    if t is bool or t is int or t is float or t is str:
        return value
    if _is(t, _NP_SCALARS):
        out = value.item()
        if not (type(out) is bool or type(out) is int or type(out) is float or type(out) is str):
            out = value.astype("d").item()  # longdouble
        return out
    return _NOT_PLAIN


def _plain_int(value: Any) -> int | None:
    v = plain_scalar(value)
    return v if type(v) is int else None


def _plain_number(value: Any) -> float | None:
    v = plain_scalar(value)
    return float(v) if type(v) is int or type(v) is float else None


def _plain_str(value: Any) -> str | None:
    v = plain_scalar(value)
    return v if type(v) is str else None


def _finite(x: float) -> bool:
    return x - x == 0.0  # inf - inf and nan - nan are nan


def _is_tensor(value: Any) -> bool:
    """A TensorFlow/Keras tensor or variable (by its class's module; its .numpy() is checked after)."""
    module = _TYPE_MODULE.__get__(type(value), type)
    return type(module) is str and module.startswith(("tensorflow.", "keras.")) and hasattr(value, "numpy")


def _items(value: Any, *kinds: type) -> list | None:
    """The elements of an exact list/tuple/set/frozenset among ``kinds``, as a new list; else None."""
    if not _is(type(value), kinds):
        return None
    return [v for v in value]  # iterating an exact builtin container runs no Python code


def _nested(value: Any, depth: int = 0) -> tuple[tuple[int, ...], list] | None:
    """(shape, flat plain scalars) of an exact list/tuple of numbers (nested), else None."""
    if type(value) is ARRAY:
        value = value.tolist()
    items = _items(value, list, tuple)
    if items is None:
        s = plain_scalar(value)
        return None if s is _NOT_PLAIN else ((), [s])
    if depth > 32:
        return None
    parts = [_nested(v, depth + 1) for v in items]
    if any(p is None for p in parts):
        return None
    if any(p[0] != parts[0][0] for p in parts):
        return None  # ragged
    inner = parts[0][0] if parts else ()
    return (len(parts), *inner), [x for p in parts for x in p[1]]


def _array_of(flat: list, code: str) -> np.ndarray:
    """A new 1-D array of dtype ``code`` filled (by NumPy's C code) from a list of plain scalars."""
    out = ARRAY((len(flat),), code)
    out[...] = flat
    return out


def _from_sequence(value: Any) -> tuple[np.ndarray | None, str]:
    """An exact list/tuple of numbers as a new array; or (None, what it holds instead)."""
    nested = _nested(value)
    if nested is None:
        return None, "object"
    shape, flat = nested
    kinds = {type(v) for v in flat}
    if str in kinds:
        return None, "str"
    code = "d" if float in kinds else "q" if int in kinds else "?" if kinds else "d"
    try:
        return _array_of(flat, code).reshape(shape), ""
    except (OverflowError, ValueError, TypeError):
        return None, "object"


def _as_array(value: Any) -> tuple[np.ndarray | None, str | None]:
    """(array, None) for an exact ndarray, a tensor or an exact list/tuple of numbers;
    (None, dtype) when it holds something else than numbers; (None, None) for another type."""
    if type(value) is ARRAY:
        arr = value
    elif _is_tensor(value):
        try:
            arr = value.numpy()
        except Exception:  # a symbolic tensor, a variable without a value: not an array
            return None, None
        if type(arr) is not ARRAY:
            return None, None
    elif type(value) is list or type(value) is tuple:
        arr, held = _from_sequence(value)
        if arr is None:
            return None, held
    else:
        return None, None
    if arr.dtype.kind not in "biuf":
        return None, str(arr.dtype)
    return arr, None


def _count(mask: np.ndarray) -> int:
    """How many entries of a boolean array are True (``.nonzero`` is C; ``.sum`` is not)."""
    return mask.reshape(-1).nonzero()[0].shape[0]


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Same shape and the same values (NaN equals nothing), like np.array_equal."""
    return a.shape == b.shape and _count(a != b) == 0


def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    """|a - b| <= atol + rtol·|b| everywhere, like np.allclose; NaN or inf in ``a`` is never close."""
    if a.shape != b.shape or _count(~(abs(a) < float("inf"))):
        return False
    a, b = a.astype("d"), b.astype("d")
    return _count(~(abs(a - b) <= atol + rtol * abs(b))) == 0


def _total(a: np.ndarray) -> int | float:
    """The sum of a small array's entries, in plain Python numbers."""
    return sum(a.reshape(-1).tolist())


def _arange(n: int) -> np.ndarray:
    return _array_of(list(range(n)), "q")


def _full(shape: tuple[int, ...], value: float, code: str = "d") -> np.ndarray:
    out = ARRAY(shape, code)
    out[...] = value
    return out


def _one_hot(labels: np.ndarray, k: int, code: str) -> np.ndarray:
    return (labels.reshape(-1, 1) == _arange(k)).astype(code)


# ---- elementwise maths from operators only (``x ** y`` is NumPy's C power, np.exp is rebindable)
_E = 2.718281828459045
_LN2 = 0.6931471805599453


def _where(mask: np.ndarray, a: Any, b: Any) -> np.ndarray:
    """``a`` where ``mask``, else ``b`` (finite values: 0·inf would be nan)."""
    return mask * a + ~mask * b


def _exp(x: np.ndarray) -> np.ndarray:
    return _E**x


def _log(x: np.ndarray) -> np.ndarray:
    """Natural log of positive normal float64 values: a bit-level first guess, then Halley's steps."""
    x = x.astype("d")
    y = (x.view("q").astype("d") * 2.0**-52 - 1023.0) * _LN2  # log2 from the float's bits, ±0.09
    for _ in range(4):
        ey = _exp(y)
        y = y + 2.0 * (x - ey) / (x + ey)
    return y


def _sign(x: np.ndarray) -> np.ndarray:
    return (x > 0).astype("d") - (x < 0).astype("d")


def _relu(x: np.ndarray) -> np.ndarray:
    return (x + abs(x)) * 0.5


def _sigmoid(x: np.ndarray) -> np.ndarray:
    t = _exp(-abs(x))  # in (0, 1]: no overflow
    return _where(x >= 0, 1.0, t) / (1.0 + t)


def _tanh(x: np.ndarray) -> np.ndarray:
    t = _exp(-2.0 * abs(x))
    return _sign(x) * ((1.0 - t) / (1.0 + t))


def _log1p(t: np.ndarray) -> np.ndarray:
    """log(1 + t) for t ≥ 0, to float64 precision for tiny t too (where 1 + t loses t's digits)."""
    small = t < 1e-4
    s = _where(small, t, 0.0)
    series = s * (1.0 - s * (0.5 - s * (1.0 / 3.0 - s * 0.25)))  # error below s⁵/5
    return _where(small, series, _log(1.0 + _where(small, 0.0, t)))


def _softplus(x: np.ndarray) -> np.ndarray:
    return _relu(x) + _log1p(_exp(-abs(x)))


def _erf(z: np.ndarray) -> np.ndarray:
    """Its Taylor series up to |z| = 4 (error < 1e-10), ±1 beyond (error < 2e-8)."""
    small = abs(z) <= 4.0
    s = _where(small, abs(z), 0.0)
    term, total, s2 = s, s, s * s
    for n in range(1, 75):
        term = term * -s2 / n
        total = total + term / (2 * n + 1)
    return _sign(z) * _where(small, total * 1.1283791670955126, 1.0)  # 2/√π


def _row_max(x: np.ndarray) -> np.ndarray:
    s = x.copy()
    s.sort(axis=-1)
    return s[..., -1:]


def _row_sum(x: np.ndarray) -> np.ndarray:
    return x @ _full((x.shape[-1], 1), 1.0)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = _exp(x - _row_max(x))
    return e / _row_sum(e)


def _relu6(x: np.ndarray) -> np.ndarray:
    r = _relu(x)
    return _where(r > 6.0, 6.0, r)


def _elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    negative = (x - abs(x)) * 0.5  # min(x, 0): no overflow in exp
    return _where(x > 0, x, alpha * (_exp(negative) - 1.0))


def _hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return _relu6(x + 3.0) / 6.0


# Keras activations by name (their default arguments), on float64 arrays. The keys are the
# activations the project's grader allows (``swish`` and ``hard_swish`` are named silu/hard_silu).
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": _relu,
    "sigmoid": _sigmoid,
    "softmax": _softmax,
    "tanh": _tanh,
    "elu": _elu,
    "selu": lambda x: 1.0507009873554805 * _elu(x, 1.6732632423543772),
    "softplus": _softplus,
    "softsign": lambda x: x / (1.0 + abs(x)),
    "silu": lambda x: x * _sigmoid(x),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x * 0.7071067811865476)),  # approximate=False
    "exponential": _exp,
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": lambda x: x * _hard_sigmoid(x),
    "leaky_relu": lambda x: _where(x > 0, x, 0.2 * x),
    "relu6": _relu6,
    "log_softmax": lambda x: (x - _row_max(x)) - _log(_row_sum(_exp(x - _row_max(x)))),
    "mish": lambda x: x * _tanh(_softplus(x)),
}


# ---- text: accents folded by a table, no unicodedata/re call on the answer ------------------
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def _fold_table() -> dict[int, str | None]:
    """Accented Latin letters (Vietnamese included) → their ASCII letter; combining marks → nothing."""
    table: dict[int, str | None] = {0x0110: "d", 0x0111: "d"}  # Đ đ: no decomposition
    table.update(dict.fromkeys(range(0x0300, 0x0370)))  # combining marks (decomposed input)
    for code in (*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)):
        base = unicodedata.normalize("NFKD", chr(code))[:1].lower()
        if type(base) is str and base != "" and base in _ALNUM:  # one ASCII letter, whatever happens
            table[code] = base
    return table


_FOLD = _fold_table()


# ---------------------------------------------------------------------------------------------
# The check's own data (a private copy, never the notebook's arrays)
# ---------------------------------------------------------------------------------------------
def _own_split(split: Any, name: str) -> data.Split:
    """The loader's arrays, if they are exact uint8 ndarrays of the expected shapes."""
    try:
        (x_train, y_train), (x_test, y_test) = split
    except (TypeError, ValueError):
        x_train = y_train = x_test = y_test = None
    arrays = (x_train, y_train, x_test, y_test)
    for a, (shape, _) in zip(arrays, data.LAYOUT[name].values()):
        if type(a) is not ARRAY or a.dtype.char != "B" or a.shape != shape:
            fail(
                f"Bản dữ liệu {name} của bộ chấm đã bị thay đổi trong kernel này; hãy chạy lại notebook từ đầu.",
                f"The grader's own copy of {name} was altered in this kernel; run the notebook again from the top.",
            )
    return (x_train, y_train), (x_test, y_test)


@cache
def truth_mnist() -> data.Split:
    return _own_split(data.load.__wrapped__("mnist"), "mnist")


@cache
def truth_cifar10() -> data.Split:
    return _own_split(data.load.__wrapped__("cifar10"), "cifar10")


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.flags.writeable = False
    return arrays


@cache
def mnist_vectors(normalised: bool) -> tuple[np.ndarray, np.ndarray]:
    """Our test images as float32 784-vectors (optionally /255) and their integer labels (read-only)."""
    _, (x_test, y_test) = truth_mnist()
    x = x_test.reshape(x_test.shape[0], -1).astype("f")
    return _frozen(x / 255.0 if normalised else x, y_test.astype("q"))


@cache
def cifar_vectors() -> tuple[np.ndarray, np.ndarray]:
    """Our CIFAR-10 test images as float32 3072-vectors /255 and their integer labels (read-only)."""
    _, (x_test, y_test) = truth_cifar10()
    return _frozen(x_test.reshape(x_test.shape[0], -1).astype("f") / 255.0, y_test.reshape(-1).astype("q"))


# ---------------------------------------------------------------------------------------------
# Small typed helpers
# ---------------------------------------------------------------------------------------------
def expect_int(value: Any, name: str, where: str) -> int:
    out = _plain_int(value)
    if out is None:
        fail(
            f"`{name}` phải là một số nguyên (int), hiện là {_type_name(value)}. Xem {where}.",
            f"`{name}` must be an integer (int), got {_type_name(value)}. See {where}.",
        )
    return out


def expect_number(value: Any, name: str, where: str) -> float:
    out = _plain_number(value)
    if out is None:
        fail(
            f"`{name}` phải là một số, hiện là {_type_name(value)}. Xem {where}.",
            f"`{name}` must be a number, got {_type_name(value)}. See {where}.",
        )
    if not _finite(out):
        fail(f"`{name}` không hữu hạn ({out}). Xem {where}.", f"`{name}` is not finite ({out}). See {where}.")
    return out


def expect_str(value: Any, name: str, where: str) -> str:
    out = _plain_str(value)
    if out is None:
        fail(
            f"`{name}` phải là một chuỗi (str), hiện là {_type_name(value)}. Xem {where}.",
            f"`{name}` must be a string (str), got {_type_name(value)}. See {where}.",
        )
    return out


def expect_array(value: Any, name: str, where: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """A real numeric array of the given shape (``None`` = any length on that axis)."""
    arr, held = _as_array(value)
    if arr is None and held is None:
        fail(
            f"`{name}` phải là một mảng NumPy, hiện là {_type_name(value)}. Xem {where}.",
            f"`{name}` must be a NumPy array, got {_type_name(value)}. See {where}.",
        )
    if arr is None:
        fail(
            f"`{name}` phải chứa số, hiện có dtype {held}. Xem {where}.",
            f"`{name}` must hold numbers, its dtype is {held}. See {where}.",
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
    s = s.lower().translate(_FOLD)
    return " ".join("".join(c if c in _ALNUM else " " for c in s).split())


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
    items = _items(layer_kinds, list, tuple, set, frozenset)
    if items is None:
        fail(
            f"`layer_kinds` phải là một list các chuỗi. Xem {where}.",
            f"`layer_kinds` must be a list of strings. See {where}.",
        )
    kinds = set()
    for k in items:
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
    if expect_int(n_train, "n_train", where) != x_train.shape[0]:
        wrong("n_train", where, "Đếm số ảnh của X_train.", "Count the images in X_train.")
    if expect_int(n_test, "n_test", where) != x_test.shape[0]:
        wrong("n_test", where, "Đếm số ảnh của X_test.", "Count the images in X_test.")
    ratio = expect_number(train_test_ratio, "train_test_ratio", where)
    truth = x_train.shape[0] / x_test.shape[0]
    if not abs(ratio - truth) <= 1e-6 * max(abs(ratio), truth):  # math.isclose(rel_tol=1e-6)
        wrong("train_test_ratio", where, "Tỉ lệ là n_train / n_test.", "The ratio is n_train / n_test.")
    size_items = _items(image_size, tuple, list)
    if size_items is None or len(size_items) != 2:
        fail(
            f"`image_size` phải là một tuple (cao, rộng). Xem {where}.",
            f"`image_size` must be a tuple (height, width). See {where}.",
        )
    size = tuple(expect_int(s, "image_size[i]", where) for s in size_items)
    if size != x_train.shape[1:]:
        wrong("image_size", where)
    if expect_int(n_pixels, "n_pixels", where) != x_train.shape[1] * x_train.shape[2]:
        wrong("n_pixels", where, "Số điểm ảnh = cao × rộng.", "Pixels = height × width.")


def q2_labels(n_labels: Any, label_set: Any) -> None:
    where = "mục 2, các nhãn / section 2, the labels"
    (_, y_train), _ = truth_mnist()
    truth = set(y_train.tolist())
    items = _items(label_set, set, frozenset)
    if items is None:
        fail(
            f"`label_set` phải là một set (dùng set(...)), hiện là {_type_name(label_set)}. Xem {where}.",
            f"`label_set` must be a set (use set(...)), got {_type_name(label_set)}. See {where}.",
        )
    labels = {expect_int(v, "phần tử của label_set / an element of label_set", where) for v in items}
    if expect_int(n_labels, "n_labels", where) != len(truth):
        wrong("n_labels", where)
    if labels != truth:
        wrong("label_set", where, "Dùng set(y_train).", "Use set(y_train).")


def _label_key(key: Any) -> int | None:
    """A dict key as a label, as int(key) reads it: an integer, a float or a string of digits."""
    k = plain_scalar(key)
    if type(k) is int or type(k) is float or type(k) is str:
        try:
            return int(k)
        except (ValueError, OverflowError):
            return None
    return None


def q2_label_counts(label_counts: Any) -> None:
    where = "mục 2, phân bố nhãn / section 2, label distribution"
    (_, y_train), _ = truth_mnist()
    if type(label_counts) is dict:
        by_label = {_label_key(k): v for k, v in label_counts.items()}
        if set(by_label) != set(range(10)):
            wrong("label_counts", where, "Cần đủ 10 nhãn 0–9.", "All 10 labels 0–9 are needed.")
        label_counts = [by_label[d] for d in range(10)]
    counts = expect_array(label_counts, "label_counts", where, (10,))
    if counts.dtype.kind not in "iu":
        fail(
            f"`label_counts` phải chứa số nguyên. Xem {where}.",
            f"`label_counts` must hold integers. See {where}.",
        )
    labels = y_train.astype("q")
    truth = [_count(labels == d) for d in range(10)]
    if counts.tolist() != truth:
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
    xtr = expect_array(X_train, "X_train", where, (x_train.shape[0], d))
    xte = expect_array(X_test, "X_test", where, (x_test.shape[0], d))
    if not _equal(xtr, x_train.reshape(x_train.shape[0], d)) or not _equal(xte, x_test.reshape(x_test.shape[0], d)):
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
    y = expect_array(y_train, "y_train", where, (labels.shape[0], 10))
    truth = _one_hot(labels.astype("q"), 10, "f")
    if not _equal(y.astype("f"), truth):
        wrong(
            "y_train",
            where,
            "Dùng keras.utils.to_categorical(y_train, 10).",
            "Use keras.utils.to_categorical(y_train, 10).",
        )
    v = expect_array(y_train_5, "y_train_5", where, (10,))
    if not _equal(v.astype("f"), truth[5]):
        wrong("y_train_5", where, "Đây là y_train[5] sau one-hot.", "This is y_train[5] after one-hot.")


# ---------------------------------------------------------------------------------------------
# Section 3–4: the network and its loss
# ---------------------------------------------------------------------------------------------
PROBES = _array_of([-30.0, -5.0, -1.0, -0.5, 0.0, 0.25, 1.0, 3.0, 30.0], "d")


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
    return expect_array(out, f"{name}(x)", where, x.shape).astype("d")


def q3_activations(sigmoid: Any, tanh: Any, relu: Any) -> None:
    where = "mục 3, hàm kích hoạt / section 3, activation functions"
    x = PROBES
    reference = {"sigmoid": _sigmoid(x), "tanh": _tanh(x), "relu": _relu(x)}
    for name, func in (("sigmoid", sigmoid), ("tanh", tanh), ("relu", relu)):
        got = _probe(func, name, where, x)
        if not _close(got, reference[name], rtol=1e-6, atol=1e-6):
            wrong(
                name,
                where,
                "So sánh với công thức, thử với số âm, 0 và số dương.",
                "Compare with the formula; try negative numbers, 0 and positive numbers.",
            )


def q3_output_shape(dense_output_shape: Any) -> None:
    where = "mục 3, lớp Dense đầu tiên / section 3, the first Dense layer"
    items = _items(dense_output_shape, tuple, list)
    if items is None:
        fail(
            f"`dense_output_shape` phải là một tuple, ví dụ (None, 5). Xem {where}.",
            f"`dense_output_shape` must be a tuple, e.g. (None, 5). See {where}.",
        )
    if [v if v is None else plain_scalar(v) for v in items] != [None, 784]:
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
    s = expect_number(prob_sum, "prob_sum", where)
    if not abs(s - 1.0) <= 1e-9 * max(abs(s), 1.0):  # math.isclose(s, 1, abs_tol=1e-9)
        wrong("prob_sum", where)


def q3_layer_roles(layer_roles: Any) -> None:
    where = "mục 3, vai trò của các lớp / section 3, the layers' roles"
    items = _items(layer_roles, list, tuple)
    if items is None or len(items) != 2:
        fail(
            f"`layer_roles` phải là một list hai chuỗi. Xem {where}.",
            f"`layer_roles` must be a list of two strings. See {where}.",
        )
    roles = [normalise_text(expect_str(r, "layer_roles[i]", where)).replace("layer", "").strip() for r in items]
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
    if _parameter_count(model) != p1 + p2:
        wrong(
            "model",
            where,
            "Mô hình phải là Dense(784, relu) + Dense(10, softmax) trên đầu vào 784.",
            "The model must be Dense(784, relu) + Dense(10, softmax) on 784 inputs.",
        )


def _parameter_count(model: Any) -> int | None:
    """model.count_params(), from the weights' own arrays (Keras counts with math.prod)."""
    values = [_values(w) for w in _items(getattr(model, "weights", None), list, tuple) or [None]]
    return None if any(v is None for v in values) else sum(v.size for v in values)


def _reference_bce(y_hat: np.ndarray, y: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    p = _where(y_hat < eps, eps, _where(y_hat > 1 - eps, 1 - eps, y_hat))  # np.clip
    return -(y * _log(p) + (1 - y) * _log(1 - p))


def _first_number(value: Any) -> Any:
    """A cost as a number: itself, or the first entry of an array, list or tensor holding one."""
    if plain_scalar(value) is not _NOT_PLAIN:
        return value
    arr, _ = _as_array(value)
    if arr is None or arr.size == 0:
        return value  # expect_number then names its type
    return arr.reshape(-1)[0]


def q4_bce(bce_loss: Any, bce_cost: Any) -> None:
    where = "mục 4, binary cross-entropy / section 4, binary cross-entropy"
    y_hat = _array_of([0.9, 0.2, 0.5, 0.99, 0.01, 0.7], "d")
    y = _array_of([1.0, 0.0, 1.0, 0.0, 1.0, 1.0], "d")
    for name, f in (("bce_loss", bce_loss), ("bce_cost", bce_cost)):
        if not callable(f):
            fail(f"`{name}` phải là một hàm. Xem {where}.", f"`{name}` must be a function. See {where}.")
    try:
        loss = bce_loss(y_hat.copy(), y.copy())
        cost = bce_cost(y_hat.copy(), y.copy())
        edge_loss = bce_loss(_array_of([0.0, 1.0, 1.0, 0.0], "d"), _array_of([1.0, 0.0, 1.0, 0.0], "d"))
        edge_cost = bce_cost(_array_of([0.0, 1.0], "d"), _array_of([1.0, 0.0], "d"))
    except Exception as e:
        fail(
            f"Hàm báo lỗi: {type(e).__name__}: {e}. Xem {where}.",
            f"The function raised: {type(e).__name__}: {e}. See {where}.",
        )
    loss = expect_array(loss, "bce_loss(y_hat, y)", where, y.shape).astype("d")
    reference = _reference_bce(y_hat, y)
    if not _close(loss, reference, rtol=1e-4, atol=1e-6):
        wrong(
            "bce_loss",
            where,
            "L = -(y·log(ŷ) + (1−y)·log(1−ŷ)) cho từng phần tử.",
            "L = -(y·log(ŷ) + (1−y)·log(1−ŷ)) element by element.",
        )
    cost = expect_number(_first_number(cost), "bce_cost(y_hat, y)", where)
    mean = _total(reference) / reference.shape[0]
    if not abs(cost - mean) <= 1e-4 * max(abs(cost), abs(mean)):  # math.isclose(rel_tol=1e-4)
        wrong("bce_cost", where, "J = trung bình của L trên m mẫu.", "J is the mean of L over the m samples.")
    edge = expect_array(edge_loss, "bce_loss([0, 1, 1, 0], [1, 0, 1, 0])", where, (4,)).astype("d")
    edge_c = _plain_number(_first_number(edge_cost))
    if edge_c is None:
        expect_number(edge_cost, "bce_cost([0, 1], [1, 0])", where)  # names its type
    if _count(~(abs(edge) < float("inf"))) or not _finite(edge_c):
        wrong(
            "bce_loss / bce_cost",
            where,
            "Với ŷ = 0 hoặc 1, log(0) = -inf: hãy clip ŷ vào [eps, 1 − eps].",
            "With ŷ = 0 or 1, log(0) = -inf: clip ŷ to [eps, 1 − eps].",
        )
    e0, e1, e2, e3 = edge.tolist()
    if not (e0 > 10 and e1 > 10 and e2 < 1e-3 and e3 < 1e-3):
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
            f"`{name}` phải là một mô hình Keras, hiện là {_type_name(model)}. Xem {where}.",
            f"`{name}` must be a Keras model, got {_type_name(model)}. See {where}.",
        )


def _shape(tensor: Any) -> tuple[int | None, ...] | None:
    """A Keras tensor's shape as a tuple of plain ints and None, or None if it is anything else."""
    try:
        items = _items(tensor.shape, tuple, list)
    except (AttributeError, TypeError, ValueError):
        return None
    if items is None:
        return None
    out = tuple(None if v is None else _plain_int(v) for v in items)
    return None if any(v is None and d is not None for v, d in zip(out, items)) else out


def _input_dim(model: Any) -> int | None:
    try:
        shape = _shape(model.inputs[0])
    except (AttributeError, IndexError, ValueError, TypeError):
        return None
    return None if shape is None or len(shape) != 2 else shape[-1]


def _keras_number(value: Any) -> int | float | None:
    """A Keras variable or tensor holding one number (``iterations``, ``learning_rate``) as a plain number."""
    try:
        value = value.numpy() if hasattr(value, "numpy") else value
    except Exception:  # a Keras object that cannot give its value: not a number
        return None
    if type(value) is ARRAY and value.size == 1:
        value = value.reshape(-1)[0]
    v = plain_scalar(value)
    return v if type(v) is int or type(v) is float else None


def _trained_steps(model: Any) -> int:
    steps = _keras_number(getattr(getattr(model, "optimizer", None), "iterations", None))
    return int(steps) if steps is not None and _finite(steps) else 0


def expect_trained_model(model: Any, name: str, where: str, input_dim: int) -> None:
    """A built Keras model on ``input_dim`` inputs with 10 outputs, trained at least one step."""
    _expect_model(model, name, where)
    got = _input_dim(model)
    if got != input_dim:
        fail(
            f"`{name}` nhận đầu vào {got}, cần vector {input_dim} chiều (keras.Input(shape=({input_dim},))). Xem {where}.",
            f"`{name}` takes input {got}; it needs {input_dim}-vectors (keras.Input(shape=({input_dim},))). See {where}.",
        )
    try:
        out = _shape(model.outputs[0])
    except (AttributeError, IndexError, ValueError, TypeError):
        out = None
    if out is None or len(out) != 2 or out[-1] != 10:
        fail(
            f"`{name}` có đầu ra {out}, cần (None, 10). Xem {where}.",
            f"`{name}` has output {out}; it needs (None, 10). See {where}.",
        )
    if getattr(model, "optimizer", None) is None or _trained_steps(model) == 0:
        fail(
            f"`{name}` chưa được huấn luyện: hãy compile rồi gọi {name}.fit(...). Xem {where}.",
            f"`{name}` has not been trained: compile it, then call {name}.fit(...). See {where}.",
        )


def expect_learned(model: Any, name: str, where: str, input_dim: int) -> None:
    """Evidence of training beyond the step counter (after the architecture checks, which say more)."""
    if not _learned(model, input_dim):
        fail(
            f"`{name}` chưa học được gì: độ chính xác trên tập kiểm tra chỉ ngang đoán ngẫu nhiên. Hãy huấn luyện "
            f"nó bằng {name}.fit(...) và kiểm tra dữ liệu đầu vào. Xem {where}.",
            f"`{name}` has learned nothing: its test accuracy is at chance level. Train it with {name}.fit(...) "
            f"and check its input data. See {where}.",
        )


# Evidence of training beyond the optimizer's step counter (which a notebook can simply set): on
# the first 1000 test images, raw or /255, far above chance (0.1) and far below every threshold.
LEARNED_MIN_ACCURACY = {784: 0.5, 3072: 0.2}


def _learned(model: Any, input_dim: int) -> bool:
    if input_dim == 784:
        variants = [(x[:1000], y[:1000]) for x, y in (mnist_vectors(False), mnist_vectors(True))]
    else:
        x, y = cifar_vectors()
        variants = [(x[:1000], y[:1000]), (x[:1000] * 255.0, y[:1000])]
    bar = LEARNED_MIN_ACCURACY.get(input_dim, 0.2)
    return any(accuracy_of(model, x, y) >= bar for x, y in variants)


def _name_of(obj: Any) -> str | None:
    """``obj.__name__`` if it is an exact str (a function's name), else None."""
    return _plain_str(getattr(obj, "__name__", None))


def layer_summary(model: Any) -> list[tuple[str, int | None, str | None]]:
    """(class name, units, activation name) of every layer, in order."""
    out = []
    for layer in _items(model.layers, list, tuple) or []:
        units = getattr(layer, "units", None)
        out.append(
            (
                _type_name(layer),
                None if units is None else _plain_int(units),
                _name_of(getattr(layer, "activation", None)),
            )
        )
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
    if _type_name(opt) != optimizer:
        fail(
            f"`{name}` dùng optimizer {_type_name(opt)}; bài tập yêu cầu {optimizer}. Xem {where}.",
            f"`{name}` uses optimizer {_type_name(opt)}; the exercise asks for {optimizer}. See {where}.",
        )
    got_lr = _keras_number(getattr(opt, "learning_rate", None))
    if got_lr is None or not abs(got_lr - lr) <= 1e-5 * max(abs(got_lr), lr):  # math.isclose(rel_tol=1e-5)
        shown = "?" if got_lr is None else f"{got_lr:g}"
        fail(
            f"`{name}` có learning_rate {shown}; bài tập yêu cầu {lr:g}. Xem {where}.",
            f"`{name}` has learning_rate {shown}; the exercise asks for {lr:g}. See {where}.",
        )
    got_loss = getattr(model, "loss", None)
    loss_name = _plain_str(got_loss) or _type_name(got_loss)
    aliases = {
        "BinaryCrossentropy": {"BinaryCrossentropy", "binary_crossentropy"},
        "CategoricalCrossentropy": {"CategoricalCrossentropy", "categorical_crossentropy"},
    }[loss]
    if loss_name not in aliases and _name_of(got_loss) not in aliases:
        fail(
            f"`{name}` dùng loss {loss_name}; bài tập yêu cầu {loss}. Xem {where}.",
            f"`{name}` uses loss {loss_name}; the exercise asks for {loss}. See {where}.",
        )


# ---- the forward pass: predictions without the model's own predict/evaluate/__call__ ---------
Step = Callable[[np.ndarray], np.ndarray]
_FLOAT32_TINY = 1.1754943508222875e-38  # the smallest normal float32


def _values(variable: Any) -> np.ndarray | None:
    """A Keras variable's value as an exact float ndarray, or None."""
    try:
        v = variable.numpy()
    except Exception:  # not a variable
        return None
    return v if type(v) is ARRAY and v.dtype.kind == "f" else None


def _activation_step(func: Any) -> Step | None:
    """A Keras activation function as a float32 step, or None when it is not one of ACTIVATIONS."""
    name = _name_of(func)
    module = getattr(func, "__module__", None)
    if name not in ACTIVATIONS or type(module) is not str or not module.startswith("keras."):
        return None
    f = ACTIVATIONS[name]
    if name == "linear":
        return f

    def step(h: np.ndarray) -> np.ndarray:
        out = f(h.astype("d"))
        # TensorFlow's CPU kernels flush float32 subnormals to zero: an output below the smallest
        # normal float32 is 0 for Keras (ex2's raw-pixel sigmoids underflow: all-zero rows, argmax 0).
        return (out * (abs(out) >= _FLOAT32_TINY)).astype("f")

    return step


def _flag(layer: Any, attribute: str) -> bool | None:
    v = plain_scalar(getattr(layer, attribute, None))
    return v if type(v) is bool else None


def _dense_step(layer: Any) -> Step | None:
    use_bias = _flag(layer, "use_bias")
    weights = _items(getattr(layer, "weights", None), list, tuple)
    act = _activation_step(getattr(layer, "activation", None))
    if use_bias is None or weights is None or len(weights) != 1 + use_bias or act is None:
        return None  # LoRA, quantised kernels, …
    values = [_values(w) for w in weights]
    if any(v is None for v in values) or values[0].ndim != 2:
        return None
    kernel = values[0].astype("f")
    if not use_bias:
        return lambda h: act(h @ kernel)
    bias = values[1].astype("f")
    if bias.shape != kernel.shape[1:]:
        return None
    return lambda h: act(h @ kernel + bias)


def _batch_norm_step(layer: Any) -> Step | None:
    """Inference: (x − moving mean) / √(moving variance + ε) · γ + β, as tf.nn.batch_normalization."""
    axis = _plain_int(getattr(layer, "axis", None))
    epsilon = _plain_number(getattr(layer, "epsilon", None))
    scale, center = _flag(layer, "scale"), _flag(layer, "center")
    if axis is None or epsilon is None or scale is None or center is None:
        return None
    mean = _values(getattr(layer, "moving_mean", None))
    variance = _values(getattr(layer, "moving_variance", None))
    gamma = _values(getattr(layer, "gamma", None)) if scale else None
    beta = _values(getattr(layer, "beta", None)) if center else None
    if mean is None or variance is None or (scale and gamma is None) or (center and beta is None):
        return None
    inv = (variance.astype("f") + _full((), epsilon, "f")) ** -0.5
    if scale:
        inv = inv * gamma.astype("f")
    offset = -mean.astype("f") * inv
    if center:
        offset = offset + beta.astype("f")

    def step(h: np.ndarray) -> np.ndarray:
        shape = [1] * h.ndim
        shape[axis] = inv.shape[0]  # axis -1 or any other: broadcast along it
        return h * inv.reshape(shape) + offset.reshape(shape)

    return step


def _flatten_step(layer: Any) -> Step:
    channels_first = _plain_str(getattr(layer, "data_format", None)) == "channels_first"

    def step(h: np.ndarray) -> np.ndarray:
        if channels_first and h.ndim > 2:
            h = h.transpose((0, *range(2, h.ndim), 1))
        return h.reshape(h.shape[0], -1)

    return step


def _reshape_step(layer: Any) -> Step | None:
    target = _items(getattr(layer, "target_shape", None), tuple, list)
    dims = None if target is None else [_plain_int(d) for d in target]
    if dims is None or any(d is None for d in dims):
        return None
    return lambda h: h.reshape(h.shape[0], *dims)


def _layer_step(layer: Any) -> Step | None:
    """NumPy for one Keras layer of the project grader's allow-list, or None (not one of Keras's own)."""
    kind, module = _type_name(layer), _TYPE_MODULE.__get__(type(layer), type)
    if type(module) is not str or not module.startswith("keras."):
        return None
    if kind in ("InputLayer", "Dropout"):  # Dropout is the identity at inference
        return lambda h: h
    if kind == "Dense":
        return _dense_step(layer)
    if kind == "Activation":
        return _activation_step(getattr(layer, "activation", None))
    if kind == "BatchNormalization":
        return _batch_norm_step(layer)
    if kind == "Flatten":
        return _flatten_step(layer)
    if kind == "Reshape":
        return _reshape_step(layer)
    return None


def _inference_call(kwargs: Any) -> bool:
    """A layer call in the graph with no arguments but ``mask=None`` and ``training=None/False``."""
    if type(kwargs) is not dict:
        return False
    return all(
        (k == "mask" and v is None) or (k == "training" and (v is None or v is False)) for k, v in kwargs.items()
    )


def _layer_chain(model: Any) -> list | None:
    """The layers a Sequential model, or a Functional one that is a single chain, applies, in order."""
    import keras

    try:
        from keras.src.models.functional import Functional
    except ImportError:  # pragma: no cover - another Keras layout: only Sequential is walked
        Functional = ()  # noqa: N806
    if isinstance(model, keras.Sequential):
        return _items(model.layers, list, tuple)
    if not isinstance(model, Functional):
        return None
    try:
        inputs, outputs = _items(model.inputs, list, tuple), _items(model.outputs, list, tuple)
        if inputs is None or outputs is None or len(inputs) != 1 or len(outputs) != 1:
            return None
        tensor, chain = outputs[0], []
        for _ in range(10_000):  # walk back from the output to the input, one layer at a time
            layer, node_index, _ = tensor._keras_history
            node = layer._inbound_nodes[node_index]
            if node.is_input:
                return chain[::-1] if tensor is inputs[0] else None
            args = node.arguments
            if len(args.args) != 1 or len(node.input_tensors) != 1 or not _inference_call(args.kwargs):
                return None
            chain.append(layer)
            tensor = node.input_tensors[0]
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None
    return None


def _numpy_steps(model: Any) -> list[Step] | None:
    layers = _layer_chain(model)
    if layers is None:
        return None
    steps = [_layer_step(layer) for layer in layers]
    return None if any(s is None for s in steps) else steps


def _keras_outputs(model: Any, x: np.ndarray) -> np.ndarray:
    """The fallback: the model's own call. It runs the model's code, so a patched or custom model
    can make it say anything; forward() only uses it for a layer or activation it does not know."""
    import keras

    out = keras.ops.convert_to_numpy(model(x, training=False))
    if type(out) is not ARRAY or out.dtype.kind != "f" or out.shape[:1] != x.shape[:1]:
        raise TypeError(f"the model returned {_type_name(out)}, not an array of floats")
    return out.astype("f")


# Set by the project's grader in its verify process, where the models are ones the grader rebuilt
# itself from an allow-list and no student code ever runs: there the model's own call (TensorFlow,
# about three times faster than the NumPy steps) cannot have been tampered with.
TRUSTED_PROCESS = False


def forward(model: Any, x: np.ndarray, batch: int = 2000) -> np.ndarray:
    """The model's float32 outputs on the rows of ``x``, computed here in NumPy from its weights.

    Sequential models, and Functional models that are one chain, made of Keras's own InputLayer,
    Dense, Dropout, Activation, BatchNormalization, Flatten and Reshape layers with the activations
    of ACTIVATIONS (the project grader's allow-list): matrix products and elementwise maths in
    NumPy's C code, never the model's predict/evaluate/__call__, which a notebook can replace.
    Anything else falls back to calling the model (see :func:`_keras_outputs`).
    """
    steps = None if TRUSTED_PROCESS else _numpy_steps(model)
    n = x.shape[0]
    out = None
    for i in range(0, n, batch):
        h = x[i : i + batch].astype("f")
        if steps is None:
            h = _keras_outputs(model, h)
        else:
            for step in steps:
                h = step(h)
        if out is None:
            out = ARRAY((n, *h.shape[1:]), "f")
        out[i : i + batch] = h
    return out if out is not None else ARRAY((0,), "f")


def predicted_labels(model: Any, x: np.ndarray, batch: int = 2000) -> np.ndarray:
    """The model's class (argmax) for every row of ``x``, computed here, batch by batch."""
    return forward(model, x, batch).argmax(axis=-1).astype("q")


def accuracy_of(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    return _count(predicted_labels(model, x) == y) / y.shape[0]


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


def _top_labels(outputs: np.ndarray, tol: float = 1e-5) -> list[set[int]]:
    """Per row, the classes whose output is within ``tol`` of the row's largest: the argmax, plus
    any class float32 noise in another program (Keras's predict) could have put first."""
    top = _row_max(outputs.astype("d"))
    return [set(row.nonzero()[0].tolist()) for row in (outputs >= top - tol)]


# ---- section 4–6: the base model ------------------------------------------------------------
BASE_WHERE = "mục 3–5, mô hình cơ bản / sections 3–5, the base model"


def base_model(model: Any) -> None:
    expect_trained_model(model, "model", BASE_WHERE, 784)
    expect_dense_stack(model, "model", BASE_WHERE, [(784, "relu"), (10, "softmax")])
    expect_learned(model, "model", BASE_WHERE, 784)


def q4_train_time(train_time: Any, model: Any) -> None:
    where = "mục 4, thời gian huấn luyện / section 4, training time"
    t = expect_number(train_time, "train_time", where)
    if t <= 0:
        wrong("train_time", where, "Thời gian phải dương (giây).", "The time must be positive (seconds).")
    base_model(model)
    steps = _trained_steps(model)
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
    items = _items(pred_shape, tuple, list)
    if items is None or len(items) != 2:
        fail(
            f"`pred_shape` phải là một tuple (a, b). Xem {where}.",
            f"`pred_shape` must be a tuple (a, b). See {where}.",
        )
    a = expect_int(items[0], "pred_shape[0]", where)
    b = expect_int(items[1], "pred_shape[1]", where)
    if (a, b) != (y.shape[0], 10):
        wrong("pred_shape", where, "a = số ảnh test, b = số lớp.", "a = test images, b = classes.")


def q5_argmax(chosen_class_prob: Any) -> None:
    where = "mục 5 / section 5"
    if expect_choice(chosen_class_prob, "chosen_class_prob", where, {"highest", "lowest"}) != "highest":
        wrong("chosen_class_prob", where)


def q5_image_50(probs_50: Any, pred_label_50: Any, true_label_50: Any, model: Any) -> None:
    where = "mục 5, ảnh 50 / section 5, image 50"
    base_model(model)
    x, y = mnist_vectors(False)
    p = expect_array(probs_50, "probs_50", where, (10,)).astype("d")
    outputs = forward(model, x[50:51])
    if not _close(p, outputs[0].astype("d"), atol=1e-4):
        wrong("probs_50", where, "Đây là model.predict(X_test)[50].", "This is model.predict(X_test)[50].")
    if expect_int(pred_label_50, "pred_label_50", where) not in _top_labels(outputs)[0]:
        wrong("pred_label_50", where)
    if expect_int(true_label_50, "true_label_50", where) != y[50].item():
        wrong("true_label_50", where, "Nhãn đúng nằm trong y_test.", "The true label is in y_test.")


SELECTED = (100, 1001, 4123)


def q5_selected(selected_labels: Any, model: Any) -> None:
    where = "mục 5, ảnh 100, 1001, 4123 / section 5, images 100, 1001, 4123"
    base_model(model)
    got = expect_array(selected_labels, "selected_labels", where, (len(SELECTED),))
    if got.dtype.kind not in "iu":
        fail(
            f"`selected_labels` phải chứa số nguyên. Xem {where}.",
            f"`selected_labels` must hold integers. See {where}.",
        )
    x, _ = mnist_vectors(False)
    tops = _top_labels(forward(model, x[list(SELECTED)]))
    if any(label not in top for label, top in zip(got.tolist(), tops)):
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
    if not abs(acc_given - acc) <= ACCURACY_TOLERANCE:
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
    ours = forward(model, x[:200])
    theirs = forward(loaded, x[:200]) if loaded is not model else None  # a patched load_model
    if theirs is None or ours.shape != theirs.shape or not _close(ours, theirs, atol=1e-5):
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
    expect_learned(model_1, "model_1", w, 784)


def ex1_accuracy(model_1: Any) -> None:
    w = EX_WHERE["ex1"]
    expect_trained_model(model_1, "model_1", w, 784)
    expect_accuracy(model_1, "model_1", w, "ex1", *mnist_vectors(False))


def ex2_spec(model_2: Any) -> None:
    w = EX_WHERE["ex2"]
    expect_trained_model(model_2, "model_2", w, 784)
    expect_dense_stack(model_2, "model_2", w, [(784, "relu"), (10, "sigmoid")])
    expect_training_setup(model_2, "model_2", w, "Adam", 0.01, "BinaryCrossentropy")
    expect_learned(model_2, "model_2", w, 784)


def ex2_accuracy(model_2: Any) -> None:
    w = EX_WHERE["ex2"]
    expect_trained_model(model_2, "model_2", w, 784)
    expect_accuracy(model_2, "model_2", w, "ex2", *mnist_vectors(False))


def ex3_data(X_train_new: Any, X_test_new: Any) -> None:
    w = EX_WHERE["ex3"]
    (x_train, _), (x_test, _) = truth_mnist()
    for name, value, ref in (("X_train_new", X_train_new, x_train), ("X_test_new", X_test_new, x_test)):
        arr = expect_array(value, name, w, (ref.shape[0], 784))
        if arr.dtype.kind != "f":
            fail(
                f"`{name}` phải là số thực (float) sau khi chia cho 255, hiện là {arr.dtype}. Xem {w}.",
                f"`{name}` must be float after dividing by 255, got {arr.dtype}. See {w}.",
            )
        rows = slice(None, None, 97)  # a spread-out sample of rows keeps the check cheap
        if not _close(arr[rows], ref.reshape(ref.shape[0], 784)[rows] / 255.0, atol=1e-6):
            wrong(name, w, "Chuẩn hóa: chia giá trị điểm ảnh cho 255.", "Normalise: divide the pixel values by 255.")


def ex3_spec(model_2_new: Any) -> None:
    w = EX_WHERE["ex3"]
    expect_trained_model(model_2_new, "model_2_new", w, 784)
    expect_dense_stack(model_2_new, "model_2_new", w, [(784, "relu"), (10, "sigmoid")])
    expect_training_setup(model_2_new, "model_2_new", w, "Adam", 0.01, "BinaryCrossentropy")
    expect_learned(model_2_new, "model_2_new", w, 784)


def ex3_accuracy(model_2_new: Any) -> None:
    w = EX_WHERE["ex3"]
    expect_trained_model(model_2_new, "model_2_new", w, 784)
    expect_accuracy(model_2_new, "model_2_new", w, "ex3", *mnist_vectors(True))


def confusion(model: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rows = true labels, columns = the model's predictions (computed here)."""
    truth, pred = _one_hot(y, 10, "d"), _one_hot(predicted_labels(model, x), 10, "d")
    return (truth.T @ pred).astype("q")  # counts, exact in float64


def ex4_confusion(cm_ex4: Any, model_2_new: Any) -> None:
    w = EX_WHERE["ex4"]
    cm = expect_array(cm_ex4, "cm_ex4", w, (10, 10))
    if cm.dtype.kind not in "iu":
        fail(f"`cm_ex4` phải chứa số nguyên (số đếm). Xem {w}.", f"`cm_ex4` must hold integers (counts). See {w}.")
    expect_trained_model(model_2_new, "model_2_new", w, 784)
    _, y = mnist_vectors(True)
    cells = cm.reshape(-1).tolist()  # plain ints: no overflow, no NumPy reduction
    if sum(cells) != y.shape[0]:
        wrong(
            "cm_ex4",
            w,
            f"Tổng các ô phải bằng số ảnh test ({y.shape[0]}).",
            f"The cells must add up to the test images ({y.shape[0]}).",
        )
    # The matrix of model_2_new on normalised test images; or on raw ones, so that a mistake in
    # exercise 3's preprocessing is not charged twice. Two predictions may flip between batchings
    # of the same float32 maths: allow that, no more.
    for normalised in (True, False):
        truth = confusion(model_2_new, mnist_vectors(normalised)[0], y).reshape(-1).tolist()
        if sum(abs(a - b) for a, b in zip(cells, truth)) <= 4:
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
        items = _items(shape, tuple, list)
        if items is None or tuple(_plain_int(s) for s in items) != ref.shape:
            wrong(name, w, "Kích thước ảnh gốc (trước khi reshape).", "The raw images' shape (before reshaping).")
    d = x_train.shape[1] * x_train.shape[2] * x_train.shape[3]
    rows = slice(None, None, 97)
    for name, value, ref in (("X_train_CIFAR10", X_train_CIFAR10, x_train), ("X_test_CIFAR10", X_test_CIFAR10, x_test)):
        arr = expect_array(value, name, w, (ref.shape[0], d))
        if not _close(arr[rows], ref.reshape(ref.shape[0], d)[rows] / 255.0, atol=1e-6):
            wrong(
                name,
                w,
                "Reshape thành vector 3072 chiều rồi chia cho 255.",
                "Reshape to 3072-vectors, then divide by 255.",
            )
    y1 = expect_array(y_train_CIFAR10, "y_train_CIFAR10", w, (y_train.shape[0], 10))
    if not _equal(y1.astype("f"), _one_hot(y_train.astype("q"), 10, "f")):
        wrong("y_train_CIFAR10", w, "One-hot với to_categorical.", "One-hot with to_categorical.")
    y2 = expect_array(y_test_CIFAR10, "y_test_CIFAR10", w, (y_test.shape[0],))
    if not _equal(y2.astype("q"), y_test.reshape(-1).astype("q")):
        wrong("y_test_CIFAR10", w, "Giữ nhãn số nguyên, dạng (10000,).", "Keep integer labels, shape (10000,).")


def ex5_spec(model_cifar: Any) -> None:
    w = EX_WHERE["ex5"]
    expect_trained_model(model_cifar, "model_cifar", w, 3072)
    layers = layer_summary(model_cifar)
    dense = [layer for layer in layers if layer[0] == "Dense"]
    if len(dense) != 2 or not layers or layers[-1][0] != "Dense":
        fail(
            f"`model_cifar` có các lớp {[k for k, _, _ in layers]}; cần đúng hai lớp Dense, lớp cuối là Dense. Xem {w}.",
            f"`model_cifar` has layers {[k for k, _, _ in layers]}; it needs exactly two Dense layers, the last one Dense. See {w}.",
        )
    expect_learned(model_cifar, "model_cifar", w, 3072)


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
    if any(k not in {"Dense", "Dropout"} for k in kinds) or not kinds or kinds[-1] != "Dense":
        fail(
            f"`model_3` có các lớp {kinds}; chỉ dùng Dense và Dropout, lớp cuối là Dense. Xem {w}.",
            f"`model_3` has layers {kinds}; use only Dense and Dropout, the last one Dense. See {w}.",
        )
    if kinds.count("Dense") < 3:
        fail(
            f"`model_3` cần ít nhất hai lớp Dense ẩn (cộng lớp đầu ra). Xem {w}.",
            f"`model_3` needs at least two hidden Dense layers (plus the output layer). See {w}.",
        )
    expect_learned(model_3, "model_3", w, 784)


def ex6_accuracy(model_3: Any) -> None:
    w = EX_WHERE["ex6"]
    expect_trained_model(model_3, "model_3", w, 784)
    expect_accuracy(model_3, "model_3", w, "ex6", *mnist_vectors(True))
