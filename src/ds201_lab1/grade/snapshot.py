"""Inside the student's kernel: save, as data only, the values one question's tests need.

This file runs in the *untrusted* kernel: the executor copies it into the scratch folder and the
stub test files it writes there call :func:`save` when otter's grading mode checks a question (at
the student's ``grader.check`` call, or at the end for questions never checked — otter's rules).
It imports only the standard library and numpy (Keras only for a value that is a Keras model).

Per question it writes ``<out>/<question>/manifest.json`` plus files:

- ``None``/``bool``/``int``/``float``/``str`` and ``list``/``tuple``/``set``/``frozenset``/``dict``
  of them: type-tagged JSON (a tuple stays a tuple, a set a set, dict keys keep their type);
- numpy scalars: type-tagged JSON with their dtype; numpy arrays and tensors: ``.npy`` written with
  ``allow_pickle=False`` (object arrays are refused);
- pandas: a ``Series`` as the dict of its index to its values, a ``DataFrame`` as its array;
- Keras models: ``model.json`` (architecture) + one ``w<i>.npy`` per weight (``get_weights()``
  order; ``.npy`` only, so the trusted side never parses HDF5 written here) + ``training.json``
  (optimizer class, learning rate, iterations, loss, number of weights), in
  ``<out>/models/m<digest>/``: once per distinct model, however many questions take it;
- functions: their outputs on the probe inputs the grader listed (given in the spec), so the
  trusted side can replay them without running student code;
- ``.keras`` files the tests open: the model they hold, saved as above;
- anything else: a marker with the type's name.

Nothing here is trusted by the grader: the verifier re-validates every file it reads.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import sys
from typing import Any

import numpy as np

FORMAT = 1
MAX_ITEMS = 100_000  # elements in one container
MAX_DEPTH = 12
MAX_STR = 1_000_000
PROBE_SECONDS = 10  # a student function that runs longer on one probe is stopped

# The stub the executor writes for each question in place of its test file: otter's grading mode
# "checks" it, which only saves the values the real test takes (the same parameter names).
STUB_TEST = """\
from otter.test_files import test_case

OK_FORMAT = False

name = {name!r}
points = None


@test_case(points=0, hidden=False)
def snapshot({params}):
    import importlib.util, sys
    _mod = sys.modules.get("_ds201_snapshot")
    if _mod is None:
        _spec = importlib.util.spec_from_file_location("_ds201_snapshot", {helper!r})
        _mod = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_mod)
        sys.modules["_ds201_snapshot"] = _mod
    _mod.save({name!r}, {values}, spec_path={spec!r}, out_dir={out!r})
"""


class _Writer:
    """Encodes values into type-tagged JSON, writing arrays and models as files in ``folder``."""

    def __init__(self, folder: str, probes: dict[str, list[dict]], models: str | None = None):
        self.folder = folder
        self.probes = probes
        self.models = models or os.path.join(os.path.dirname(folder), "models")
        self.count = 0

    def _file(self, suffix: str) -> str:
        self.count += 1
        return f"v{self.count}{suffix}"

    def encode(self, value: Any, depth: int = 0, name: str | None = None) -> dict:
        if depth > MAX_DEPTH:
            return {"t": "opaque", "type": "deeply nested value", "reason": f"more than {MAX_DEPTH} levels"}
        if value is None:
            return {"t": "none"}
        if isinstance(value, np.generic):
            return self._np_scalar(value)
        kind = type(value)
        if kind is bool:
            return {"t": "bool", "v": value}
        if kind is int:
            if value.bit_length() > 2000:
                return {"t": "opaque", "type": "int", "reason": "integer too large to save"}
            return {"t": "int", "v": value}
        if kind is float:
            return {"t": "float", "v": _float(value)}
        if kind is str:
            if len(value) > MAX_STR:
                return {"t": "opaque", "type": "str", "reason": "string too long to save"}
            return {"t": "str", "v": value}
        if kind in (list, tuple, set, frozenset):
            items = list(value)
            if len(items) > MAX_ITEMS:
                return {"t": "opaque", "type": kind.__name__, "reason": f"more than {MAX_ITEMS} elements"}
            encoded = [self.encode(v, depth + 1) for v in items]
            if kind in (set, frozenset):
                encoded.sort(key=lambda e: json.dumps(e, sort_keys=True))
            return {"t": kind.__name__, "v": encoded}
        if isinstance(value, dict):
            if len(value) > MAX_ITEMS:
                return {"t": "opaque", "type": kind.__name__, "reason": f"more than {MAX_ITEMS} entries"}
            return {
                "t": "dict",
                "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()],
            }
        if isinstance(value, np.ndarray):
            return self._array(value, "ndarray")
        keras = sys.modules.get("keras")
        if keras is not None and isinstance(value, keras.Model):
            return self._model(value)
        tf = sys.modules.get("tensorflow")
        if tf is not None and isinstance(value, tf.Tensor) and hasattr(value, "numpy"):
            return self._array(np.asarray(value.numpy()), "tensor")
        pd = sys.modules.get("pandas")
        if pd is not None and isinstance(value, pd.Series):  # a mapping of its index to its values
            if len(value) > MAX_ITEMS:
                return {"t": "opaque", "type": "Series", "reason": f"more than {MAX_ITEMS} entries"}
            return {
                "t": "dict",
                "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()],
            }
        if pd is not None and isinstance(value, pd.DataFrame):  # its values, as an array
            return self._array(value.to_numpy(), "ndarray")
        if callable(value) and not isinstance(value, type):
            return self._function(value, name)
        return {"t": "opaque", "type": _type_name(value)}

    def _np_scalar(self, value: np.generic) -> dict:
        kind = value.dtype.kind
        if kind in "biu":
            return {"t": "npscalar", "dtype": value.dtype.str, "v": value.item()}
        if kind == "f":
            return {"t": "npscalar", "dtype": value.dtype.str, "v": _float(float(value))}
        if kind == "c":
            return {
                "t": "npscalar",
                "dtype": value.dtype.str,
                "v": [_float(value.real.item()), _float(value.imag.item())],
            }
        if kind == "U":
            return {"t": "npscalar", "dtype": value.dtype.str, "v": str(value)}
        return {"t": "opaque", "type": _type_name(value)}

    def _array(self, arr: np.ndarray, tag: str) -> dict:
        arr = np.asarray(arr)
        if arr.dtype.hasobject:
            return {"t": "opaque", "type": "ndarray", "reason": "an array of Python objects (dtype=object)"}
        fname = self._file(".npy")
        np.save(os.path.join(self.folder, fname), arr, allow_pickle=False)
        return {"t": tag, "file": fname}

    def _model(self, model: Any) -> dict:
        """Architecture + weights + training state, written once per distinct model (by content) into
        the shared ``models`` folder: the questions that take the same model point at one copy."""
        try:
            config = model.to_json()
            weights = [np.asarray(w) for w in model.get_weights()]
        except Exception as e:  # an unbuilt or exotic model: say so, the check will report it
            return {
                "t": "opaque",
                "type": _type_name(model),
                "reason": f"could not be saved: {type(e).__name__}: {e}"[:500],
            }
        training = json.dumps({**_training_state(model), "weights": len(weights)})
        digest = hashlib.sha256(config.encode() + b"\0" + training.encode())
        for w in weights:
            digest.update(f"{w.dtype.str}{w.shape}".encode() + np.ascontiguousarray(w).tobytes())
        name = "m" + digest.hexdigest()[:24]
        final = os.path.join(self.models, name)
        if not os.path.isdir(final):
            tmp = final + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            for i, w in enumerate(weights):
                np.save(os.path.join(tmp, f"w{i}.npy"), w, allow_pickle=False)
            with open(os.path.join(tmp, "model.json"), "w") as f:
                f.write(config)
            with open(os.path.join(tmp, "training.json"), "w") as f:
                f.write(training)
            os.rename(tmp, final)
        return {"t": "keras_model", "dir": name}

    def _function(self, func: Any, name: str | None) -> dict:
        calls = []
        for probe in self.probes.get(name or "", []):
            args = [_decode_probe(a) for a in probe.get("args", [])]
            kwargs = {k: _decode_probe(v) for k, v in probe.get("kwargs", {}).items()}
            call: dict[str, Any] = {"args": probe.get("args", []), "kwargs": probe.get("kwargs", {})}
            try:
                with _time_limit(PROBE_SECONDS):
                    result = func(*args, **kwargs)
                call["result"] = self.encode(result, 1)
            except Exception as e:  # the student's function raised: record it, the check reports it
                call["raised"] = {"type": type(e).__name__, "message": str(e)[:500]}
            calls.append(call)
        return {"t": "function", "name": str(getattr(func, "__name__", name or "function"))[:100], "calls": calls}


def _float(x: float) -> float | str:
    """JSON has no NaN/inf: keep them as strings."""
    return x if math.isfinite(x) else repr(x)


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"[:200]


def _training_state(model: Any) -> dict:
    state: dict[str, Any] = {"optimizer": None, "loss": None}
    opt = getattr(model, "optimizer", None)
    if opt is not None:
        try:
            lr = float(np.asarray(opt.learning_rate))
        except Exception:  # a schedule object: keep its current value if there is one
            lr = None
        state["optimizer"] = {"class_name": type(opt).__name__, "learning_rate": lr, "iterations": int(opt.iterations)}
    loss = getattr(model, "loss", None)
    keras = sys.modules.get("keras")
    if isinstance(loss, str):
        state["loss"] = {"kind": "name", "name": loss}
    elif keras is not None and isinstance(loss, keras.losses.Loss):
        try:
            config = json.loads(json.dumps(loss.get_config()))
        except (TypeError, ValueError):
            config = {}
        state["loss"] = {"kind": "class", "class_name": type(loss).__name__, "config": config}
    elif callable(loss):
        state["loss"] = {"kind": "function", "name": str(getattr(loss, "__name__", ""))}
    elif loss is not None:
        state["loss"] = {"kind": "other", "type": _type_name(loss)}
    return state


def _decode_probe(e: Any) -> Any:
    """Probe inputs come from the grader as tagged JSON with inline arrays."""
    t = e["t"]
    if t == "array":
        return np.array(e["v"], dtype=e["dtype"]).reshape(e["shape"])
    if t in ("list", "tuple"):
        items = [_decode_probe(v) for v in e["v"]]
        return items if t == "list" else tuple(items)
    if t == "float":
        return float(e["v"])
    return e.get("v")


class _time_limit:
    """Stop a call after ``seconds`` with SIGALRM (main thread only; otherwise no limit)."""

    def __init__(self, seconds: int):
        self.seconds = seconds
        self.old: Any = None

    def _alarm(self, signum: int, frame: Any) -> None:
        raise TimeoutError(f"took longer than {self.seconds} s")

    def __enter__(self) -> None:
        try:
            self.old = signal.signal(signal.SIGALRM, self._alarm)
            signal.alarm(self.seconds)
        except ValueError:  # not in the main thread
            self.old = None

    def __exit__(self, *exc: Any) -> None:
        if self.old is not None:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, self.old)


def _save_file(writer: _Writer, fname: str) -> dict | None:
    if not os.path.isfile(fname):
        return None
    if not fname.endswith(".keras"):
        return {"t": "opaque", "type": "file", "reason": "only .keras files are captured"}
    try:
        import keras

        model = keras.models.load_model(fname, compile=False, safe_mode=True)
    except Exception as e:  # the check itself reports an unloadable file
        return {"t": "broken_file", "error": f"{type(e).__name__}: {e}"[:500]}
    return {"t": "keras_file", "model": writer.encode(model)}


def save(question: str, values: dict[str, Any], *, spec_path: str, out_dir: str) -> None:
    """Write ``values`` (the test functions' arguments) for ``question``; never raises."""
    try:
        with open(spec_path) as f:
            spec = json.load(f)
        final = os.path.join(out_dir, question)
        tmp = final + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        writer = _Writer(tmp, spec.get("probes", {}))
        manifest: dict[str, Any] = {"format": FORMAT, "question": question, "values": {}, "files": {}, "errors": []}
        for name, value in values.items():
            try:
                manifest["values"][name] = writer.encode(value, name=name)
            except Exception as e:  # one unsaveable value must not lose the others
                manifest["values"][name] = {
                    "t": "opaque",
                    "type": _type_name(value),
                    "reason": f"{type(e).__name__}: {e}"[:500],
                }
        for fname in spec.get("files", {}).get(question, []):
            try:
                entry = _save_file(writer, fname)
            except Exception as e:
                entry = {"t": "broken_file", "error": f"{type(e).__name__}: {e}"[:500]}
            if entry is not None:
                manifest["files"][fname] = entry
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            json.dump(manifest, f)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
    except Exception as e:  # the grader sees a missing manifest and says so
        print(f"[grader] could not save the values of {question}: {type(e).__name__}: {e}", file=sys.stderr)
