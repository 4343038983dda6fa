"""Datasets: Q-tips (`imexjax.data.qtips`) and NYU Depth V2 (`imexjax.data.nyu`).

Importing them imports no file-format library (tensorflow_datasets, h5py, scipy, PIL): each
is imported by the function that reads or writes with it.
"""

from . import nyu as nyu
from . import qtips as qtips
