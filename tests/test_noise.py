"""Per-sample draws for a shard of a batch equal a 1-process run's draws for those samples."""

import torch

from ganvas.augment import augment
from ganvas.noise import SampleNoise
from ganvas.regularizers import instance_noise


def seeded(seed=3):
    return torch.Generator().manual_seed(seed)


def test_one_shard_draws_exactly_what_torch_draws():
    assert torch.equal(SampleNoise(seeded()).randn((5, 3), device="cpu"), torch.randn((5, 3), generator=seeded()))
    assert torch.equal(SampleNoise(seeded()).randint(0, 10, (7,), device="cpu"),
                       torch.randint(10, (7,), generator=seeded()))


def test_shards_put_together_are_the_whole_batch_and_leave_the_same_generator_state():
    whole = seeded()
    expected = [torch.rand((8, 2), generator=whole), torch.randint(0, 5, (8, 1), generator=whole)]
    parts, states = [], []
    for shard in range(4):
        generator = seeded()
        noise = SampleNoise(generator, shard, 4)
        parts.append((noise.rand((2, 2), device="cpu"), noise.randint(0, 5, (2, 1), device="cpu")))
        states.append(generator.get_state())
    assert torch.equal(torch.cat([p[0] for p in parts]), expected[0])
    assert torch.equal(torch.cat([p[1] for p in parts]), expected[1])
    assert all(torch.equal(state, whole.get_state()) for state in states), "every process stays in step"


def test_augmenting_two_shards_equals_augmenting_the_batch():
    images = torch.rand(6, 4, 16, 16) * 2 - 1
    whole = instance_noise(augment(images, "color,translation,cutout", seeded()), 0.1, seeded(9))
    halves = [instance_noise(augment(images[3 * s:3 * s + 3], "color,translation,cutout", SampleNoise(seeded(), s, 2)),
                             0.1, SampleNoise(seeded(9), s, 2)) for s in range(2)]
    assert torch.equal(torch.cat(halves), whole)
