"""Datasets: Q-tips (`imexjax.data.qtips`) and NYU Depth V2 (`imexjax.data.nyu`)."""

from . import nyu as nyu
from . import qtips as qtips
