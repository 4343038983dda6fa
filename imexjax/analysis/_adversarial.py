"""Adversarial sensitivity: FGSM and projected gradient descent (PGD) in an L-infinity ball."""

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..tasks import confusion_matrix, segmentation_metrics, weighted_cross_entropy
from ._functional import apply_model, split_model

ATTACKS: tuple[str, ...] = ("fgsm", "pgd")
"""The attacks `adversarial_metrics` runs, by name: `fgsm` and `pgd`."""


def fgsm(loss: Callable[[jax.Array], jax.Array], x: jax.Array, epsilon) -> jax.Array:
    """The fast gradient sign method: `x + epsilon * sign(grad loss(x))`.

    Args:
      loss: a scalar JAX function of the input.
      x: the clean input, any shape.
      epsilon (float | jax.Array): the L-infinity radius, >= 0 (a scalar).

    Returns:
      The adversarial input, the shape and dtype of `x`.
    """
    return (x + epsilon * jnp.sign(jax.grad(loss)(x))).astype(x.dtype)


def pgd(loss: Callable[[jax.Array], jax.Array], x: jax.Array, epsilon, *, steps: int = 5, step_size=None) -> jax.Array:
    """Projected gradient ascent of `loss` in the L-infinity ball of radius `epsilon` around `x`.

    `steps` signed-gradient steps of `step_size` (default `2.5 * epsilon / steps`, Madry et
    al. 2018), each followed by clipping to the ball; starts at `x` (no random start), so
    one step of size `epsilon` is FGSM. The steps are unrolled (keep `steps` small).

    Args:
      loss: a scalar JAX function of the input.
      x: the clean input, any shape.
      epsilon (float | jax.Array): the radius, >= 0 (a scalar).
      steps: the number of steps, >= 1.
      step_size (float | jax.Array | None): the size of each step (a scalar); `2.5 * epsilon / steps` when None.

    Returns:
      The adversarial input, within `epsilon` of `x` in every entry.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    grad = jax.grad(loss)
    z = x
    for _ in range(steps):  # unrolled: XLA on CPU runs convolution gradients inside loops ~2x slower
        z = jnp.clip(z + step_size * jnp.sign(grad(z)), x - epsilon, x + epsilon).astype(x.dtype)
    return z


def adversarial_metrics(
    model: Callable[[jax.Array], jax.Array],
    images: np.ndarray,
    labels: np.ndarray,
    epsilons: Sequence[float],
    *,
    attacks: Sequence[str] = ATTACKS,
    steps: int = 5,
    class_weights: np.ndarray | None = None,
    batch_size: int = 16,
    background: int | None = 0,
) -> dict[str, list[dict[str, float]]]:
    """Segmentation metrics of `model` on inputs attacked within L-infinity radius epsilon.

    Each batch is attacked to raise the (class-weighted) cross entropy against its true
    labels; the confusion matrix is accumulated over all images for each attack and epsilon,
    so `epsilon = 0` gives the clean validation metrics. All attacks of a batch run in one
    compiled function.

    Args:
      model: maps (B, H, W, C) inputs to logits (B, H, W, K); a Flax NNX module or a function.
      images: (N, H, W, C) inputs, in the units the model takes (Q-tips: normalized by the
        training mean and std, so epsilon is in training standard deviations).
      labels: (N, H, W) integer class ids.
      epsilons: radii, each >= 0.
      attacks: names in `ATTACKS` (`fgsm`, `pgd`).
      steps: PGD steps.
      class_weights: (K,) weights of the attacked cross entropy, or None for uniform.
      batch_size: images per attacked batch.
      background: the class left out of the mean IoU (see `segmentation_metrics`).

    Returns:
      For each attack, one dict per epsilon: `epsilon`, `iou` (mean over object classes)
      and `accuracy` (percent of pixels right).

    Raises:
      ValueError: an unknown attack, a negative epsilon, or images and labels that disagree.
    """
    attacks = tuple(attacks)
    if not attacks or any(a not in ATTACKS for a in attacks):
        raise ValueError(f"unknown attack in {list(attacks)}; choose from {', '.join(ATTACKS)}")
    epsilons = [float(e) for e in epsilons]
    if any(not np.isfinite(e) or e < 0 for e in epsilons):
        raise ValueError(f"epsilons must be finite and >= 0, got {epsilons}")
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 4 or labels.shape != images.shape[:3]:
        raise ValueError(f"expected images (N, H, W, C) and labels (N, H, W), got {images.shape} and {labels.shape}")
    structure, state = split_model(model)
    weights = None if class_weights is None else jnp.asarray(class_weights, jnp.float32)
    results: dict[str, list[dict[str, float]]] = {attack: [] for attack in attacks}
    for epsilon in epsilons:
        confusions = {attack: 0 for attack in attacks}
        for start in range(0, len(images), batch_size):
            x = jnp.asarray(images[start : start + batch_size])
            y = jnp.asarray(labels[start : start + batch_size].astype(np.int32))
            counts = _attacked_confusions(
                structure, attacks, steps, state, weights, x, y, jnp.asarray(epsilon, x.dtype)
            )
            for attack, count in zip(attacks, counts, strict=True):
                confusions[attack] = confusions[attack] + np.asarray(count, np.int64)
        for attack in attacks:
            metrics = segmentation_metrics(confusions[attack], background=background)
            results[attack].append({"epsilon": epsilon, "iou": metrics["iou"], "accuracy": metrics["accuracy"]})
    return results


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _attacked_confusions(structure, attacks, steps, state, weights, x, y, epsilon):
    def loss(z):
        return weighted_cross_entropy(apply_model(structure, state, z), y, weights)

    counts = []
    for attack in attacks:
        x_adv = fgsm(loss, x, epsilon) if attack == "fgsm" else pgd(loss, x, epsilon, steps=steps)
        logits = apply_model(structure, state, x_adv)
        counts.append(confusion_matrix(y, jnp.argmax(logits, axis=-1), logits.shape[-1]))
    return counts
