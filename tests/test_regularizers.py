import pytest
import torch
from torch import nn

from ganvas.regularizers import clip_weights_, gradient_penalty, instance_noise, r1_penalty, update_ema_

f64 = torch.float64


def linear_critic(weight, bias=0.0):
    critic = nn.Linear(len(weight), 1).double()
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([weight]))
        critic.bias.fill_(bias)
    return critic


def finite_difference_input_gradient(critic, x, eps=1e-6):
    """Central differences of each sample's output with respect to each of its inputs."""
    gradient = torch.zeros_like(x)
    with torch.no_grad():
        for index in torch.cartesian_prod(*map(torch.arange, x.shape)).tolist():
            step = torch.zeros_like(x)
            step[tuple(index)] = eps
            gradient[tuple(index)] = (critic(x + step).sum() - critic(x - step).sum()) / (2 * eps)
    return gradient


def test_gradient_penalty_matches_finite_differences_at_the_interpolated_points():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    real, fake = torch.randn(2, 3, dtype=f64), torch.randn(2, 3, dtype=f64)
    penalty = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(7))

    alpha = torch.rand(2, 1, generator=torch.Generator().manual_seed(7), dtype=f64)  # the same per-sample draw
    gradient = finite_difference_input_gradient(critic, alpha * real + (1 - alpha) * fake)
    expected = ((gradient.norm(dim=1) - 1) ** 2).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-6)
    assert gradient_penalty(critic, real, fake, torch.Generator().manual_seed(7)).item() == penalty.item()


def test_gradient_penalty_of_a_unit_norm_linear_critic_on_images_is_zero():
    critic = nn.Sequential(nn.Flatten(), linear_critic([0.5, -0.5, 0.5, 0.5]))
    real, fake = torch.randn(3, 1, 2, 2, dtype=f64), torch.randn(3, 1, 2, 2, dtype=f64)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-12)


def test_gradient_penalty_of_a_constant_critic_is_finite_and_trains_it_without_nan():
    critic = linear_critic([0.0, 0.0, 0.0], bias=0.3)  # zero input gradient: the plain norm's gradient is NaN here
    penalty = gradient_penalty(critic, torch.randn(2, 3, dtype=f64), torch.randn(2, 3, dtype=f64))
    assert penalty.item() == pytest.approx(1.0, abs=1e-5)
    penalty.backward()
    assert all(torch.isfinite(p.grad).all() for p in critic.parameters() if p.grad is not None)
    assert critic.weight.grad is not None


def test_r1_of_a_linear_critic_is_its_squared_weight_norm():
    critic = linear_critic([1.0, -2.0, 0.5])
    penalty = r1_penalty(critic, torch.randn(2, 3, dtype=f64))
    assert penalty.item() == pytest.approx(1.0 + 4.0 + 0.25)
    penalty.backward()
    assert torch.allclose(critic.weight.grad, torch.tensor([[2.0, -4.0, 1.0]], dtype=f64))  # d||w||^2/dw = 2w


@pytest.mark.parametrize("penalty", [lambda critic, real, fake: gradient_penalty(critic, real, fake),
                                     lambda critic, real, fake: r1_penalty(critic, real)], ids=["gp", "r1"])
def test_penalties_train_only_the_critic(penalty):
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(3, 1), nn.Tanh()).double()  # nonlinear: its input gradient depends on x
    real = torch.randn(2, 3, dtype=f64, requires_grad=True)
    fake = torch.randn(2, 3, dtype=f64, requires_grad=True)  # as if straight out of G
    penalty(critic, real, fake).backward()
    assert real.grad is None and fake.grad is None, "a penalty must not push gradients into the data or G"
    assert all(p.grad is not None for p in critic.parameters())


def test_clip_weights_bounds_every_parameter_and_keeps_those_inside():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    before = [p.detach().clone() for p in module.parameters()]
    clip_weights_(module, 0.1)
    for old, new in zip(before, module.parameters()):
        assert new.abs().max() <= 0.1
        inside = old.abs() <= 0.1
        assert torch.equal(new[inside], old[inside])
    assert any((old.abs() > 0.1).any() for old in before), "the test should clip something"


def batchnorm_net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))


@pytest.mark.parametrize("decay, share_of_new", [(0.0, 1.0), (1.0, 0.0), (0.5, 0.5)])
def test_ema_moves_parameters_by_one_minus_decay_and_copies_buffers(decay, share_of_new):
    ema, model = batchnorm_net(0), batchnorm_net(1)
    model(torch.randn(4, 2))  # a training forward moves the running statistics away from ema's
    ema_before = {k: v.clone() for k, v in ema.state_dict().items()}
    update_ema_(ema, model, decay)
    new = model.state_dict()
    for name, parameter in ema.named_parameters():
        torch.testing.assert_close(parameter, (1 - share_of_new) * ema_before[name] + share_of_new * new[name])
    for name, buffer in ema.named_buffers():
        assert torch.equal(buffer, new[name])


def test_instance_noise_has_the_asked_std_and_is_reproducible():
    images = torch.full((200, 1, 50, 50), 0.25)
    noisy = instance_noise(images, 0.1, torch.Generator().manual_seed(0))
    assert (noisy - images).std().item() == pytest.approx(0.1, rel=1e-2)
    assert (noisy - images).mean().item() == pytest.approx(0.0, abs=1e-3)
    assert torch.equal(noisy, instance_noise(images, 0.1, torch.Generator().manual_seed(0)))
    assert not torch.equal(noisy, instance_noise(images, 0.1, torch.Generator().manual_seed(1)))
