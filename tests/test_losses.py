import math

import pytest
import torch

from ganvas.errors import GanvasError
from ganvas.losses import bce_discriminator_loss, get_objective, objective_names

sigmoid = lambda x: 1 / (1 + math.exp(-x))
mean = lambda values: sum(values) / len(values)

# One small batch for every hand computation below.
REAL, FAKE = [2.0, -1.0], [0.5, -3.0]
BCE_D = mean([-math.log(sigmoid(r)) for r in REAL]) + mean([-math.log(1 - sigmoid(f)) for f in FAKE])

# name: (discriminator loss, generator loss), each written out from its formula
EXPECTED = {
    "nonsaturating": (BCE_D, mean([-math.log(sigmoid(f)) for f in FAKE])),
    "minimax": (BCE_D, mean([math.log(1 - sigmoid(f)) for f in FAKE])),
    "wgan": (mean(FAKE) - mean(REAL), -mean(FAKE)),
    "wgan-gp": (mean(FAKE) - mean(REAL), -mean(FAKE)),
    "lsgan": (0.5 * mean([(r - 1) ** 2 for r in REAL]) + 0.5 * mean([f ** 2 for f in FAKE]),
              0.5 * mean([(f - 1) ** 2 for f in FAKE])),
    "hinge": (mean([max(0, 1 - r) for r in REAL]) + mean([max(0, 1 + f) for f in FAKE]), -mean(FAKE)),
    "relativistic": (mean([-math.log(sigmoid(r - f)) for r, f in zip(REAL, FAKE)]),
                     mean([-math.log(sigmoid(f - r)) for r, f in zip(REAL, FAKE)])),
}


def test_every_objective_has_its_formula_checked():
    assert sorted(EXPECTED) == objective_names()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_losses_match_their_formulas_by_hand(name):
    objective = get_objective(name)
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    expected_d, expected_g = EXPECTED[name]
    assert objective.discriminator_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    assert objective.generator_loss(real, fake).item() == pytest.approx(expected_g, rel=1e-6)


def test_only_the_relativistic_generator_needs_real_logits():
    assert [name for name in objective_names() if get_objective(name).generator_needs_real] == ["relativistic"]


def test_one_sided_label_smoothing_changes_only_the_real_target():
    target = 0.9
    real_term = mean([-(target * math.log(sigmoid(r)) + (1 - target) * math.log(1 - sigmoid(r))) for r in REAL])
    fake_term = mean([-math.log(1 - sigmoid(f)) for f in FAKE])
    loss = bce_discriminator_loss(torch.tensor(REAL), torch.tensor(FAKE), real_target=target)
    assert loss.item() == pytest.approx(real_term + fake_term, rel=1e-6)


@pytest.mark.parametrize("name", objective_names())
def test_losses_and_their_gradients_stay_finite_for_extreme_logits(name):
    objective = get_objective(name)
    real = torch.tensor([-1e4, 1e4], requires_grad=True)
    fake = torch.tensor([1e4, -1e4], requires_grad=True)
    d_loss = objective.discriminator_loss(real, fake)
    # Objectives that do not need real logits must work without them, as the trainer passes None.
    g_loss = objective.generator_loss(real if objective.generator_needs_real else None, fake)
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    (d_loss + g_loss).backward()
    assert torch.isfinite(real.grad).all() and torch.isfinite(fake.grad).all()


def test_unknown_loss_is_a_clear_error():
    with pytest.raises(GanvasError, match="unknown loss"):
        get_objective("wasserstein-ish")


def test_accuracy_counts_each_side_of_the_objectives_own_boundary():
    real, fake = torch.tensor([0.9, 0.8, 0.3, 0.7]), torch.tensor([0.1, 0.2, 0.6, 0.4])
    # Least squares regresses real to 1 and generated to 0: its boundary is 0.5, not 0.
    assert get_objective("lsgan").accuracy(real, fake).item() == pytest.approx((3 / 4 + 3 / 4) / 2)
    logits_real, logits_fake = torch.tensor([2.0, -1.0]), torch.tensor([-3.0, -0.5])
    for name in ("nonsaturating", "minimax", "hinge"):
        assert get_objective(name).accuracy(logits_real, logits_fake).item() == pytest.approx((1 / 2 + 1) / 2)


@pytest.mark.parametrize("name", ["wgan", "wgan-gp", "relativistic"])
def test_accuracy_of_objectives_without_a_boundary_compares_each_real_image_with_its_generated_partner(name):
    # A critic's scores drift by a constant: shifting them all must not change how often D ranks real above generated.
    real, fake = torch.tensor([5.0, 6.0, 4.0]), torch.tensor([4.5, 6.5, 3.0])
    objective = get_objective(name)
    assert objective.accuracy(real, fake).item() == pytest.approx(2 / 3)
    assert objective.accuracy(real - 100, fake - 100).item() == pytest.approx(2 / 3)
    with pytest.raises(GanvasError, match="no boundary"):
        objective.real_sign(real)


def test_adas_overfitting_signal_is_the_side_of_the_boundary_real_images_fall_on():
    least_squares_outputs = torch.tensor([0.3, 0.4, 0.9, 0.2])  # mostly on the generated side of 0.5
    assert get_objective("lsgan").real_sign(least_squares_outputs).item() == pytest.approx(-0.5)
    assert get_objective("hinge").real_sign(torch.tensor([0.3, -0.4, 0.9, 0.2])).item() == pytest.approx(0.5)
