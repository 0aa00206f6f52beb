"""The torch backend's torchvision path (``torch_impl.vision``) against the scratch side's IDX reader
(``dlfs.data`` through ``scratch.vision``): the same files give the same arrays, bit for bit.

Sources, so the comparison always runs: small MNIST-format IDX sets built in a temporary directory (gzip
and plain, every pixel value 0-255 present), and Debian's real Fashion-MNIST in
``/usr/share/datasets/fashion-mnist/`` where it is installed (``test_data.py`` requires it anyway).
Also: torchvision never downloads, ``v2.ToDtype(scale=True)`` is one ulp off (why the loader divides),
the torch grid (``make_grid``) equals the NumPy grid, and the image experiments write their PNGs with
either backend on torchvision-loaded data.
"""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import datasets
from torchvision.transforms import v2

import dlfs.data.loaders as loaders
import experiments._vision as exp_vision
from dlfs.data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_SYSTEM_DIR,
    fashion_mnist_files,
    load_mnist,
    mnist_files,
    read_idx,
    write_idx,
)
from experiments import autoencoder, cnn, ladder
from scratch import vision as S
from torch_impl import vision as T

SPLITS = ("train", "test")
KEYS = ("X_train", "y_train", "X_test", "y_test")
HAVE_DEBIAN = all((FASHION_MNIST_SYSTEM_DIR / f"{stem}.gz").is_file() for stem in T._RAW_NAMES.values())
SOURCES = ["built-gz", "built-plain"] + (["debian"] if HAVE_DEBIAN else [])
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def never_download(monkeypatch):
    """No test here may reach the network, nor call torchvision's downloader."""
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        assert address[0] == "127.0.0.1", f"a test tried to contact {address}"
        return real(address, *args, **kwargs)

    def no_download(self):
        raise AssertionError(f"{type(self).__name__}.download() was called")

    monkeypatch.setattr(socket, "create_connection", guarded)
    monkeypatch.setattr(datasets.MNIST, "download", no_download)  # FashionMNIST inherits it


def _write_idx_set(root: Path, n_train: int, n_test: int, gz: bool, seed: int = 0) -> dict[str, np.ndarray]:
    """The four IDX files of a small MNIST-format set; every pixel value 0-255 appears in both splits."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for key, n in (("X_train", n_train), ("X_test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        images[0].flat[:256] = np.arange(256, dtype=np.uint8)
        arrays[key] = images
        arrays["y" + key[1:]] = rng.integers(0, 10, n, dtype=np.uint8)
    for key, arr in arrays.items():
        write_idx(root / (T._RAW_NAMES[key] + (".gz" if gz else "")), arr)
    return arrays


# ---------------------------------------------------------------- Fashion-MNIST: built sets and the real files


@pytest.fixture(scope="module", params=SOURCES)
def fashion(request, tmp_path_factory):
    """One source's files, loaded both ways (and torchvision's raw datasets)."""
    data_dir = tmp_path_factory.mktemp(request.param)
    if request.param != "debian":
        _write_idx_set(data_dir / "fashion-mnist", n_train=40, n_test=15, gz=request.param == "built-gz")
    files = fashion_mnist_files(data_dir)
    expected_dir = FASHION_MNIST_SYSTEM_DIR if request.param == "debian" else data_dir / "fashion-mnist"
    assert {p.parent for p in files.values()} == {expected_dir}
    return {"source": request.param, "data_dir": data_dir, "files": files,
            "raw": T.torchvision_datasets("fashion-mnist", data_dir),
            "torch": T.load_dataset("fashion-mnist", data_dir), "scratch": S.load_dataset("fashion-mnist", data_dir)}


@pytest.mark.parametrize("split", SPLITS)
def test_raw_uint8_images_and_labels_equal_the_idx_reader(fashion, split):
    ds, files = fashion["raw"][split], fashion["files"]
    assert isinstance(ds, datasets.FashionMNIST) and ds.train == (split == "train")
    images, labels = read_idx(files[f"X_{split}"], ndim=3), read_idx(files[f"y_{split}"], ndim=1)
    assert images.dtype == labels.dtype == np.uint8 and ds.data.dtype == torch.uint8
    assert np.array_equal(ds.data.numpy(), images)
    assert ds.targets.dtype == torch.int64 and np.array_equal(ds.targets.numpy(), labels)
    assert ds.classes == FASHION_MNIST_CLASSES
    if fashion["source"] == "debian":  # the real thing: 60,000 + 10,000, balanced classes
        assert images.shape == ((60000, 28, 28) if split == "train" else (10000, 28, 28))
        assert np.bincount(labels).tolist() == [len(labels) // 10] * 10
    else:
        assert np.array_equal(np.unique(images[0]), np.arange(256))


@pytest.mark.parametrize("split", SPLITS)
def test_float_arrays_equal_byte_for_byte(fashion, split):
    t, s = fashion["torch"], fashion["scratch"]
    X, y = getattr(t, f"X_{split}"), getattr(t, f"y_{split}")
    X_ref, y_ref = getattr(s, f"X_{split}"), getattr(s, f"y_{split}")
    assert X.dtype == X_ref.dtype == np.float32 and X.shape == X_ref.shape and X.shape[1:] == (1, 28, 28)
    assert y.dtype == y_ref.dtype == np.int64
    assert np.array_equal(X, X_ref) and X.tobytes() == X_ref.tobytes()
    assert np.array_equal(y, y_ref)
    assert X.min() == 0.0 and X.max() == 1.0
    # load_images (one split) agrees with load_dataset, and with scratch's load_images
    for V in (T, S):
        Xs, ys = V.load_images("fashion-mnist", split, fashion["data_dir"])
        assert Xs.tobytes() == X_ref.tobytes() and np.array_equal(ys, y_ref) and ys.dtype == np.int64
    assert t.name == s.name == "fashion-mnist" and t.classes == s.classes == FASHION_MNIST_CLASSES


def test_per_sample_transform_equals_the_batched_one(fashion):
    """``dataset[i]`` (PIL image -> IMAGE_TRANSFORM) is the i-th image of the batched transform."""
    ds, X = fashion["raw"]["test"], fashion["torch"].X_test
    for i in (0, 1, len(ds) - 1):
        image, label = ds[i]
        assert image.shape == (1, 28, 28) and image.dtype == torch.float32 and isinstance(label, int)
        assert np.array_equal(image.as_subclass(torch.Tensor).numpy(), X[i])
        assert label == fashion["torch"].y_test[i]


# ---------------------------------------------------------------- MNIST-format files in a temp dir


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
def test_mnist_format_files(tmp_path, gz):
    arrays = _write_idx_set(tmp_path / "mnist", n_train=30, n_test=12, gz=gz, seed=1)
    t, s = T.load_dataset("mnist", tmp_path), load_mnist(tmp_path)
    raw = T.torchvision_datasets("mnist", tmp_path)
    for key in KEYS:
        assert getattr(t, key).tobytes() == getattr(s, key).tobytes(), key
        assert getattr(t, key).dtype == getattr(s, key).dtype and getattr(t, key).shape == getattr(s, key).shape
    for split in SPLITS:
        ds = raw[split]
        assert type(ds) is datasets.MNIST
        assert np.array_equal(ds.data.numpy(), arrays[f"X_{split}"])
        assert np.array_equal(ds.targets.numpy(), arrays[f"y_{split}"])
        X, y = T.load_images("mnist", split, tmp_path)
        assert X.tobytes() == getattr(s, f"X_{split}").tobytes() and np.array_equal(y, arrays[f"y_{split}"])
        assert np.array_equal(X[:, 0] * np.float32(255), arrays[f"X_{split}"])  # pixel / 255, exactly invertible
    assert t.classes == s.classes and t.name == "mnist"
    # download=True with every file present fetches nothing (the socket guard would fail it)
    assert T.load_dataset("mnist", tmp_path, download=True).X_test.tobytes() == s.X_test.tobytes()
    assert mnist_files(tmp_path) == T.idx_files("mnist", tmp_path)


def test_digits_is_scikit_learns_on_both_sides():
    t, s = T.load_dataset("digits"), S.load_dataset("digits")
    for key in KEYS:
        assert np.array_equal(getattr(t, key), getattr(s, key))
    assert T.load_images("digits", "test")[0].shape == (450, 1, 8, 8)


def test_staging_directory_is_removed(tmp_path, monkeypatch):
    _write_idx_set(tmp_path / "data" / "mnist", n_train=5, n_test=3, gz=True)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    ds = T.torchvision_datasets("mnist", tmp_path / "data", splits=("test",))
    assert list(ds) == ["test"] and len(ds["test"]) == 3
    assert list((tmp_path / "tmp").iterdir()) == []


def test_errors_read_like_dlfs_data(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"apt-get install -y dataset-fashion-mnist"):
        T.load_dataset("fashion-mnist", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"MNIST not found.*download=True"):
        T.load_images("mnist", "train", tmp_path)
    with pytest.raises(ValueError, match=r"split: expected one of \['train', 'test'\], got 'val'"):
        T.load_images("mnist", "val", tmp_path)
    with pytest.raises(ValueError, match=r"dataset: expected one of .*did you mean 'mnist'"):
        T.load_dataset("mnsit")
    root = tmp_path / "mnist"
    _write_idx_set(root, n_train=6, n_test=3, gz=True)
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match="holds 6 images but train-labels-idx1-ubyte.gz holds 5 labels"):
        T.load_dataset("mnist", tmp_path)
    write_idx(root / "train-labels-idx1-ubyte.gz", np.full(6, 10, np.uint8))
    with pytest.raises(ValueError, match=r"expected labels in \[0, 10\), got maximum 10"):
        T.load_dataset("mnist", tmp_path)
    (root / "train-labels-idx1-ubyte.gz").write_bytes((root / "t10k-labels-idx1-ubyte.gz").read_bytes()[:-8])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz'.*corrupt or truncated gzip"):
        T.load_dataset("mnist", tmp_path)


# ---------------------------------------------------------------- the scaling


def test_transform_divides_by_255_and_to_dtype_scale_is_one_ulp_off():
    """IMAGE_TRANSFORM is pixel / 255 exactly; ``v2.ToDtype(float32, scale=True)`` multiplies by
    float32(1/255) and misses the correctly rounded quotient by one ulp for 126 of the 256 values."""
    pixels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    exact = np.arange(256, dtype=np.float32).reshape(1, 1, 16, 16) / np.float32(255)
    ours = T.IMAGE_TRANSFORM(pixels).as_subclass(torch.Tensor).numpy()
    assert ours.dtype == np.float32 and ours.tobytes() == exact.tobytes()
    scaled = v2.ToDtype(torch.float32, scale=True)(v2.ToImage()(pixels)).as_subclass(torch.Tensor).numpy()
    off = scaled != exact
    assert np.array_equal(scaled, np.arange(256, dtype=np.float32).reshape(scaled.shape) * np.float32(1 / 255))
    assert int(off.sum()) == 126, "torchvision changed ToDtype's scaling: revisit IMAGE_TRANSFORM and the docs"
    assert np.all(np.abs(scaled - exact)[off] == np.spacing(np.minimum(scaled, exact))[off])  # one ulp each


# ---------------------------------------------------------------- image grids: make_grid == the NumPy grid


GRID_CASES = [
    ((16, 1, 5, 5), {}),
    ((7, 1, 5, 4), {"nrow": 3, "padding": 1, "pad_value": float("nan")}),
    ((10, 1, 28, 28), {"nrow": 10, "normalize": True, "value_range": (-1, 1), "pad_value": 1.0}),
    ((5, 1, 6, 3), {"normalize": True, "padding": 0}),  # value_range from the batch's min and max
    ((6, 3, 4, 6), {"nrow": 4, "normalize": True, "pad_value": 0.5}),
    ((1, 1, 3, 4), {"padding": 3}),  # one image: returned as it is, unpadded (make_grid's rule)
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kwargs", GRID_CASES)
def test_torch_grid_equals_numpy_grid(shape, kwargs, dtype):
    images = (np.random.default_rng(2).standard_normal(shape) * 1.5).astype(dtype)
    before = images.copy()
    t, s = T.image_grid(images, **kwargs), S.image_grid(images, **kwargs)
    assert t.dtype == s.dtype == dtype and t.shape == s.shape
    assert np.array_equal(t, s, equal_nan=True)
    assert np.array_equal(images, before)  # the input is not modified
    n, c, h, w = shape
    nrow, pad = kwargs.get("nrow", 8), kwargs.get("padding", 2)
    cols, rows = min(nrow, n), -(-n // min(nrow, n))
    expected = (h, w) if n == 1 else (rows * (h + pad) + pad, cols * (w + pad) + pad)
    assert t.shape == (expected if c == 1 else (*expected, 3))
    if kwargs.get("normalize"):
        assert np.nanmin(t[t != kwargs.get("pad_value", 0.0)]) >= 0 and np.nanmax(t) <= 1


def test_grid_layout_by_hand():
    """Three 2x2 images, two to a row, one pixel of padding: image k at (row, col) = divmod(k, 2)."""
    images = np.stack([np.full((1, 2, 2), k + 1.0) for k in range(3)])
    expected = np.array([[0, 0, 0, 0, 0, 0, 0],
                         [0, 1, 1, 0, 2, 2, 0],
                         [0, 1, 1, 0, 2, 2, 0],
                         [0, 0, 0, 0, 0, 0, 0],
                         [0, 3, 3, 0, 0, 0, 0],
                         [0, 3, 3, 0, 0, 0, 0],
                         [0, 0, 0, 0, 0, 0, 0]], dtype=np.float64)
    for V in (S, T):
        assert np.array_equal(V.image_grid(images, nrow=2, padding=1), expected), V.__name__


@pytest.mark.parametrize("V", [S, T], ids=["scratch", "torch"])
def test_grid_rejects_what_it_cannot_draw(V):
    with pytest.raises(TypeError, match=r"floating-point.*got uint8"):
        V.image_grid(np.zeros((2, 1, 3, 3), np.uint8))
    with pytest.raises(ValueError, match=r"C 1 \(greyscale\) or 3 \(RGB\), got shape \(2, 2, 3, 3\)"):
        V.image_grid(np.zeros((2, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"expected a 4-D array, got 3-D"):
        V.image_grid(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match=r"value_range: expected \(low, high\) with low < high"):
        V.image_grid(np.zeros((2, 1, 3, 3)), normalize=True, value_range=(1, 1))
    with pytest.raises(ValueError, match=r"padding: expected an int >= 0, got -1"):
        V.image_grid(np.zeros((2, 1, 3, 3)), padding=-1)


# ---------------------------------------------------------------- the experiments on torchvision-loaded data


@pytest.fixture(scope="module")
def tiny_fashion(tmp_path_factory) -> Path:
    """A data dir with a 120 + 40 image Fashion-MNIST-format set (found before the Debian files)."""
    data_dir = tmp_path_factory.mktemp("tiny-fashion")
    _write_idx_set(data_dir / "fashion-mnist", n_train=120, n_test=40, gz=True, seed=3)
    return data_dir


def test_experiments_refuse_backends_that_see_different_data(tiny_fashion, monkeypatch):
    real = T.load_dataset

    def off_by_one_pixel(*args, **kwargs):
        d = real(*args, **kwargs)
        d.X_test[3, 0, 4, 5] += np.float32(1e-7)
        return d

    monkeypatch.setattr(T, "load_dataset", off_by_one_pixel)
    with pytest.raises(RuntimeError, match=r"fashion-mnist X_test: .*first difference at \[\[3, 0, 4, 5\]\]"):
        exp_vision.load_images_for(["scratch", "torch"], "fashion-mnist", str(tiny_fashion))
    assert exp_vision.load_images_for(["torch"], "fashion-mnist", str(tiny_fashion)).X_test.shape == (40, 1, 28, 28)


@pytest.mark.parametrize("backend", ["scratch", "torch", "both"])
def test_cnn_filters_png_in_every_backend(tmp_path, tiny_fashion, backend):
    out = tmp_path / "cnn"
    m = cnn.main(["--dataset", "fashion-mnist", "--data-dir", str(tiny_fashion), "--backend", backend,
                  "--epochs", "1", "--out", str(out), "--no-progress"])
    assert m["n_train"] == 120 and m["n_test"] == 40 and m["image_shape"] == [1, 28, 28]
    png = (out / "filters.png").read_bytes()
    assert png[:8] == PNG and len(png) > 5_000
    if backend == "both":
        assert m["max_param_diff"] < 1e-4  # float32, one epoch: the same data and batches in both


@pytest.mark.parametrize("backend", ["scratch", "torch"])
def test_autoencoder_grids_png_in_every_backend(tmp_path, tiny_fashion, backend):
    out = tmp_path / "ae"
    m = autoencoder.main(["--dataset", "fashion-mnist", "--data-dir", str(tiny_fashion), "--backend", backend,
                          "--epochs", "1", "--tsne-points", "30", "--tsne-iter", "250", "--perplexity", "8",
                          "--random-encodings", "4", "--out", str(out), "--no-progress"])
    assert m["n_train"] == 120 and m["backends"] == [backend]
    for name in ("reconstructions.png", "random_decodings.png"):
        png = (out / name).read_bytes()
        assert png[:8] == PNG and len(png) > 5_000, name


def test_ladder_loads_through_both_paths(tmp_path, tiny_fashion):
    m = ladder.main(["--dataset", "fashion-mnist", "--data-dir", str(tiny_fashion), "--backend", "both",
                     "--epochs", "1", "--rungs", "sce_tanh", "--out", str(tmp_path / "ladder"), "--no-progress"])
    assert m["n_train"] == 120 and m["rungs"][0]["diff_pp"] < 1.0
