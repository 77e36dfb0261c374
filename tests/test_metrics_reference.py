"""ganvas's Fréchet distance and KID against torchmetrics' implementations, on the same features.

torchmetrics' FrechetInceptionDistance and KernelInceptionDistance take any torch module as their
feature extractor; an identity module lets them score the features given here directly, so no
Inception network, torchvision, torch-fidelity or download is involved.

Conventions, read from both sources (torchmetrics 1.9, ganvas/metrics/stats.py) and shared:
- FID: sample covariances with 1/(N-1), float64; tr((Σ₁Σ₂)^½) is scipy's sqrtm in ganvas and the
  sum of square roots of the eigenvalues of Σ₁Σ₂ in torchmetrics: the same number.
- KID: the polynomial kernel (x·y/d + 1)³ (torchmetrics' defaults degree=3, gamma=None meaning 1/d,
  coef=1.0), the unbiased MMD² (within-set means skip i == j; the cross term averages all m² pairs),
  the mean over random subsets and their population standard deviation (ddof 0 in both).
They differ only in how subsets are drawn: ganvas with numpy (seed 0, a subset from each set in
turn), torchmetrics with torch.randperm on the global generator. So KID is compared like with like
in three ways: with whole sets as the single "subset" (every draw is then a permutation, and the
value does not depend on the order); subset by subset, scoring ganvas's own subsets with
torchmetrics' kernel MMD; and, as a check on the averaging, both classes' means on random subsets
within the sampling error.
"""

import warnings

import numpy as np
import pytest
import torch
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance, poly_mmd

from ganvas.metrics.stats import feature_stats, fid, frechet_distance, kid


class Features(torch.nn.Module):
    """The 'feature extractor' torchmetrics calls on each batch: the features themselves."""

    def __init__(self, dims: int):
        super().__init__()
        self.num_features = dims  # FrechetInceptionDistance reads it instead of probing with a dummy image

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def feature_sets(n_real: int, n_fake: int, dims: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Correlated Gaussian features; the fake set is shifted, wider and bent, so the distances are far from 0."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(dims, dims)) / np.sqrt(dims)
    real = rng.normal(size=(n_real, dims)) @ mix
    fake = (rng.normal(size=(n_fake, dims)) * 1.3 + 0.2) @ mix
    fake[:, 0] += 0.5 * fake[:, 1] ** 2
    return real, fake


def torchmetrics_fid(real: np.ndarray, fake: np.ndarray, batch: int = 64) -> float:
    metric = FrechetInceptionDistance(feature=Features(real.shape[1]))
    for features, is_real in ((real, True), (fake, False)):
        for start in range(0, len(features), batch):  # in batches, as it accumulates sums
            metric.update(torch.from_numpy(features[start:start + batch]), real=is_real)
    return float(metric.compute())


def torchmetrics_kid(real: np.ndarray, fake: np.ndarray, subsets: int, subset_size: int) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features in buffer"
        metric = KernelInceptionDistance(feature=Features(real.shape[1]), subsets=subsets, subset_size=subset_size)
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    mean, std = metric.compute()
    return float(mean), float(std)


@pytest.mark.parametrize("n_real, n_fake, dims", [(600, 400, 16), (300, 300, 128), (90, 70, 128)])
def test_frechet_distance_matches_torchmetrics(n_real, n_fake, dims):
    # 128 dims is the evaluator's; 90 and 70 samples in 128 dims give singular covariances.
    real, fake = feature_sets(n_real, n_fake, dims)
    ours, theirs = fid(real, fake), torchmetrics_fid(real, fake)
    assert ours > 1
    assert ours == pytest.approx(theirs, rel=1e-6)
    # The cached-statistics route gives the same number.
    assert frechet_distance(*feature_stats(real), *feature_stats(fake)) == pytest.approx(theirs, rel=1e-6)


def test_frechet_distance_of_identical_sets_is_zero_in_both():
    real, _ = feature_sets(200, 1, 32)
    assert fid(real, real) == pytest.approx(0, abs=1e-6)
    assert torchmetrics_fid(real, real) == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("n, dims", [(200, 16), (150, 128)])
def test_kid_on_whole_sets_matches_torchmetrics(n, dims):
    # subset_size = n: each subset is the whole set, whichever way it is drawn.
    real, fake = feature_sets(n, n, dims)
    ours = kid(real, fake, subsets=3, subset_size=n)
    theirs_mean, theirs_std = torchmetrics_kid(real, fake, subsets=3, subset_size=n)
    assert ours.mean > 0.01
    assert ours.mean == pytest.approx(theirs_mean, rel=1e-9)
    assert ours.std == pytest.approx(0, abs=1e-12) and theirs_std == pytest.approx(0, abs=1e-12)


def test_kid_subset_by_subset_matches_torchmetrics_kernel_mmd():
    real, fake = feature_sets(500, 300, 128)
    subsets, size, seed = 20, 100, 3
    # ganvas.metrics.stats.kid's draws: one generator, a subset of a then one of b, without replacement.
    rng = np.random.default_rng(seed)
    theirs = []
    for _ in range(subsets):
        a = real[rng.choice(len(real), size, replace=False)]
        b = fake[rng.choice(len(fake), size, replace=False)]
        theirs.append(float(poly_mmd(torch.from_numpy(a), torch.from_numpy(b))))  # degree 3, gamma 1/d, coef 1
    ours = kid(real, fake, subsets=subsets, subset_size=size, seed=seed)
    assert ours.mean == pytest.approx(np.mean(theirs), rel=1e-9)
    assert ours.std == pytest.approx(np.std(theirs), rel=1e-6)


def test_kid_on_random_subsets_agrees_with_torchmetrics_within_sampling_error():
    real, fake = feature_sets(400, 400, 64)
    torch.manual_seed(0)
    theirs_mean, theirs_std = torchmetrics_kid(real, fake, subsets=100, subset_size=100)
    ours = kid(real, fake, subsets=100, subset_size=100)
    # Two independent means of 100 subsets each: their difference has a spread of about std · √(2/100).
    assert abs(ours.mean - theirs_mean) < 4 * max(ours.std, theirs_std) * np.sqrt(2 / 100)
    assert ours.std == pytest.approx(theirs_std, rel=0.3)
