"""`preconditioned_cg`: conjugate gradients on independent symmetric systems, differentiated implicitly.

JAX's own `lax.while_loop` and `lax.custom_linear_solve`, so that the solve runs wherever JAX
does, inside `jax.shard_map` included (lineax's CG rejects the arrays of a `shard_map` body).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

Operator = Callable[[jax.Array], jax.Array]


def varying_alike(*arrays: jax.Array) -> tuple[jax.Array, ...]:
    """`arrays`, each made varying over every manual mesh axis that any of them varies over.

    Inside `jax.shard_map` a solve's operands must agree on the axes they vary over (a state
    split over `data` varies, a replicated kernel does not); outside it, the arrays as they are.
    """
    arrays = tuple(jnp.asarray(array) for array in arrays)
    union = frozenset().union(*(jax.typeof(array).manual_axis_type.varying for array in arrays))
    return tuple(
        jax.lax.pcast(array, tuple(sorted(union - jax.typeof(array).manual_axis_type.varying)), to="varying")
        if union - jax.typeof(array).manual_axis_type.varying
        else array
        for array in arrays
    )


def preconditioned_cg(
    matvec: Operator,
    b: jax.Array,
    precondition: Operator,
    *,
    tol: float,
    max_steps: int,
    system_axes: tuple[int, ...] = (-3, -2),
) -> tuple[jax.Array, jax.Array]:
    r"""Solves `matvec(x) = b` by preconditioned CG, one system per index of the axes not in `system_axes`.

    `b` holds many independent systems: with the default `system_axes`, each (leading index,
    channel) pair of `b` (..., H, W, C) is one system over its H x W grid, with its own CG step
    lengths. `matvec` and `precondition` must act on each system separately, be symmetric and
    positive definite. The iteration stops when every residual entry of every system is at most
    `tol` times the largest entry of that system's right side, or after `max_steps` iterations;
    either way the iterate is returned (never an error), so a float32 solve that cannot reach
    `tol` does not stop a training run. A system's solution does not depend on the others (up
    to the iterations they keep it going, which only refine it).

    Derivatives go through `lax.custom_linear_solve` (symmetric): a tangent or cotangent is a
    further solve with this function, scaled by its own right side; `matvec` may close over
    differentiable values (`h`, a kernel), `precondition` should close over constants only.

    Args:
      matvec: the operator, `(..., H, W, C) -> (..., H, W, C)`.
      b: the right sides, a floating array.
      precondition: an approximation of the inverse of `matvec`.
      tol: the tolerance, relative to each system's `max |b|`.
      max_steps: the most iterations.
      system_axes: the axes of one system.

    Returns:
      `x`, shaped as `b`, and the number of iterations taken, an int32 scalar.
    """

    def inner(u: jax.Array, v: jax.Array) -> jax.Array:
        return jnp.sum(u * v, axis=system_axes, keepdims=True)

    def solve(operator: Operator, rhs: jax.Array) -> tuple[jax.Array, jax.Array]:
        scale = jnp.max(jnp.abs(rhs), axis=system_axes, keepdims=True)
        threshold = tol * scale

        def unconverged(carry) -> jax.Array:
            _, residual, _, _, step = carry
            return (step < max_steps) & jnp.any(jnp.abs(residual) > threshold)

        def iteration(carry):
            x, residual, direction, residual_dot, step = carry
            image = operator(direction)
            curvature = inner(direction, image)
            alpha = jnp.where(curvature > 0, residual_dot / jnp.where(curvature > 0, curvature, 1), 0)
            x = x + alpha * direction
            residual = residual - alpha * image
            preconditioned = precondition(residual)
            new_dot = inner(residual, preconditioned)
            beta = jnp.where(residual_dot > 0, new_dot / jnp.where(residual_dot > 0, residual_dot, 1), 0)
            return x, residual, preconditioned + beta * direction, new_dot, step + 1

        preconditioned = precondition(rhs)
        _, no_steps = varying_alike(rhs, jnp.zeros((), jnp.int32))  # the count varies where the systems do
        start = (jnp.zeros_like(rhs), rhs, preconditioned, inner(rhs, preconditioned), no_steps)
        x, _, _, _, steps = jax.lax.while_loop(unconverged, iteration, start)
        return x, steps

    return jax.lax.custom_linear_solve(matvec, b, solve, symmetric=True, has_aux=True)
