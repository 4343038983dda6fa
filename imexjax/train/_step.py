"""The compiled steps of training and evaluation, data-parallel over a mesh."""

from collections.abc import Callable
from typing import Any

import jax
import optax
from flax import nnx
from jax.sharding import Mesh, PartitionSpec

from ._task import Task

TrainStep = Callable[[dict[str, Any], jax.Array, jax.Array], tuple[dict[str, Any], dict[str, jax.Array]]]
EvalStep = Callable[[Any, Any, jax.Array, jax.Array], dict[str, jax.Array]]


def make_train_step(
    graphdef: nnx.GraphDef, optimizer: optax.GradientTransformation, task: Task, mesh: Mesh
) -> TrainStep:
    """The jitted training step of `train_and_evaluate`: `(state, inputs, targets) -> (state, sums)`.

    Each device runs the step on its rows of the batch and the gradients are averaged over the
    `data` axis of `mesh` (shard_map: XLA's automatic partitioning of the FFT solve fails on
    CPU, "fft_thunk ... IsMonotonicWithDim0Major"). On a mesh of one device the step is plain
    `jit`, without shard_map. The input state's buffers are donated.

    Args:
      graphdef: the network's graph definition, from `nnx.split(model, nnx.Param, ...)`.
      optimizer: the optimizer whose state is `state["opt_state"]`.
      task: the loss (`task.loss(outputs, targets) -> (loss, sums)`).
      mesh: the devices, with a `data` axis (`data_mesh()`).

    Returns:
      `train_step(state, inputs, targets) -> (state, sums)`: `state` is `{"params", "rest",
      "opt_state"}` (`rest`: batch-norm running statistics, if any) replicated over `mesh`
      (`replicate`); `inputs` (B, H, W, C) and `targets` (B, ...) are sharded by rows
      (`shard_batch`); `sums` are `task.loss`'s sums over the whole batch.
    """

    def forward_train(params, rest, inputs):
        """Outputs and the updated running statistics of batch normalization (else `rest` as is)."""
        model = nnx.merge(graphdef, params, rest, copy=True)  # fresh variables of this trace, mutable
        if not single_device:  # batch normalization by the statistics of the whole batch, not of a device's rows
            model.set_attributes(axis_name="data", raise_if_not_found=False)
        outputs = model(inputs)
        return outputs, nnx.state(model, nnx.Not(nnx.Param))

    def local_train_step(state, inputs, targets):
        def objective(params):
            outputs, rest = forward_train(params, state["rest"], inputs)
            loss, sums = task.loss(outputs, targets)
            return loss, (sums, rest)

        (_, (sums, rest)), grads = jax.value_and_grad(objective, has_aux=True)(state["params"])
        if single_device:
            return _apply(grads, rest, state), sums
        # The parameters enter replicated, so shard_map sums their gradient over the devices (the
        # transpose of their implicit broadcast): the sum of the devices' mean losses. Divided, the
        # gradient of the whole batch's mean loss, as on one device.
        grads = jax.tree.map(lambda grad: grad / mesh.size, grads)
        rest = jax.lax.pmean(rest, "data")  # running statistics averaged over the devices' batches
        return _apply(grads, rest, state), jax.lax.psum(sums, "data")

    def _apply(grads, rest, state):
        updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        return {"params": params, "rest": rest, "opt_state": opt_state}

    single_device = mesh.devices.size == 1
    if single_device:
        return jax.jit(local_train_step, donate_argnums=0)
    replicated, rows = PartitionSpec(), PartitionSpec("data")
    return jax.jit(
        jax.shard_map(
            local_train_step, mesh=mesh, in_specs=(replicated, rows, rows), out_specs=(replicated, replicated)
        ),
        donate_argnums=0,
    )


def make_eval_steps(eval_graphdef: nnx.GraphDef, task: Task, mesh: Mesh) -> dict[str, EvalStep]:
    """Jitted `(params, rest, inputs, targets) -> task.eval_sums(...)` of the network in evaluation mode.

    Returns:
      `{"sharded": ..., "replicated": ...}`: the first splits the batch over the `data` axis
      of `mesh` and sums over it; the second runs a batch that does not divide over the
      devices (the last one of a split) whole on every device.
    """

    def sums(params, rest, inputs, targets):
        return task.eval_sums(nnx.merge(eval_graphdef, params, rest)(inputs), targets)

    def local_sums(params, rest, inputs, targets):
        return jax.lax.psum(sums(params, rest, inputs, targets), "data")

    if mesh.devices.size == 1:
        return {"sharded": jax.jit(sums), "replicated": jax.jit(sums)}
    replicated, rows = PartitionSpec(), PartitionSpec("data")
    return {
        "sharded": jax.jit(
            jax.shard_map(local_sums, mesh=mesh, in_specs=(replicated, replicated, rows, rows), out_specs=replicated)
        ),
        "replicated": jax.jit(sums),
    }
