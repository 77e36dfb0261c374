"""Closed-form checks of the sample-quality metrics, and the shipped evaluator."""

import math

import numpy as np
import pytest
import torch

from ganvas.errors import GanvasError
from ganvas.metrics import (
    FEATURE_DIM,
    class_coverage,
    class_histogram,
    diversity,
    fid,
    frechet_distance,
    inception_score,
    kid,
    kl_to_uniform,
    load_evaluator,
    precision_recall,
)


def diagonal_frechet(mu1, var1, mu2, var2):
    """Closed form for diagonal covariances: ||mu1 - mu2||² + sum(v1 + v2 - 2 sqrt(v1 v2))."""
    return float(np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2)))


def random_rotation(dim, rng):
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def one_hot(labels, classes):
    return np.eye(classes)[labels]


MU1, VAR1 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 4.0, 0.25])
MU2, VAR2 = np.array([1.0, -1.0, 0.5]), np.array([2.0, 1.0, 1.0])


# --- FID ---------------------------------------------------------------------


def test_frechet_distance_matches_the_diagonal_closed_form():
    expected = diagonal_frechet(MU1, VAR1, MU2, VAR2)
    assert frechet_distance(MU1, np.diag(VAR1), MU2, np.diag(VAR2)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_is_invariant_to_a_shared_rotation():
    q = random_rotation(3, np.random.default_rng(0))
    rotated = frechet_distance(q @ MU1, q @ np.diag(VAR1) @ q.T, q @ MU2, q @ np.diag(VAR2) @ q.T)
    assert rotated == pytest.approx(diagonal_frechet(MU1, VAR1, MU2, VAR2), rel=1e-8)


def test_frechet_distance_survives_singular_covariances():
    zero = np.zeros((3, 3))
    assert frechet_distance(MU1, zero, MU2, zero) == pytest.approx(np.sum((MU1 - MU2) ** 2), abs=1e-4)


def test_fid_of_identical_sets_is_zero():
    feats = np.random.default_rng(0).normal(size=(500, 8))
    assert fid(feats, feats) == pytest.approx(0.0, abs=1e-6)


def test_fid_of_sampled_gaussians_approaches_the_closed_form():
    rng = np.random.default_rng(0)
    q = random_rotation(3, rng)  # correlated features, same answer
    a = (MU1 + rng.normal(size=(100_000, 3)) * np.sqrt(VAR1)) @ q.T
    b = (MU2 + rng.normal(size=(100_000, 3)) * np.sqrt(VAR2)) @ q.T
    assert fid(a, b) == pytest.approx(diagonal_frechet(MU1, VAR1, MU2, VAR2), rel=0.02)


# --- KID ---------------------------------------------------------------------


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    same = kid(a, b, subsets=20, subset_size=300)
    shifted = kid(a, b + 0.5, subsets=20, subset_size=300)
    assert abs(same.mean) < 0.02
    assert shifted.mean > 0.2 and shifted.mean > 10 * same.std


def test_kid_is_unbiased_so_it_can_go_negative():
    rng = np.random.default_rng(1)
    values = [kid(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)), subsets=1).mean for _ in range(20)]
    assert min(values) < 0 < max(values)


def test_kid_subset_size_shrinks_to_small_sets():
    rng = np.random.default_rng(0)
    result = kid(rng.normal(size=(30, 4)), rng.normal(size=(12, 4)), subsets=5, subset_size=1000)
    assert math.isfinite(result.mean) and math.isfinite(result.std)


# --- Precision and recall ----------------------------------------------------


def test_precision_recall_of_identical_sets_is_one():
    feats = np.random.default_rng(0).normal(size=(1200, 8))  # more rows than one distance block
    assert tuple(precision_recall(feats, feats)) == (1.0, 1.0)


def test_precision_recall_of_far_apart_sets_is_zero():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 8)), rng.normal(size=(300, 8)) + 100
    assert tuple(precision_recall(real, fake)) == (0.0, 0.0)


def test_a_collapsed_generator_has_precision_but_no_recall():
    real = np.random.default_rng(0).normal(size=(300, 8))
    precision, recall = precision_recall(real, np.repeat(real[:1], 300, axis=0))
    assert precision == 1.0 and recall < 0.05


# --- Class statistics --------------------------------------------------------


def test_inception_score_of_a_single_class_is_one():
    score = inception_score(one_hot(np.full(1000, 3), 10))
    assert score.mean == pytest.approx(1.0) and score.std == pytest.approx(0.0)


def test_inception_score_of_confident_uniform_predictions_is_the_class_count():
    probs = one_hot(np.tile(np.arange(10), 1000), 10)  # random splits of 1,000 hold each class about 100 times
    assert inception_score(probs, splits=10).mean == pytest.approx(10.0, rel=0.01)


def test_inception_score_does_not_depend_on_the_order_of_the_samples():
    # A conditional generator's samples come sorted by class: 0,0,...,1,1,...
    sorted_by_class = one_hot(np.repeat(np.arange(10), 1000), 10)
    shuffled = sorted_by_class[np.random.default_rng(1).permutation(10_000)]
    assert inception_score(sorted_by_class).mean == pytest.approx(inception_score(shuffled).mean, rel=0.01)
    assert inception_score(sorted_by_class).mean > 9.9


def test_inception_score_of_unsure_predictions_is_one():
    assert inception_score(np.full((100, 10), 0.1)).mean == pytest.approx(1.0)


def test_class_histogram_counts_the_most_likely_class():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.5, 0.1, 0.4]])
    np.testing.assert_allclose(class_histogram(probs), [0.75, 0.25, 0.0])


def test_class_coverage_counts_classes_above_a_fifth_of_the_uniform_share():
    labels = np.repeat(np.arange(4), [50, 40, 9, 1])  # shares 0.5, 0.4, 0.09, 0.01; threshold 0.2 / 4 = 0.05
    assert class_coverage(one_hot(labels, 4)) == 3
    assert class_coverage(one_hot(labels, 4), min_share=0.01) == 4


def test_kl_to_uniform_on_hand_made_histograms():
    assert kl_to_uniform([0.25, 0.25, 0.25, 0.25]) == pytest.approx(0.0)
    assert kl_to_uniform([1, 0, 0, 0]) == pytest.approx(math.log(4))
    assert kl_to_uniform([5, 5, 0, 0]) == pytest.approx(math.log(2))  # counts are normalised


# --- Diversity ---------------------------------------------------------------


def test_diversity_drops_for_a_collapsed_set():
    rng = np.random.default_rng(0)
    spread = rng.normal(size=(1000, 8))
    collapsed = 0.01 * rng.normal(size=(1000, 8))
    assert diversity(collapsed) < 0.05 * diversity(spread)
    assert diversity(np.repeat(spread[:1], 10, axis=0)) == 0.0


def test_metrics_reject_too_few_samples():
    with pytest.raises(GanvasError):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)


# --- The shipped evaluator ---------------------------------------------------


@pytest.fixture(scope="module")
def evaluator():
    return load_evaluator()


def synthetic_digits():
    """A vertical bar, a ring and a blank page, in [-1, 1]."""
    ys, xs = np.mgrid[:28, :28]
    bar = np.where((abs(xs - 14) <= 1) & (ys >= 4) & (ys <= 23), 1.0, -1.0)
    ring = np.where(abs(np.hypot(xs - 14, ys - 14) - 8) <= 1.5, 1.0, -1.0)
    return torch.tensor(np.stack([bar, ring, -np.ones((28, 28))]), dtype=torch.float32)


def test_evaluator_embeds_synthetic_images(evaluator):
    features, probs = evaluator.embed(synthetic_digits(), batch_size=2)
    assert features.shape == (3, FEATURE_DIM) and probs.shape == (3, 10)
    assert features.dtype == probs.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.isfinite(features).all()


def test_evaluator_features_and_logits_agree_with_embed(evaluator):
    images = synthetic_digits().unsqueeze(1)
    with torch.no_grad():
        logits = evaluator(images)
    features, probs = evaluator.embed(images)
    np.testing.assert_allclose(probs, logits.softmax(dim=1).double().numpy(), atol=1e-6)
    assert features.shape[1] == evaluator.features(images).shape[1] == FEATURE_DIM


def test_evaluator_rejects_images_it_cannot_judge(evaluator):
    with pytest.raises(GanvasError, match="28x28"):
        evaluator.embed(torch.zeros(2, 3, 28, 28))
    with pytest.raises(GanvasError, match=r"\[-1, 1\]"):
        evaluator.embed(torch.full((2, 28, 28), 255.0))


def test_missing_weights_say_how_to_rebuild_them(tmp_path):
    with pytest.raises(GanvasError, match="train_evaluator.py"):
        load_evaluator(weights=tmp_path / "missing.safetensors")
