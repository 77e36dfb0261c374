"""GAN sample-quality statistics on evaluator outputs (pure numpy).

Every function takes float arrays: features ``(N, F)`` (the evaluator's
penultimate layer) or class probabilities ``(N, K)``. "Real" is the data set,
"fake" the generator's samples. docs/metrics.md says what each number means.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy.linalg import LinAlgWarning, sqrtm
from scipy.special import rel_entr

from ganvas.errors import GanvasError

# Rows per block of a pairwise distance matrix: 500 x 10,000 float64 is 40 MB.
_CHUNK_ROWS = 500


class Embedding(NamedTuple):
    """What the evaluator says about a set of images."""

    features: np.ndarray  # (N, F) penultimate-layer activations
    probs: np.ndarray  # (N, K) softmax class probabilities


class MeanStd(NamedTuple):
    mean: float
    std: float


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float


class DensityCoverage(NamedTuple):
    density: float
    coverage: float


def _as_matrix(values: np.ndarray, min_rows: int = 1) -> np.ndarray:
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-D (samples, dims) array, got shape {matrix.shape}")
    if len(matrix) < min_rows:
        raise GanvasError(f"this metric needs at least {min_rows} samples, got {len(matrix)}")
    return matrix


# --- Fréchet distance (FID) -------------------------------------------------


def feature_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a feature set: the Gaussian that FID compares (cache these for a reference set)."""
    feats = _as_matrix(feats, min_rows=2)
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

        d² = ||mu1 - mu2||² + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^½)

    When near-singular covariances make the matrix square root non-finite, it is
    retried with ``eps * I`` added to both, as the reference FID implementations do.
    """
    diff = np.asarray(mu1, dtype=np.float64) - np.asarray(mu2, dtype=np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)  # singular products are handled just below
        covmean = sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = eps * np.eye(len(sigma1))
            covmean = sqrtm((sigma1 + offset) @ (sigma2 + offset))
    # Rounding can leave a tiny imaginary part on a root that is real in exact arithmetic.
    trace_covmean = np.trace(covmean).real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_covmean)


def fid(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (lower is closer; 0 for identical sets)."""
    return frechet_distance(*feature_stats(feats_a), *feature_stats(feats_b))


# --- Kernel distance (KID) --------------------------------------------------


def _cubic_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x·y / d + 1)³ for all pairs of rows."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between equal-size samples: the within-set means skip the i == j terms."""
    m = len(x)
    k_xx, k_yy, k_xy = _cubic_kernel(x, x), _cubic_kernel(y, y), _cubic_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def kid(feats_a: np.ndarray, feats_b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> MeanStd:
    """Kernel Inception Distance: unbiased MMD² with k(x, y) = (x·y/d + 1)³.

    Averaged over ``subsets`` random subsets of ``min(subset_size, len(a), len(b))``
    samples from each set (fixed ``seed``). Unbiased, so for two samples of one
    distribution the mean is near 0 and may be slightly negative.
    """
    feats_a, feats_b = _as_matrix(feats_a, min_rows=2), _as_matrix(feats_b, min_rows=2)
    size = min(subset_size, len(feats_a), len(feats_b))
    rng = np.random.default_rng(seed)
    values = [
        _unbiased_mmd2(feats_a[rng.choice(len(feats_a), size, replace=False)],
                       feats_b[rng.choice(len(feats_b), size, replace=False)])
        for _ in range(subsets)
    ]
    return MeanStd(float(np.mean(values)), float(np.std(values)))


# --- Precision and recall (k-NN manifolds) ----------------------------------


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """||a_i - b_j||² for all pairs, clipped at 0 against rounding."""
    cross = a @ b.T
    return np.maximum((a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * cross, 0.0)


def _row_blocks(n: int) -> list[slice]:
    return [slice(start, start + _CHUNK_ROWS) for start in range(0, n, _CHUNK_ROWS)]


def _knn_radii_squared(feats: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each sample to its k-th nearest neighbour in its own set."""
    radii = np.empty(len(feats))
    for rows in _row_blocks(len(feats)):
        # Position 0 of each sorted row is the sample itself (distance 0), so position k is the k-th neighbour.
        radii[rows] = np.partition(_squared_distances(feats[rows], feats), k, axis=1)[:, k]
    return radii


def _fraction_inside(points: np.ndarray, manifold: np.ndarray, radii_squared: np.ndarray) -> float:
    """Fraction of ``points`` within the k-NN ball of at least one ``manifold`` sample."""
    inside = np.empty(len(points), dtype=bool)
    for rows in _row_blocks(len(points)):
        inside[rows] = (_squared_distances(points[rows], manifold) <= radii_squared[None, :]).any(axis=1)
    return float(inside.mean())


def nearest_distances(points: np.ndarray, reference: np.ndarray, skip: np.ndarray | None = None) -> np.ndarray:
    """Distance from each point to its nearest reference row; skip[i] names a reference row point i ignores."""
    points, reference = _as_matrix(points), _as_matrix(reference, min_rows=2)
    nearest = np.empty(len(points))
    for rows in _row_blocks(len(points)):
        squared = _squared_distances(points[rows], reference)
        if skip is not None:
            squared[np.arange(len(squared)), skip[rows]] = np.inf
        nearest[rows] = np.sqrt(squared.min(axis=1))
    return nearest


def precision_recall(real_feats: np.ndarray, fake_feats: np.ndarray, k: int = 3) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al., 2019).

    Each set's manifold is the union of balls around its samples, each ball's
    radius the distance to that sample's k-th nearest neighbour in the same set.
    precision = fraction of fake samples inside the real manifold (fidelity);
    recall = fraction of real samples inside the fake manifold (coverage).
    """
    real_feats, fake_feats = _as_matrix(real_feats, min_rows=k + 1), _as_matrix(fake_feats, min_rows=k + 1)
    precision = _fraction_inside(fake_feats, real_feats, _knn_radii_squared(real_feats, k))
    recall = _fraction_inside(real_feats, fake_feats, _knn_radii_squared(fake_feats, k))
    return PrecisionRecall(precision, recall)


def density_coverage(real_feats: np.ndarray, fake_feats: np.ndarray, k: int = 5) -> DensityCoverage:
    """Density and coverage (Naeem et al., 2020): both use only the real samples' k-NN balls, so one outlying
    generated sample cannot inflate them as it inflates recall's fake manifold.

    density = how many real balls a fake sample lies in, on average, divided by k (about 1 for samples
    distributed like the real ones; above 1 where samples crowd the dense regions);
    coverage = fraction of real samples whose ball holds at least one fake sample (mode dropping lowers it).
    """
    real_feats, fake_feats = _as_matrix(real_feats, min_rows=k + 1), _as_matrix(fake_feats)
    radii = _knn_radii_squared(real_feats, k)
    counts = np.zeros(len(fake_feats))
    covered = np.zeros(len(real_feats), dtype=bool)
    for rows in _row_blocks(len(fake_feats)):
        inside = _squared_distances(fake_feats[rows], real_feats) <= radii[None, :]
        counts[rows] = inside.sum(axis=1)
        covered |= inside.any(axis=0)
    return DensityCoverage(float(counts.mean() / k), float(covered.mean()))


# --- Class statistics -------------------------------------------------------


def inception_score(probs: np.ndarray, splits: int = 10) -> MeanStd:
    """exp(E_x KL(p(y|x) || p(y))) over ``splits`` equal parts of the samples (mean and std across parts).

    1 when every sample gets the same prediction; K (the number of classes) when
    predictions are confident and spread evenly over all K classes. The parts are a fixed random
    split, so the score does not depend on the samples' order: a conditional generator's samples
    come sorted by class, and contiguous parts would each hold one class (scoring about 1).
    """
    probs = _as_matrix(probs)
    shuffled = probs[np.random.default_rng(0).permutation(len(probs))]
    scores = []
    for part in np.array_split(shuffled, min(splits, len(probs))):
        marginal = part.mean(axis=0)
        scores.append(np.exp(rel_entr(part, marginal).sum(axis=1).mean()))
    return MeanStd(float(np.mean(scores)), float(np.std(scores)))


def class_histogram(probs: np.ndarray) -> np.ndarray:
    """Share of samples whose most likely class is each class (sums to 1)."""
    probs = _as_matrix(probs)
    return np.bincount(probs.argmax(axis=1), minlength=probs.shape[1]) / len(probs)


def class_coverage(probs: np.ndarray, min_share: float = 0.2) -> int:
    """Number of classes predicted for at least ``min_share`` of the uniform share 1/K of the samples.

    With K = 10 and the default 0.2, a class counts once it gets 2% of the samples.
    """
    histogram = class_histogram(probs)
    return int((histogram >= min_share / len(histogram)).sum())


def kl_to_uniform(histogram: np.ndarray) -> float:
    """KL(histogram || uniform) = sum_c h_c log(K h_c): 0 for balanced classes, log K for a single class.

    Empty classes contribute 0 (the convention 0 log 0 = 0), so no epsilon is needed.
    """
    histogram = np.asarray(histogram, dtype=np.float64)
    histogram = histogram / histogram.sum()
    return float(rel_entr(histogram, 1.0 / len(histogram)).sum())


# --- Diversity --------------------------------------------------------------


def diversity(feats: np.ndarray, pairs: int = 10_000, seed: int = 0) -> float:
    """Mean Euclidean distance between the features of random pairs of distinct samples (drops under mode collapse)."""
    feats = _as_matrix(feats, min_rows=2)
    rng = np.random.default_rng(seed)
    first = rng.integers(len(feats), size=pairs)
    second = (first + rng.integers(1, len(feats), size=pairs)) % len(feats)  # never equal to first
    return float(np.linalg.norm(feats[first] - feats[second], axis=1).mean())


# --- Everything at once -----------------------------------------------------


def all_metrics(real: Embedding, fake: Embedding) -> dict[str, float]:
    """Every metric above for fake samples against real ones, keyed by the names docs/metrics.md uses."""
    kernel_distance = kid(real.features, fake.features)
    precision, recall = precision_recall(real.features, fake.features)
    return {
        "fid": fid(real.features, fake.features),
        "kid": kernel_distance.mean,
        "kid_std": kernel_distance.std,
        "precision": precision,
        "recall": recall,
        "inception_score": inception_score(fake.probs).mean,
        "class_coverage": class_coverage(fake.probs),
        "class_kl": kl_to_uniform(class_histogram(fake.probs)),
        "diversity": diversity(fake.features),
    }
