import pytest
import torch

from simcse.pooling import POOLERS, check_pooler, masked_mean, pool


def _states():
    # B=2, T=3, H=2; the second sentence has one padding position holding junk values.
    last = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [[7.0, 8.0], [9.0, 10.0], [100.0, 100.0]]])
    first = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], [[1.0, 1.0], [3.0, 3.0], [-50.0, -50.0]]])
    emb = torch.full_like(last, 42.0)  # hidden_states[0], the embedding layer: must never be used
    second_last = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], [[0.0, 2.0], [0.0, 4.0], [9.0, 9.0]]])
    hidden = (emb, first, second_last, last)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    return last, hidden, mask


def test_cls_poolers_take_first_token():
    last, hidden, mask = _states()
    for name in ("cls", "cls_before_pooler"):
        assert torch.equal(pool(name, last, hidden, mask), torch.tensor([[1.0, 2.0], [7.0, 8.0]]))


def test_avg_ignores_padding():
    last, hidden, mask = _states()
    expected = torch.tensor([[3.0, 4.0], [8.0, 9.0]])  # (7+9)/2, (8+10)/2
    assert torch.allclose(pool("avg", last, hidden, mask), expected)


def test_avg_top2_by_hand():
    last, hidden, mask = _states()
    # sentence 1: mean over 3 tokens of (last + [1,0]) / 2 -> ([3,4] + [1,0]) / 2
    # sentence 2: mean over 2 tokens of ((7,8)+(0,2))/2=(3.5,5), ((9,10)+(0,4))/2=(4.5,7) -> (4, 6)
    expected = torch.tensor([[2.0, 2.0], [4.0, 6.0]])
    assert torch.allclose(pool("avg_top2", last, hidden, mask), expected)


def test_avg_first_last_uses_first_transformer_layer():
    last, hidden, mask = _states()
    # sentence 1: first-layer mean (1,1), last mean (3,4) -> (2, 2.5)
    # sentence 2: first-layer mean (2,2), last mean (8,9) -> (5, 5.5); the 42s of hidden[0] unused
    expected = torch.tensor([[2.0, 2.5], [5.0, 5.5]])
    assert torch.allclose(pool("avg_first_last", last, hidden, mask), expected)


def test_masked_mean_of_all_padding_is_finite():
    out = masked_mean(torch.ones(1, 2, 3), torch.zeros(1, 2, dtype=torch.long))
    assert torch.isfinite(out).all()


def test_unknown_pooler_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        check_pooler("max")
    for name in POOLERS:
        assert name in str(err.value)
