"""The bound on a network's size: its float32 parameters must fit in the machine's memory."""

from .._machine import machine_memory


def check_parameter_count(network: str, parameters: int, fix: str) -> None:
    """Raises ValueError, before anything is allocated, when `parameters` float32 values exceed the machine's memory.

    Args:
      network: the network and the arguments that size it, for the message, e.g. `UNet(levels=40, base_width=1)`.
      parameters: a lower bound on the network's parameter count.
      fix: what to change, for the message.
    """
    memory = machine_memory()
    needed = 4 * parameters
    if memory is not None and needed > memory:
        raise ValueError(
            f"{network} has at least {parameters:.3g} parameters, {needed / 2**30:.3g} GiB in float32, more than "
            f"this machine's {memory / 2**30:.3g} GiB of memory; {fix}"
        )
