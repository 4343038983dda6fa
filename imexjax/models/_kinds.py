"""The kinds of network a run can train, by name, and the names tables give them."""

from ..solvers import INTEGRATORS, integrator_label

NETWORKS: tuple[str, ...] = ("timestepping", "unet", "multilevel")
"""`timestepping`: `TimeSteppingNet` (blocks at full resolution; on `euler`, the ResNet);
`unet`: `UNet` (no integrator); `multilevel`: `MultiLevelNet` (time-stepping blocks at
halving resolutions)."""


def network_label(network: str, integrator: str) -> str:
    """The name a table or figure shows for a network kind on `integrator`.

    `timestepping` gives the integrator's label (`IMEX`, `ResNet`...), `unet` gives `U-Net`
    whatever the integrator, `multilevel` gives `multilevel IMEX`, `multilevel ResNet`...

    Raises:
      ValueError: `network` is not in `NETWORKS`.
    """
    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; choose one of {', '.join(NETWORKS)}")
    if network == "unet":
        return "U-Net"
    label = integrator_label(integrator)
    return f"multilevel {label}" if network == "multilevel" else label


def network_slug(network: str, integrator: str) -> str:
    """The network's name in folder names and the protocol's rows: `imex`, `euler`..., `unet`, `multilevel-imex`.

    `parse_network_slug` inverts it.
    """
    if network == "unet":
        return "unet"
    return f"multilevel-{integrator}" if network == "multilevel" else integrator


def parse_network_slug(slug: str) -> tuple[str, str | None]:
    """`(network, integrator)` of a slug of `network_slug` (`integrator` None for `unet`).

    Raises:
      ValueError: `slug` is not `unet`, an integrator's name or `multilevel-INTEGRATOR`.
    """
    if slug == "unet":
        return "unet", None
    prefix, _, integrator = slug.rpartition("-")
    if prefix in ("", "multilevel") and integrator in INTEGRATORS:
        return ("multilevel" if prefix else "timestepping"), integrator
    raise ValueError(
        f"unknown network {slug!r}; use unet, an integrator ({', '.join(INTEGRATORS)}) or multilevel-INTEGRATOR"
    )
