"""Training-data readers: each format, each kind of bad row, tokenization and batching."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from simcse.textfile import DataError
from simcse.train.data import batch_order, collate, tokenize_file
from simcse.train.readers import ReadStats, Schema, read_rows
from simcse.train.mlm import mask_tokens

TRIPLETS = Schema("sent0", "sent1", "hard_neg")


def _write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_txt_one_sentence_per_line(tmp_path):
    f = _write(tmp_path / "c.txt", "a man plays\nthe dog runs\n")
    assert list(read_rows(f, Schema())) == [("a man plays",), ("the dog runs",)]


def test_csv_tsv_jsonl_by_declared_columns(tmp_path):
    csv_f = _write(tmp_path / "d.csv", 'extra,hard_neg,sent1,sent0\nx,"n, 1",p1,a1\ny,n2,p2,a2\n')
    assert list(read_rows(csv_f, TRIPLETS)) == [("a1", "p1", "n, 1"), ("a2", "p2", "n2")]
    assert list(read_rows(csv_f, Schema())) == [("a1", "p1"), ("a2", "p2")]
    tsv_f = _write(tmp_path / "d.tsv", "q\td\nA\tB\n")
    assert list(read_rows(tsv_f, Schema("q", "d"))) == [("A", "B")]
    jl = _write(tmp_path / "d.jsonl", json.dumps({"sent0": "a", "sent1": "b", "other": 1}) + "\n")
    assert list(read_rows(jl, Schema())) == [("a", "b")]


@pytest.mark.parametrize(
    "name, content, schema, message",
    [
        ("c.txt", "ok\n\nok\n", Schema(), r"c\.txt:2: field 'sent0': empty text"),
        ("c.txt", b"ok\nbad \xff byte\n", Schema(), r"c\.txt:2: not valid UTF-8"),
        ("d.csv", "sent0,sent1\na,b\nonly\n", Schema(), r"d\.csv:3: field 'sent1' \(column 'sent1'\) is missing"),
        ("d.csv", "sent0,sent1\na,b\nc,\n", Schema(), r"d\.csv:3: field 'sent1' \(column 'sent1'\) is empty"),
        ("d.csv", "sent0,sent1\na,b\n", TRIPLETS, r"d\.csv:1: header has no column 'hard_neg'"),
        ("d.tsv", b"sent0\tsent1\na\t\xc3\n", Schema(), r"d\.tsv:2: not valid UTF-8"),
        ("d.jsonl", '{"sent0": "a", "sent1": "b"}\nnot json\n', Schema(), r"d\.jsonl:2: not JSON"),
        ("d.jsonl", '{"sent0": "a"}\n', Schema(), r"d\.jsonl:1: field 'sent1' \(column 'sent1'\) is missing"),
        ("d.jsonl", '{"sent0": "a", "sent1": 3}\n', Schema(), r"d\.jsonl:1: field 'sent1' .* not text"),
        ("d.jsonl", '[1, 2]\n', Schema(), r"d\.jsonl:1: expected a JSON object"),
    ],
)
def test_bad_rows_name_file_line_field(tmp_path, name, content, schema, message):
    f = _write(tmp_path / name, content)
    with pytest.raises(DataError, match=message):
        list(read_rows(f, schema))


def test_skip_bad_rows_counts(tmp_path):
    f = _write(tmp_path / "d.jsonl", b'{"sent0": "a", "sent1": "b"}\nnope\n{"sent0": ""}\n\xff\n{"sent0": "c", "sent1": "d"}\n')
    stats = ReadStats()
    assert list(read_rows(f, Schema(), stats, skip_bad_rows=True)) == [("a", "b"), ("c", "d")]
    assert (stats.rows, stats.skipped) == (2, 3)
    assert stats.examples[0].startswith(f"{f}:2:")


def test_unknown_suffix_lists_valid(tmp_path):
    with pytest.raises(ValueError, match=r"\.txt, \.csv, \.tsv, \.jsonl"):
        read_rows(_write(tmp_path / "d.parquet", "x"), Schema())


def test_tokenize_flat_int32_and_collate_views(tiny_bert, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    f = _write(tmp_path / "d.csv", "sent0,sent1,hard_neg\na man plays,the man,a cat\ndog runs in the park,a dog,two people\n")
    data = tokenize_file(f, tok, max_length=5, schema=TRIPLETS)
    assert len(data) == 2 and data.views == 3
    col = data.columns[0]
    assert col.ids.dtype == np.int32 and col.offsets.tolist()[0] == 0
    assert col.get(1).tolist() == tok("dog runs in the park", truncation=True, max_length=5)["input_ids"]
    batch = collate(data, np.array([1, 0]), tok.pad_token_id, with_token_types=True)
    assert batch["input_ids"].shape == (6, 5)  # view-major: [s0 of rows; s1 of rows; hard_neg of rows]
    assert batch["input_ids"][3, : len(data.columns[1].get(0))].tolist() == data.columns[1].get(0).tolist()
    assert batch["attention_mask"].sum(1).tolist() == [len(c.get(i)) for c in data.columns for i in (1, 0)]
    unsup = tokenize_file(_write(tmp_path / "u.txt", "a man\nthe dog runs\n"), tok, max_length=8)
    b = collate(unsup, np.array([0, 1]), tok.pad_token_id, with_token_types=False)
    assert unsup.views == 2 and torch.equal(b["input_ids"][:2], b["input_ids"][2:])
    assert len(tokenize_file(_write(tmp_path / "m.txt", "a\nb\nc\n"), tok, 8, max_rows=2)) == 2


def test_batch_order_is_a_fixed_permutation():
    a = batch_order(10, 4, seed=3, epoch=0, drop_last=False)
    assert [len(b) for b in a] == [4, 4, 2]
    assert sorted(np.concatenate(a).tolist()) == list(range(10))
    assert all((x == y).all() for x, y in zip(a, batch_order(10, 4, 3, 0, False)))
    assert not all((x == y).all() for x, y in zip(a, batch_order(10, 4, 3, 1, False)))
    assert [len(b) for b in batch_order(10, 4, 3, 0, drop_last=True)] == [4, 4]


def test_mlm_masking_never_touches_contrastive_inputs(tiny_bert):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    ids = torch.tensor([[2, 5, 6, 7, 8, 9, 3, 0, 0], [2, 10, 11, 12, 13, 14, 15, 16, 3]])  # [CLS] words [SEP] [PAD]
    enc = {"input_ids": ids, "attention_mask": (ids != 0).long()}
    batch = {k: v.clone() for k, v in enc.items()}
    torch.manual_seed(0)
    masked, labels = mask_tokens(batch, tok, probability=0.5)
    assert torch.equal(batch["input_ids"], enc["input_ids"])  # the contrastive inputs are untouched
    assert masked.data_ptr() != batch["input_ids"].data_ptr()
    special = torch.isin(enc["input_ids"], torch.tensor(tok.all_special_ids)) | (enc["attention_mask"] == 0)
    assert (labels[special] == -100).all() and torch.equal(masked[special], enc["input_ids"][special])
    chosen = labels != -100
    assert chosen.any() and torch.equal(labels[chosen], enc["input_ids"][chosen])
    assert (masked[~chosen] == enc["input_ids"][~chosen]).all()


def test_mlm_head_shares_the_backbone(tiny_bert):
    from simcse.model_io import load_encoder
    from simcse.train.mlm import build_mlm_model

    enc = load_encoder(tiny_bert, pooler="cls_before_pooler")
    mlm = build_mlm_model(enc, tiny_bert)
    assert getattr(mlm, mlm.base_model_prefix) is enc.backbone
    assert mlm.get_output_embeddings().weight is enc.backbone.get_input_embeddings().weight


def _collate_simple(data, rows, pad_id, with_token_types, width=0):
    """The row-by-row reference for the vectorised collate."""
    cols = data.columns if len(data.columns) > 1 else (data.columns[0], data.columns[0])
    seqs = [col.get(int(i)) for col in cols for i in rows]
    width = width or max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        input_ids[r, : len(s)] = torch.from_numpy(s.astype(np.int64))
        mask[r, : len(s)] = 1
    batch = {"input_ids": input_ids, "attention_mask": mask}
    if with_token_types:
        batch["token_type_ids"] = torch.zeros_like(input_ids)
    return batch


def test_collate_equals_row_by_row_padding():
    from simcse.train.data import TokenColumn, TrainingSet

    rng = np.random.default_rng(0)

    def column(n):
        lengths = rng.integers(1, 33, n)
        return TokenColumn(rng.integers(1, 30000, int(lengths.sum())).astype(np.int32),
                           np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))

    for views in (1, 2, 3):
        data = TrainingSet(tuple(column(50) for _ in range(views)), ReadStats())
        for trial in range(10):
            rows = rng.choice(50, int(rng.integers(1, 20)), replace=False)
            pad_id, types, width = int(rng.choice([0, 1])), bool(trial % 2), int(rng.choice([0, 32]))
            got, want = collate(data, rows, pad_id, types, width), _collate_simple(data, rows, pad_id, types, width)
            assert got.keys() == want.keys()
            assert all(torch.equal(got[k], want[k]) and got[k].dtype == torch.long for k in want), (views, trial)
    with pytest.raises(ValueError, match="does not fit"):
        collate(data, np.arange(50), 0, False, width=4)
