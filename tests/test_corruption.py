"""The corruption matrix (issue 12): a model or index folder with one damaged file is refused
with one line naming the file, by the library (a ``SimCSEError``) and by the command line
(exit 2, no traceback), or it loads by design, for the reason given in its case.

The cases, and how to add more, are in ``corruption_cases.py``; ``bench/corruption_matrix.py``
prints the same cases as a table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corruption_cases import ARTEFACTS, CASES, Case, damaged_copy
from simcse.cli import main
from simcse.errors import SimCSEError


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    """artefact name -> (sound folder, its probe result), built on first use."""
    work, built = tmp_path_factory.mktemp("sound"), {}

    def get(name: str) -> tuple[Path, np.ndarray]:
        if name not in built:
            if name.startswith("index/") and name not in ("index/exact", "index/documents"):
                pytest.importorskip("faiss", reason="pip install faiss-cpu")
            artefact = ARTEFACTS[name]
            folder = artefact.build(work)
            built[name] = folder, artefact.probe(artefact.load(folder))
        return built[name]

    return get


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_damaged_file_is_refused_in_one_line(case: Case, sound, tmp_path, capsys):
    artefact = ARTEFACTS[case.artefact]
    folder, reference = sound(case.artefact)
    damaged = damaged_copy(case, folder, tmp_path / "damaged")
    capsys.readouterr()
    if case.loads:  # documented in the case: loads, and gives the sound result where it must
        result = artefact.probe(artefact.load(damaged))
        if case.same:
            np.testing.assert_allclose(result, reference, atol=1e-4)
        assert main(artefact.argv(damaged)) == 0
        return
    with pytest.raises(SimCSEError) as caught:
        artefact.load(damaged)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(damaged)) and case.file in message, message
    assert main(artefact.argv(damaged)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and case.file in err, err


def test_every_file_kind_is_covered():
    files = {(case.artefact, case.file) for case in CASES}
    model = {"config.json", "model.safetensors", "tokenizer.json", "simcse_config.json", "modules.json",
             "1_Pooling/config.json", "2_Dense/config.json", "2_Dense/model.safetensors", "sentence_bert_config.json"}
    assert {("model", f) for f in model} <= files
    assert {("index/exact", f) for f in ("manifest.json", "vectors.npy", "items.jsonl")} <= files
    assert {(f"index/{b}", "index.faiss") for b in ("flat", "hnsw", "ivf_flat")} <= files
    assert {(f"index/{b}", "codes.faiss") for b in ("int8", "binary")} <= files
    assert {("index/documents", f) for f in ("documents.jsonl", "items.jsonl", "manifest.json")} <= files
