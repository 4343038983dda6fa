"""Building and reading the `qtips` tensorflow-datasets dataset.

`tensorflow_datasets` (and the builder `Qtips`, which needs it) is imported only when one of
these functions runs.
"""

import os

import numpy as np

from ._errors import QtipsDataError


def build_qtips_tfds(data_dir: str | os.PathLike) -> None:
    """Generates the `qtips` tfds dataset into `data_dir/qtips/1.0.0` as array_record.

    Downloads nothing and needs no TensorFlow; does nothing if the dataset is already there.

    Args:
      data_dir: the tfds data directory.
    """
    from ._builder import Qtips

    Qtips(data_dir=os.fspath(data_dir)).download_and_prepare()


def load_qtips_tfds(data_dir: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Reads the `qtips` tfds dataset with `tfds.data_source` (no TensorFlow).

    Args:
      data_dir: the tfds data directory that `build_qtips_tfds` wrote.

    Returns:
      `{"train": (images, labels), "val": (images, labels)}` (tfds split `validation` as
      `"val"`), each array uint8 of shape (N, H, W), in the generator's order.

    Raises:
      QtipsDataError: the dataset has not been built in `data_dir`.
    """
    import tensorflow_datasets as tfds

    from ._builder import SPLIT_KEYS, TFDS_NAME, Qtips

    data_dir = os.fspath(data_dir)
    if not Qtips(data_dir=data_dir).is_prepared():
        raise QtipsDataError(f"no qtips tfds dataset in {data_dir}; build it first with build_qtips_tfds({data_dir!r})")
    sources = tfds.data_source(TFDS_NAME, data_dir=data_dir, download=False)
    loaded = {}
    for tfds_split, our_split in SPLIT_KEYS.items():
        examples = [sources[tfds_split][index] for index in range(len(sources[tfds_split]))]
        loaded[our_split] = (
            np.stack([example["image"][..., 0] for example in examples]),
            np.stack([example["label"][..., 0] for example in examples]),
        )
    return loaded
