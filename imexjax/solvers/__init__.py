"""Fixed-step solvers: each an immutable object with a pure `step`, a `name` and an integer `order`."""

from ._base import AbstractSolver as AbstractSolver
from ._etdrk2 import ETDRK2 as ETDRK2
from ._euler import Euler as Euler
from ._exp_euler import ExpEuler as ExpEuler
from ._imex_euler import IMEXEuler as IMEXEuler
from ._imex_rk2 import IMEXRK2 as IMEXRK2
from ._midpoint import Midpoint as Midpoint
from ._paper_form import IMEX_FORMS as IMEX_FORMS
from ._paper_form import PaperForm as PaperForm
from ._paper_form import in_form as in_form
from ._registry import INTEGRATORS as INTEGRATORS
from ._registry import integrator_label as integrator_label
from ._registry import solver_from_name as solver_from_name
from ._rk4 import RK4 as RK4
