import pytest
import torch

from companion import data


def test_digits_split_sizes_cover_the_data_set_once():
    s = data.digits()
    sizes = (len(s.x_train), len(s.x_val), len(s.x_test))
    assert sizes == (1168, 270, 359)
    assert sum(sizes) == 1797  # scikit-learn's digits
    assert s.input_shape == (64,)
    assert 0.0 <= float(s.x_train.min()) and float(s.x_train.max()) <= 1.0
    # The three splits are a partition of the original examples: the same multiset of (pixels, label).
    from sklearn.datasets import load_digits
    bunch = load_digits()
    original = sorted(tuple(row) + (label,) for row, label in zip((bunch.data / 16).tolist(), bunch.target.tolist()))
    x = torch.cat([s.x_train, s.x_val, s.x_test]).double().tolist()
    y = torch.cat([s.y_train, s.y_val, s.y_test]).tolist()
    assert sorted(tuple(row) + (label,) for row, label in zip(x, y)) == original


def test_digits_is_deterministic_and_seed_dependent():
    a, b, c = data.digits(seed=0), data.digits(seed=0), data.digits(seed=1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)


def test_digits_image_shape():
    s = data.digits(image=True)
    assert s.input_shape == (1, 8, 8)
    assert torch.equal(s.x_train.flatten(1), data.digits().x_train)


def test_mnist1d_is_generated_locally_with_paper_sizes():
    s = data.mnist1d()
    assert len(s.x_train) + len(s.x_val) == 4000 and len(s.x_test) == 1000
    assert s.input_shape == (40,)
    assert set(s.y_test.tolist()) == set(range(10))
    assert data.mnist1d(channel=True).input_shape == (1, 40)


def test_loader_order_is_seeded():
    s = data.digits()
    first = [y for _, y in s.loader("train", 100, seed=3)]
    second = [y for _, y in s.loader("train", 100, seed=3)]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert torch.equal(next(iter(s.loader("test", 500)))[1], s.y_test[:500])  # test split is not shuffled


@pytest.mark.parametrize("kwargs", [{"val_fraction": 0}, {"test_fraction": 1.2}, {"val_fraction": 0.5, "test_fraction": 0.5}])
def test_digits_rejects_bad_fractions(kwargs):
    with pytest.raises(ValueError, match="fraction"):
        data.digits(**kwargs)


def test_bad_names_and_sizes_are_rejected():
    with pytest.raises(ValueError, match="dataset must be one of"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="split"):
        data.digits().loader("validation")
    with pytest.raises(ValueError, match="batch_size"):
        data.digits().loader("train", 0)
