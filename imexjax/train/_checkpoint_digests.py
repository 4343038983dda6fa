"""What a checkpoint's verification compares: the checksums of its arrays and the digest of its metadata."""

import hashlib
import json
from typing import Any

import jax
import numpy as np

from .._custom_types import PyTree
from .._errors import UserError


class DamagedCheckpointError(UserError):
    """A checkpoint cannot be read, or its arrays or metadata differ from those that were saved."""


def checksums(state: dict[str, PyTree]) -> dict[str, str]:
    """The SHA-256 of each item's arrays (their paths, dtypes, shapes and bytes), as hex strings."""
    digests = {}
    for name, tree in state.items():
        digest = hashlib.sha256()
        for path, leaf in jax.tree_util.tree_flatten_with_path(jax.device_get(tree))[0]:
            array = np.ascontiguousarray(leaf)
            digest.update(f"{jax.tree_util.keystr(path)}|{array.dtype}|{array.shape}|".encode())
            digest.update(array.tobytes())
        digests[name] = digest.hexdigest()
    return digests


def meta_digest(meta: dict[str, Any]) -> str:
    """The SHA-256 of `meta` without its `digest` field, as canonical JSON (sorted keys, no spaces), in hex.

    `meta` holds the arrays' `checksums`, so this one digest covers the whole checkpoint.
    """
    fields = {key: value for key, value in meta.items() if key != "digest"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def sealed(meta: dict[str, Any], state: dict[str, PyTree]) -> dict[str, Any]:
    """`meta` with the `checksums` of `state`'s items and the `digest` of the whole, as a checkpoint saves it."""
    meta = {**meta, "checksums": checksums(state)}
    meta["digest"] = meta_digest(meta)
    return meta


def verify(folder: Any, meta: dict[str, Any], state: dict[str, PyTree]) -> None:
    """Checks a restored checkpoint: `meta` against its digest, then `state`'s items against their checksums.

    Args:
      folder: the checkpoint's folder, named in the error.
      meta: its restored metadata.
      state: its restored items (some or all of those saved).

    Raises:
      DamagedCheckpointError: `meta` has no digest (an older imexjax wrote it), or `meta` or
        an item differs from that saved.
    """
    digest = meta.get("digest")
    if digest is None:
        raise DamagedCheckpointError(
            f"checkpoint {folder} cannot be verified (an older imexjax wrote it, without a digest of its meta)"
        )
    if digest != meta_digest(meta):
        raise DamagedCheckpointError(f"checkpoint {folder} is damaged: its meta differs from that saved")
    damaged = [name for name, actual in checksums(state).items() if meta["checksums"].get(name) != actual]
    if damaged:
        raise DamagedCheckpointError(
            f"checkpoint {folder} is damaged: its {', '.join(damaged)} differ from those saved"
        )
