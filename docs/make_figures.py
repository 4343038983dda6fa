"""Draws the documentation's small figures with the library's own functions (seconds on a CPU).

    python docs/make_figures.py            # writes docs/figures/{qtips_samples,implicit_spread}.png

The other figures in docs/figures/ come from the experiments (see the page that shows each):
`python experiments/qtips.py` (predictions, history), `python experiments/stability.py`
(stability regions, receptive fields, perturbation growth, adversarial).
"""

import argparse
import pathlib

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import imexjax as ix  # noqa: E402
from imexjax.data.qtips import CLASS_NAMES, generate_qtips  # noqa: E402

FIGURES = pathlib.Path(__file__).resolve().parent / "figures"


def qtips_samples(path: pathlib.Path) -> None:
    """Four generated Q-tips images (64x64, seed 0) over their label maps."""
    images, labels = generate_qtips(4, seed=0)  # both (4, 64, 64) uint8
    fig, axes = plt.subplots(2, 4, figsize=(8, 4.2))
    for k in range(4):
        axes[0, k].imshow(images[k], cmap="gray", vmin=0, vmax=255)
        axes[1, k].imshow(labels[k], cmap="viridis", vmin=0, vmax=len(CLASS_NAMES) - 1)
        axes[1, k].set_title(CLASS_NAMES[int(labels[k].max())], fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("image")
    axes[1, 0].set_ylabel("label")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def implicit_spread(path: pathlib.Path) -> None:
    """`(I + h C^T C)^{-1}` applied to an impulse near the left edge, for each boundary (48x48, h = 4)."""
    size, h = 48, 4.0
    impulse = jnp.zeros((size, size, 1)).at[size // 2, 2, 0].set(1.0)  # (H, W, channels)
    kernel = ix.symmetric_kernel(jnp.array([[0.0, -1.0], [-1.0, 4.0]])[..., None])  # (3, 3, 1), a Laplacian
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    for ax, boundary in zip(axes, ix.BOUNDARIES, strict=True):
        spread = ix.ConvDiffusion(boundary=boundary).resolve(h, impulse, kernel)[..., 0]
        ax.imshow(jnp.log10(jnp.abs(spread) + 1e-6), cmap="magma", vmin=-6, vmax=0)
        ax.set_title(f"boundary={boundary!r}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("log10 |(I + h C^T C)^-1 impulse|, one implicit step, h = 4", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=FIGURES, help="folder for the PNGs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    qtips_samples(args.out / "qtips_samples.png")
    implicit_spread(args.out / "implicit_spread.png")


if __name__ == "__main__":
    main()
