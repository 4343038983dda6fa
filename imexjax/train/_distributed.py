"""Data parallelism: a `data` mesh over every device, batches sharded, state replicated."""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .._custom_types import PyTree
from .._errors import ConfigError


def initialize_distributed(
    coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Joins a multi-process run through `jax.distributed.initialize`.

    With no arguments, JAX detects the cluster (SLURM, Open MPI, Cloud TPU, GKE...); on CPU the
    processes talk through gloo.

    Args:
      coordinator: `host:port` of process 0.
      num_processes: the number of processes.
      process_id: this process's index, 0 <= process_id < num_processes.

    Raises:
      ConfigError: JAX refuses the arguments, or detects no cluster to complete them (its
        message, on one line).
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices only; must precede initialize
    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)
    except ValueError as error:  # JAX's checks of the arguments and of the cluster it detected
        raise ConfigError(f"cannot join a multi-process run: {str(error).strip().rstrip('.')}") from None


def data_mesh() -> Mesh:
    """A one-axis mesh named `data` over all devices of all processes."""
    return Mesh(np.array(jax.devices()), ("data",))


def check_batch_size(batch_size: int, num_devices: int) -> None:
    """Raises ConfigError unless `batch_size` divides evenly over `num_devices`, naming the nearest valid sizes."""
    if batch_size % num_devices:
        lower = (batch_size // num_devices) * num_devices
        options = [size for size in (lower, lower + num_devices) if size > 0]
        raise ConfigError(
            f"batch size {batch_size} does not divide over {num_devices} devices; "
            f"set batch_size to {' or '.join(map(str, options))}",
            field="batch_size",
        )


def replicate(mesh: Mesh, tree: PyTree) -> PyTree:
    """Places every leaf of `tree`, whole, on every device of `mesh`."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_batch(mesh: Mesh, arrays: tuple[np.ndarray, ...], *, process_local: bool = False) -> tuple[jax.Array, ...]:
    """Splits numpy batches along their first axis over the `data` axis of `mesh`.

    Either every process holds the same global batch and contributes the rows of its own
    devices, or (`process_local`) each process holds only its own rows, in process order (as a
    `Loader` sharded by process yields them). A global batch whose size does not divide over
    the devices (the last validation batch) is replicated instead.

    Args:
      mesh: from `data_mesh`.
      arrays: batches, all with the same first axis: B (global) or B / processes (local).
      process_local: the arrays hold this process's rows only.

    Returns:
      Global `jax.Array`s with a first axis of B.
    """
    size = len(arrays[0]) * (jax.process_count() if process_local else 1)
    if size % mesh.size:
        if process_local:
            raise ValueError(f"a process-local batch of global size {size} does not divide over {mesh.size} devices")
        return tuple(replicate(mesh, a) for a in arrays)
    sharding = NamedSharding(mesh, PartitionSpec("data"))
    if process_local:
        return tuple(jax.make_array_from_process_local_data(sharding, a, (size, *a.shape[1:])) for a in arrays)
    rows = size // jax.process_count()
    start = jax.process_index() * rows
    return tuple(jax.make_array_from_process_local_data(sharding, a[start : start + rows], a.shape) for a in arrays)
