import math

import pytest
import torch

from ganvas.errors import GanvasError
from ganvas.losses import get_objective, objective_names

sigmoid = lambda x: 1 / (1 + math.exp(-x))


def test_nonsaturating_matches_binary_cross_entropy_by_hand():
    objective = get_objective("nonsaturating")
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    expected_d = (-math.log(sigmoid(2.0)) - math.log(sigmoid(-1.0))) / 2 \
        + (-math.log(1 - sigmoid(0.5)) - math.log(1 - sigmoid(-3.0))) / 2
    expected_g = (-math.log(sigmoid(0.5)) - math.log(sigmoid(-3.0))) / 2
    assert objective.discriminator_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    assert objective.generator_loss(fake).item() == pytest.approx(expected_g, rel=1e-6)


@pytest.mark.parametrize("name", objective_names())
def test_losses_stay_finite_for_extreme_logits(name):
    objective = get_objective(name)
    extreme = torch.tensor([-1e4, 1e4])
    assert torch.isfinite(objective.discriminator_loss(extreme, extreme))
    assert torch.isfinite(objective.generator_loss(extreme))


def test_unknown_loss_is_a_clear_error():
    with pytest.raises(GanvasError, match="unknown loss"):
        get_objective("wasserstein-ish")
