"""All the stability measurements of one trained segmentation network, in one call."""

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..models import TimeSteppingNet
from ._adversarial import adversarial_metrics
from ._functional import apply_model, split_model
from ._growth import perturbation_growth
from ._jacobian import jacobian_spectral_norm
from ._receptive_field import receptive_field

DEFAULT_EPSILONS: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5)
"""L-infinity radii of the attacks, in units of the training set's standard deviation."""


@dataclasses.dataclass(frozen=True)
class StabilityReport:
    """What `stability_report` measures; `to_json()` gives the `stability.json` entry.

    Attributes:
      receptive_field: mean fraction of input pixels that influence the centre output pixel.
      receptive_field_map: (H, W) influence on the centre pixel of the first image.
      perturbation_growth: mean `||F(x + d) - F(x)|| / ||d||` at the output for small random d.
      growth_by_step: the same ratio for the state after each layer.
      jacobian_norm: mean largest singular value of the input-to-output Jacobian (power iteration).
      adversarial: `epsilons`, and the validation IoU under `fgsm` and `pgd` at each.
      adversarial_accuracy: pixel accuracy (percent) under `fgsm` and `pgd` at each epsilon.
      num_images: the images the receptive field, growth and Jacobian were averaged over.
    """

    receptive_field: float
    receptive_field_map: np.ndarray
    perturbation_growth: float
    growth_by_step: list[float]
    jacobian_norm: float
    adversarial: dict[str, list[float]]
    adversarial_accuracy: dict[str, list[float]]
    num_images: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of everything but the influence map."""
        data = dataclasses.asdict(self)
        del data["receptive_field_map"]
        return data


def stability_report(
    model: TimeSteppingNet,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    class_weights: np.ndarray | None = None,
    num_images: int = 8,
    threshold: float = 1e-3,
    classes: str | int = "argmax",
    perturbation_scale: float = 1e-3,
    power_iterations: int = 30,
    pgd_steps: int = 5,
    seed: int = 0,
) -> StabilityReport:
    """Receptive field, perturbation growth, Jacobian norm and adversarial IoU of a segmentation net.

    Args:
      model: a trained `TimeSteppingNet`.
      images: validation inputs (N, H, W, C), normalized as in training.
      labels: validation labels (N, H, W).
      epsilons: attack radii (the first should be 0: the clean IoU).
      class_weights: weights of the attacked cross entropy (the training loss's), or None.
      num_images: the first `num_images` images are used for the receptive field (centre
        pixel), the perturbation growth and the Jacobian norm; the attacks use all images.
      threshold: relative threshold of the receptive field.
      classes: the centre pixel's outputs differentiated (`argmax`, `all`, or a class).
      perturbation_scale: root-mean-square entry of the random perturbations.
      power_iterations: iterations of the power method.
      pgd_steps: steps of PGD.
      seed: seeds the perturbations and the power method's starting vectors.

    Returns:
      A `StabilityReport`.
    """
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected a non-empty batch of images (N, H, W, C), got shape {images.shape}")
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")
    subset = jnp.asarray(images[:num_images])
    field = receptive_field(model, subset, classes=classes, threshold=threshold)
    growth = perturbation_growth(model, subset, scale=perturbation_scale, key=jax.random.key(seed))
    structure, state = split_model(model)
    keys = jax.random.split(jax.random.key(seed + 1), len(subset))
    norms = [
        float(_spectral_norm(structure, power_iterations, state, x, key)) for x, key in zip(subset, keys, strict=True)
    ]
    attacked = adversarial_metrics(model, images, labels, epsilons, steps=pgd_steps, class_weights=class_weights)
    adversarial = {"epsilons": [float(e) for e in epsilons]}
    adversarial.update({attack: [row["iou"] for row in rows] for attack, rows in attacked.items()})
    accuracy = {attack: [row["accuracy"] for row in rows] for attack, rows in attacked.items()}
    return StabilityReport(
        receptive_field=field.fraction,
        receptive_field_map=field.influence[0],
        perturbation_growth=growth.output,
        growth_by_step=growth.by_layer,
        jacobian_norm=float(np.mean(norms)),
        adversarial=adversarial,
        adversarial_accuracy=accuracy,
        num_images=len(subset),
    )


@functools.partial(jax.jit, static_argnums=(0, 1))
def _spectral_norm(structure, num_iterations, state, x, key):
    """The largest singular value of the Jacobian of one image's logits (H, W, K) in the image (H, W, C)."""

    def single(z):
        return apply_model(structure, state, z[None])[0]

    return jacobian_spectral_norm(single, x, num_iterations=num_iterations, key=key)
