from __future__ import annotations

import torch
import torch.nn.functional as F

from worker.augment import alternating_flips, cutout, flip_where, random_crop, random_flip


def test_random_crop_equals_pad_then_slice_at_the_drawn_offsets() -> None:
    x = torch.randint(0, 255, (6, 3, 8, 8), dtype=torch.uint8)
    out = random_crop(x, 2, torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(1)
    dy = torch.randint(0, 5, (6,), generator=gen)
    dx = torch.randint(0, 5, (6,), generator=gen)
    padded = F.pad(x, (2, 2, 2, 2))
    for i in range(6):
        torch.testing.assert_close(out[i], padded[i, :, dy[i] : dy[i] + 8, dx[i] : dx[i] + 8])
    assert out.dtype == torch.uint8 and out.shape == x.shape


def test_random_flip_mirrors_about_half_of_the_batch() -> None:
    x = torch.arange(2 * 1 * 1 * 4).view(2, 1, 1, 4).repeat(200, 1, 1, 1)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = (out == x.flip(-1)).all(dim=(1, 2, 3))
    kept = (out == x).all(dim=(1, 2, 3))
    assert bool((flipped | kept).all())
    assert 150 < int(flipped.sum()) < 250


def test_alternating_flips_mirror_each_image_on_every_other_epoch() -> None:
    first, second, third = (alternating_flips(1000, seed=5, epoch=e) for e in (1, 2, 3))
    assert bool((second == ~first).all()) and bool((third == first).all())
    assert 400 < int(first.sum()) < 600  # a random half
    assert not bool((alternating_flips(1000, seed=6, epoch=1) == first).all())  # drawn from the seed
    x = torch.arange(3 * 4).view(3, 1, 1, 4)
    out = flip_where(x, torch.tensor([True, False, True]))
    assert out[0].tolist() == x[0].flip(-1).tolist() and out[1].tolist() == x[1].tolist()


def test_cutout_zeroes_at_most_one_square_per_image() -> None:
    x = torch.full((50, 3, 16, 16), 7, dtype=torch.uint8)
    out = cutout(x, 4, torch.Generator().manual_seed(0))
    zeros = (out == 0).all(dim=1).sum(dim=(1, 2))
    assert int(zeros.max()) == 16 and int(zeros.min()) >= 4  # a full square or one clipped by the edge
