"""Dense-prediction tasks: each task's loss, metrics, predictions and figures.

A task object (`SegmentationTask`, `DepthTask`) is what `imexjax.train.train_and_evaluate`
optimizes and evaluates, and what `predict` turns a network's outputs into predictions with.
"""

from ._depth import DEPTH_METRICS as DEPTH_METRICS
from ._depth import DepthTask as DepthTask
from ._depth_figures import plot_depth_errors as plot_depth_errors
from ._depth_figures import plot_depth_history as plot_depth_history
from ._depth_figures import plot_depth_predictions as plot_depth_predictions
from ._depth_figures import write_depth_figures as write_depth_figures
from ._predict import predict as predict
from ._segmentation import SegmentationTask as SegmentationTask
from ._segmentation_figures import LABEL_COLOURS as LABEL_COLOURS
from ._segmentation_figures import plot_history as plot_history
from ._segmentation_figures import plot_predictions as plot_predictions
from ._segmentation_figures import plot_probability_maps as plot_probability_maps
from ._segmentation_losses import class_weights_from_labels as class_weights_from_labels
from ._segmentation_losses import weighted_cross_entropy as weighted_cross_entropy
from ._segmentation_metrics import confusion_matrix as confusion_matrix
from ._segmentation_metrics import iou_per_class as iou_per_class
from ._segmentation_metrics import pixel_accuracy as pixel_accuracy
from ._segmentation_metrics import segmentation_metrics as segmentation_metrics
