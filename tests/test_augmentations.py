import numpy as np
import pytest

from relcon.models.MotifDist import augmentations as A


@pytest.fixture
def x():
    rng = np.random.default_rng(0)
    return (np.sin(np.linspace(0, 20, 256))[:, None] * [1.0, 0.5, -0.3] + 0.05 * rng.standard_normal((256, 3))
            ).astype(np.float32)


@pytest.mark.parametrize("transform", A.TRANSFORMS, ids=[t.__name__ for t in A.TRANSFORMS])
def test_shape_and_reproducible(transform, x):
    out1 = transform(x.astype(np.float64), np.random.default_rng(5))
    out2 = transform(x.astype(np.float64), np.random.default_rng(5))
    assert out1.shape == x.shape
    np.testing.assert_array_equal(out1, out2)
    assert np.isfinite(out1).all()


def test_augment_keeps_dtype_and_is_seeded(x):
    a = A.augment(x, np.random.default_rng(1))
    b = A.augment(x, np.random.default_rng(1))
    assert a.dtype == np.float32 and a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, A.augment(x, np.random.default_rng(2)))


def test_transform_properties(x):
    rng = np.random.default_rng(3)
    x = x.astype(np.float64)
    rotated = A.rotation(x, rng)
    np.testing.assert_allclose(np.linalg.norm(rotated, axis=1), np.linalg.norm(x, axis=1), rtol=1e-10)
    R = A.rotation_matrix([0, 0, 1], np.pi / 2)
    np.testing.assert_allclose(R @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_array_equal(A.negation(x, rng), -x)
    np.testing.assert_array_equal(A.time_flip(x, rng), x[::-1])
    shuffled = A.channel_shuffle(x, rng)
    assert not np.array_equal(shuffled, x)
    assert sorted(map(tuple, shuffled.T.round(12))) == sorted(map(tuple, x.T.round(12)))
    perm = A.segment_permutation(x, rng)
    np.testing.assert_allclose(np.sort(perm, axis=0), np.sort(x, axis=0))
    warped = A.time_warp(x, rng)
    np.testing.assert_allclose(warped[[0, -1]], x[[0, -1]], atol=1e-9)  # end points stay
    assert warped.min() >= x.min() - 1e-9 and warped.max() <= x.max() + 1e-9  # interpolation only
    scaled = A.scaling(x, rng)
    ratio = scaled / np.where(np.abs(x) > 1e-6, x, np.nan)
    assert np.nanstd(ratio, axis=0).max() < 1e-9  # one factor per channel


def test_two_distinct_transforms_drawn():
    calls = []
    rng = np.random.default_rng(0)
    original = A.TRANSFORMS
    try:
        A.TRANSFORMS = tuple((lambda i: (lambda z, r: calls.append(i) or z))(i) for i in range(8))
        for _ in range(50):
            calls.clear()
            A.augment(np.zeros((16, 3)), rng)
            assert len(calls) == 2 and calls[0] != calls[1]
    finally:
        A.TRANSFORMS = original
