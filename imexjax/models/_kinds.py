"""The kinds of network a run can train, by name, and the names tables give them."""

from ._network import integrator_label

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
