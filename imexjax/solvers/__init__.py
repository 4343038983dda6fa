"""Fixed-step solvers: each an immutable object with a pure `step` and an integer `order`."""

from ._base import AbstractSolver as AbstractSolver
from ._etdrk2 import ETDRK2 as ETDRK2
from ._euler import Euler as Euler
from ._exp_euler import ExpEuler as ExpEuler
from ._imex_euler import IMEXEuler as IMEXEuler
from ._imex_rk2 import IMEXRK2 as IMEXRK2
from ._midpoint import Midpoint as Midpoint
from ._rk4 import RK4 as RK4
