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
    (b"fine\n\nafter blank\n", "s.txt:2: blank line"),
    (b"fine\nnul \x00 inside\n", "s.txt:2: control character U+0000"),
])
def test_encode_bad_input_names_file_and_line(tmp_path, tiny_bert, capsys, content, message):
    src = tmp_path / "s.txt"
    src.write_bytes(content)
    code = main(["encode", "--model", str(tiny_bert), "--pooler", "avg", "--input", str(src), "--output", str(tmp_path / "e.npy")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "e.npy").exists()


def test_encode_missing_input(tmp_path, tiny_bert, capsys):
    code = main(["encode", "--model", str(tiny_bert), "--pooler", "avg", "--input", str(tmp_path / "none.txt"), "--output", str(tmp_path / "e.npy")])
    assert code == 2 and "none.txt: no such file" in capsys.readouterr().err


def test_similarity_prints_score(tiny_bert, capsys):
    assert main(["similarity", "--model", str(tiny_bert), "--pooler", "avg", "the cat", "the cat"]) == 0
    assert float(capsys.readouterr().out) == pytest.approx(1.0, abs=1e-4)


def test_unknown_pooler_is_a_clean_error(tiny_bert, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["similarity", "--model", str(tiny_bert), "--pooler", "max", "a", "b"])
    assert exit_.value.code == 2 and "invalid choice 'max'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["encode"], ["similarity"]])
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0 and "usage" in capsys.readouterr().out


# ---------------------------------------------------------------- clean failures


@pytest.mark.parametrize("argv,where", [
    (["similarity", "a cat", "\ud800"], "the second sentence: ill-formed Unicode"),
    (["similarity", "a cat", "\udc80"], "the second sentence: ill-formed Unicode"),  # a bad argv byte (surrogateescape)
    (["similarity", "   ", "a cat"], "the first sentence: empty text"),
    (["search", "--index", "nowhere", "fine", "bad \udcff byte"], "QUERY[1]: ill-formed Unicode"),
    (["search", "--index", "nowhere", "a\x00b"], "QUERY[0]: control character U+0000"),
])
def test_ill_formed_text_is_one_line_and_exit_2(tiny_bert, capsys, argv, where):
    """A lone surrogate in argv used to reach the tokenizer and end in a traceback."""
    assert main([*argv, "--model", str(tiny_bert), "--pooler", "avg"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"simcse {argv[0]}: error: {where}") and err.count("\n") == 1


def test_python_api_refuses_ill_formed_text(tiny_bert):
    from simcse.errors import DataError

    model = SimCSE(tiny_bert, device="cpu", pooler="avg")
    with pytest.raises(DataError, match=r"^sentences\[1\]: ill-formed Unicode \(lone surrogate U\+D800"):
        model.encode(["fine", "\ud800"])
    model.build_index(["a cat"])
    with pytest.raises(DataError, match=r"^queries\[0\]: control character"):
        model.search_batch(["\x07bell"])
    assert model.encode(["", " "]).shape == (2, 32)  # empty texts stay allowed in the library


@pytest.mark.parametrize("error,code,out", [
    ("config", 2, "simcse encode: error: bad value for --x; valid: a, b\n"),
    ("interrupt", 130, "simcse encode: interrupted\n"),
])
def test_top_level_turns_own_errors_into_one_line(monkeypatch, capsys, error, code, out):
    import simcse.cli.encode as encode_cli
    from simcse.errors import ConfigError

    def fail(args):
        raise ConfigError("bad value for --x;\nvalid: a, b") if error == "config" else KeyboardInterrupt

    monkeypatch.setattr(encode_cli, "run", fail)
    assert main(["encode", "--input", "x", "--output", "y"]) == code
    assert capsys.readouterr().err == out


def test_top_level_lets_a_bug_show_its_traceback(monkeypatch):
    import simcse.cli.encode as encode_cli

    monkeypatch.setattr(encode_cli, "run", lambda args: {}["a bug"])
    with pytest.raises(KeyError):
        main(["encode", "--input", "x", "--output", "y"])


# ---------------------------------------------------------------- flags from the registries


def _help(argv, capsys) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())  # unwrapped


@pytest.mark.parametrize("argv", [["encode"], ["similarity"], ["search"], ["serve"], ["evaluate"], ["index", "build"],
                                  ["index", "add"], ["export"]])
def test_model_flags_list_the_registries(monkeypatch, capsys, argv):
    """A pooler, runtime or dtype added to its registry shows up in every command's --help."""
    from simcse import api, pooling, runtime

    monkeypatch.setitem(pooling.POOLERS, "new_pooler", pooling.POOLERS["avg"])
    monkeypatch.setitem(runtime.RUNTIMES, "new_runtime", runtime.RUNTIMES["torch"])
    monkeypatch.setitem(api.DTYPES, "new_dtype", api.DTYPES["float32"])
    text = _help(argv, capsys)
    assert "new_pooler" in text
    if argv != ["export"]:  # export writes a file; it does not run the model
        assert "new_runtime" in text and "new_dtype" in text


def test_index_and_evaluate_flags_list_the_registries(monkeypatch, capsys):
    from simcse import evaluation, index
    from simcse.cli import evaluate as evaluate_cli
    monkeypatch.setitem(index.BACKENDS, "new_backend", index.BACKENDS["exact"])
    hnsw = index.BACKENDS["hnsw"]
    monkeypatch.setitem(index.BACKENDS, "hnsw", hnsw._replace(defaults={**hnsw.defaults, "ef_search": 777}))
    build = _help(["index", "build"], capsys)
    assert "new_backend" in build and "hnsw 777" in build and "ivf_pq 16" in build
    assert "hnsw 777" in _help(["search"], capsys)
    monkeypatch.setattr(evaluate_cli, "MODES", (*evaluation.MODES, "new_mode"))
    monkeypatch.setattr(evaluate_cli, "ALL_TASKS", (*evaluation.ALL_TASKS, "NewTask"))
    monkeypatch.setitem(evaluate_cli.TASK_SETS, "new_set", ("NewTask",))
    text = _help(["evaluate"], capsys)
    assert "new_mode" in text and "NewTask" in text and "new_set" in text


def test_no_help_text_restates_the_choices(capsys):
    """The registries' lists appear only where argparse puts the choices, once per flag."""
    text = _help(["index", "build"], capsys)
    assert text.count("exact,flat,ivf_flat,hnsw,ivf_pq") == 2  # usage line and the flag itself
    assert text.count("cls,cls_before_pooler,avg,avg_top2,avg_first_last") == 2


# ---------------------------------------------------------------- layering


def test_no_subcommand_module_imports_another():
    """Subcommands share code through simcse.cli.common and the library only."""
    import ast
    from pathlib import Path

    import simcse.cli
    from simcse.cli import SUBCOMMANDS

    folder = Path(simcse.cli.__file__).parent
    others = {f"simcse.cli.{name}" for name in SUBCOMMANDS}
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                names = {a.name for a in node.names}
            else:
                continue
            assert not names & (others - {f"simcse.cli.{path.stem}"}), f"{path.name} imports {names & others}"


def test_serve_builds_its_config_from_the_flags(tiny_bert, monkeypatch):
    """``simcse serve``'s flags are ServeConfig's fields; the API key may come from the environment."""
    import simcse.serve

    seen = {}
    monkeypatch.setattr(simcse.serve, "run", lambda app, config: seen.update(app=app, config=config))
    monkeypatch.setenv("SIMCSE_API_KEY", "from-the-environment")
    argv = ["serve", "--model", str(tiny_bert), "--pooler", "avg", "--device", "cpu", "--port", "0",
            "--allowed-hosts", "a.example", "b.example", "--max-texts", "3"]
    assert main(argv) == 0
    config = seen["config"]
    assert (config.port, config.allowed_hosts, config.max_texts) == (0, ("a.example", "b.example"), 3)
    assert config.api_key == "from-the-environment"
    assert main([*argv, "--api-key", "given-on-the-command-line"]) == 0
    assert seen["config"].api_key == "given-on-the-command-line"


@pytest.mark.parametrize("device, words", [("foo", "'foo' is not a device name"), ("cuda:0", "CUDA is not available")])
def test_a_bad_device_is_one_line_and_exit_2(tiny_bert, capsys, device, words):
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert main(["similarity", "--model", str(tiny_bert), "--pooler", "avg", "--device", device, "a", "b"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("simcse similarity: error: device") and words in err and err.count("\n") == 1
