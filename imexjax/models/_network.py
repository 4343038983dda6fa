"""A network that is a time-stepping scheme: blocks of steps at a width, then a 1x1 head."""

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .._integrate import integrate
from .._reflect import symmetric_kernel
from ..operators import BOUNDARIES, ConvDiffusion
from ..solvers import ETDRK2, IMEXRK2, RK4, AbstractSolver, Euler, ExpEuler, IMEXEuler, Midpoint
from ._layers import ExplicitLayer, OpeningLayer
from ._normalization import NormKind
from ._resample import check_images
from ._size import check_parameter_count

INTEGRATORS: dict[str, AbstractSolver] = {
    "euler": Euler(),
    "midpoint": Midpoint(),
    "rk4": RK4(),
    "imex": IMEXEuler(),
    "imex2": IMEXRK2(),
    "etd": ExpEuler(),
    "etd2": ETDRK2(),
}
"""The integrators a network can be built on, by name; `euler` is the ResNet."""

ONE_STAGE_INTEGRATORS: tuple[str, ...] = tuple(name for name, solver in INTEGRATORS.items() if solver.stages == 1)
"""The integrators that evaluate a step's layer once per step (`stages == 1`): the only ones batch
normalization fits, since it keeps one set of running statistics per step while training
normalizes every stage by that stage's own statistics."""

_LABELS: dict[str, str] = {
    "euler": "ResNet",
    "midpoint": "midpoint",
    "rk4": "RK4",
    "imex": "IMEX",
    "imex2": "IMEX-RK2",
    "etd": "ETD",
    "etd2": "ETD-RK2",
}


def integrator_label(name: str) -> str:
    """The name a table or figure shows for the network on integrator `name` (`imex` -> `IMEX`, `euler` -> `ResNet`)."""
    return _LABELS.get(name, name)


ImexForm = Literal["paper", "code"]
IMEX_FORMS: tuple[str, ...] = ("paper", "code")
"""The splits of an IMEX block: `paper` (`f + LY` explicit, `-LY` implicit) or `code` (`dY/dt = f(Y) - LY`)."""
DTYPES: tuple[str, ...] = ("float32", "bfloat16")
"""The dtypes of a network's states and convolutions; parameters and FFT solves stay float32."""


def solver_from_name(name: str) -> AbstractSolver:
    """Returns the solver called `name` in `INTEGRATORS`.

    Raises:
      ValueError: `name` is not one of them.
    """
    if name not in INTEGRATORS:
        raise ValueError(f"unknown integrator {name!r}; choose one of {', '.join(INTEGRATORS)}")
    return INTEGRATORS[name]


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def implicit_scales(scale: float | tuple[float, float], width: int) -> jax.Array:
    """Per-channel standard deviations (width,) of the initial implicit kernels (see `Block`).

    Raises:
      ValueError: `scale` is not a positive real number or a pair of them (a zero scale gives
        kernels whose gradient is zero: they would never learn).
    """
    values = scale if isinstance(scale, (tuple, list)) else (scale,)
    if len(values) not in (1, 2) or not all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
        for v in values
    ):
        raise ValueError(f"implicit_init_scale must be a positive number or a (low, high) pair of them, got {scale!r}")
    if len(values) == 1:
        return jnp.full((width,), float(values[0]), jnp.float32)
    low, high = values
    return jnp.geomspace(low, high, width, dtype=jnp.float32) if width > 1 else jnp.full((1,), low, jnp.float32)


def check_network_arguments(
    geometry: Sequence[tuple[int, int]], in_channels: int, num_outputs: int, integrator: str, dtype: str
) -> tuple[tuple[int, int], ...]:
    """Checks what every time-stepping network takes; returns `geometry` as a tuple of pairs.

    Raises:
      ValueError: an unknown dtype or integrator, a geometry that is not `(layers >= 1,
        width >= 1)` pairs, channels that are not positive integers, or a network whose
        float32 parameters would exceed the machine's memory.
    """
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    geometry = tuple(tuple(block) for block in geometry)
    if not geometry or any(len(block) != 2 or not all(_is_positive_int(v) for v in block) for block in geometry):
        raise ValueError(f"geometry must be a non-empty list of (layers >= 1, width >= 1) integers, got {geometry}")
    for name, value in (("in_channels", in_channels), ("num_outputs", num_outputs)):
        if not _is_positive_int(value):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    solver_from_name(integrator)
    # a lower bound: the opening and step layers' kernels at 1 x 1
    channels = [int(in_channels), *(int(width) for _, width in geometry[:-1])]
    kernels = [c * int(w) + (int(n) - 1) * int(w) ** 2 for c, (n, w) in zip(channels, geometry, strict=True)]
    check_parameter_count(f"the network of geometry {geometry}", sum(kernels), "use fewer or narrower layers")
    return geometry


class Block(nnx.Module):
    r"""An opening layer to `width` channels, then `num_steps` steps of the chosen integrator.

    Each step n has its own explicit layer parameters theta_n (stacked on a leading axis
    and applied by `integrate`'s scan) and, for IMEX-type integrators (`imex`, `imex2`,
    `etd`, `etd2`), its own ConvDiffusion kernel.

    The IMEX forms: `paper` (IMEXnet's formulation) integrates `dY/dt = f(Y)` exactly, splitting it into
    the explicit term `f(Y) + L Y` and the implicit term `-L Y`; `code` (the authors'
    code) integrates `dY/dt = f(Y) - L Y`, with explicit `f` and implicit `-L Y`.
    $L = C^\top C$, $C$ a depthwise convolution with learned kernels and the chosen boundary
    (see `imexjax.ConvDiffusion`). With IMEX
    Euler the paper form is computed as $Y + h (I + hL)^{-1} f(Y)$, and with exponential
    Euler (`etd`) as $Y + h\, \varphi_1(-hL)\, f(Y)$, $\varphi_1(z) = (e^z - 1) / z$: the same steps
    with one FFT round trip instead of two.

    Args:
      in_channels: channels of the block's input.
      width: channels of its state.
      num_steps: time steps after the opening layer (>= 0).
      integrator: a name in `INTEGRATORS`.
      h: the step size.
      norm: the normalization of every layer (see `Normalization`); `batch` needs an integrator
        of `ONE_STAGE_INTEGRATORS`.
      symmetric: explicit layers $-K^\top \sigma(N(K Y))$ rather than $K_2\, \sigma(N(K_1 Y))$.
      kernel_size: of the explicit convolutions.
      implicit_kernel_size: of the ConvDiffusion kernels.
      implicit_init_scale: standard deviation of the initial ConvDiffusion kernel entries, or a
        pair `(low, high)`: channel c of W then gets `low * (high / low) ** (c / (W - 1))`, a
        spread of diffusion lengths (about $3 \sqrt{h}$ times the standard deviation, in pixels per step).
      zero_mean: project ConvDiffusion kernels to zero mean.
      boundary: of the ConvDiffusion steps, a name in `imexjax.BOUNDARIES`: `periodic`, `zero`
        (solved by CG; not with `etd`/`etd2`, which need an exponential) or `reflect`. With
        `reflect` each step stores the free quarter of its kernels, shape (r + 1, r + 1,
        width), r = implicit_kernel_size // 2, and expands it with `imexjax.symmetric_kernel`,
        so the kernels are symmetric under both flips by construction.
      imex_form: `paper` or `code`.
      unroll: passed to `integrate`: steps unrolled per loop iteration, or True for all.
      remat: rematerialize each step in the backward pass (see `integrate`). None, the
        default, turns it on where JAX's default backend is CPU, where it measured 0.84-0.98x
        the training step's time at width 16 (1.05x at the paper's widths) and 2.2-5.6x less
        memory (`benchmarks/README.md`), and off elsewhere, not yet measured.
      rngs: random number streams.
    """

    def __init__(
        self,
        in_channels: int,
        width: int,
        num_steps: int,
        *,
        integrator: str = "imex",
        h: float = 1.0,
        norm: NormKind = "channel",
        symmetric: bool = True,
        kernel_size: int = 3,
        implicit_kernel_size: int = 3,
        implicit_init_scale: float | tuple[float, float] = 1.0,
        zero_mean: bool = True,
        boundary: str = "periodic",
        imex_form: ImexForm = "paper",
        unroll: int | bool = 1,
        remat: bool | None = None,
        rngs: nnx.Rngs,
    ):
        self.solver = solver_from_name(integrator)
        if imex_form not in IMEX_FORMS:
            raise ValueError(f"unknown imex_form {imex_form!r}; choose one of {', '.join(IMEX_FORMS)}")
        if num_steps < 0:
            raise ValueError(f"num_steps must be >= 0, got {num_steps}")
        if boundary not in BOUNDARIES:
            raise ValueError(f"unknown boundary {boundary!r}; choose one of {', '.join(BOUNDARIES)}")
        if boundary == "zero" and "exp" in self.solver.linear_methods:
            raise ValueError(
                f"integrator {integrator!r} needs an exponential, which boundary='zero' lacks; "
                "use boundary='periodic' or 'reflect', or an IMEX integrator (imex, imex2)"
            )
        if norm == "batch" and integrator not in ONE_STAGE_INTEGRATORS:
            raise ValueError(
                f"norm='batch' keeps one set of running statistics per step, and {integrator!r} evaluates each "
                "step's layer at several stages, so evaluation would not match training; use norm='channel' or "
                f"an integrator of {', '.join(ONE_STAGE_INTEGRATORS)}"
            )
        self.h = h
        self.num_steps = num_steps
        self.imex_form = imex_form
        self.unroll = unroll
        self.remat = jax.default_backend() == "cpu" if remat is None else remat
        self.opening = OpeningLayer(in_channels, width, kernel_size=kernel_size, norm=norm, rngs=rngs)

        @nnx.split_rngs(splits=max(num_steps, 1))
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def make_steps(step_rngs: nnx.Rngs) -> ExplicitLayer:
            return ExplicitLayer(width, kernel_size=kernel_size, norm=norm, symmetric=symmetric, rngs=step_rngs)

        self.steps = make_steps(rngs) if num_steps else None
        self.implicit = ConvDiffusion(zero_mean=zero_mean, boundary=boundary)
        if self.solver.imex and num_steps:
            stored = implicit_kernel_size // 2 + 1 if boundary == "reflect" else implicit_kernel_size
            shape = (num_steps, stored, stored, width)
            noise = jax.random.normal(rngs.params(), shape, jnp.float32)
            # The barrier keeps XLA from folding the scales into the sampler's constants when the
            # constructor is compiled (`build_compiled`), so the kernels are those of an eager call.
            noise = jax.lax.optimization_barrier(noise)
            self.implicit_kernels = nnx.Param(noise * implicit_scales(implicit_init_scale, width))
        else:
            self.implicit_kernels = None

    def __call__(self, y: jax.Array, *, trajectory: bool = False) -> jax.Array:
        """Maps (B, H, W, in_channels) to (B, H, W, width).

        With `trajectory=True` returns every state instead, (num_steps + 1, B, H, W, width):
        the opening layer's output, then the state after each step. With batch
        normalization in training mode the running statistics of every step are updated.
        """
        y = self.opening(y)
        if self.steps is None:
            return y[None] if trajectory else y
        graphdef, step_variables = nnx.split(self.steps)
        collect = self.steps.norm.kind == "batch" and not self.steps.norm.use_running_average

        def f(t, state, variables):
            layer = nnx.merge(graphdef, variables, copy=True)  # each stage updates its own statistics
            dy = layer(state)
            return (dy, nnx.state(layer, nnx.BatchStat)) if collect else dy

        options = dict(h=self.h, unroll=self.unroll, remat=self.remat, trajectory=trajectory, has_aux=collect)
        implicit, h = self.implicit, self.h
        kernels = self.kernels()
        if not self.solver.imex:
            result = integrate(self.solver, f, y, step_variables, **options)
        elif self.imex_form == "paper" and isinstance(self.solver, (IMEXEuler, ExpEuler)):
            # IMEX Euler: (I + hL) Y1 = (I + hL) Y0 + h f(Y0) is Y1 = Y0 + h (I + hL)^{-1} f(Y0).
            # ExpEuler: exp(-hL) Y0 + h phi1(-hL) (f(Y0) + L Y0) = Y0 + h phi1(-hL) f(Y0), as
            # h phi1(-hL) L = I - exp(-hL). Either way one FFT round trip.
            propagate = implicit.resolve if isinstance(self.solver, IMEXEuler) else implicit.phi1

            def f_resolved(t, state, args):
                variables, kernel = args
                return _map_field(f(t, state, variables), lambda dy: propagate(h, dy, kernel), collect)

            result = integrate(Euler(), f_resolved, y, (step_variables, kernels), **options)
        elif self.imex_form == "paper":

            def f_explicit(t, state, args):
                variables, kernel = args
                return _map_field(f(t, state, variables), lambda dy: dy - implicit.mv(state, kernel), collect)

            result = integrate(self.solver, (f_explicit, implicit), y, ((step_variables, kernels), kernels), **options)
        else:
            result = integrate(self.solver, (f, implicit), y, (step_variables, kernels), **options)
        if not collect:
            return result
        result, statistics = result
        nnx.update(self.steps, statistics)
        return result

    def kernels(self) -> jax.Array | None:
        """The steps' ConvDiffusion kernels (num_steps, k, k, width); with `reflect`, the stored quarters expanded."""
        if self.implicit_kernels is None:
            return None
        kernels = self.implicit_kernels[...]
        return jax.vmap(symmetric_kernel)(kernels) if self.implicit.boundary == "reflect" else kernels


def _map_field(output: Any, fn: Callable[[jax.Array], jax.Array], has_aux: bool) -> Any:
    """Applies `fn` to the derivative of a vector field's output, `dy` or `(dy, aux)`."""
    return (fn(output[0]), output[1]) if has_aux else fn(output)


class TimeSteppingNet(nnx.Module):
    """A dense-prediction network whose layers are the steps of an ODE integrator.

    `geometry` lists blocks as `(layers, width)`: each block is an opening layer to `width`
    channels followed by `layers - 1` integrator steps, all at full resolution (no
    coarsening); a 1x1 convolution head maps to `num_outputs`. The paper's network is
    `geometry=((4, 64), (4, 128), (4, 256))`; with `integrator="euler"` it is the ResNet
    twin of the IMEX network of the same geometry.

    Args:
      geometry: `(layers, width)` per block, layers >= 1.
      in_channels: channels of the input image.
      num_outputs: classes (logits) or regression outputs per pixel.
      integrator: a name in `INTEGRATORS` (`euler`, `midpoint`, `rk4`, `imex`, `imex2`,
        `etd`, `etd2`).
      boundary: of every block's ConvDiffusion steps (see `Block`): one name in
        `imexjax.BOUNDARIES` for all blocks, or a sequence with one name per block.
      dtype: the dtype of the states and convolutions, a name in `DTYPES`. With
        `bfloat16` the images are cast on the way in; parameters, normalization
        statistics and the FFT solves stay float32, and so do the head's outputs.
      rngs: random number streams.
      **block_options (Any): passed to every `Block` (h, norm, symmetric, zero_mean, imex_form...).
    """

    def __init__(
        self,
        geometry: Sequence[tuple[int, int]],
        *,
        in_channels: int,
        num_outputs: int,
        integrator: str = "imex",
        boundary: str | Sequence[str] = "periodic",
        dtype: str = "float32",
        rngs: nnx.Rngs,
        **block_options,
    ):
        geometry = check_network_arguments(geometry, in_channels, num_outputs, integrator, dtype)
        boundaries = _block_boundaries(boundary, len(geometry))
        self.geometry = geometry
        self.in_channels = in_channels
        self.integrator = integrator
        self.dtype = dtype
        blocks = []
        channels = in_channels
        for (layers, width), block_boundary in zip(geometry, boundaries, strict=True):
            blocks.append(
                Block(
                    channels,
                    width,
                    layers - 1,
                    integrator=integrator,
                    boundary=block_boundary,
                    rngs=rngs,
                    **block_options,
                )
            )
            channels = width
        self.blocks = nnx.List(blocks)
        self.head = nnx.Conv(channels, num_outputs, kernel_size=(1, 1), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps images (B, H, W, in_channels) to per-pixel outputs (B, H, W, num_outputs).

        Raises:
          ValueError: `x` is not 4-D or has other than `in_channels` channels.
        """
        return self.head(self.features(x))

    def features(self, x: jax.Array) -> jax.Array:
        """The state before the head, shape (B, H, W, width of the last block)."""
        check_images(x.shape, self.in_channels)
        y = x.astype(self.dtype)
        for block in self.blocks:
            y = block(y)
        return y


def _block_boundaries(boundary: str | Sequence[str], num_blocks: int) -> tuple[str, ...]:
    """One boundary name per block from one name or a sequence of them.

    Raises:
      ValueError: a name is not in `BOUNDARIES`, or the sequence's length is not the number of blocks.
    """
    if isinstance(boundary, str):
        names = (boundary,) * num_blocks
    elif isinstance(boundary, (list, tuple)):
        names = tuple(boundary)
    else:
        raise ValueError(f"boundary must be a name or a list of names, one per block, got {boundary!r}")
    if len(names) != num_blocks:
        raise ValueError(f"boundary must be one name or one per block ({num_blocks}), got {len(names)}: {boundary!r}")
    for name in names:
        if name not in BOUNDARIES:
            raise ValueError(f"unknown boundary {name!r}; choose one of {', '.join(BOUNDARIES)}")
    return names
