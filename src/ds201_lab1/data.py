"""Datasets for the lab: MNIST and CIFAR-10 as Keras' ``load_data()`` tuples.

Where they come from, in order:

1. a cache folder named by the environment variable ``DS201_DATA_DIR`` (default
   ``~/.cache/ds201-lab1``) holding, per dataset, either a folder of plain ``.npy`` files
   (``mnist/x_train.npy`` …, memory-mapped: processes share the pages, nothing is decompressed;
   :func:`expand` writes them, the class grader does so once per run) or a Keras-layout ``.npz``
   file (``mnist.npz``, ``cifar10.npz``);
2. ``keras.datasets.<name>.load_data()``, which downloads (and caches in ``~/.keras``) — unless
   the environment variable ``DS201_OFFLINE`` is ``1`` (grading images set it: grading never
   downloads).

A cache file that exists but is damaged raises :class:`DatasetError` naming the file and the fix;
it is never silently replaced by a download. A dataset that is in no cache and cannot (or may
not) be downloaded raises :class:`DatasetsMissing`, whose message starts with ``datasets missing:``
and says how to fix it; :func:`require` checks every dataset at once (the autograder's pre-flight). Arrays are returned read-only, so a notebook that
writes into them gets an error instead of quietly changing what a later check sees.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from functools import cache
from pathlib import Path

import numpy as np

ENV_VAR = "DS201_DATA_DIR"
OFFLINE_VAR = "DS201_OFFLINE"  # "1": a cache miss raises DatasetsMissing instead of downloading

# name -> expected (shape, dtype) of each array in Keras' layout
LAYOUT: dict[str, dict[str, tuple[tuple[int, ...], str]]] = {
    "mnist": {
        "x_train": ((60000, 28, 28), "uint8"),
        "y_train": ((60000,), "uint8"),
        "x_test": ((10000, 28, 28), "uint8"),
        "y_test": ((10000,), "uint8"),
    },
    "cifar10": {
        "x_train": ((50000, 32, 32, 3), "uint8"),
        "y_train": ((50000, 1), "uint8"),
        "x_test": ((10000, 32, 32, 3), "uint8"),
        "y_test": ((10000, 1), "uint8"),
    },
}

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class DatasetError(RuntimeError):
    """A cached dataset file is present but unusable."""


class DatasetsMissing(DatasetError):
    """A dataset is in no cache and cannot be downloaded (or downloads are off: ``DS201_OFFLINE=1``)."""


def missing_message(names: list[str], why: str = "") -> str:
    """The one message for missing datasets: what is missing, where it was looked for, how to fix it."""
    folder = cache_dir()
    files = ", ".join(f"{n}.npz" for n in names)
    why = f" ({why})" if why else ""
    return (
        f"datasets missing: {files} not in the dataset cache {folder}{why}. "
        f"Fix: put {files} (Keras' layout) into {folder} (or point {ENV_VAR} at a folder holding them): "
        "`make data` on a staff machine, or build the autograder zip with the data "
        "(`python -m ds201_lab1.build --data-zip lab1-autograder-data.zip`) and rebuild the grading image; "
        f"with internet, unset {OFFLINE_VAR} to let Keras download them. "
        f"/ Thiếu dữ liệu: không có {files} trong thư mục cache {folder}. Cách sửa: chép {files} vào "
        f"{folder} (hoặc đặt {ENV_VAR} là thư mục chứa chúng), hoặc tạo tệp zip autograder kèm dữ liệu "
        "(`--data-zip`) rồi dựng lại môi trường chấm."
    )


def offline() -> bool:
    """True when downloads are off (``DS201_OFFLINE=1``, set by the grading image)."""
    return os.environ.get(OFFLINE_VAR, "") == "1"


def cache_dir() -> Path:
    """The folder searched for ``<name>.npz`` before Keras downloads."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ds201-lab1"


def _fix_hint(path: Path) -> str:
    return (
        f"Delete {path} and run again (Keras will download the data), or rebuild the cache with "
        f"`python ../shared/data/prepare.py {path.parent}`. "
        f"/ Xóa {path} rồi chạy lại (Keras sẽ tải dữ liệu), hoặc tạo lại cache bằng prepare.py."
    )


def read_npz(path: Path, name: str) -> Split:
    """Read and validate one Keras-layout ``.npz`` file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in LAYOUT[name] if key in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{path} is not a readable .npz file ({e}). {_fix_hint(path)}") from e
    return _checked(arrays, name, path)


def _checked(arrays: dict[str, np.ndarray], name: str, where: Path) -> Split:
    for key, (shape, dtype) in LAYOUT[name].items():
        if key not in arrays:
            raise DatasetError(f"{where} has no array '{key}'. {_fix_hint(where)}")
        a = arrays[key]
        if a.shape != shape or a.dtype != np.dtype(dtype):
            raise DatasetError(
                f"{where}: '{key}' is {a.dtype}{list(a.shape)}, expected {dtype}{list(shape)}. {_fix_hint(where)}"
            )
        a.flags.writeable = False
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def read_npy_dir(folder: Path, name: str) -> Split:
    """Memory-map (read-only) the ``.npy`` files :func:`expand` wrote; plain ``ndarray`` views of them."""
    arrays = {}
    for key in LAYOUT[name]:
        path = folder / f"{key}.npy"
        if not path.is_file():
            continue
        try:
            arrays[key] = np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
        except (OSError, ValueError, EOFError) as e:
            raise DatasetError(f"{path} is not a readable .npy file ({e}). {_fix_hint(folder)}") from e
    return _checked(arrays, name, folder)


def expand(source: Path, dest: Path) -> Path:
    """Write every dataset of ``source`` as ``dest/<name>/<array>.npy`` (once); return ``dest``.

    Plain ``.npy`` files can be memory-mapped, so every process that loads them shares one copy in
    memory and skips the decompression. When ``source`` holds them already (``make data`` expands
    the cache in place: ``dest`` may be ``source``), they are hard-linked, or copied across file
    systems, instead of decompressed from ``<name>.npz`` again.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for name in LAYOUT:
        npz, folder, expanded = source / f"{name}.npz", dest / name, source / name
        if npz.is_file() and not (dest / npz.name).exists():
            os.symlink(npz, dest / npz.name)  # for a loader that only knows .npz files
        if folder.is_dir():
            continue
        ready = expanded.is_dir() and all((expanded / f"{key}.npy").is_file() for key in LAYOUT[name])
        if not (ready or npz.is_file()):
            continue
        if ready:
            read_npy_dir(expanded, name)  # validated, as if it were read
        tmp = dest / f".{name}.tmp-{os.getpid()}"
        tmp.mkdir()
        if ready:
            for key in LAYOUT[name]:
                link_or_copy(expanded / f"{key}.npy", tmp / f"{key}.npy")
        else:
            (x_train, y_train), (x_test, y_test) = read_npz(npz, name)
            for key, a in zip(LAYOUT[name], (x_train, y_train, x_test, y_test), strict=True):
                np.save(tmp / f"{key}.npy", a, allow_pickle=False)
                (tmp / f"{key}.npy").chmod(0o444)
        os.rename(tmp, folder)
    return dest


def link_or_copy(src: Path, dst: Path) -> None:
    """A hard link (one copy on disk and in memory) when ``src`` is world-readable, else a read-only copy
    (a link shares the mode, and a sandboxed notebook must be able to read the file)."""
    try:
        if not src.stat().st_mode & 0o004:
            raise OSError("not world-readable")
        os.link(src, dst)
    except OSError:  # not world-readable, another file system, or links not allowed
        shutil.copyfile(src, dst)
        dst.chmod(0o444)


@cache
def load(name: str) -> Split:
    """``(x_train, y_train), (x_test, y_test)`` for ``name`` in ``LAYOUT``; cached per process."""
    if name not in LAYOUT:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(LAYOUT)}")
    folder = cache_dir() / name
    if folder.is_dir():
        return read_npy_dir(folder, name)
    path = cache_dir() / f"{name}.npz"
    if path.exists():
        return read_npz(path, name)
    if offline():
        raise DatasetsMissing(missing_message([name], f"{OFFLINE_VAR}=1: downloads are off"))
    import keras  # only when the cache misses: keeps TensorFlow out of cheap processes

    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as e:  # Keras raises a bare Exception ("URL fetch failure …") when offline
        raise DatasetsMissing(missing_message([name], f"the download failed: {e}")) from e
    for a in (x_train, y_train, x_test, y_test):
        a.flags.writeable = False
    return (x_train, y_train), (x_test, y_test)


def require(names: tuple[str, ...] = tuple(LAYOUT)) -> None:
    """Load (and validate) every dataset of ``names``; raise one :class:`DatasetsMissing` naming all missing."""
    missing = []
    for name in names:
        try:
            load(name)
        except DatasetsMissing:
            missing.append(name)
    if missing:
        raise DatasetsMissing(missing_message(missing, f"{OFFLINE_VAR}=1" if offline() else ""))


def mnist() -> Split:
    """MNIST: 60,000/10,000 greyscale 28×28 digits, labels 0–9 (Keras' layout)."""
    return load("mnist")


def cifar10() -> Split:
    """CIFAR-10: 50,000/10,000 colour 32×32 images, labels (N, 1) in 0–9 (Keras' layout)."""
    return load("cifar10")
