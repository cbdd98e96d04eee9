"""Documents from the command line on the tiny model: build from .jsonl and a folder, search by
document with a filter, upsert, delete; every mistake one line and exit 2."""

from __future__ import annotations

import json

import pytest

from doc_helpers import TokenizingFake
from simcse.cli import main
from simcse.document_indexing import new_document_index, upsert_documents
from simcse.documents import Document
from simcse.errors import ConfigError
from simcse.index import Index
from simcse.indexing import IndexAddConfig, add_file

DOCS = [
    {"id": "guitar", "text": "a man is playing guitar . the man plays music in the park .", "title": "Guitar",
     "lang": "en"},
    {"id": "market", "text": "the stock market fell . two people sit in a house .", "title": "Markets", "lang": "fr"},
    {"id": 3, "text": "a woman slices an onion . the cat eats food . a dog runs in the street .", "lang": "en"},
]


def parse(out: str) -> list[tuple[str, float, dict, list[str]]]:
    """``simcse search --group-by-document`` output: (id, score, metadata, passage texts) per document."""
    docs = []
    for line in out.splitlines():
        if line.startswith("\t"):
            docs[-1][3].append(line.split("\t")[3])
        else:
            score, doc_id, metadata = line.split("\t")
            docs.append((doc_id, float(score), json.loads(metadata), []))
    return docs


def test_build_search_upsert_delete(tiny_bert, tmp_path, capsys):
    docs, out = tmp_path / "docs.jsonl", tmp_path / "idx"
    docs.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    model = ["--model", str(tiny_bert), "--pooler", "avg", "--device", "cpu"]
    assert main(["index", "build", *model, "--input", str(docs), "--out", str(out), "--chunk-tokens", "8",
                 "--chunk-overlap", "2"]) == 0
    assert "wrote 3 documents as" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["chunk_tokens"], manifest["chunk_overlap"]) == (8, 2)
    search = ["search", "--index", str(out), "--device", "cpu", "--group-by-document", "--top-k", "5"]
    assert main([*search, "--where", "lang=en", "--aggregate", "sum", "a man plays guitar"]) == 0
    found = parse(capsys.readouterr().out)
    assert {d[0] for d in found} == {"guitar", "3"} and all(d[2]["lang"] == "en" and d[3] for d in found)
    assert all(len(d[3]) <= 3 for d in found) and found[0][1] >= found[1][1]

    folder = tmp_path / "more"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "b.md").write_text("# two dogs\n\nthe dog runs in the snow .\n", encoding="utf-8")
    (folder / "a.txt").write_text("a child reads a book .", encoding="utf-8")
    assert main(["index", "upsert", "--index", str(out), "--device", "cpu", "--input", str(folder)]) == 0
    assert "upserted 2 documents (0 replaced" in capsys.readouterr().out
    changed = tmp_path / "changed.jsonl"
    changed.write_text(json.dumps({"id": "guitar", "text": "the red car drives .", "title": "Car"}) + "\n")
    assert main(["index", "upsert", "--index", str(out), "--device", "cpu", "--input", str(changed)]) == 0
    assert main(["index", "delete", "--index", str(out), "--id", "market", "--id", "sub/b.md"]) == 0
    assert "deleted 2 documents" in capsys.readouterr().out.splitlines()[-1]
    assert main([*search, "--top-m", "10", "a man is playing guitar"]) == 0
    found = parse(capsys.readouterr().out)
    assert {d[0] for d in found} == {"guitar", "3", "a.txt"}
    assert [d[3] for d in found if d[0] == "guitar"] == [["the red car drives ."]]  # the old text is gone
    assert len(Index.load(out).documents) == 3


@pytest.fixture()
def indexes(tmp_path, tiny_tokenizer):
    """A text file, a .jsonl file with a bad second record, an index of sentences and one of documents."""
    sentences, bad = tmp_path / "s.txt", tmp_path / "bad.jsonl"
    sentences.write_text("a man plays guitar\nthe cat eats\n", encoding="utf-8")
    bad.write_text(json.dumps(DOCS[1]) + '\n{"id": "x"}\n', encoding="utf-8")
    Index(4).save(tmp_path / "si")
    model = TokenizingFake(tiny_tokenizer)
    index = new_document_index(model, chunk_tokens=8)
    upsert_documents(index, model, [Document("a", "the cat eats")])
    index.save(tmp_path / "di")
    return sentences, bad, tmp_path / "si", tmp_path / "di"


@pytest.mark.parametrize("case", ["chunking sentences", "bad record", "unknown id", "upsert into sentences",
                                  "where without grouping", "where without =", "no input"])
def test_mistakes_are_one_line_and_exit_2_before_a_model_is_loaded(tmp_path, capsys, indexes, case):
    sentences, bad, sentence_index, doc_index = indexes
    model = ["--model", str(tmp_path / "no-model"), "--device", "cpu"]  # never loaded: the mistake comes first
    search = ["search", "--index", str(doc_index), *model, "x"]
    argv, message = {
        "chunking sentences": (["index", "build", *model, "--input", str(sentences), "--out", str(tmp_path / "x"),
                                "--chunk-tokens", "16"], "is a file of sentences"),
        "bad record": (["index", "build", *model, "--input", str(bad), "--out", str(tmp_path / "x")],
                       "bad.jsonl:2: missing field 'text'"),
        "unknown id": (["index", "delete", "--index", str(doc_index), "--id", "nope"], "no document with id 'nope'"),
        "upsert into sentences": (["index", "upsert", "--index", str(sentence_index), "--input", str(bad), *model],
                                  "holds sentences, not documents"),
        "where without grouping": ([*search, "--where", "a=b"], "add --group-by-document"),
        "where without =": ([*search, "--group-by-document", "--where", "lang"], "expected FIELD=VALUE"),
        "no input": (["index", "upsert", "--index", str(doc_index), "--input", str(tmp_path / "gone")],
                     "gone: no such file or folder"),
    }[case]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_adding_sentences_to_an_index_of_documents_is_refused_before_encoding(indexes, tiny_tokenizer):
    sentences, _, _, doc_index = indexes
    with pytest.raises(ConfigError, match="holds documents; add or replace them with `simcse index upsert`"):
        add_file(Index.load(doc_index), TokenizingFake(tiny_tokenizer),
                 IndexAddConfig(index=doc_index, input=sentences))
