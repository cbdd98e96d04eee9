"""Scored and labelled pairs on the user's files: metrics against scipy/sklearn, file checks,
the user-evaluator entry point and its tables."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from eval_fixtures import CountingEncode, bow_encode

from simcse.errors import ConfigError, DataError
from simcse.evaluation import (
    HealthSpec,
    LabelledPairsSpec,
    ScoredPairsSpec,
    evaluate_user,
    read_user,
    user_spec,
)
from simcse.evaluation.pairs import correlations, threshold_metrics
from simcse.evaluation.report import markdown_tables

TOL = 1e-6


def forbidden(sentences):
    pytest.fail("encode was called although a file is bad")


def test_correlations_match_scipy_with_ties():
    from scipy.stats import pearsonr, spearmanr

    rng = np.random.default_rng(0)
    cos = np.round(rng.uniform(-1, 1, 200), 1)  # many tied cosines
    gold = rng.integers(0, 6, 200).astype(float)  # many tied scores
    got = correlations(cos, gold)
    assert got["spearman"] == pytest.approx(spearmanr(cos, gold).correlation * 100, abs=TOL)
    assert got["pearson"] == pytest.approx(pearsonr(cos, gold)[0] * 100, abs=TOL)


def test_threshold_metrics_by_hand_with_a_tie():
    # cuts 0.9: TP1 FP0; 0.8 (tied pair, one 1 one 0): TP2 FP1; 0.3: TP2 FP2
    got = threshold_metrics(np.array([0.8, 0.9, 0.3, 0.8]), [0, 1, 0, 1])
    assert got["f1"] == pytest.approx(80.0) and got["f1_threshold"] == 0.8
    assert got["precision"] == pytest.approx(200 / 3) and got["recall"] == pytest.approx(100.0)
    # accuracy 3/4 at both 0.9 and 0.8: the higher cut is reported
    assert got["accuracy"] == pytest.approx(75.0) and got["accuracy_threshold"] == 0.9


def test_accuracy_can_predict_nothing_positive():
    got = threshold_metrics(np.array([0.9, 0.1, 0.2, 0.3]), [0, 1, 0, 0])
    assert got["accuracy"] == pytest.approx(75.0)
    assert got["accuracy_threshold"] > 0.9 and not (np.array([0.9, 0.1, 0.2, 0.3]) >= got["accuracy_threshold"]).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_threshold_metrics_match_sklearn(seed):
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, precision_recall_curve

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    cos = np.round(0.3 * y + rng.normal(0, 0.3, 300), 2)  # ties
    got = threshold_metrics(cos, y)
    assert got["ap"] == pytest.approx(average_precision_score(y, cos) * 100, abs=TOL)
    p, r, thr = precision_recall_curve(y, cos)  # thresholds: the distinct cosines, rule cos >= t
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-300), 0)[:-1]
    assert got["f1"] == pytest.approx(f1.max() * 100, abs=TOL)
    assert got["f1_threshold"] == pytest.approx(thr[f1 == f1.max()].max(), abs=0)
    pred = cos >= got["f1_threshold"]
    assert got["f1"] == pytest.approx(f1_score(y, pred) * 100, abs=TOL)
    assert got["precision"] == pytest.approx(100 * (pred & (y == 1)).sum() / pred.sum(), abs=TOL)
    assert got["recall"] == pytest.approx(100 * (pred & (y == 1)).sum() / (y == 1).sum(), abs=TOL)
    cuts = np.r_[np.unique(cos), np.inf]
    accs = np.array([accuracy_score(y, cos >= t) for t in cuts])
    assert got["accuracy"] == pytest.approx(accs.max() * 100, abs=TOL)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, cos >= got["accuracy_threshold"]) * 100, abs=TOL)


PAIRS = [("a man plays guitar", "a man plays music", 4.5, 1), ("the dog runs", "a cat eats", 0.5, 0),
         ('a "red" car, big', "a blue car", 2.0, 0), ("two people sit", "people are sitting", 3.5, 1)]


def write_pairs(folder, fmt: str, cols=("s1", "s2", "y"), value=2):
    """PAIRS as a file of format ``fmt`` with columns ``cols``; the third is PAIRS[i][value]."""
    rows = [(r[0], r[1], r[value]) for r in PAIRS]
    path = folder / f"pairs.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(dict(zip(cols, row))) + "\n" for row in rows), encoding="utf-8")
    elif fmt == "csv":
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([cols, *rows])
    else:  # a byte order mark, and quote characters that must stay literal
        lines = ["\t".join(map(str, row)) for row in [cols, *rows]]
        path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl"])
def test_scored_pairs_read_the_declared_columns(tmp_path, fmt):
    spec = ScoredPairsSpec("mine", write_pairs(tmp_path, fmt), sentence1="s1", sentence2="s2", score="y")
    pairs = spec.read()
    assert pairs.sent1 == tuple(r[0] for r in PAIRS) and pairs.gold == tuple(r[2] for r in PAIRS)
    assert set(spec.evaluate(bow_encode, pairs)) == {"spearman", "pearson"}


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl"])
def test_labelled_pairs_read_the_declared_columns(tmp_path, fmt):
    spec = LabelledPairsSpec("mine", write_pairs(tmp_path, fmt, value=3), sentence1="s1", sentence2="s2", label="y")
    assert spec.read().gold == tuple(float(r[3]) for r in PAIRS)


BAD_FILES = {  # name: (file text, line reported, words in the message)
    "missing column": ("s1\ts2\n" "a\tb\n", 1, "no column 'y'"),
    "score not a number": ("s1\ts2\ty\n" "a\tb\t1\n" "a\tc\tlots\n", 3, "not a number"),
    "field count": ("s1\ts2\ty\n" "a\tb\t1\n" "a\tc\n", 3, "expected 3 fields"),
    "empty sentence": ("s1\ts2\ty\n" "a\tb\t1\n" " \tc\t2\n", 3, "empty text"),
    "constant score": ("s1\ts2\ty\n" "a\tb\t1\n" "a\tc\t1\n", 3, "varied scores"),
    "one pair": ("s1\ts2\ty\n" "a\tb\t1\n", 2, "at least 2"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_scored_files_stop_before_encoding(tmp_path, case):
    text, line, words = BAD_FILES[case]
    path = tmp_path / "p.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=words) as err:
        evaluate_user(forbidden, read_user([ScoredPairsSpec("p", path, "s1", "s2", "y")]))
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_non_utf8_and_bad_labels_name_their_line(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_bytes(b"sentence1\tsentence2\tlabel\na\tb\t1\nc\td\xff\t0\n")
    with pytest.raises(DataError, match="not valid UTF-8") as err:
        read_user([LabelledPairsSpec("p", path)])
    assert str(err.value).startswith(f"{path}:3: ")
    path.write_text("sentence1,sentence2,label\na,b,1\nc,d,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="one of 0, 1") as err:
        read_user([LabelledPairsSpec("p", path, format="csv")])
    assert str(err.value).startswith(f"{path}:3: ")
    path.write_text('{"sentence1": "a", "sentence2": "b", "label": 1}\n{"sentence1": "c", "label": 0}\n')
    with pytest.raises(DataError, match="no key 'sentence2'") as err:
        read_user([LabelledPairsSpec("p", path, format="jsonl")])
    assert str(err.value).startswith(f"{path}:2: ")


def test_a_bad_file_stops_every_evaluator_before_encoding(tmp_path):
    good = write_pairs(tmp_path, "tsv")
    bad = tmp_path / "bad.csv"
    bad.write_text("s1,s2,y\na,b,1\n", encoding="utf-8")
    with pytest.raises(DataError):
        evaluate_user(forbidden, read_user([ScoredPairsSpec("good", good, "s1", "s2", "y"),
                                            ScoredPairsSpec("bad", bad, "s1", "s2", "y")]))


def test_format_is_declared_or_taken_from_the_suffix(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("x\n")
    with pytest.raises(ConfigError, match="declare one of"):
        ScoredPairsSpec("p", path).read()
    with pytest.raises(ConfigError, match="unknown evaluator kind 'pair'; valid: scored_pairs"):
        user_spec("pair", name="p", path=path)
    with pytest.raises(ConfigError, match="without '/'"):
        ScoredPairsSpec("a/b", path)


def test_evaluate_user_prefixes_keys_and_prints_tables(tmp_path):
    tsv = write_pairs(tmp_path, "tsv")
    sentences = tmp_path / "s.txt"
    sentences.write_text("\n".join(r[0] for r in PAIRS) + "\n\n", encoding="utf-8")
    specs = [user_spec("scored_pairs", name="sts", path=tsv, sentence1="s1", sentence2="s2", score="y"),
             LabelledPairsSpec("dup", write_pairs(tmp_path, "jsonl", value=3), "s1", "s2", "y"),
             HealthSpec("health", sentences)]
    with pytest.raises(ConfigError, match="repeated: sts"):
        read_user([specs[0], specs[0]])
    encode = CountingEncode()
    results = evaluate_user(encode, read_user(specs))
    assert {"sts/spearman", "sts/pearson", "dup/ap", "dup/f1_threshold", "health/uniform"} <= set(results)
    assert "health/align" not in results  # no encode_dropout given
    assert all(isinstance(v, float) for v in results.values())
    tables = markdown_tables({"bow": results}, "test")
    assert "| Model | Data | Spearman | Pearson |" in tables and "| bow | sts | " in tables
    assert "| bow | dup | " in tables and "| bow | health | – | " in tables
    assert markdown_tables({"bow": {"stsb_spearman": 80.0}}, "test").count("|---|") == 1  # unchanged


def test_mrpc_with_declared_columns_and_a_tiny_model(data_dir, tiny_bert):
    from simcse.api import SimCSE

    path = data_dir / "downstream" / "MRPC" / "msr_paraphrase_test.txt"
    spec = LabelledPairsSpec("mrpc", path, "#1 String", "#2 String", label="Quality", format="tsv")
    pairs = spec.read()
    assert len(pairs) == 1725 and set(pairs.gold) == {0.0, 1.0}
    model = SimCSE(tiny_bert, device="cpu", pooler="avg")
    got = spec.evaluate(lambda s: model.encode(s, batch_size=128), pairs)
    rate = float(np.mean(pairs.gold))
    assert 100 * rate - 15 < got["ap"] <= 100  # AP of a random ranking is about the positive rate
    assert got["f1"] >= 100 * 2 * rate / (1 + rate) - TOL  # at least "everything is a paraphrase"
    assert got["accuracy"] >= 100 * max(rate, 1 - rate) - TOL
    assert -1 <= got["f1_threshold"] <= 1


def test_a_huge_json_integer_is_a_bad_value_not_an_overflow(tmp_path):
    """float(10**400) raises OverflowError: it must be a file:line error like any bad value."""
    path = tmp_path / "p.jsonl"
    huge = "1" + "0" * 400
    path.write_text('{"s1": "a", "s2": "b", "y": 1}\n' + f'{{"s1": "a", "s2": "c", "y": {huge}}}\n', encoding="utf-8")
    for spec in (ScoredPairsSpec("p", path, "s1", "s2", "y"), LabelledPairsSpec("p", path, "s1", "s2", "y")):
        with pytest.raises(DataError, match="'y' is out of range: 1000") as err:
            read_user([spec])
        assert str(err.value).startswith(f"{path}:2: ") and len(str(err.value)) < len(huge)
