import torch

from playground.data.augment import augment_batch, random_hflip, random_shift


def test_shift_moves_each_image_by_its_own_offset():
    images = torch.zeros(64, 1, 9, 9)
    images[:, :, 4, 4] = 1.0   # one bright pixel in the centre
    shifted = random_shift(images, 2, torch.Generator().manual_seed(0))
    positions = {tuple((img[0] == 1).nonzero()[0].tolist()) for img in shifted}
    assert all(2 <= r <= 6 and 2 <= c <= 6 for r, c in positions)
    assert len(positions) > 5     # drawn per image, not once per batch
    assert shifted.sum() == 64    # nothing lost: the pixel stays inside


def test_flip_mirrors_about_half_of_the_images():
    images = torch.arange(4.0).repeat(200, 3, 4, 1)
    flipped = random_hflip(images, torch.Generator().manual_seed(0))
    mirrored = (flipped[:, 0, 0, 0] == 3).sum().item()
    assert 60 < mirrored < 140
    assert torch.equal(flipped[flipped[:, 0, 0, 0] == 3], images[:1].flip(3).expand(mirrored, -1, -1, -1))


def test_digits_are_never_mirrored():
    images = torch.zeros(100, 1, 28, 28)
    images[:, :, 10:18, 3] = 1.0   # a vertical stroke near the left edge
    out = augment_batch(images, "mnist", torch.Generator().manual_seed(1))
    columns = out.sum(dim=(1, 2)).argmax(dim=1)
    assert int(columns.max()) <= 5
