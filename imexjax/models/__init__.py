"""Flax NNX layers and networks whose layers are integrator steps."""

from ._build import build_compiled as build_compiled
from ._conv import conv2d as conv2d
from ._conv import conv2d_transpose as conv2d_transpose
from ._kinds import NETWORKS as NETWORKS
from ._kinds import network_label as network_label
from ._layers import ExplicitLayer as ExplicitLayer
from ._layers import OpeningLayer as OpeningLayer
from ._multilevel import MultiLevelNet as MultiLevelNet
from ._network import DTYPES as DTYPES
from ._network import IMEX_FORMS as IMEX_FORMS
from ._network import INTEGRATORS as INTEGRATORS
from ._network import ONE_STAGE_INTEGRATORS as ONE_STAGE_INTEGRATORS
from ._network import Block as Block
from ._network import TimeSteppingNet as TimeSteppingNet
from ._network import integrator_label as integrator_label
from ._network import solver_from_name as solver_from_name
from ._normalization import NORM_KINDS as NORM_KINDS
from ._normalization import Normalization as Normalization
from ._resample import UpConv as UpConv
from ._size import count_parameters as count_parameters
from ._unet import UNet as UNet
