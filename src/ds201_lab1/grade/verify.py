"""The trusted stage: rebuild the student's values from data and run the autograder's tests.

Runs as its own process (``python -m ds201_lab1.grade.verify``) and never imports or executes
anything that came from a submission. It reads the artifacts the executor saved (type-tagged JSON,
``.npy`` with ``allow_pickle=False``, Keras architecture JSON + weights), rebuilds Keras models only
when every layer, activation, optimizer and loss is on an allow-list, and runs each test file of the
autograder exactly as otter does — ``ExceptionTestFile.from_file(path).run(env)`` — with ``env``
rebuilt from those artifacts. The hidden tests import ``ds201_lab1.checks`` from the autograder (zip
or folder), so the checks here are the very ones ``otter run`` executes.

Three commands:

- ``plan``: read the test files; write which values each question needs, its points, the files its
  tests open and the probe inputs for the functions the checks call (no student code involved);
- ``run``:  grade one execution's artifacts against the test files; write per-question results;
- ``serve``: what the class grader uses: ``plan`` (or read it), then ``run`` for every request
  read on stdin, in one process per job, so TensorFlow and the data are loaded once per run.

Failure messages of hidden test cases keep only the check's own message (``CheckFailed``, which
never contains the expected value); otter's "Error at line N" source excerpt is dropped.
"""

from __future__ import annotations

import argparse
import ast
import gc
import hashlib
import importlib.util
import inspect
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

PLAN_FORMAT = 1
MAX_MANIFEST_BYTES = 20 * 2**20
MAX_MODEL_JSON_BYTES = 5 * 2**20
MAX_WEIGHTS_BYTES = 1 * 2**30
MAX_WEIGHT_FILES = 1000
MAX_ARRAY_BYTES = 2 * 2**30
MAX_DENSE_UNITS = 65_536
FILE_LITERAL = re.compile(r"^[\w.-]+\.keras$")

# ---------------------------------------------------------------------------------------------
# What a rebuilt model may contain
# ---------------------------------------------------------------------------------------------
ALLOWED_LAYERS = {"InputLayer", "Dense", "Dropout", "Flatten", "Activation", "BatchNormalization", "Reshape"}
ALLOWED_MODELS = {"Sequential", "Functional"}
ALLOWED_HELPERS = {
    "DTypePolicy",
    "FloatDTypePolicy",
    "__keras_tensor__",
    # initializers
    "GlorotUniform",
    "GlorotNormal",
    "HeUniform",
    "HeNormal",
    "LecunUniform",
    "LecunNormal",
    "Zeros",
    "Ones",
    "Constant",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "Orthogonal",
    "Identity",
    "VarianceScaling",
    # regularizers and constraints
    "L1",
    "L2",
    "L1L2",
    "OrthogonalRegularizer",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
}
ALLOWED_ACTIVATIONS = {
    "linear",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "swish",
    "silu",
    "gelu",
    "exponential",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "leaky_relu",
    "relu6",
    "log_softmax",
    "mish",
}
ALLOWED_OPTIMIZERS = {"Adam", "SGD", "RMSprop", "Adagrad", "AdamW", "Nadam"}
ALLOWED_LOSSES = {
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "KLDivergence",
    "Huber",
    "Poisson",
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
    "LogCosh",
}


# Correct versions of the lab's functions, used only by ``plan`` to learn which inputs the checks
# call them with (a check stops at the first wrong output, so the recorder must answer right).
# They never grade anything: the student's recorded outputs are compared by the checks themselves.
def _ref_bce_loss(y_hat: Any, y: Any) -> np.ndarray:
    p = np.clip(np.asarray(y_hat, dtype="float64"), 1e-7, 1 - 1e-7)
    y = np.asarray(y, dtype="float64")
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


REFERENCE_FUNCS: dict[str, Any] = {
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-np.asarray(x, dtype="float64"))),
    "tanh": lambda x: np.tanh(np.asarray(x, dtype="float64")),
    "relu": lambda x: np.where(np.asarray(x) > 0, x, 0.0),
    "bce_loss": _ref_bce_loss,
    "bce_cost": lambda y_hat, y: float(np.mean(_ref_bce_loss(y_hat, y))),
}


class GraderLimitation(Exception):
    """The grader cannot rebuild a value (it is not the student's fault, the message says what to do)."""


class ProbeNotRecorded(Exception):
    """A check called a student's function on an input the executor did not record."""


class ArtifactError(Exception):
    """An artifact is missing, too large or malformed."""


OWN_EXCEPTIONS = {"GraderLimitation", "ProbeNotRecorded", "ArtifactError"}
UNSAVED_MODULE = "ds201_lab1.grade.unsaved"


# ---------------------------------------------------------------------------------------------
# The autograder source: its tests and (when it ships one) its copy of ds201_lab1
# ---------------------------------------------------------------------------------------------
def use_autograder_package(autograder: Path) -> None:
    """Make ``ds201_lab1.checks``/``.data`` resolve to the autograder's copy, as ``otter run`` does."""
    import ds201_lab1

    pkg = autograder / "files" / "ds201_lab1"
    if pkg.is_dir() and str(pkg) not in ds201_lab1.__path__:
        ds201_lab1.__path__.insert(0, str(pkg))


def trust_checks(autograder: Path) -> None:
    """Tell the checks they run in this trusted process (``run``/``serve`` only: no student code here),
    so they may call the rebuilt models directly instead of their tamper-proof, slower NumPy pass."""
    use_autograder_package(autograder)
    from ds201_lab1 import checks

    checks.TRUSTED_PROCESS = True


def assignment_name(autograder: Path) -> str | None:
    config = autograder / "otter_config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text()).get("assignment_name")


def test_files(autograder: Path) -> list[Path]:
    tests = sorted((autograder / "tests").glob("*.py"))
    if not tests:
        raise SystemExit(f"{autograder / 'tests'} holds no test file: pass the built autograder zip or folder.")
    return tests


def _file_literals(source: str) -> list[str]:
    """String constants in a test file that name a ``.keras`` file the test opens."""
    found = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and FILE_LITERAL.match(node.value)
    }
    return sorted(found)


def encode_probe_value(v: Any) -> dict:
    """Probe arguments as tagged JSON with inline arrays (small inputs chosen by the checks)."""
    if isinstance(v, np.ndarray) and not v.dtype.hasobject:
        return {"t": "array", "dtype": v.dtype.str, "shape": list(v.shape), "v": v.tolist()}
    if isinstance(v, (list, tuple)):
        return {"t": type(v).__name__, "v": [encode_probe_value(x) for x in v]}
    if isinstance(v, (bool, int, str)) or v is None:
        return {"t": type(v).__name__, "v": v}
    if isinstance(v, float):
        return {"t": "float", "v": v if math.isfinite(v) else repr(v)}
    raise GraderLimitation(f"cannot record a probe argument of type {type(v).__name__}")


def probe_key(args: tuple, kwargs: dict) -> str:
    return json.dumps(
        {
            "args": [encode_probe_value(a) for a in args],
            "kwargs": {k: encode_probe_value(v) for k, v in kwargs.items()},
        },
        sort_keys=True,
    )


class _Recorder:
    """Stands in for a student's function while ``plan`` learns the inputs the checks use."""

    def __init__(self, name: str, sink: dict[str, dict]):
        self.name, self.sink = name, sink
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            key = probe_key(args, kwargs)
            self.sink[key] = json.loads(key)
        except GraderLimitation:
            pass
        ref = REFERENCE_FUNCS.get(self.name)
        if ref is not None:
            with np.errstate(all="ignore"):
                return ref(*args, **kwargs)
        first = args[0] if args else None
        return np.zeros_like(first, dtype="float64") if isinstance(first, np.ndarray) else 0.0


def exception_test_file() -> type:
    """otter's ``ExceptionTestFile``, imported without running ``otter/__init__``.

    That file imports ``otter.api`` and with it the exporters: 1.5 s of every verifier's start-up,
    on the path to the plan that every grading run waits for. Only ``otter.test_files``
    is needed here, and the test files import nothing else of otter (``from otter.test_files import
    test_case``). An ``otter`` already imported in full is used as it is.
    """
    if "otter" not in sys.modules:
        spec = importlib.util.find_spec("otter")
        if spec is not None and spec.submodule_search_locations:
            sys.modules["otter"] = importlib.util.module_from_spec(spec)  # the package, its __init__ not run
    from otter.test_files import ExceptionTestFile

    return ExceptionTestFile


def build_plan(autograder: Path) -> dict:
    """Questions, their points, the values and files their tests need, and the probes."""
    ExceptionTestFile = exception_test_file()

    use_autograder_package(autograder)
    questions: dict[str, dict] = {}
    probes: dict[str, dict[str, dict]] = {}
    for path in test_files(autograder):
        tf = ExceptionTestFile.from_file(str(path))
        names: list[str] = []
        cases = []
        for tc in tf.test_cases:
            params = list(inspect.signature(tc.body.test_func).parameters)
            if "env" in params:
                raise SystemExit(
                    f"{path}: test {tc.name} takes `env` (the whole environment), which this grader cannot save."
                )
            names += [p for p in params if p not in names]
            cases.append({"name": tc.name, "hidden": bool(tc.hidden), "points": tc.points})
        questions[tf.name] = {
            "test": path.name,
            "names": names,
            "files": _file_literals(path.read_text()),
            "possible": tf.possible,
            "cases": cases,
        }
        callables = [n for n in names if n in REFERENCE_FUNCS]
        if callables:
            env = {}
            for n in callables:
                env[n] = _Recorder(n, probes.setdefault(n, {}))
            tf.run(env)
    return {
        "format": PLAN_FORMAT,
        "assignment_name": assignment_name(autograder),
        "questions": questions,
        "probes": {n: list(calls.values()) for n, calls in sorted(probes.items())},
    }


# ---------------------------------------------------------------------------------------------
# Artifacts -> values
# ---------------------------------------------------------------------------------------------
def _safe_child(folder: Path, name: Any) -> Path:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name) or name in (".", ".."):
        raise ArtifactError(f"bad artifact file name {name!r}")
    path = folder / name
    if path.is_symlink():
        raise ArtifactError(f"artifact {name} is a symlink")
    return path


def opaque(type_name: str, reason: str = "") -> Any:
    """A stand-in for a value the grader could not or would not rebuild; its type name says what it was.

    A check that wants a number, an array or a model then fails with its usual type message, e.g.
    "must be a Keras model, got Sequential (rejected by the grader: layer 'Conv2D' is not allowed)".
    """
    short = re.sub(r"[^\w]", "", str(type_name).rsplit(".", 1)[-1])[:60] or "object"
    label = f"{short} ({reason[:300]})" if reason else short
    text = f"<{type_name} not rebuilt by the grader{': ' + reason[:300] if reason else ''}>"
    cls = type(label, (), {"__repr__": lambda self: text, "__module__": UNSAVED_MODULE})
    return cls()


def is_opaque(value: Any) -> bool:
    return type(value).__module__ == UNSAVED_MODULE


def _float(v: Any) -> float:
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    raise ArtifactError(f"bad float {v!r}")


class Decoder:
    """Turns the executor's tagged JSON (and its files in ``folder``) back into values."""

    def __init__(self, folder: Path, models: dict[str, Any] | None = None):
        self.folder = folder
        self.models = models

    def value(self, e: Any, depth: int = 0) -> Any:
        if depth > 20 or not isinstance(e, dict):
            raise ArtifactError("malformed value")
        t = e.get("t")
        v = e.get("v")
        if t == "none":
            return None
        if t == "bool" and isinstance(v, bool):
            return v
        if t == "int" and isinstance(v, int) and not isinstance(v, bool):
            return v
        if t == "float":
            return _float(v)
        if t == "str" and isinstance(v, str):
            return v
        if t in ("list", "tuple", "set", "frozenset") and isinstance(v, list):
            items = [self.value(x, depth + 1) for x in v]
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[t](items)
        if t == "dict" and isinstance(v, list):
            return {self.value(k, depth + 1): self.value(x, depth + 1) for k, x in v}
        if t == "npscalar":
            return self._np_scalar(e)
        if t in ("ndarray", "tensor"):
            arr = self._array(e.get("file"))
            if t == "tensor":
                import keras

                return keras.ops.convert_to_tensor(arr)
            return arr
        if t == "keras_model":
            return rebuild_model(_safe_child(self.folder, e.get("dir")), self.models)
        if t == "function":
            return ReplayedFunction(str(e.get("name", "function")), e.get("calls", []), self)
        if t == "opaque":
            return opaque(str(e.get("type", "object")), str(e.get("reason", ""))[:300])
        raise ArtifactError(f"unknown value tag {t!r}")

    def _np_scalar(self, e: dict) -> Any:
        dtype = np.dtype(str(e.get("dtype")))
        if dtype.hasobject or dtype.kind not in "biufcU":
            raise ArtifactError(f"bad scalar dtype {dtype}")
        v = e.get("v")
        if dtype.kind == "f":
            v = _float(v)
        elif dtype.kind == "c":
            v = complex(_float(v[0]), _float(v[1]))
        return np.array(v, dtype=dtype)[()]

    def _array(self, name: Any) -> np.ndarray:
        """A saved ``.npy``, memory-mapped copy-on-write: only what a check reads is read."""
        path = _safe_child(self.folder, name)
        if not path.is_file():
            raise ArtifactError(f"array file {name} is missing")
        if path.stat().st_size > MAX_ARRAY_BYTES:
            raise ArtifactError(f"array file {name} is larger than {MAX_ARRAY_BYTES // 2**20} MiB")
        return np.load(path, allow_pickle=False, mmap_mode="c").view(np.ndarray)  # a plain ndarray view


class ReplayedFunction:
    """A student's function, replayed: the recorded output for a recorded input, an error otherwise."""

    def __init__(self, name: str, calls: list, decoder: Decoder):
        self.__name__ = re.sub(r"\W", "_", name)[:100] or "function"
        self._calls: dict[str, dict] = {}
        self._decoder = decoder
        for call in calls if isinstance(calls, list) else []:
            if isinstance(call, dict):
                key = json.dumps({"args": call.get("args", []), "kwargs": call.get("kwargs", {})}, sort_keys=True)
                self._calls[key] = call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            call = self._calls.get(probe_key(args, kwargs))
        except GraderLimitation:
            call = None
        if call is None:
            raise ProbeNotRecorded(
                f"`{self.__name__}` was only run on the grader's probe inputs, not on this one; "
                "re-run the grading with --force after `plan` lists it (a grader limitation, not your error)."
            )
        raised = call.get("raised")
        if isinstance(raised, dict):
            name = str(raised.get("type", "Exception"))
            if not re.fullmatch(r"[A-Za-z_]\w{0,60}", name):
                name = "Exception"
            raise type(name, (Exception,), {})(str(raised.get("message", ""))[:500])
        return self._decoder.value(call.get("result"), 1)


# ---------------------------------------------------------------------------------------------
# Keras models, from an allow-list only
# ---------------------------------------------------------------------------------------------
def check_model_config(config: Any) -> None:
    """Raise ``GraderLimitation`` unless every object in the config is on the allow-lists."""
    if not isinstance(config, dict) or config.get("class_name") not in ALLOWED_MODELS:
        got = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise GraderLimitation(f"model class {got!r} is not allowed (only {sorted(ALLOWED_MODELS)})")
    layers = config.get("config", {}).get("layers")
    if not isinstance(layers, list):
        raise GraderLimitation("the model config has no layer list")
    for layer in layers:
        kind = layer.get("class_name") if isinstance(layer, dict) else None
        if kind not in ALLOWED_LAYERS:
            raise GraderLimitation(f"layer {kind!r} is not allowed (only {sorted(ALLOWED_LAYERS)})")
        units = layer.get("config", {}).get("units")
        if kind == "Dense" and not (isinstance(units, int) and 0 < units <= MAX_DENSE_UNITS):
            raise GraderLimitation(f"a Dense layer with units={units!r} (limit {MAX_DENSE_UNITS})")

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            kind = node.get("class_name")
            if kind is not None:
                allowed = ALLOWED_MODELS | ALLOWED_LAYERS | ALLOWED_HELPERS
                if kind not in allowed:
                    raise GraderLimitation(f"{kind!r} is not allowed in a model")
                module = node.get("module")
                if module is not None and not (isinstance(module, str) and module.startswith("keras")):
                    raise GraderLimitation(f"{kind!r} comes from module {module!r}, not from keras")
                registered = node.get("registered_name")
                if registered not in (None, kind):
                    raise GraderLimitation(f"{kind!r} is registered as custom object {registered!r}")
            for k, v in node.items():
                if k == "activation" and not (v is None or v in ALLOWED_ACTIVATIONS):
                    raise GraderLimitation(f"activation {v!r} is not allowed")
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)

    walk(config)


def _rebuild_loss(spec: Any) -> Any:
    import keras

    if spec is None:
        return None
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind in ("name", "function"):
        name = str(spec.get("name", ""))
        if not re.fullmatch(r"[a-z_]{1,60}", name):
            raise GraderLimitation(f"loss {name!r} is not a Keras loss name")
        try:
            func = keras.losses.get(name)
        except (ValueError, TypeError) as e:
            raise GraderLimitation(f"loss {name!r} is not a Keras loss: {e}") from e
        return name if kind == "name" else func
    if kind == "class":
        cls_name = spec.get("class_name")
        if cls_name not in ALLOWED_LOSSES:
            raise GraderLimitation(f"loss class {cls_name!r} is not allowed")
        cls = getattr(keras.losses, cls_name)
        config = spec.get("config") if isinstance(spec.get("config"), dict) else {}
        config = {k: v for k, v in config.items() if isinstance(v, (int, float, str, bool)) or v is None}
        try:
            return cls.from_config(config)
        except (TypeError, ValueError):
            return cls()
    return None


def _model_key(folder: Path) -> str | None:
    """A digest of a saved model's files (the same model is saved once per question that takes it)."""
    h = hashlib.sha256()
    total = 0
    for path in sorted(folder.iterdir()):
        if path.is_symlink() or not path.is_file():
            return None
        total += path.stat().st_size
        if total > MAX_WEIGHTS_BYTES:
            return None
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def rebuild_model(folder: Path, seen: dict[str, Any] | None = None) -> Any:
    """The Keras model saved in ``folder``, or an ``opaque`` stand-in saying why it was refused.

    ``seen`` (one submission's models by digest) lets the questions that take the same model share
    one rebuild; the checks only read a model, they never change it.
    """
    key = _model_key(folder) if seen is not None and folder.is_dir() else None
    if key is not None and key in seen:
        return seen[key]
    try:
        model = _rebuild_model(folder)
    except (GraderLimitation, ArtifactError) as e:
        name = "Model"
        try:
            name = json.loads((folder / "model.json").read_text()).get("class_name", name)
        except (OSError, ValueError, AttributeError):
            pass
        model = opaque(str(name), f"rejected by the grader: {e}")
    if key is not None:
        seen[key] = model
    return model


def _weights(folder: Path, count: Any) -> list[np.ndarray]:
    """The ``w<i>.npy`` files of a saved model: plain float arrays, nothing else (no HDF5, no pickle)."""
    if not (isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= MAX_WEIGHT_FILES):
        raise ArtifactError(f"bad number of weights {count!r}")
    paths = [_safe_child(folder, f"w{i}.npy") for i in range(count)]
    if any(not p.is_file() for p in paths):
        raise ArtifactError("a weight file is missing")
    if sum(p.stat().st_size for p in paths) > MAX_WEIGHTS_BYTES:
        raise ArtifactError(f"the weights are larger than {MAX_WEIGHTS_BYTES // 2**20} MiB")
    out = [np.load(p, allow_pickle=False, mmap_mode="c").view(np.ndarray) for p in paths]
    if any(w.dtype.kind != "f" for w in out):
        raise ArtifactError("a weight is not an array of floats")
    return out


def _rebuild_model(folder: Path) -> Any:
    import keras

    files = {n: _safe_child(folder, n) for n in ("model.json", "training.json")}
    for name, path in files.items():
        if not path.is_file():
            raise ArtifactError(f"{name} is missing")
        if path.stat().st_size > MAX_MODEL_JSON_BYTES:
            raise ArtifactError(f"{name} is too large")
    config = json.loads(files["model.json"].read_text())
    if isinstance(config, dict):
        config.pop("compile_config", None)  # compiled from training.json below, never from this
    check_model_config(config)
    training = json.loads(files["training.json"].read_text())
    if not isinstance(training, dict):
        raise ArtifactError("malformed training.json")
    weights = _weights(folder, training.get("weights"))
    try:
        model = keras.models.model_from_json(json.dumps(config))
        model.set_weights(weights)
    except Exception as e:  # Keras raises many types for a config or weights it cannot use
        raise GraderLimitation(f"could not rebuild it: {type(e).__name__}: {str(e)[:300]}") from e
    opt = training.get("optimizer")
    if isinstance(opt, dict):
        kind = opt.get("class_name")
        if kind not in ALLOWED_OPTIMIZERS:
            raise GraderLimitation(f"optimizer {kind!r} is not allowed (only {sorted(ALLOWED_OPTIMIZERS)})")
        lr = opt.get("learning_rate")
        iterations = opt.get("iterations")
        if not (isinstance(iterations, int) and 0 <= iterations < 10**9):
            raise ArtifactError(f"bad optimizer iterations {iterations!r}")
        kwargs = {}
        if lr is not None:
            lr = _float(lr)
            if not (math.isfinite(lr) and 0 <= lr < 1e3):
                raise ArtifactError(f"bad learning rate {lr!r}")
            kwargs["learning_rate"] = lr
        optimizer = getattr(keras.optimizers, kind)(**kwargs)
        model.compile(optimizer=optimizer, loss=_rebuild_loss(training.get("loss")))
        model.optimizer.build(model.trainable_variables)
        model.optimizer.iterations.assign(iterations)
    return model


# ---------------------------------------------------------------------------------------------
# Running the tests
# ---------------------------------------------------------------------------------------------
def load_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    if path.is_symlink() or not path.is_file():
        raise ArtifactError("no values were saved for this question")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ArtifactError("the saved values are too large")
    manifest = json.loads(path.read_text())
    if not isinstance(manifest, dict) or not isinstance(manifest.get("values"), dict):
        raise ArtifactError("malformed manifest")
    return manifest


def build_env(
    folder: Path, names: list[str], files: list[str], cwd: Path, models: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The environment the question's tests run against, and warnings for the feedback."""
    manifest = load_manifest(folder)
    decoder = Decoder(folder, models)
    env: dict[str, Any] = {}
    warnings = []
    for name in names:
        if name not in manifest["values"]:
            continue
        try:
            env[name] = decoder.value(manifest["values"][name])
        except (ArtifactError, GraderLimitation, ValueError, OSError) as e:
            env[name] = opaque("unreadable", str(e)[:200])
            warnings.append(f"`{name}`: {e}")
    saved_files = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    for fname in files:
        entry = saved_files.get(fname)
        if not isinstance(entry, dict):
            continue
        target = cwd / fname
        model = decoder.value(entry["model"]) if entry.get("t") == "keras_file" else None
        if model is not None and not is_opaque(model):
            model.save(str(target))
        else:
            reason = repr(model) if model is not None else str(entry.get("error", "unreadable"))
            target.write_text(f"not a Keras file (the grader could not load the submitted one: {reason[:300]})")
    return env, warnings


def _split_otter_message(message: str) -> tuple[str, str]:
    """``(exception type, message)`` from otter's "❌ Test case failed\\nError at line …" text."""
    parts = (message or "").split("\n", 3)
    if len(parts) == 4 and parts[1].startswith("Error at line "):
        kind, _, text = parts[3].partition(": ")
        return kind.strip(), text.strip()
    return "", (message or "").strip()


def case_message(passed: bool, hidden: bool, message: str, failure_message: str | None) -> str:
    """What the feedback may show: public in full, hidden without otter's source excerpt."""
    if passed:
        return ""
    if not hidden:
        return "\n".join(m for m in (failure_message, message) if m)
    kind, text = _split_otter_message(message)
    if kind == "CheckFailed" or kind in OWN_EXCEPTIONS:
        body = text
    else:
        body = (
            f"Bài kiểm tra ẩn báo lỗi {kind or 'không rõ'} khi chạy trên giá trị của bạn.\n"
            f"The hidden test raised {kind or 'an error'} on your values."
        )
    return "\n".join(m for m in (failure_message, body) if m)


def run_tests(plan: dict, autograder: Path, artifacts: Path, workdir: Path) -> dict:
    """Run every question's test file against the values rebuilt from ``artifacts``."""
    ExceptionTestFile = exception_test_file()

    use_autograder_package(autograder)
    results: dict[str, dict] = {}
    models: dict[str, Any] = {}  # this submission's rebuilt models, shared by its questions
    for qname, q in plan["questions"].items():
        cwd = workdir / re.sub(r"[^\w.-]", "_", qname)
        cwd.mkdir(parents=True, exist_ok=True)
        os.chdir(cwd)
        warnings: list[str] = []
        try:
            env, warnings = build_env(_safe_child(artifacts, qname), q["names"], q["files"], cwd, models)
        except (ArtifactError, GraderLimitation) as e:
            env, warnings = {}, [f"{e}"]
        except Exception as e:  # malformed artifacts (deep nesting, bad JSON, …): this question only
            env, warnings = {}, [f"the saved values could not be read: {type(e).__name__}: {str(e)[:200]}"]
        tf = ExceptionTestFile.from_file(str(autograder / "tests" / q["test"]))
        tf.run(env)
        cases = []
        for r in tf.test_case_results:
            tc = r.test_case
            cases.append(
                {
                    "name": tc.name,
                    "hidden": bool(tc.hidden),
                    "points": tc.points,
                    "passed": bool(r.passed),
                    "message": case_message(r.passed, tc.hidden, r.message, tc.failure_message),
                }
            )
        results[qname] = {"score": tf.score, "possible": tf.possible, "cases": cases, "warnings": warnings}
    return results


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True))
    tmp.replace(path)


# The checks' cached data: loaded and converted to float vectors once per verifier, not on its first submission.
WARM_UP_CALLS = (
    ("truth_mnist", ()),
    ("truth_cifar10", ()),
    ("mnist_vectors", (False,)),
    ("mnist_vectors", (True,)),
    ("cifar_vectors", ()),
)


def warm_up(autograder: Path) -> None:
    """Import Keras and load the checks' own copy of the data (and its float vectors) now, while the
    first notebook runs."""
    import keras

    trust_checks(autograder)
    from ds201_lab1 import checks

    for name, args in WARM_UP_CALLS:
        loader = getattr(checks, name, None)  # an older autograder's checks may lack one
        if callable(loader):
            loader(*args)
    keras.backend.clear_session()
    # TensorFlow and Keras are hundreds of thousands of objects that live as long as the process:
    # out of the garbage collector's sight, the collection after each submission takes
    # milliseconds instead of 0.3 s.
    gc.freeze()


def wait_for_plan(plan_path: Path, timeout: float = 600) -> None:
    """Until the first verifier has written the plan (atomically, see :func:`_write_json`)."""
    deadline = time.monotonic() + timeout
    while not plan_path.is_file():
        if time.monotonic() > deadline:
            raise SystemExit(f"no plan at {plan_path} after {timeout:g} s")
        time.sleep(0.05)


def serve(autograder: Path, plan_path: Path, make_plan: bool) -> int:
    """Verify many submissions in one process: one JSON request per line on stdin, one answer per line.

    A request is ``{"artifacts": …, "workdir": …, "out": …}``; the results go to ``out`` (as ``run``
    writes them) and the answer line is ``{"done": seconds}`` or ``{"error": message}``. The answers
    use the original stdout; everything else that prints (Keras, a check) goes to stderr. The first
    line, ``{"ready": true}``, comes once the plan is written (``--make-plan``: then the warm-up
    follows) or, for the others, which start at the same time, after the warm-up once the plan is there.
    """
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    if make_plan:
        _write_json(plan_path, build_plan(autograder))
        answers.write(json.dumps({"ready": True}) + "\n")
        warm_up(autograder)
    else:
        warm_up(autograder)
        wait_for_plan(plan_path)
        answers.write(json.dumps({"ready": True}) + "\n")
    plan = json.loads(plan_path.read_text())
    while line := sys.stdin.readline():
        start = time.monotonic()
        try:
            request = json.loads(line)
            results = run_tests(plan, autograder, Path(request["artifacts"]), Path(request["workdir"]))
            elapsed = round(time.monotonic() - start, 2)
            _write_json(Path(request["out"]), {"questions": results, "elapsed": elapsed})
            answer: dict[str, Any] = {"done": elapsed}
        except Exception as e:  # one bad request must not end the process the others share
            answer = {"error": f"{type(e).__name__}: {str(e)[:500]}"}
        os.chdir("/")
        answers.write(json.dumps(answer) + "\n")
        if "keras" in sys.modules:  # free this submission's models while the parent reads the answer
            sys.modules["keras"].backend.clear_session()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ds201_lab1.grade.verify", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="what each question needs, from the autograder's test files")
    p.add_argument("--autograder", type=Path, required=True, help="extracted autograder (tests/, files/)")
    p.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run", help="grade one execution's artifacts")
    r.add_argument("--autograder", type=Path, required=True)
    r.add_argument("--plan", type=Path, required=True)
    r.add_argument("--artifacts", type=Path, required=True)
    r.add_argument("--workdir", type=Path, required=True, help="an empty folder for the tests' working files")
    r.add_argument("--out", type=Path, required=True)
    v = sub.add_parser("serve", help="grade many executions, one request per line on stdin")
    v.add_argument("--autograder", type=Path, required=True)
    v.add_argument("--plan", type=Path, required=True)
    v.add_argument("--make-plan", action="store_true", help="write the plan first (else read it)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.autograder.resolve(), args.plan.resolve(), args.make_plan)
    if args.command == "plan":
        plan = build_plan(args.autograder.resolve())
        args.out.write_text(json.dumps(plan, indent=1, sort_keys=True))
        return 0
    start = time.monotonic()
    plan = json.loads(args.plan.read_text())
    trust_checks(args.autograder.resolve())
    results = run_tests(plan, args.autograder.resolve(), args.artifacts.resolve(), args.workdir.resolve())
    _write_json(args.out, {"questions": results, "elapsed": round(time.monotonic() - start, 2)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
