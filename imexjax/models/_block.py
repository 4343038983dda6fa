"""`Block`: an opening layer to a width, then the steps of one integrator."""

import jax
import jax.numpy as jnp
from flax import nnx

from .._integrate import integrate
from .._reflect import symmetric_kernel
from ..operators import ConvDiffusion
from ._layers import ExplicitLayer, OpeningLayer
from ._normalization import NormKind
from ._options import SYMMETRIC_KERNEL_BOUNDARIES, check_block_options, implicit_scales


class Block(nnx.Module):
    r"""An opening layer to `width` channels, then `num_steps` steps of the chosen integrator.

    Each step n has its own explicit layer parameters theta_n (stacked on a leading axis
    and applied by `integrate`'s scan) and, for IMEX-type integrators (`imex`, `imex2`,
    `etd`, `etd2`), its own ConvDiffusion kernel. The whole block is one `integrate` call.

    The IMEX forms: `paper` (IMEXnet's formulation) integrates `dY/dt = f(Y)` exactly, splitting it into
    the explicit term `f(Y) + L Y` and the implicit term `-L Y` (`imexjax.solvers.PaperForm`);
    `code` (the authors' code) integrates `dY/dt = f(Y) - L Y`, with explicit `f` and implicit
    `-L Y`. $L = C^\top C$, $C$ a depthwise convolution with learned kernels and the chosen
    boundary (see `imexjax.ConvDiffusion`).

    Args:
      in_channels: channels of the block's input.
      width: channels of its state.
      num_steps: time steps after the opening layer (>= 0).
      integrator: a name in `imexjax.solvers.INTEGRATORS`.
      h: the step size.
      norm: the normalization of every layer (see `Normalization`). With `batch` each step's
        layer keeps running statistics for every stage of the integrator (RK4: four), so that
        evaluation normalizes each stage as training did.
      symmetric: explicit layers $-K^\top \sigma(N(K Y))$ rather than $K_2\, \sigma(N(K_1 Y))$.
      kernel_size: of the explicit convolutions.
      implicit_kernel_size: of the ConvDiffusion kernels.
      implicit_init_scale: standard deviation of the initial ConvDiffusion kernel entries, or a
        pair `(low, high)`: channel c of W then gets `low * (high / low) ** (c / (W - 1))`, a
        spread of diffusion lengths (about $3 \sqrt{h}$ times the standard deviation, in pixels per step).
      zero_mean: project ConvDiffusion kernels to zero mean.
      boundary: of the ConvDiffusion steps, a name in `imexjax.BOUNDARIES`: `periodic`, `zero`
        or `reflect`. With `zero` and `reflect` each step stores the free quarter of its
        kernels, shape (r + 1, r + 1, width), r = implicit_kernel_size // 2, and expands it with
        `imexjax.symmetric_kernel`, so the kernels are symmetric under both flips by
        construction: `reflect` needs that, and it makes the 3x3 `zero` solves and
        exponentials exact sine transforms (a larger `zero` kernel is solved by CG, and has no
        exponential for `etd`/`etd2`).
      imex_form: `paper` or `code` (`imexjax.solvers.IMEX_FORMS`).
      unroll: passed to `integrate`: steps unrolled per loop iteration, or True for all.
      remat: rematerialize each step in the backward pass (see `integrate`). None, the
        default, turns it on where JAX's default backend is CPU, where it measured 0.84-0.98x
        the training step's time at width 16 (1.05x at the paper's widths) and 2.2-5.6x less
        memory (`benchmarks/README.md`), and off elsewhere, not yet measured.
      rngs: random number streams.

    Raises:
      ValueError: an option `check_block_options` refuses, or `num_steps` < 0.
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
        imex_form: str = "paper",
        unroll: int | bool = 1,
        remat: bool | None = None,
        rngs: nnx.Rngs,
    ):
        self.solver = check_block_options(
            integrator=integrator,
            boundary=boundary,
            imex_form=imex_form,
            norm=norm,
            h=h,
            kernel_size=kernel_size,
            implicit_kernel_size=implicit_kernel_size,
            implicit_init_scale=implicit_init_scale,
            unroll=unroll,
        )
        if num_steps < 0:
            raise ValueError(f"num_steps must be >= 0, got {num_steps}")
        self.h = h
        self.num_steps = num_steps
        self.imex_form = imex_form
        self.unroll = unroll
        self.remat = jax.default_backend() == "cpu" if remat is None else remat
        self.opening = OpeningLayer(in_channels, width, kernel_size=kernel_size, norm=norm, rngs=rngs)
        stages = self.solver.stages

        @nnx.split_rngs(splits=max(num_steps, 1))
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def make_steps(step_rngs: nnx.Rngs) -> ExplicitLayer:
            return ExplicitLayer(
                width, kernel_size=kernel_size, norm=norm, symmetric=symmetric, stages=stages, rngs=step_rngs
            )

        self.steps = make_steps(rngs) if num_steps else None
        self.implicit = ConvDiffusion(
            zero_mean=zero_mean, boundary=boundary, symmetric=boundary in SYMMETRIC_KERNEL_BOUNDARIES
        )
        if self.solver.imex and num_steps:
            stored = implicit_kernel_size // 2 + 1 if self.implicit.kernel_symmetric else implicit_kernel_size
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
        normalization in training mode the running statistics of every step and stage are updated.
        """
        y = self.opening(y)
        if self.steps is None:
            return y[None] if trajectory else y
        graphdef, step_variables = nnx.split(self.steps)
        collect = self.steps.norm.kind == "batch" and not self.steps.norm.use_running_average
        one_stage = self.solver.stages == 1

        def field(t, state, variables, stage):
            layer = nnx.merge(graphdef, variables, copy=True)
            dy = layer(state, stage=stage)
            if not collect:
                return dy
            statistics = nnx.state(layer, nnx.BatchStat)
            return dy, statistics if one_stage else jax.tree.map(lambda running: running[stage], statistics)

        terms, args = (field, self.implicit), (step_variables, self.kernels())
        result = integrate(
            self.solver,
            terms if self.solver.imex else field,
            y,
            args if self.solver.imex else step_variables,
            h=self.h,
            unroll=self.unroll,
            remat=self.remat,
            trajectory=trajectory,
            has_aux=collect,
            staged=True,
        )
        if not collect:
            return result
        result, statistics = result  # leaves (num_steps, stages, ...)
        nnx.update(self.steps, jax.tree.map(lambda per_stage: per_stage[:, 0], statistics) if one_stage else statistics)
        return result

    def kernels(self) -> jax.Array | None:
        """The steps' ConvDiffusion kernels (num_steps, k, k, width); `zero`, `reflect`: quarters expanded."""
        if self.implicit_kernels is None:
            return None
        kernels = self.implicit_kernels[...]
        return jax.vmap(symmetric_kernel)(kernels) if self.implicit.kernel_symmetric else kernels
