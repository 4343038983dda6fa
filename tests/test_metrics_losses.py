"""Segmentation metrics and losses on hand-made cases."""

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

from imexjax.tasks import (
    class_weights_from_labels,
    confusion_matrix,
    iou_per_class,
    segmentation_metrics,
    weighted_cross_entropy,
)


def test_confusion_matrix_counts_pairs():
    labels = jnp.array([[0, 1], [2, 2]])
    predictions = jnp.array([[0, 2], [2, 1]])
    expected = np.zeros((3, 3), int)
    expected[0, 0] = 1
    expected[1, 2] = 1
    expected[2, 2] = 1
    expected[2, 1] = 1
    np.testing.assert_array_equal(confusion_matrix(labels, predictions, 3), expected)


def test_perfect_prediction_gives_iou_one_and_full_accuracy():
    labels = np.random.default_rng(0).integers(0, 4, (2, 8, 8))
    metrics = segmentation_metrics(np.asarray(confusion_matrix(jnp.asarray(labels), jnp.asarray(labels), 4)))
    assert metrics["iou"] == 1.0
    assert metrics["miou_all"] == 1.0
    assert metrics["accuracy"] == 100.0


def test_disjoint_prediction_gives_iou_zero():
    labels = jnp.array([0, 0, 1, 1, 2, 3])
    predictions = jnp.array([1, 1, 2, 2, 3, 0])
    metrics = segmentation_metrics(np.asarray(confusion_matrix(labels, predictions, 4)))
    assert metrics["iou"] == 0.0
    assert metrics["accuracy"] == 0.0


def test_partial_overlap_iou_by_hand():
    # class 1: labelled at pixels {0, 1, 2}, predicted at {1, 2, 3}: IoU = 2 / 4.
    labels = jnp.array([1, 1, 1, 0, 0, 0])
    predictions = jnp.array([0, 1, 1, 1, 0, 0])
    per_class = iou_per_class(np.asarray(confusion_matrix(labels, predictions, 2)))
    assert per_class[1] == pytest.approx(0.5)
    assert per_class[0] == pytest.approx(2 / 4)  # background {3,4,5} vs {0,4,5}


def test_iou_ignores_classes_absent_from_labels_and_predictions():
    labels = jnp.array([0, 0, 1, 1])
    metrics = segmentation_metrics(np.asarray(confusion_matrix(labels, labels, 4)))
    assert metrics["iou"] == 1.0  # classes 2 and 3 never appear: not counted as 0
    assert np.isnan(metrics["iou_per_class"][1])


def test_cross_entropy_is_near_zero_for_confident_right_logits():
    labels = jnp.array([[0, 1], [2, 3]])
    logits = 50.0 * jnp.eye(4)[labels]
    assert float(weighted_cross_entropy(logits, labels)) < 1e-6
    assert float(weighted_cross_entropy(logits, labels, jnp.array([0.1, 1.0, 1.0, 1.0]))) < 1e-6


def test_uniform_logits_give_log_k_and_weights_reweight():
    labels = jnp.array([0, 0, 0, 1])
    logits = jnp.zeros((4, 2)).at[3, 1].set(3.0)
    losses = np.array([np.log(2)] * 3 + [np.log1p(np.exp(-3.0))])
    weights = np.array([0.25, 0.75])
    expected = np.mean(weights[[0, 0, 0, 1]] * losses)
    assert tree_allclose(weighted_cross_entropy(logits, labels, jnp.asarray(weights)), expected, rtol=1e-5, atol=0)
    assert tree_allclose(weighted_cross_entropy(logits, labels), losses.mean(), rtol=1e-5, atol=0)


def test_class_weights_are_one_minus_frequency():
    labels = np.array([0, 0, 0, 1, 2, 2, 0, 0])
    np.testing.assert_allclose(class_weights_from_labels(labels, 4), [1 - 5 / 8, 1 - 1 / 8, 1 - 2 / 8, 1.0])
