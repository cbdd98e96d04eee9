"""Length-grouped encoding gives the single padded pass's embeddings and gradients."""

import pytest
import torch

from simcse.encoder import pad_batch
from simcse.losses import info_nce
from simcse.model_io import load_encoder
from simcse.train.length_groups import auto_groups, grouped_forward

from samples import SENTENCES


@pytest.mark.parametrize("pooler", ["cls", "avg", "avg_first_last"])
@pytest.mark.parametrize("groups", [2, 3, 4, 12, 20])
def test_grouped_equals_one_padded_pass(tiny_bert, pooler, groups):
    enc = load_encoder(tiny_bert, pooler=pooler, max_length=16, mlp_only_train=False).eval()  # no dropout
    texts = SENTENCES + [s.split()[0] for s in SENTENCES]  # 12 rows of very different lengths
    batch = pad_batch(enc.tokenize(texts), list(range(len(texts))), 0)
    lengths = batch["attention_mask"].sum(1)
    assert lengths.min() < lengths.max() // 2  # the groups really are narrower than the batch

    def run(g):
        enc.zero_grad()
        emb = grouped_forward(lambda b: enc(**b), batch, g)
        info_nce(emb[:6], emb[6:], temperature=0.05).backward()
        return emb.detach(), {n: p.grad.clone() for n, p in enc.named_parameters() if p.grad is not None}

    plain_emb, plain_grads = run(1)
    emb, grads = run(groups)
    torch.testing.assert_close(emb, plain_emb, rtol=1e-5, atol=1e-5)
    assert grads.keys() == plain_grads.keys() and len(grads) > 10
    for name in grads:
        torch.testing.assert_close(grads[name], plain_grads[name], rtol=1e-4, atol=1e-5, msg=name)


def test_rows_come_back_in_their_order(tiny_bert):
    """A wrong inverse permutation would be caught: each row's embedding is its own sentence's."""
    enc = load_encoder(tiny_bert, pooler="avg", max_length=16).eval()
    texts = [SENTENCES[0], "a", SENTENCES[1], "b c"]
    batch = pad_batch(enc.tokenize(texts), list(range(4)), 0)
    emb = grouped_forward(lambda b: enc(**b), batch, 4)
    for i, text in enumerate(texts):
        alone = pad_batch(enc.tokenize([text]), [0], 0)
        torch.testing.assert_close(emb[i], enc(**alone)[0], rtol=1e-5, atol=1e-5)


def test_auto_groups():
    assert auto_groups(0, torch.device("cpu")) == 4
    assert auto_groups(0, torch.device("cuda")) == 1
    assert auto_groups(3, torch.device("cuda")) == 3
