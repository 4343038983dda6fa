"""Figures of the stability analysis: stability regions, receptive fields, growth, attacks.

Each function draws on its own `matplotlib.figure.Figure` (no pyplot, no global backend) and
writes one PNG; matplotlib is imported only when a function runs.
"""

import pathlib
from collections.abc import Mapping, Sequence

import numpy as np

from .._figures import colormap, new_figure, save_figure
from ..solvers import ETDRK2, IMEXRK2, INTEGRATORS, RK4, Euler, ExpEuler, IMEXEuler, Midpoint, integrator_label
from ._stability import amplification_factor


def _name(key: str) -> str:
    """The label of the network on integrator `key` (`imexjax.solvers.integrator_label`)."""
    return integrator_label(key)


def _colour(key: str, index: int) -> str:
    """One colour per integrator of the registry, the same in every figure; `index` for other keys."""
    names = list(INTEGRATORS)
    return f"C{names.index(key) if key in names else len(names) + index}"


def plot_stability_regions(
    path: str | pathlib.Path,
    *,
    h_alphas: Sequence[float] = (0.0, 1.0, 3.0),
    extent: tuple[float, float, float, float] = (-9.0, 1.5, -4.5, 4.5),
    resolution: int = 400,
) -> None:
    """Regions |R(h lambda)| <= 1 in the complex h lambda plane: explicit, IMEX, exponential.

    Left: Euler (the ResNet), midpoint and RK4. Middle: IMEX Euler with the implicit term
    L = alpha I at each `h_alphas`, over the Euler disk: the region grows into the left half
    plane as h alpha grows; dashed, the second-order IMEX-RK2 at the same h alpha. Right:
    the exponential integrators with the same L (`paper` form), exponential Euler solid
    (the disk |1 + phi_1(-h alpha) z| <= 1) and ETDRK2 dashed.

    Args:
      path: the PNG to write.
      h_alphas: values of h alpha for the IMEX panel.
      extent: (re_min, re_max, im_min, im_max) of the plane.
      resolution: grid points per axis.
    """
    re = np.linspace(extent[0], extent[1], resolution)
    im = np.linspace(extent[2], extent[3], resolution)
    z = re[None, :] + 1j * im[:, None]
    fig = new_figure(figsize=(16, 4.4))
    axes = fig.subplots(1, 3, sharey=True)
    explicit = {"Euler (ResNet)": Euler(), "midpoint": Midpoint(), "RK4": RK4()}
    for index, (name, solver) in enumerate(explicit.items()):
        magnitude = np.abs(np.asarray(amplification_factor(solver, z)))
        axes[0].contourf(re, im, magnitude, levels=[0, 1], colors=[f"C{index}"], alpha=0.18)
        axes[0].contour(re, im, magnitude, levels=[1], colors=[f"C{index}"])
        axes[0].plot([], [], color=f"C{index}", label=name)
    axes[0].set_title("explicit solvers: |R(z)| <= 1", fontsize=10)
    viridis = colormap("viridis")
    pairs = (
        (axes[1], IMEXEuler(), IMEXRK2(), "IMEX Euler", "IMEX-RK2 (ARS(2,2,2))"),
        (axes[2], ExpEuler(), ETDRK2(), "ETD", "ETD-RK2"),
    )
    for ax, first_order, second_order, first_name, second_name in pairs:
        for index, h_alpha in enumerate(h_alphas):
            magnitude = np.abs(np.asarray(amplification_factor(first_order, z, h_alpha=h_alpha)))
            colour = viridis(index / max(len(h_alphas) - 1, 1))
            ax.contourf(re, im, magnitude, levels=[0, 1], colors=[colour], alpha=0.12)
            ax.contour(re, im, magnitude, levels=[1], colors=[colour])
            ax.plot([], [], color=colour, label=f"{first_name}, h alpha = {h_alpha:g}")
            magnitude = np.abs(np.asarray(amplification_factor(second_order, z, h_alpha=h_alpha)))
            ax.contour(re, im, magnitude, levels=[1], colors=[colour], linestyles="dashed")
        ax.plot([], [], color="grey", linestyle="dashed", label=f"{second_name}, same h alpha")
    axes[1].set_title("IMEX, L = alpha I: |1 + z + h alpha| <= 1 + h alpha", fontsize=10)
    axes[2].set_title("exponential, L = alpha I: |1 + phi_1(-h alpha) z| <= 1", fontsize=10)
    for ax in axes:
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5)
        ax.set_xlabel("Re(h lambda)")
        ax.set_aspect("equal")
        ax.legend(loc="upper left", fontsize=8)
    axes[0].set_ylabel("Im(h lambda)")
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


def plot_receptive_fields(
    path: str | pathlib.Path,
    image: np.ndarray,
    influences: Mapping[str, np.ndarray],
    *,
    pixel: tuple[int, int],
    fractions: Mapping[str, float] | None = None,
    threshold: float = 1e-3,
) -> None:
    """The input image and, per network, log10 of the influence on one output pixel.

    Args:
      path: the PNG to write.
      image: (H, W) the input shown (any scale).
      influences: network name -> (H, W) |gradient| maps (from `receptive_field`).
      pixel: the output pixel, marked with a cross.
      fractions: network name -> receptive-field fraction, shown in the titles.
      threshold: the relative threshold; the colour scale starts there.
    """
    fig = new_figure(figsize=(3.6 * (1 + len(influences)), 3.6))
    axes = fig.subplots(1, 1 + len(influences), squeeze=False)[0]
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title("input")
    floor = np.log10(max(threshold, 1e-12))
    for ax, (name, influence) in zip(axes[1:], influences.items(), strict=True):
        relative = influence / max(float(influence.max()), np.finfo(np.float64).tiny)
        shown = ax.imshow(np.log10(np.maximum(relative, 10**floor)), cmap="magma", vmin=floor, vmax=0)
        title = _name(name)
        if fractions is not None and name in fractions:
            title += f": {100 * fractions[name]:.0f}% of pixels"
        ax.set_title(title)
        fig.colorbar(shown, ax=ax, fraction=0.046, label="log10 relative |d out / d in|")
    for ax in axes:
        ax.plot(pixel[1], pixel[0], "c+", markersize=12, markeredgewidth=2)
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


def plot_perturbation_growth(
    path: str | pathlib.Path,
    growth: Mapping[str, Sequence[float]],
    *,
    output: Mapping[str, float] | None = None,
) -> None:
    """`||Y_n(x + d) - Y_n(x)|| / ||d||` against the layer n, one line per network.

    Args:
      path: the PNG to write.
      growth: network name -> ratio per layer.
      output: network name -> the ratio at the output (logits), drawn as a marker after the last layer.
    """
    from matplotlib.ticker import MaxNLocator

    fig = new_figure(figsize=(6, 4))
    ax = fig.subplots()
    for index, (name, ratios) in enumerate(growth.items()):
        layers = np.arange(1, len(ratios) + 1)
        ax.semilogy(layers, ratios, "o-", color=_colour(name, index), label=_name(name))
        if output is not None and name in output:
            ax.semilogy([len(ratios) + 1], [output[name]], "s", color=_colour(name, index))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer (opening layers and steps; square: output logits)")
    ax.set_ylabel("||Y(x + d) - Y(x)|| / ||d||")
    ax.set_title("growth of a small random input perturbation")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


def plot_adversarial(path: str | pathlib.Path, results: Mapping[str, Mapping[str, Sequence[float]]]) -> None:
    """Validation IoU against the attack radius epsilon, FGSM and PGD, one colour per network.

    Args:
      path: the PNG to write.
      results: network name -> {"epsilons": [...], "fgsm": [IoU...], "pgd": [IoU...]}.
    """
    fig = new_figure(figsize=(6, 4))
    ax = fig.subplots()
    for index, (name, result) in enumerate(results.items()):
        colour = _colour(name, index)
        for attack, style in (("fgsm", "o-"), ("pgd", "s--")):
            if attack in result:
                ax.plot(
                    result["epsilons"], result[attack], style, color=colour, label=f"{_name(name)}, {attack.upper()}"
                )
    ax.set_xlabel("epsilon (L-infinity, training standard deviations)")
    ax.set_ylabel("validation IoU (object classes)")
    ax.set_ylim(0, 1)
    ax.set_title("adversarial sensitivity")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)
