"""The CLI in-process: thin layers over the library, errors naming file and line."""

import numpy as np
import pytest

from simcse import SimCSE
from simcse.cli import main


def test_encode_writes_matrix(tmp_path, tiny_bert, capsys):
    src = tmp_path / "s.txt"
    src.write_text("a man plays guitar\nthe cat sits\n", encoding="utf-8")
    out = tmp_path / "emb.npy"
    assert main(["encode", "--model", str(tiny_bert), "--pooler", "avg", "--input", str(src), "--output", str(out)]) == 0
    emb = np.load(out)
    expected = SimCSE(tiny_bert, device="cpu", pooler="avg").encode(["a man plays guitar", "the cat sits"])
    np.testing.assert_allclose(emb, expected, atol=1e-6)


@pytest.mark.parametrize("content,message", [
    (b"fine\n\xff\xfe broken\n", "s.txt:2: not valid UTF-8"),
    (b"fine\n\nafter blank\n", "s.txt:2: empty sentence"),
])
def test_encode_bad_input_names_file_and_line(tmp_path, tiny_bert, capsys, content, message):
    src = tmp_path / "s.txt"
    src.write_bytes(content)
    code = main(["encode", "--model", str(tiny_bert), "--pooler", "avg", "--input", str(src), "--output", str(tmp_path / "e.npy")])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "e.npy").exists()


def test_encode_missing_input(tmp_path, tiny_bert, capsys):
    code = main(["encode", "--model", str(tiny_bert), "--pooler", "avg", "--input", str(tmp_path / "none.txt"), "--output", str(tmp_path / "e.npy")])
    assert code == 2 and "none.txt: no such file" in capsys.readouterr().err


def test_similarity_prints_score(tiny_bert, capsys):
    assert main(["similarity", "--model", str(tiny_bert), "--pooler", "avg", "the cat", "the cat"]) == 0
    assert float(capsys.readouterr().out) == pytest.approx(1.0, abs=1e-4)


def test_unknown_pooler_is_a_clean_error(tiny_bert, capsys):
    assert main(["similarity", "--model", str(tiny_bert), "--pooler", "max", "a", "b"]) == 2
    assert "valid poolers" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["encode"], ["similarity"]])
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0 and "usage" in capsys.readouterr().out
