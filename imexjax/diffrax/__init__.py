r"""diffrax interoperability: imexjax's IMEX and exponential schemes as diffrax solvers, the ConvDiffusion
term, an FFT root finder for diffrax's own implicit solvers (whose gradients are FFT solves too, inside
`fft_adjoint()`), lineax operators for $C$ and $\alpha I + \beta C^\top C$ with an FFT linear solver,
and classical RK4.

Imported only when used (`import imexjax` does not import diffrax). Importing it changes nothing in
diffrax, optimistix or lineax:

    import diffrax
    import imexjax.diffrax as ixd

    terms = diffrax.MultiTerm(diffrax.ODETerm(f), ixd.ConvDiffusionTerm(kernel))
    sol = diffrax.diffeqsolve(terms, ixd.IMEXRK2(), t0, t1, dt0, y0,
                              stepsize_controller=diffrax.ConstantStepSize())
    # diffrax's adaptive IMEX solver, with the implicit stages solved by FFT:
    sol = diffrax.diffeqsolve(terms, diffrax.KenCarp4(root_finder=ixd.FFTNewton()), t0, t1, None, y0,
                              stepsize_controller=diffrax.PIDController(rtol=1e-5, atol=1e-5))
    # jax.grad through it, with each stage's implicit adjoint solved by FFT (see fft_adjoint):
    with ixd.fft_adjoint():
        grads = jax.grad(loss)(kernel, y0)       # loss(kernel, y0) calls diffeqsolve as above
    # the stage matrix as a lineax operator, solved by FFT:
    x = lineax.linear_solve(ixd.ConvDiffusionOperator(kernel, b, scale=0.5), b, ixd.FFTLinearSolver()).value
"""

from ._adjoint import fft_adjoint as fft_adjoint
from ._imex import ETDRK2 as ETDRK2
from ._imex import IMEXRK2 as IMEXRK2
from ._imex import ExpEuler as ExpEuler
from ._imex import IMEXEuler as IMEXEuler
from ._linear_solver import FFTLinearSolver as FFTLinearSolver
from ._operator import ConvDiffusionOperator as ConvDiffusionOperator
from ._operator import ConvOperator as ConvOperator
from ._rk4 import RK4 as RK4
from ._root_finder import FFTNewton as FFTNewton
from ._term import ConvDiffusionTerm as ConvDiffusionTerm
