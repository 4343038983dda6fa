"""NYU Depth V2 loaders, on tiny files written in the real on-disk formats."""

import json
import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from imexjax.data import nyu

RED, BLUE = (255, 0, 0), (0, 0, 255)
NEAR, FAR = 1.0, 5.0


# Frames and writers in the real formats.


def pattern_frame(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB left half red, right half blue; depth top half NEAR, bottom half FAR."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2] = RED
    rgb[:, width // 2 :] = BLUE
    depth = np.full((height, width), FAR, np.float32)
    depth[: height // 2] = NEAR
    return rgb, depth


def assert_pattern(rgb: np.ndarray, depth: np.ndarray, height: int, width: int) -> None:
    assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8
    assert depth.shape == (height, width) and depth.dtype == np.float32
    assert np.all(rgb[:, : width // 2] == RED) and np.all(rgb[:, width // 2 :] == BLUE)
    assert np.all(depth[: height // 2] == NEAR) and np.all(depth[height // 2 :] == FAR)


def tagged_frames(n: int, height: int = 4, width: int = 6) -> list[tuple[np.ndarray, np.ndarray]]:
    """Frame i has depth i + 1 everywhere and rgb value i, so reads can be identified."""
    return [(np.full((height, width, 3), i, np.uint8), np.full((height, width), i + 1, np.float32)) for i in range(n)]


def tag(depth: np.ndarray) -> int:
    """The index of a tagged frame from its depth."""
    return int(depth.flat[0]) - 1


def write_labeled_mat(path: Path, frames: list[tuple[np.ndarray, np.ndarray]]) -> Path:
    """Writes frames as MATLAB v7.3 does: a 512-byte user block, arrays transposed."""
    with h5py.File(path, "w", userblock_size=512) as f:
        f["images"] = np.stack([rgb.transpose(2, 1, 0) for rgb, _ in frames])
        f["depths"] = np.stack([depth.T for _, depth in frames])
    return path


def write_fastdepth_file(path: Path, rgb: np.ndarray, depth: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f["rgb"] = rgb.transpose(2, 0, 1)
        f["depth"] = depth


def write_splits(path: Path, train: list[int], test: list[int], layout: str) -> Path:
    """Writes 1-based indices as `splits.mat`: v7.3 row (1, K), v7.3 column (K, 1), or v5."""
    train_array, test_array = np.asarray(train, np.float64), np.asarray(test, np.float64)
    if layout == "v5":
        scipy.io.savemat(path, {"trainNdxs": train_array[:, None], "testNdxs": test_array[:, None]})
        return path
    shape = (1, -1) if layout == "row" else (-1, 1)
    with h5py.File(path, "w", userblock_size=512) as f:
        f["trainNdxs"] = train_array.reshape(shape)
        f["testNdxs"] = test_array.reshape(shape)
    return path


def prepare_tfds(data_dir: Path, fastdepth_root: Path) -> None:
    """Prepares tfds's `nyu_depth_v2` (array_record) from a local FastDepth tree, no TensorFlow.

    Uses tfds's own builder (features, version) and replaces only its download and its
    `tf.io.gfile` listing; images are handed over as PIL images, which tfds encodes without
    TensorFlow.
    """
    import tensorflow_datasets as tfds
    from etils import epath
    from PIL import Image
    from tensorflow_datasets.datasets.nyu_depth_v2 import nyu_depth_v2_dataset_builder as real

    class LocalBuilder(real.Builder, skip_registration=True):
        name = "nyu_depth_v2"

        @classmethod
        def _get_pkg_dir_path(cls) -> epath.Path:
            return epath.Path(real.__file__).parent

        def _split_generators(self, dl_manager):
            return {
                "train": self._generate_examples(fastdepth_root / "train"),
                "validation": self._generate_examples(fastdepth_root / "val"),
            }

        def _generate_examples(self, root_dir):
            for file in sorted(Path(root_dir).rglob("*.h5")):
                with h5py.File(file, "r") as f:
                    yield (
                        f"{file.parent.name}_{file.name}",
                        {
                            "image": Image.fromarray(np.transpose(f["rgb"][()], (1, 2, 0))),
                            "depth": f["depth"][()].astype(np.float16),
                        },
                    )

    LocalBuilder(data_dir=str(data_dir), file_format=tfds.core.FileFormat.ARRAY_RECORD).download_and_prepare()


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory) -> Path:
    """A tfds data_dir with `nyu_depth_v2` prepared: 2 train frames (pattern, tagged), 1 val."""
    root = tmp_path_factory.mktemp("fastdepth_for_tfds")
    write_fastdepth_file(root / "train" / "kitchen" / "00001.h5", *pattern_frame(480, 640))
    write_fastdepth_file(root / "train" / "kitchen" / "00002.h5", *tagged_frames(2, 480, 640)[1])
    write_fastdepth_file(root / "val" / "official" / "00001.h5", *tagged_frames(1, 480, 640)[0])
    data_dir = tmp_path_factory.mktemp("tfds")
    prepare_tfds(data_dir, root)
    return data_dir


# The official labeled subset (.mat).


@pytest.mark.parametrize("num_frames, height, width", [(1, 480, 640), (3, 8, 12)])
def test_labeled_mat_orientation(tmp_path, num_frames, height, width):
    path = write_labeled_mat(tmp_path / "nyu_depth_v2_labeled.mat", [pattern_frame(height, width)] * num_frames)
    with h5py.File(path, "r") as f:  # the file really is stored transposed, as MATLAB writes it
        assert f["images"].shape == (num_frames, 3, width, height) and f["depths"].shape == (num_frames, width, height)
    sources = [nyu.LabeledMatSource(path, split) for split in ("train", "val")]
    assert sum(len(source) for source in sources) == num_frames
    for source in sources:
        for i in range(len(source)):
            assert_pattern(*source[i], height, width)


@pytest.mark.parametrize("layout", ["row", "column", "v5"])
def test_splits_mat_beside_the_file_is_honoured(tmp_path, layout):
    path = write_labeled_mat(tmp_path / "nyu_depth_v2_labeled.mat", tagged_frames(5))
    write_splits(tmp_path / "splits.mat", train=[4, 1, 3], test=[2, 5], layout=layout)
    train, val = nyu.LabeledMatSource(path, "train"), nyu.LabeledMatSource(path, "val")
    assert [tag(train[i][1]) for i in range(len(train))] == [3, 0, 2]
    assert [tag(val[i][1]) for i in range(len(val))] == [1, 4]
    assert train.splits_path == str(tmp_path / "splits.mat")


def test_splits_mat_passed_explicitly(tmp_path):
    path = write_labeled_mat(tmp_path / "nyu_depth_v2_labeled.mat", tagged_frames(4))
    splits = write_splits(tmp_path / "elsewhere.mat", train=[2], test=[1, 3, 4], layout="column")
    val = nyu.LabeledMatSource(path, "val", splits=splits)
    assert [tag(val[i][1]) for i in range(len(val))] == [0, 2, 3]


@pytest.mark.parametrize(
    "train, test, problem",
    [([0, 1], [2], "outside 1..3"), ([1, 4], [2], "outside 1..3"), ([1.5], [2], "whole 1-based")],
)
def test_bad_splits_mat_raises(tmp_path, train, test, problem):
    path = write_labeled_mat(tmp_path / "nyu_depth_v2_labeled.mat", tagged_frames(3))
    write_splits(tmp_path / "splits.mat", train=train, test=test, layout="row")
    with pytest.raises(nyu.NyuDataError, match=problem):
        nyu.LabeledMatSource(path, "train")


def test_fallback_split_is_fixed_disjoint_and_official_sized(tmp_path):
    path = write_labeled_mat(tmp_path / "nyu_depth_v2_labeled.mat", tagged_frames(7))
    train = [tag(nyu.LabeledMatSource(path, "train")[i][1]) for i in range(4)]
    val_source = nyu.LabeledMatSource(path, "val")
    val = [tag(val_source[i][1]) for i in range(len(val_source))]
    assert len(nyu.LabeledMatSource(path, "train")) == 4 and len(val) == 3  # round(7 * 795 / 1449) = 4
    assert sorted(train + val) == list(range(7))
    assert train == [tag(nyu.LabeledMatSource(path, "train")[i][1]) for i in range(4)]
    assert train != [0, 1, 2, 3]  # permuted, not the first frames
    assert len(nyu.fallback_split(1449, "train")) == 795 and len(nyu.fallback_split(1449, "val")) == 654


def test_labeled_mat_source_pickles_and_reopens(tmp_path):
    path = write_labeled_mat(tmp_path / "nyu_depth_v2_labeled.mat", tagged_frames(5))
    source = nyu.LabeledMatSource(path, "train")
    copy = pickle.loads(pickle.dumps(source))
    source.close()
    assert [tag(copy[i][1]) for i in range(len(copy))] == [tag(source[i][1]) for i in range(len(source))]


# The FastDepth tree.


def test_fastdepth_tree_sorted_and_oriented(tmp_path):
    root = tmp_path / "nyudepthv2"
    frames = tagged_frames(4)
    write_fastdepth_file(root / "train" / "scene_b" / "00001.h5", *frames[2])
    write_fastdepth_file(root / "train" / "scene_a" / "00002.h5", *frames[1])
    write_fastdepth_file(root / "train" / "scene_a" / "00001.h5", *frames[0])
    write_fastdepth_file(root / "val" / "official" / "00001.h5", *pattern_frame(480, 640))
    for path in (root, tmp_path):  # the root itself, or the folder the archive was extracted in
        train, val = nyu.FastDepthSource(path, "train"), nyu.FastDepthSource(path, "val")
        assert [tag(train[i][1]) for i in range(len(train))] == [0, 1, 2]
        assert train.name == "fastdepth/train" and len(val) == 1
        assert_pattern(*val[0], 480, 640)


def test_fastdepth_corrupt_file_names_it(tmp_path):
    write_fastdepth_file(tmp_path / "train" / "scene" / "00001.h5", *tagged_frames(1)[0])
    with h5py.File(tmp_path / "train" / "scene" / "00002.h5", "w") as f:
        f["rgb"] = np.zeros((4, 6, 3), np.uint8)  # (H, W, 3): not FastDepth's (3, H, W)
        f["depth"] = np.zeros((4, 6), np.float32)
    source = nyu.FastDepthSource(tmp_path, "train")
    assert tag(source[0][1]) == 0
    with pytest.raises(nyu.NyuDataError, match="00002.h5.*expected uint8 \\(3, H, W\\)") as error:
        source[1]
    assert "\n" not in str(error.value)


def test_fastdepth_missing_split_raises(tmp_path):
    write_fastdepth_file(tmp_path / "train" / "scene" / "00001.h5", *tagged_frames(1)[0])
    with pytest.raises(nyu.NyuDataError, match="no val/ folder with .h5 files"):
        nyu.FastDepthSource(tmp_path, "val")


# tfds.


def test_tfds_mock_data_serves_data_source_without_tensorflow(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE):
        source = nyu.TfdsSource(tmp_path, "val")
        rgb, depth = source[2]
    assert len(source) == 3 and source.name == "tfds/val"
    assert rgb.shape == (480, 640, 3) and rgb.dtype == np.uint8
    assert depth.shape == (480, 640) and depth.dtype == np.float32


def test_tfds_prepared_dataset_orientation_and_splits(tfds_dir):
    train, val = nyu.TfdsSource(tfds_dir, "train"), nyu.TfdsSource(tfds_dir / "nyu_depth_v2", "val")
    assert len(train) == 2 and len(val) == 1
    frames = [train[0], train[1]]
    patterned = [frame for frame in frames if frame[1][0, 0] == NEAR]
    assert len(patterned) == 1
    assert_pattern(*patterned[0], 480, 640)
    assert tag(val[0][1]) == 0


def test_tfds_unprepared_and_tfrecord_raise(tmp_path, tfds_dir):
    (tmp_path / "empty" / "nyu_depth_v2").mkdir(parents=True)
    with pytest.raises(nyu.NyuDataError, match="no prepared version"):
        nyu.TfdsSource(tmp_path / "empty")
    shutil.copytree(tfds_dir / "nyu_depth_v2", tmp_path / "tfrecord" / "nyu_depth_v2")
    (info_path,) = (tmp_path / "tfrecord" / "nyu_depth_v2").glob("*/dataset_info.json")
    info = json.loads(info_path.read_text())
    info["fileFormat"] = "tfrecord"
    info_path.write_text(json.dumps(info))
    with pytest.raises(nyu.NyuDataError, match="prepared as tfrecord.*array_record") as error:
        nyu.TfdsSource(tmp_path / "tfrecord")
    assert "\n" not in str(error.value)


# Format detection, load_nyu and errors.


def test_detect_format_and_load_nyu(tmp_path, tfds_dir):
    (tmp_path / "labeled").mkdir()
    labeled = write_labeled_mat(tmp_path / "labeled" / "nyu_depth_v2_labeled.mat", tagged_frames(3))
    write_fastdepth_file(tmp_path / "fastdepth" / "train" / "scene" / "00001.h5", *tagged_frames(1)[0])
    write_fastdepth_file(tmp_path / "fastdepth" / "val" / "official" / "00001.h5", *tagged_frames(1)[0])
    cases = {
        labeled: "labeled_mat",
        labeled.parent: "labeled_mat",
        tmp_path / "fastdepth": "fastdepth",
        tfds_dir: "tfds",
        tfds_dir / "nyu_depth_v2": "tfds",
    }
    for path, expected in cases.items():
        assert nyu.detect_format(path) == expected, path
        assert nyu.load_nyu(path, split="val").name == f"{expected}/val"
    assert nyu.load_nyu(None, format="synthetic").name == "synthetic/train"


@pytest.mark.parametrize("make", ["missing", "empty_dir", "other_file"])
def test_missing_data_message(tmp_path, make):
    path = tmp_path / "data"
    if make == "empty_dir":
        path.mkdir()
    elif make == "other_file":
        path.write_text("not NYU")
    with pytest.raises(nyu.NyuDataError) as error:
        nyu.load_nyu(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    needles = ("nyu_depth_v2_labeled.mat", "splits.mat", "train/<scene>/*.h5", "nyu_depth_v2/", "--format synthetic")
    for needle in needles:
        assert needle in message


def write_corrupt_text(path: Path) -> None:
    path.write_text("this is not HDF5")


def write_without_depths(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((2, 3, 6, 4), np.uint8)


def write_three_dimensional_images(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((2, 6, 4), np.uint8)
        f["depths"] = np.zeros((2, 6, 4), np.float32)


def write_mismatched_depths(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((2, 3, 6, 4), np.uint8)
        f["depths"] = np.zeros((2, 4, 6), np.float32)


@pytest.mark.parametrize(
    "write, problem",
    [
        (write_corrupt_text, "is not an HDF5"),
        (write_without_depths, "no dataset 'depths'"),
        (write_three_dimensional_images, "'images' is uint8 \\(2, 6, 4\\)"),
        (write_mismatched_depths, "'depths' has shape \\(2, 4, 6\\)"),
    ],
)
def test_corrupt_labeled_mat_raises_one_line(tmp_path, write, problem):
    path = tmp_path / "nyu_depth_v2_labeled.mat"
    write(path)
    with pytest.raises(nyu.NyuDataError, match=problem) as error:
        nyu.load_nyu(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


# Resizing.


def test_resize_keeps_invalid_depth_zero(tmp_path):
    rgb = np.zeros((8, 12, 3), np.uint8)
    depth = np.where(np.indices((8, 12)).sum(axis=0) % 2 == 0, 3.0, 0.0).astype(np.float32)
    small_rgb, small_depth = nyu.resize_frame(rgb, depth, (5, 7))
    assert small_rgb.shape == (5, 7, 3) and small_rgb.dtype == np.uint8
    assert small_depth.shape == (5, 7) and small_depth.dtype == np.float32
    assert set(np.unique(small_depth)) == {0.0, 3.0}  # bilinear would blend to 1.5

    path = write_labeled_mat(tmp_path / "nyu_depth_v2_labeled.mat", [pattern_frame(48, 64)] * 2)
    rgb, depth = nyu.load_nyu(path, resolution=(24, 32))[0]
    assert rgb.shape == (24, 32, 3) and np.array_equal(depth, pattern_frame(24, 32)[1])
    assert np.all(rgb[:, :15] == RED) and np.all(rgb[:, 17:] == BLUE)  # bilinear blends only at the seam


# Synthetic scenes.


def test_synthetic_scenes_deterministic_and_valid():
    train = nyu.SyntheticScenes("train", num_frames=4, resolution=(30, 40), seed=3)
    rgb, depth = train[1]
    assert rgb.shape == (30, 40, 3) and rgb.dtype == np.uint8
    assert depth.shape == (30, 40) and depth.dtype == np.float32
    assert np.all(depth > 0) and np.all(np.isfinite(depth)) and depth.max() < 10
    again = nyu.SyntheticScenes("train", num_frames=4, resolution=(30, 40), seed=3)[1]
    assert np.array_equal(again[0], rgb) and np.array_equal(again[1], depth)
    others = [
        train[2],
        nyu.SyntheticScenes("val", num_frames=4, resolution=(30, 40), seed=3)[1],
        nyu.SyntheticScenes("train", num_frames=4, resolution=(30, 40), seed=4)[1],
    ]
    for other_rgb, other_depth in others:
        assert not np.array_equal(other_depth, depth) and not np.array_equal(other_rgb, rgb)
    assert len(nyu.SyntheticScenes("train")) == 1000 and len(nyu.SyntheticScenes("val")) == 200
    assert nyu.load_nyu(None, format="synthetic", split="val", resolution=(12, 16))[0][1].shape == (12, 16)


def test_synthetic_rgb_carries_depth_cues():
    """Brightness falls with distance from the light, so it correlates with depth."""
    source = nyu.SyntheticScenes("train", num_frames=8, resolution=(60, 80))
    correlations = []
    for i in range(len(source)):
        rgb, depth = source[i]
        correlations.append(np.corrcoef(rgb.astype(np.float64).mean(axis=-1).ravel(), depth.ravel())[0, 1])
    assert np.all(np.isfinite(correlations)) and np.mean(np.abs(correlations)) > 0.1
