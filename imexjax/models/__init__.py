"""Flax NNX layers and networks whose layers are integrator steps."""

from ..solvers import IMEX_FORMS as IMEX_FORMS
from ..solvers import INTEGRATORS as INTEGRATORS
from ..solvers import integrator_label as integrator_label
from ..solvers import solver_from_name as solver_from_name
from ._block import Block as Block
from ._build import build_compiled as build_compiled
from ._conv import conv2d as conv2d
from ._conv import conv2d_transpose as conv2d_transpose
from ._kinds import NETWORKS as NETWORKS
from ._kinds import network_label as network_label
from ._kinds import network_slug as network_slug
from ._kinds import parse_network_slug as parse_network_slug
from ._layers import ExplicitLayer as ExplicitLayer
from ._layers import OpeningLayer as OpeningLayer
from ._multilevel import MultiLevelNet as MultiLevelNet
from ._network import TimeSteppingNet as TimeSteppingNet
from ._normalization import NORM_KINDS as NORM_KINDS
from ._normalization import Normalization as Normalization
from ._options import DTYPES as DTYPES
from ._options import check_network_options as check_network_options
from ._resample import UpConv as UpConv
from ._size import count_parameters as count_parameters
from ._size import parameter_lower_bound as parameter_lower_bound
from ._unet import UNet as UNet
