"""imexjax: deep networks as stable time-stepping schemes, in JAX.

import imexjax as ix
y1 = ix.integrate(ix.IMEXEuler(), (f, ix.ConvDiffusion()), y0, (theta, kernels), h=1.0)
"""

from ._errors import UserError as UserError
from ._integrate import integrate as integrate
from ._reflect import symmetric_kernel as symmetric_kernel
from .operators import BOUNDARIES as BOUNDARIES
from .operators import ConvDiffusion as ConvDiffusion
from .solvers import ETDRK2 as ETDRK2
from .solvers import IMEXRK2 as IMEXRK2
from .solvers import RK4 as RK4
from .solvers import AbstractSolver as AbstractSolver
from .solvers import Euler as Euler
from .solvers import ExpEuler as ExpEuler
from .solvers import IMEXEuler as IMEXEuler
from .solvers import Midpoint as Midpoint
from .solvers import PaperForm as PaperForm

__version__ = "0.1.0"
