"""STS scoring, aggregation and readers on hand-computed values and tmp_path fixtures."""

from __future__ import annotations

import numpy as np
import pytest
from eval_fixtures import CountingEncode, write_sts

from simcse.evaluation import DataFormatError, aggregate, evaluate_dev, evaluate_sts, spearman
from simcse.evaluation.sts import (
    cosine_rows,
    read_sickr,
    read_sts_subset,
    read_sts_year,
    read_stsb,
)


def test_spearman_hand_computed():
    # rank differences d = (0, 1, 1, 0): rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(80.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-100.0)


def test_three_aggregations_hand_computed():
    subsets = {
        "A": (np.array([1.0, 2, 3]), (1.0, 2, 3)),  # rho = 100
        "B": (np.array([1.0, 2, 3, 4]), (1.0, 3, 2, 4)),  # rho = 80
    }
    agg = aggregate(subsets)
    assert agg["mean"] == pytest.approx(90.0)
    assert agg["wmean"] == pytest.approx((3 * 100 + 4 * 80) / 7)
    # concatenation with ties: ranks sys (1.5,3.5,5.5,1.5,3.5,5.5,7),
    # gold (1.5,3.5,5.5,1.5,5.5,3.5,7): covariance 22.5 / variance 26.5
    assert agg["all"] == pytest.approx(100 * 22.5 / 26.5)


def test_cosine_rows_zero_vector_gives_zero():
    a = np.array([[1.0, 0], [0, 0], [3, 4]])
    b = np.array([[2.0, 0], [1, 1], [-3, -4]])
    np.testing.assert_allclose(cosine_rows(a, b), [1.0, 0.0, -1.0])


def test_sts_subset_reader_skips_empty_gold_and_joins_words(tmp_path):
    (tmp_path / "STS.input.x.txt").write_text("a  man\tthe man \nskip me\tplease\nb\tc\n")
    (tmp_path / "STS.gs.x.txt").write_text("4.2\n\n1\n")
    pairs = read_sts_subset(tmp_path, "x")
    assert pairs.sent1 == ("a man", "b")
    assert pairs.sent2 == ("the man", "c")
    assert pairs.gold == (4.2, 1.0)


def test_year_reader_uses_senteval_subsets_only(tmp_path):
    write_sts(tmp_path, n=5)
    # extra files SentEval ignores: an ALL gold file and STS13's SMT gold without input
    folder = tmp_path / "downstream/STS/STS12-en-test"
    (folder / "STS.gs.ALL.txt").write_text("1\n" * 25)
    sts12 = read_sts_year(tmp_path, "STS12")
    assert list(sts12) == ["MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"]
    assert all(len(p) == 5 for p in sts12.values())  # the empty-gold 6th line is dropped
    assert list(read_sts_year(tmp_path, "STS13")) == ["FNWN", "headlines", "OnWN"]


def test_stsb_and_sick_readers(tmp_path):
    write_sts(tmp_path, n=7)
    assert len(read_stsb(tmp_path, "dev")) == 7
    sick = read_sickr(tmp_path, "test")  # header skipped, \r\n endings stripped
    assert len(sick) == 7 and not any("\r" in s for s in sick.sent2)
    with pytest.raises(ValueError, match="valid: train, dev, test"):
        read_stsb(tmp_path, "validation")


def test_malformed_line_names_file_and_line(tmp_path):
    folder = tmp_path / "downstream/STS/STSBenchmark"
    folder.mkdir(parents=True)
    good = "g\tf\t2012\t1\t3.0\ta b\tc d\n"
    (folder / "sts-dev.csv").write_text(good * 16 + "only\tthree\tfields\n")
    with pytest.raises(DataFormatError, match=r"sts-dev.csv:17: expected 7 tab-separated fields, got 3"):
        read_stsb(tmp_path, "dev")


def test_bad_score_and_line_count_mismatch(tmp_path):
    (tmp_path / "STS.input.x.txt").write_text("a\tb\nc\td\n")
    (tmp_path / "STS.gs.x.txt").write_text("1\nhigh\n")
    with pytest.raises(DataFormatError, match=r"STS.gs.x.txt:2: gold score is not a number"):
        read_sts_subset(tmp_path, "x")
    (tmp_path / "STS.gs.x.txt").write_text("1\n")
    with pytest.raises(DataFormatError, match=r"STS.gs.x.txt:2: .*has 2 lines"):
        read_sts_subset(tmp_path, "x")
    (tmp_path / "STS.input.y.txt").write_text("a\tb\tc\n")
    (tmp_path / "STS.gs.y.txt").write_text("1\n")
    with pytest.raises(DataFormatError, match=r"STS.input.y.txt:1: expected 2 tab-separated"):
        read_sts_subset(tmp_path, "y")


def test_missing_folder_names_path_and_how_to_get_data(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        read_sts_year(tmp_path, "STS14")
    message = str(err.value)
    assert str(tmp_path / "downstream/STS/STS14-en-test") in message
    assert "simcse data download senteval" in message and "SIMCSE_DATA_DIR" in message


def test_evaluate_sts_encodes_each_unique_sentence_once(tmp_path):
    write_sts(tmp_path, n=10)
    encode = CountingEncode()
    res = evaluate_sts(encode, tmp_path)
    assert len(encode.calls) == 1
    assert len(encode.calls[0]) == len(set(encode.calls[0]))
    for year in ("sts12", "sts13", "sts14", "sts15", "sts16"):
        assert {f"{year}_all", f"{year}_wmean", f"{year}_mean"} <= res.keys()
    assert "sts12_surprise.OnWN" in res and "sts13_SMT" not in res
    headline = [res[k] for k in ("sts12_all", "sts13_all", "sts14_all", "sts15_all",
                                 "sts16_all", "stsb_spearman", "sickr_spearman")]
    assert res["avg_sts"] == pytest.approx(np.mean(headline))
    assert all(-100 <= v <= 100 for v in res.values())


def test_evaluate_sts_is_invariant_to_embedding_scale(tmp_path):
    write_sts(tmp_path, n=10)
    plain = evaluate_sts(CountingEncode(), tmp_path, ["STS12"])
    scaled = evaluate_sts(CountingEncode(lambda s: 7.0 * CountingEncode()(s)), tmp_path, ["STS12"])
    assert plain == pytest.approx(scaled)


def test_evaluate_dev_uses_dev_splits_and_caches_parsing(tmp_path):
    write_sts(tmp_path, n=9)
    res = evaluate_dev(CountingEncode(), tmp_path)
    assert set(res) == {"stsb_spearman", "sickr_spearman", "avg_sts"}
    hits = read_stsb.cache_info().hits
    evaluate_dev(CountingEncode(), tmp_path)
    assert read_stsb.cache_info().hits > hits
