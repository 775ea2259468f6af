"""The data loader: the cache first, then Keras; damaged files get a message naming the fix."""

from __future__ import annotations

import numpy as np
import pytest

from ds201_lab1 import data


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    data.load.cache_clear()
    yield tmp_path
    data.load.cache_clear()


def _write_mnist(path, n_train=60000, n_test=10000, **override):
    arrays = {
        "x_train": np.zeros((n_train, 28, 28), np.uint8),
        "y_train": np.arange(n_train, dtype=np.uint8) % 10,
        "x_test": np.zeros((n_test, 28, 28), np.uint8),
        "y_test": np.arange(n_test, dtype=np.uint8) % 10,
    } | override
    np.savez(path, **arrays)


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "x"))
    assert data.cache_dir() == tmp_path / "x"
    monkeypatch.delenv(data.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data.cache_dir() == tmp_path / "ds201-lab1"


def test_reads_the_cache_in_keras_layout_read_only(cache):
    _write_mnist(cache / "mnist.npz")
    (x_train, y_train), (x_test, y_test) = data.mnist()
    assert x_train.shape == (60000, 28, 28) and y_test.shape == (10000,)
    assert y_train[:3].tolist() == [0, 1, 2]
    with pytest.raises(ValueError):
        x_train[0, 0, 0] = 1  # read-only: a notebook cannot change what a later check sees


def test_a_truncated_file_names_the_file_and_the_fix(cache):
    _write_mnist(cache / "mnist.npz")
    blob = (cache / "mnist.npz").read_bytes()
    (cache / "mnist.npz").write_bytes(blob[: len(blob) // 3])
    with pytest.raises(data.DatasetError, match=r"mnist\.npz.*Delete .*prepare\.py"):
        data.mnist()


def test_a_wrong_shape_names_the_array(cache):
    _write_mnist(cache / "mnist.npz", n_train=100)
    with pytest.raises(data.DatasetError, match=r"'x_train' is uint8\[100, 28, 28\], expected uint8\[60000, 28, 28\]"):
        data.mnist()


def test_a_missing_array_is_named(cache):
    np.savez(cache / "cifar10.npz", y_train=np.zeros((1,), np.uint8))
    with pytest.raises(data.DatasetError, match="has no array 'x_train'"):
        data.cifar10()


def test_without_a_cache_keras_downloads(cache, monkeypatch):
    import keras

    calls = []

    def fake_load_data():
        calls.append("mnist")
        return (np.zeros((2, 28, 28), np.uint8), np.zeros(2, np.uint8)), (
            np.zeros((1, 28, 28), np.uint8),
            np.zeros(1, np.uint8),
        )

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fake_load_data)
    (x_train, _), _ = data.mnist()
    assert calls == ["mnist"] and x_train.shape == (2, 28, 28)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("fashion")


def test_the_real_cache_matches_the_published_facts():
    """The facts ../shared/data/README.md states, checked on whatever cache this machine has."""
    data.load.cache_clear()
    if not (data.cache_dir() / "mnist.npz").exists():
        pytest.fail(f"no MNIST in {data.cache_dir()}: run `make data`")
    (_, y_train), (_, y_test) = data.mnist()
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_expanded_folders_are_memory_mapped_as_plain_read_only_arrays(cache):
    _write_mnist(cache / "mnist.npz")
    from_npz = data.mnist()
    data.expand(cache, cache / "expanded")
    assert sorted(p.name for p in (cache / "expanded" / "mnist").iterdir()) == [
        "x_test.npy",
        "x_train.npy",
        "y_test.npy",
        "y_train.npy",
    ]
    data.load.cache_clear()
    (x_train, y_train), (x_test, y_test) = data.read_npy_dir(cache / "expanded" / "mnist", "mnist")
    assert type(x_train) is np.ndarray and isinstance(x_train.base, np.memmap)  # a view of the mapped file
    assert (y_train == from_npz[0][1]).all() and x_test.shape == (10000, 28, 28)
    with pytest.raises(ValueError):
        x_train[0, 0, 0] = 1
    data.expand(cache, cache / "expanded")  # a second call keeps what is there


def test_an_expanded_cache_is_linked_not_decompressed_again(cache, tmp_path_factory):
    _write_mnist(cache / "mnist.npz")
    data.expand(cache, cache)  # what `make data` does
    (cache / "mnist.npz").unlink()  # so nothing below can come from the .npz
    dest = data.expand(cache, tmp_path_factory.mktemp("out") / ".data")
    for key in data.LAYOUT["mnist"]:
        assert (dest / "mnist" / f"{key}.npy").stat().st_ino == (cache / "mnist" / f"{key}.npy").stat().st_ino
    assert data.read_npy_dir(dest / "mnist", "mnist")[1][1].tolist()[:3] == [0, 1, 2]


def test_an_incomplete_expanded_cache_is_expanded_again_from_the_npz(cache, tmp_path_factory):
    _write_mnist(cache / "mnist.npz")
    data.expand(cache, cache)
    (cache / "mnist" / "x_train.npy").unlink()
    dest = data.expand(cache, tmp_path_factory.mktemp("out") / ".data")
    assert (dest / "mnist" / "y_train.npy").stat().st_ino != (cache / "mnist" / "y_train.npy").stat().st_ino
    assert data.read_npy_dir(dest / "mnist", "mnist")[0][0].shape == (60000, 28, 28)


def test_a_damaged_expanded_cache_is_named_not_linked(cache, tmp_path_factory):
    _write_mnist(cache / "mnist.npz")
    data.expand(cache, cache)
    (cache / "mnist" / "y_test.npy").chmod(0o644)
    (cache / "mnist" / "y_test.npy").write_bytes(b"not an npy file")
    with pytest.raises(data.DatasetError, match=r"y_test\.npy is not a readable \.npy file.*Delete"):
        data.expand(cache, out := tmp_path_factory.mktemp("out") / ".data")
    assert [p.name for p in out.iterdir()] == ["mnist.npz"]  # no half-written folder left


def test_the_loader_prefers_the_expanded_folder_and_names_a_damaged_one(cache):
    _write_mnist(cache / "mnist.npz")
    data.expand(cache, cache)
    assert isinstance(data.mnist()[0][0].base, np.memmap)
    data.load.cache_clear()
    (cache / "mnist" / "y_test.npy").chmod(0o644)
    (cache / "mnist" / "y_test.npy").write_bytes(b"not an npy file")
    with pytest.raises(data.DatasetError, match=r"y_test\.npy is not a readable \.npy file.*Delete"):
        data.mnist()


def test_offline_a_missing_dataset_says_so_without_downloading(cache, monkeypatch):
    import keras

    monkeypatch.setenv(data.OFFLINE_VAR, "1")
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: pytest.fail("downloaded while offline"))
    with pytest.raises(data.DatasetsMissing, match=rf"^datasets missing: mnist\.npz not in the dataset cache {cache}"):
        data.mnist()
    _write_mnist(cache / "mnist.npz")
    with pytest.raises(data.DatasetsMissing, match=r"cifar10\.npz .*DS201_DATA_DIR.*Thiếu dữ liệu") as e:
        data.require()
    assert "mnist.npz" not in str(e.value).split(" not in ")[0]  # only what is missing is named


def test_a_failed_download_is_datasets_missing(cache, monkeypatch):
    import keras

    def offline():
        raise Exception("URL fetch failure on https://storage.googleapis.com/…: None -- [Errno -3]")

    monkeypatch.delenv(data.OFFLINE_VAR, raising=False)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(data.DatasetsMissing, match=r"datasets missing: mnist\.npz .*the download failed: URL fetch failure"):
        data.mnist()
