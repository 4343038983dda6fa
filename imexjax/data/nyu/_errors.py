"""The one error type of the NYU loaders, and the message for data that is not there."""

import os

from ..._errors import UserError


class NyuDataError(UserError, ValueError):
    """NYU Depth V2 data is missing, not recognised, or corrupt.

    The message is always one line that names the path, what is wrong, and how to fix it.
    """


def missing_data_message(path: str | os.PathLike) -> str:
    """The one-line message for a `path` that holds no NYU data in any accepted layout."""
    return (
        f"no NYU Depth V2 data at {os.fspath(path)}: pass --data pointing to "
        "nyu_depth_v2_labeled.mat (official labeled subset, optional splits.mat beside it), "
        "a FastDepth folder holding train/<scene>/*.h5 and val/, or a tfds data_dir holding "
        "nyu_depth_v2/ (prepared with file_format=array_record); or use --format synthetic"
    )
