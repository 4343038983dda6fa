"""Tests of the Q-tips data: generator, the authors' folder layout, and the tfds builder."""

import importlib.util
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from scipy.spatial.distance import pdist

from imexjax.data import qtips
from imexjax.data.qtips import _builder

BACKGROUND, BODY, WHITE, BLACK = 64, 128, 255, 1


@pytest.fixture(scope="module")
def many():
    """600 images and labels, uint8 of shape (600, 64, 64), with their classes (600,)."""
    images, labels = qtips.generate_qtips(600, seed=123)
    return images, labels, labels.max(axis=(1, 2))


def _single_line_error(excinfo) -> str:
    """The message of a caught error, checked to be one non-empty line."""
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


def test_shapes_and_dtypes():
    images, labels = qtips.generate_qtips(5, seed=0)
    assert images.shape == labels.shape == (5, 64, 64)
    assert images.dtype == labels.dtype == np.uint8
    images, labels = qtips.generate_qtips(3, seed=0, size=96)
    assert images.shape == labels.shape == (3, 96, 96)


def test_constants():
    assert qtips.NUM_CLASSES == len(qtips.CLASS_NAMES) == 4
    assert qtips.CLASS_NAMES[0] == "background"


def test_labels_are_background_and_one_object_class(many):
    _, labels, classes = many
    for label, object_class in zip(labels, classes, strict=True):
        assert set(np.unique(label).tolist()) == {0, int(object_class)}
    assert set(classes.tolist()) == {1, 2, 3}


def test_same_seed_same_data_and_different_seed_different_data():
    first = qtips.generate_qtips(8, seed=7)
    again = qtips.generate_qtips(8, seed=7)
    other = qtips.generate_qtips(8, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[1], other[1])


def test_grey_levels_follow_the_class(many):
    images, _, classes = many
    expected_markers = {1: {WHITE}, 2: {WHITE, BLACK}, 3: {BLACK}}
    for image, object_class in zip(images, classes, strict=True):
        greys = set(np.unique(image).tolist())
        assert greys == {BACKGROUND, BODY} | expected_markers[int(object_class)]


def test_label_covers_exactly_the_bar_markers_included(many):
    images, labels, _ = many
    np.testing.assert_array_equal(labels > 0, images != BACKGROUND)


def _marker_groups(image: np.ndarray, grey: int) -> list[np.ndarray]:
    """Centroids (row, col) of the 8-connected groups of pixels of one grey level."""
    groups, count = ndimage.label(image == grey, structure=np.ones((3, 3)))
    return [np.array(c) for c in ndimage.center_of_mass(groups > 0, groups, range(1, count + 1))]


def test_markers_sit_at_the_two_ends(many):
    images, _, classes = many
    for image, object_class in list(zip(images, classes, strict=True))[:60]:
        if object_class == 2:
            (white,), (black,) = _marker_groups(image, WHITE), _marker_groups(image, BLACK)
            ends = [white, black]
        else:
            ends = _marker_groups(image, WHITE if object_class == 1 else BLACK)
            assert len(ends) == 2
        # ends lie (length - marker) >= 32 - 7 pixels apart; the body lies between them
        assert np.linalg.norm(ends[0] - ends[1]) > 20
        body = np.argwhere(image == BODY).mean(axis=0)
        assert np.linalg.norm(body - (ends[0] + ends[1]) / 2) < 3


def test_classes_are_balanced(many):
    _, _, classes = many
    fractions = np.bincount(classes, minlength=4)[1:] / len(classes)
    assert np.all((0.25 < fractions) & (fractions < 0.42)), fractions


def test_bar_lengths_span_the_range(many):
    _, labels, _ = many
    extents = np.array([pdist(np.argwhere(label)).max() for label in labels[:40]])
    assert np.all((30 < extents) & (extents < 64)), extents
    assert extents.max() - extents.min() > 15  # lengths vary over [32, 60]


def test_bar_widths_span_the_range(many):
    _, labels, _ = many
    areas = np.count_nonzero(labels, axis=(1, 2))
    extents = np.array([pdist(np.argwhere(label)).max() for label in labels[:40]])
    widths = areas[:40] / extents
    assert np.all((2 < widths) & (widths < 8)), widths
    assert widths.max() - widths.min() > 2  # widths vary over [3, 7]


def test_first_images_do_not_depend_on_the_count():
    few, more = qtips.generate_qtips(3, seed=5), qtips.generate_qtips(9, seed=5)
    assert all(np.array_equal(a, b[:3]) for a, b in zip(few, more, strict=True))


def test_train_does_not_depend_on_the_validation_size():
    small = qtips.qtips_splits(seed=3, num_train=16, num_val=4)
    large = qtips.qtips_splits(seed=3, num_train=16, num_val=12)
    assert all(np.array_equal(a, b) for a, b in zip(small["train"], large["train"], strict=True))
    assert small["val"][0].shape == (4, 64, 64) and large["val"][0].shape == (12, 64, 64)
    assert not np.array_equal(small["train"][0][:4], small["val"][0])


def test_folder_round_trip(tmp_path):
    splits = qtips.qtips_splits(seed=1, num_train=6, num_val=3)
    qtips.write_qtips_folder(tmp_path / "qtips", splits)
    assert (tmp_path / "qtips/val/filenames.txt").read_text().split() == [
        "00000.png",
        "00001.png",
        "00002.png",
    ]
    loaded = qtips.read_qtips_folder(tmp_path / "qtips")
    assert loaded.keys() == {"train", "val"}
    for name in ("train", "val"):
        for got, expected in zip(loaded[name], splits[name], strict=True):
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got, expected)


def test_palette_label_files_are_read_as_class_ids(tmp_path):
    qtips.write_qtips_folder(tmp_path, qtips.qtips_splits(seed=1, num_train=2, num_val=2))
    label_path = tmp_path / "train/labels/00000.png"
    label = np.asarray(Image.open(label_path))
    palette_image = Image.frombytes("P", label.shape[::-1], label.tobytes())
    palette_image.putpalette([255, 0, 0] * 4)  # colours whose grey levels are not the indices
    palette_image.save(label_path)
    np.testing.assert_array_equal(qtips.read_qtips_folder(tmp_path)["train"][1][0], label)


def test_writing_over_a_non_empty_split_is_refused(tmp_path):
    splits = qtips.qtips_splits(seed=1, num_train=2, num_val=2)
    qtips.write_qtips_folder(tmp_path, splits)
    with pytest.raises(qtips.QtipsDataError) as excinfo:
        qtips.write_qtips_folder(tmp_path, splits)
    assert "not empty" in _single_line_error(excinfo)


def test_writing_labels_outside_the_classes_is_refused(tmp_path):
    images, labels = qtips.generate_qtips(2, seed=0)
    labels[0, 0, 0] = 9
    with pytest.raises(qtips.QtipsDataError) as excinfo:
        qtips.write_qtips_folder(tmp_path, {"train": (images, labels), "val": (images, labels)})
    assert "[9]" in _single_line_error(excinfo)
    assert not any(tmp_path.iterdir())


GREY_PALETTE = [level for grey in range(256) for level in (grey, grey, grey)]


def _as_mode(array, mode, is_label):
    """An (H, W) uint8 array as a PIL image of `mode` holding the same values (16-bit images: times 257)."""
    if mode == "I;16":
        return Image.fromarray(array.astype(np.uint16) * (1 if is_label else 257))
    if mode == "P":
        picture = Image.frombytes("P", array.shape[::-1], array.tobytes())
        picture.putpalette(GREY_PALETTE)
        return picture
    alpha = np.full_like(array, 200)  # ignored
    channels = {"RGB": [array] * 3, "RGBA": [array] * 3 + [alpha], "LA": [array, alpha]}[mode]
    return Image.fromarray(np.stack(channels, -1), mode=mode)


def _rewrite_split(root, name, convert):
    """Saves `convert(array, is_label)` in place of every PNG of split `name`."""
    for path in sorted((root / name).glob("*/*.png")):
        convert(np.asarray(Image.open(path)), path.parent.name == "labels").save(path)


@pytest.mark.parametrize("mode", ["I;16", "P", "RGB", "RGBA", "LA"])
def test_images_and_labels_of_other_modes_read_as_their_grey_levels(tmp_path, mode):
    splits = qtips.qtips_splits(seed=1, num_train=2, num_val=2)
    qtips.write_qtips_folder(tmp_path, splits)
    _rewrite_split(tmp_path, "train", lambda array, is_label: _as_mode(array, mode, is_label))
    assert (
        Image.open(tmp_path / "train/images/00000.png").mode
        == Image.open(tmp_path / "train/labels/00000.png").mode
        == mode
    )
    images, labels = qtips.read_qtips_folder(tmp_path)["train"]
    assert images.dtype == labels.dtype == np.uint8
    np.testing.assert_array_equal(images, splits["train"][0])
    np.testing.assert_array_equal(labels, splits["train"][1])


def test_sixteen_bit_images_are_scaled_to_the_eight_bit_range(tmp_path):
    qtips.write_qtips_folder(tmp_path, qtips.qtips_splits(seed=1, num_train=2, num_val=2))
    levels = np.array([[0, 256, 257 * 64, 257 * 128 + 100], [65535, 1000, 30000, 257]], np.uint16)
    Image.fromarray(np.zeros((64, 64), np.uint16)).save(tmp_path / "train/images/00000.png")
    picture = np.zeros((64, 64), np.uint16)
    picture[:2, :4] = levels
    Image.fromarray(picture).save(tmp_path / "train/images/00001.png")
    images = qtips.read_qtips_folder(tmp_path)["train"][0]
    np.testing.assert_array_equal(images[1, :2, :4], [[0, 1, 64, 128], [255, 4, 117, 1]])
    assert images[0].max() == 0


def test_one_bit_files_read_as_black_and_white_images_and_as_class_ids_zero_and_one(tmp_path):
    qtips.write_qtips_folder(tmp_path, qtips.qtips_splits(seed=1, num_train=1, num_val=1))
    bits = np.zeros((64, 64), bool)
    bits[10:20, 5:9] = True
    for folder in ("images", "labels"):
        Image.fromarray(bits).save(tmp_path / f"train/{folder}/00000.png")
    assert Image.open(tmp_path / "train/labels/00000.png").mode == "1"
    images, labels = qtips.read_qtips_folder(tmp_path)["train"]
    np.testing.assert_array_equal(images[0], bits * 255)
    np.testing.assert_array_equal(labels[0], bits)


def _colour_image(root):
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(root / "train/images/00001.png")
    return "train/images/00001.png has colour pixels, and Q-tips images are grey; save it as", root


def _colour_label(root):
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[3, 3] = (1, 0, 0)
    Image.fromarray(rgb).save(root / "val/labels/00000.png")
    return "val/labels/00000.png has colour pixels, and Q-tips labels are grey; save class ids 0..3", root


def _float_image(root):  # PIL cannot write mode F as PNG; it opens files by content, whatever their name
    Image.fromarray(np.zeros((64, 64), np.float32)).save(root / "train/images/00000.png", format="TIFF")
    return "train/images/00000.png has PIL mode F, which Q-tips cannot read; save it as an 8-bit or 16-bit", root


def _float_label(root):
    Image.fromarray(np.zeros((64, 64), np.float32)).save(root / "train/labels/00000.png", format="TIFF")
    return "train/labels/00000.png has PIL mode F, which Q-tips cannot read; save class ids 0..3", root


def _sixteen_bit_label_of_class_256(root):  # must not wrap to 0 in uint8
    label = np.zeros((64, 64), np.uint16)
    label[0, 0] = 256
    Image.fromarray(label).save(root / "train/labels/00000.png")
    return "train/labels/00000.png has values [256] outside 0..3", root


def _list_not_utf8(root):
    (root / "train/filenames.txt").write_bytes(b"00000.png\n\xff\xfe.png\n")
    return "train/filenames.txt is not UTF-8 text (byte 10); save it as UTF-8", root


def _val_of_another_size(root):
    _rewrite_split(root, "val", lambda array, is_label: Image.fromarray(np.zeros((32, 48), np.uint8)))
    return "train are 64x64 but those of", root


def _point_elsewhere(root):
    return "does not exist", root / "elsewhere"


def _remove_val(root):
    shutil.rmtree(root / "val")
    return "val is missing", root


def _remove_labels_folder(root):
    shutil.rmtree(root / "train/labels")
    return "labels is missing", root


def _remove_list(root):
    (root / "train/filenames.txt").unlink()
    return "filenames.txt is missing", root


def _empty_list(root):
    (root / "val/filenames.txt").write_text("\n")
    return "lists no files", root


def _remove_listed_image(root):
    (root / "train/images/00001.png").unlink()
    return "00001.png is listed", root


def _corrupt_png(root):
    (root / "val/images/00001.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return "cannot read PNG", root


def _truncated_png(root):
    path = root / "val/labels/00000.png"
    path.write_bytes(path.read_bytes()[:60])
    return "cannot read PNG", root


def _label_seven(root):
    path = root / "val/labels/00002.png"
    label = np.asarray(Image.open(path)).copy()
    label[5, 5] = 7
    Image.fromarray(label).save(path)
    return "val/labels/00002.png has values [7] outside 0..3", root


def _label_of_another_size(root):
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(root / "train/labels/00000.png")
    return "its label is 32x32", root


def _image_of_another_size(root):
    for folder in ("images", "labels"):
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(root / f"train/{folder}/00001.png")
    return "one size", root


@pytest.mark.parametrize(
    "break_folder",
    [
        _point_elsewhere,
        _remove_val,
        _remove_labels_folder,
        _remove_list,
        _empty_list,
        _remove_listed_image,
        _corrupt_png,
        _truncated_png,
        _label_seven,
        _label_of_another_size,
        _image_of_another_size,
        _colour_image,
        _colour_label,
        _float_image,
        _float_label,
        _sixteen_bit_label_of_class_256,
        _list_not_utf8,
        _val_of_another_size,
    ],
)
def test_unusable_folders_raise_one_line_errors(tmp_path, break_folder):
    root = tmp_path / "qtips"
    qtips.write_qtips_folder(root, qtips.qtips_splits(seed=2, num_train=3, num_val=3))
    expected_text, folder = break_folder(root)
    with pytest.raises(qtips.QtipsDataError) as excinfo:
        qtips.read_qtips_folder(folder)
    assert expected_text in _single_line_error(excinfo)


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is not None,
    reason="TensorFlow is installed: this test checks the path that works without it",
)
def test_tfds_build_and_load_without_tensorflow(tmp_path):
    qtips.build_qtips_tfds(tmp_path)
    qtips.build_qtips_tfds(tmp_path)  # a second build finds the data and does nothing
    assert len(list((tmp_path / "qtips/1.0.0").glob("qtips-*.array_record-*"))) == 2

    loaded = qtips.load_qtips_tfds(tmp_path)
    expected = qtips.qtips_splits()
    assert loaded.keys() == {"train", "val"}
    assert loaded["train"][0].shape == (1024, 64, 64) and loaded["val"][0].shape == (64, 64, 64)
    for name in ("train", "val"):
        for got, want in zip(loaded[name], expected[name], strict=True):
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got, want)
    assert "tensorflow" not in sys.modules


def test_tfds_features_and_defaults(tmp_path):
    builder = qtips.Qtips(data_dir=str(tmp_path))
    assert builder.name == "qtips" and str(builder.version) == "1.0.0"
    assert builder.info.file_format.value == "array_record"
    assert builder.info.features["image"].shape == (64, 64, 1)
    assert builder.info.features["label"].np_dtype == np.uint8
    assert (qtips.Qtips.NUM_TRAIN, qtips.Qtips.NUM_VAL, qtips.Qtips.SEED) == (1024, 64, 0)


def test_loading_an_unbuilt_tfds_dataset_says_how_to_build_it(tmp_path):
    with pytest.raises(qtips.QtipsDataError) as excinfo:
        qtips.load_qtips_tfds(tmp_path)
    assert "build_qtips_tfds" in _single_line_error(excinfo)


def test_tfds_builder_module_can_be_executed_twice():
    spec = importlib.util.spec_from_file_location("imexjax.data.qtips._builder_again", _builder.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # registers `qtips` a second time unless it skips
    assert module.Qtips.name == "qtips"


def test_importing_the_data_packages_imports_no_reader_library():
    code = (
        "import sys, imexjax.data, imexjax.data.qtips, imexjax.data.nyu\n"
        "print(sorted(m for m in ('tensorflow_datasets', 'h5py', 'scipy', 'PIL') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
