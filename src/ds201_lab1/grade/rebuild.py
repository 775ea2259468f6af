"""Artifacts back into values, in the trusted process: data only, models from an allow-list only.

The executor's artifacts are untrusted: every file is checked (plain names, no symlink, sizes), arrays
are read with ``allow_pickle=False`` and memory-mapped, and a Keras model is rebuilt from its
architecture JSON and ``.npy`` weights only when every layer, activation, optimizer and loss is on
the allow-lists below. A value that cannot or may not be rebuilt becomes an :func:`opaque` stand-in
whose type name says why, so the check's type message shows the student the reason. A student's
function comes back as a :class:`ReplayedFunction`: its recorded outputs on the probe inputs.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

MAX_MANIFEST_BYTES = 20 * 2**20
MAX_MODEL_JSON_BYTES = 5 * 2**20
MAX_WEIGHTS_BYTES = 1 * 2**30
MAX_WEIGHT_FILES = 1000
MAX_ARRAY_BYTES = 2 * 2**30
MAX_DENSE_UNITS = 65_536
UNSAVED_MODULE = "ds201_lab1.grade.unsaved"

# ---------------------------------------------------------------------------------------------
# What a rebuilt model may contain
# ---------------------------------------------------------------------------------------------
ALLOWED_LAYERS = set("InputLayer Dense Dropout Flatten Activation BatchNormalization Reshape".split())
ALLOWED_MODELS = {"Sequential", "Functional"}
ALLOWED_HELPERS = set(
    "DTypePolicy FloatDTypePolicy __keras_tensor__"  # Keras's own plumbing
    " GlorotUniform GlorotNormal HeUniform HeNormal LecunUniform LecunNormal Zeros Ones Constant RandomNormal"
    " RandomUniform TruncatedNormal Orthogonal Identity VarianceScaling"  # initializers
    " L1 L2 L1L2 OrthogonalRegularizer MaxNorm MinMaxNorm NonNeg UnitNorm".split()  # regularizers, constraints
)
ALLOWED_ACTIVATIONS = set(
    "linear relu sigmoid softmax tanh elu selu softplus softsign swish silu gelu exponential hard_sigmoid"
    " hard_silu hard_swish leaky_relu relu6 log_softmax mish".split()
)
ALLOWED_OPTIMIZERS = set("Adam SGD RMSprop Adagrad AdamW Nadam".split())
ALLOWED_LOSSES = set(
    "BinaryCrossentropy CategoricalCrossentropy SparseCategoricalCrossentropy MeanSquaredError MeanAbsoluteError"
    " Hinge SquaredHinge CategoricalHinge KLDivergence Huber Poisson BinaryFocalCrossentropy"
    " CategoricalFocalCrossentropy LogCosh".split()
)


class GraderLimitation(Exception):
    """The grader cannot rebuild a value (it is not the student's fault, the message says what to do)."""


class ProbeNotRecorded(Exception):
    """A check called a student's function on an input the executor did not record."""


class ArtifactError(Exception):
    """An artifact is missing, too large or malformed."""


OWN_EXCEPTIONS = {"GraderLimitation", "ProbeNotRecorded", "ArtifactError"}


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
    """Turns the executor's tagged JSON (and its files in ``folder``) back into values.

    Models live in the artifacts' shared ``models`` folder; ``models`` (one submission's rebuilt
    models by folder name) lets the questions that take the same model share one rebuild: the
    checks only read a model, they never change it.
    """

    def __init__(self, folder: Path, models: dict[str, Any] | None = None):
        self.folder = folder
        self.models = {} if models is None else models

    def model(self, name: Any) -> Any:
        folder = _safe_child(self.folder.parent / "models", name)
        if folder.name not in self.models:
            self.models[folder.name] = rebuild_model(folder)
        return self.models[folder.name]

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
            return self.model(e.get("dir"))
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
                "its inputs belong in spec.PROBES (a grader limitation, not your error)."
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


def rebuild_model(folder: Path) -> Any:
    """The Keras model saved in ``folder``, or an ``opaque`` stand-in saying why it was refused."""
    try:
        return _rebuild_model(folder)
    except (GraderLimitation, ArtifactError) as e:
        name = "Model"
        try:
            name = json.loads((folder / "model.json").read_text()).get("class_name", name)
        except (OSError, ValueError, AttributeError):
            pass
        return opaque(str(name), f"rejected by the grader: {e}")


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
        model.optimizer.iterations.assign(iterations)  # made with the optimizer; its slots are never needed
    return model


# ---------------------------------------------------------------------------------------------
# One question's values
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
