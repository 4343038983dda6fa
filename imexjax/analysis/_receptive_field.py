"""The receptive field of a dense-prediction network: which input pixels move one output pixel."""

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._functional import apply_model, split_model


@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """The influence of every input pixel on one output pixel, for one image or a batch.

    Attributes:
      fraction: the fraction of input pixels whose influence exceeds `threshold` times the
        image's largest influence, in [0, 1]; for a batch, the mean of `fractions`.
      fractions: that fraction for each image.
      influence: |d output / d input| at each pixel (max over input channels): (H, W) for one
        image, (N, H, W) for a batch.
      pixel: the output pixel (row, column).
      threshold: the relative threshold used.
    """

    fraction: float
    fractions: list[float]
    influence: np.ndarray
    pixel: tuple[int, int]
    threshold: float


def input_gradient(
    model: Callable[[jax.Array], jax.Array],
    images: jax.Array,
    *,
    pixel: tuple[int, int] | None = None,
    classes: str | int = "argmax",
) -> jax.Array:
    """The gradient of one output pixel's logit(s) with respect to the input image.

    Args:
      model: maps images (B, H, W, C) to per-pixel outputs (B, H, W, K); a Flax NNX module
        or any JAX function. Images must not interact (no batch statistics), as holds for
        every normalization of `imexjax.models`.
      images: one image (H, W, C) or a batch (N, H, W, C).
      pixel: the output pixel (row, column); the centre `(H // 2, W // 2)` when None.
      classes: which outputs of the pixel to differentiate: `"argmax"` (the logit of the
        pixel's predicted class), `"all"` (the sum of all its outputs) or a class index.

    Returns:
      The gradient, of the shape and dtype of `images`.

    Raises:
      ValueError: `images` is not (H, W, C) or (N, H, W, C), `pixel` lies outside the
        image, or `classes` is unknown.
    """
    images = jnp.asarray(images)
    row, col = _check(images, pixel)
    if not (classes in ("argmax", "all") or (isinstance(classes, int) and not isinstance(classes, bool))):
        raise ValueError(f"classes must be 'argmax', 'all' or a class index, got {classes!r}")
    structure, state = split_model(model)
    batch = images if images.ndim == 4 else images[None]
    grad = _pixel_gradient(structure, classes, state, batch, jnp.int32(row), jnp.int32(col))
    return grad if images.ndim == 4 else grad[0]


@functools.partial(jax.jit, static_argnums=(0, 1))
def _pixel_gradient(structure, classes, state, batch, row, col):
    def output(x):
        logits = apply_model(structure, state, x)[:, row, col]  # (N, K)
        if classes == "all":
            return jnp.sum(logits)
        if classes == "argmax":
            chosen = jnp.argmax(jax.lax.stop_gradient(logits), axis=-1)
            return jnp.sum(jnp.take_along_axis(logits, chosen[:, None], axis=-1))
        return jnp.sum(logits[:, classes])

    return jax.grad(output)(batch)


def receptive_field(
    model: Callable[[jax.Array], jax.Array],
    images: jax.Array,
    *,
    pixel: tuple[int, int] | None = None,
    classes: str | int = "argmax",
    threshold: float = 1e-3,
) -> ReceptiveField:
    """The fraction of input pixels that influence one output pixel, and the influence map.

    A pixel counts when the largest |gradient| over its input channels exceeds
    `threshold * max |gradient|` over the image. A 3x3 convolution gives a 3x3 field; an
    IMEX step, whose implicit solve couples every pixel of a channel, gives the whole image.

    Args:
      model: maps images (B, H, W, C) to per-pixel outputs (B, H, W, K), as in `input_gradient`.
      images: one image (H, W, C) or a batch (N, H, W, C).
      pixel: the output pixel (row, column); the centre `(H // 2, W // 2)` when None.
      classes: `"argmax"`, `"all"` or a class index, as in `input_gradient`.
      threshold: relative threshold in [0, 1); 0 counts every pixel with a nonzero gradient.

    Returns:
      A `ReceptiveField`.

    Raises:
      ValueError: as `input_gradient`, or `threshold` outside [0, 1).
    """
    if not (0.0 <= threshold < 1.0):
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    images = jnp.asarray(images)
    row, col = _check(images, pixel)
    grad = input_gradient(model, images, pixel=(row, col), classes=classes)
    influence = np.asarray(jnp.max(jnp.abs(grad), axis=-1), dtype=np.float64)
    batch = influence if influence.ndim == 3 else influence[None]
    fractions = []
    for image_influence in batch:
        peak = image_influence.max()
        fractions.append(float(np.mean(image_influence > threshold * peak)) if peak > 0 else 0.0)
    return ReceptiveField(
        fraction=float(np.mean(fractions)),
        fractions=fractions,
        influence=influence,
        pixel=(row, col),
        threshold=float(threshold),
    )


def _check(images: jax.Array, pixel: tuple[int, int] | None) -> tuple[int, int]:
    if images.ndim not in (3, 4):
        raise ValueError(f"expected an image (H, W, channels) or a batch (N, H, W, channels), got shape {images.shape}")
    height, width = images.shape[-3:-1]
    row, col = (height // 2, width // 2) if pixel is None else (int(pixel[0]), int(pixel[1]))
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(f"pixel {(row, col)} lies outside the {height}x{width} image")
    return row, col
