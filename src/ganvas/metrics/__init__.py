"""Sample-quality metrics for 28x28 greyscale digits, computed offline.

``load_evaluator().embed(images)`` turns images in [-1, 1] into features and
class probabilities; the functions in ``ganvas.metrics.stats`` turn those into
FID, KID, precision/recall, Inception Score and class statistics.
See docs/metrics.md.
"""

from ganvas.metrics.evaluator import FEATURE_DIM, MnistEvaluator, load_evaluator
from ganvas.metrics.stats import (
    Embedding,
    all_metrics,
    class_coverage,
    class_histogram,
    diversity,
    feature_stats,
    fid,
    frechet_distance,
    inception_score,
    kid,
    kl_to_uniform,
    precision_recall,
)

__all__ = [
    "FEATURE_DIM",
    "Embedding",
    "MnistEvaluator",
    "all_metrics",
    "class_coverage",
    "class_histogram",
    "diversity",
    "feature_stats",
    "fid",
    "frechet_distance",
    "inception_score",
    "kid",
    "kl_to_uniform",
    "load_evaluator",
    "precision_recall",
]
