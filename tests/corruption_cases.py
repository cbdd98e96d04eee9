"""The corruption matrix: sound artefact folders, ways to damage one of their files, and what
each damaged folder must do. Shared by ``tests/test_corruption.py`` and
``bench/corruption_matrix.py``.

Every case must either be refused (a one-line ``SimCSEError`` naming the file, exit 2 from
the command line) or load *by design*, with the reason in ``Case.loads``.

To add an artefact kind (e.g. a training checkpoint folder with ``model.safetensors``,
``optimizer.safetensors``, ``rng.safetensors``, ``state.json``): write a builder
``(work folder) -> sound folder``, the library call that must refuse a damaged copy, the
``simcse`` command line that must exit 2 on it and a probe of a loaded result; register them
in ``ARTEFACTS``; append ``Case`` rows to ``CASES`` (the damage helpers below fit any file).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from samples import SENTENCES, WORDS, build_tiny_bert

Damage = Callable[[Path], None]  # applied to the file (folder / Case.file)


# ---------------------------------------------------------------- ways to damage a file


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def delete(path: Path) -> None:
    path.unlink()


def write(text: str | bytes) -> Damage:
    return lambda path: path.write_bytes(text if isinstance(text, bytes) else text.encode())


def edit_json(**changes: Any) -> Damage:
    return lambda path: path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def flip(offset: int, bit: int) -> Damage:
    """Flip one bit of the byte at ``offset`` (negative: from the end)."""
    def damage(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[offset] ^= 1 << bit
        path.write_bytes(bytes(data))
    return damage


def flip_npy(row: int, col: int, bit: int) -> Damage:
    """Flip bit ``bit`` (0-31) of float32 element [row, col] of a .npy file, in place."""
    def damage(path: Path) -> None:
        with open(path, "rb") as fh:  # np.save writes format 1.0
            np.lib.format.read_magic(fh)
            np.lib.format.read_array_header_1_0(fh)
            start = fh.tell()
        shape = np.load(path, mmap_mode="r").shape
        flip(start + (row * shape[1] + col) * 4 + bit // 8, bit % 8)(path)
    return damage


def replace_text(old: str, new: str) -> Damage:
    return lambda path: path.write_text(path.read_text().replace(old, new))


def _tensor_span(path: Path, name_part: str) -> tuple[int, int]:
    """Byte range of the first tensor whose name contains ``name_part`` in a safetensors file."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    name = next(k for k in sorted(header) if name_part in k and k != "__metadata__")
    start, end = header[name]["data_offsets"]
    return 8 + n + start, 8 + n + end


def flip_weight(name_part: str, element: int, bit: int) -> Damage:
    """Flip bit ``bit`` (0-31) of float32 ``element`` of a tensor in a safetensors file."""
    return lambda path: flip(_tensor_span(path, name_part)[0] + 4 * element + bit // 8, bit % 8)(path)


def zero_weight(name_part: str) -> Damage:
    def damage(path: Path) -> None:
        start, end = _tensor_span(path, name_part)
        data = path.read_bytes()
        path.write_bytes(data[:start] + bytes(end - start) + data[end:])
    return damage


def flip_stored_vector(row: int, bit: int) -> Damage:
    """Flip a bit of row ``row``'s first coordinate where index.faiss stores it (found by its
    bytes in the sibling vectors.npy)."""
    def damage(path: Path) -> None:
        vector = np.load(path.parent / "vectors.npy")[row].tobytes()
        flip(path.read_bytes().index(vector) + bit // 8, bit % 8)(path)
    return damage


def flip_hnsw_link(bit: int) -> Damage:
    """Flip a bit of the first real link (>= 0) of an HNSW graph, where index.faiss stores it."""
    def damage(path: Path) -> None:
        import faiss

        index = faiss.read_index(str(path))  # keep it alive: it owns the HNSW below
        links = faiss.vector_to_array(faiss.downcast_index(index.index).hnsw.neighbors)
        k = int(np.flatnonzero(links >= 0)[0])
        flip(path.read_bytes().index(links.tobytes()) + 4 * k + bit // 8, bit % 8)(path)
    return damage


def flip_a_code(bit: int) -> Damage:
    """Flip a bit of a row's code in codes.faiss (int8, binary or rabitq): the codes end the
    file. int8 and binary: its last byte. rabitq (FastScan): the first byte of its packed codes,
    which are blocks of 32 rows of ``ceil(dim / 8) + 8`` bytes each (the last block padded), so
    a byte of the first rows."""
    def damage(path: Path) -> None:
        offset = -1
        if json.loads((path.parent / "manifest.json").read_text())["backend"] == "rabitq":
            rows, dim = np.load(path.parent / "vectors.npy", mmap_mode="r").shape
            offset = -(-(-rows // 32) * 32 * (-(-dim // 8) + 8))
        flip(offset, bit)(path)
    return damage


def rabitq_query_bits(path: Path) -> None:
    """Rewrite codes.faiss, a sound FastScan RaBitQ index, with other query bits (qb 5)."""
    import faiss

    index = faiss.read_index(str(path))
    index.qb = 5
    faiss.write_index(index, str(path))


def binary_codes(path: Path) -> None:
    """Replace the file by a sound binary index of the same rows (another backend's codes)."""
    import faiss

    vectors = np.load(path.parent / "vectors.npy")
    index = faiss.IndexBinaryFlat(8 * -(-vectors.shape[1] // 8))
    index.add(np.packbits(vectors > 0, axis=1))
    faiss.write_index_binary(index, str(path))


def zero_tail(nbytes: int) -> Damage:
    def damage(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[:-nbytes] + bytes(nbytes))
    return damage


def edit_npy(change: Callable[[np.ndarray], np.ndarray]) -> Damage:
    return lambda path: np.save(path, change(np.load(path)))


def edit_tensors(change: Callable[[dict], dict]) -> Damage:
    def damage(path: Path) -> None:
        from safetensors.torch import load_file, save_file

        save_file(change(load_file(str(path))), str(path))
    return damage


def edit_line(lineno: int, change: Callable[[str], str]) -> Damage:
    """Replace line ``lineno`` (1-based) of a text file."""
    def damage(path: Path) -> None:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        lines[lineno - 1] = change(lines[lineno - 1])
        path.write_text("".join(lines), encoding="utf-8")
    return damage


def set_first(predicate: Callable[[str], bool], value: Callable[[Any], Any]) -> Callable[[dict], dict]:
    """For edit_tensors: replace the first tensor whose name matches."""
    def change(tensors: dict) -> dict:
        name = next(n for n in sorted(tensors) if predicate(n))
        return {**tensors, name: value(tensors[name])}
    return change


# ---------------------------------------------------------------- sound artefacts


def model_folder(work: Path) -> Path:
    """A saved simcse model (tiny random BERT, pooler cls with the MLP head at inference, so the
    folder holds every file kind: simcse_config.json, modules.json, 1_Pooling, 2_Dense)."""
    folder = work / "model"
    if not (folder / "simcse_config.json").is_file():
        from simcse import load_encoder, save_encoder

        save_encoder(load_encoder(build_tiny_bert(work / "tiny_bert"), pooler="cls", max_length=16), folder)
    return folder


CORPUS = [f"{a} {b} {c}" for a, b, c in zip(WORDS, WORDS[7:] + WORDS[:7], WORDS[19:] + WORDS[:19])] + SENTENCES
QUERY = "a man is playing guitar ."


def index_builder(backend: str, **params: int) -> Callable[[Path], Path]:
    def build(work: Path) -> Path:
        from simcse.api import SimCSE
        from simcse.index import Index

        folder = work / f"index_{backend}"
        if not (folder / "manifest.json").is_file():
            model = SimCSE(model_folder(work), device="cpu")
            index = Index(model.dim, backend, model=model.model_name, pooler=model.pooler, **params)
            index.add(CORPUS, model.encode(CORPUS, normalize=True))
            index.save(folder)
        return folder
    return build


def documents_index(work: Path) -> Path:
    """An index of 4 documents (the corpus dealt out in turn), cut into passages of 8 tokens."""
    folder = work / "index_documents"
    if not (folder / "manifest.json").is_file():
        from simcse.api import SimCSE
        from simcse.document_indexing import new_document_index, upsert_documents
        from simcse.documents import Document

        model = SimCSE(model_folder(work), device="cpu")
        index = new_document_index(model, chunk_tokens=8)
        upsert_documents(index, model, [Document(f"doc{i}", " . ".join(CORPUS[i::4]), {"n": i}) for i in range(4)])
        index.save(folder)
    return folder


def _load_index(folder: Path):
    from simcse.index import Index

    return Index.load(folder)


def _probe_index(index) -> np.ndarray:
    """Scores and ids of the top 5 for a fixed query vector: (2, 5)."""
    query = np.random.default_rng(0).standard_normal((1, index.dim)).astype(np.float32)
    (hits,) = index.search(query, top_k=5)
    return np.array([[h.score for h in hits], [h.id for h in hits]])


def _load_model(folder: Path):
    from simcse import load_encoder

    return load_encoder(folder)


def _probe_model(encoder) -> np.ndarray:
    from simcse.api import SimCSE

    return SimCSE.from_encoder(encoder).encode(SENTENCES)


def checkpoint_run(work: Path) -> Path:
    """A training output folder with a checkpoint at its last step (4), its training file and
    its starting model inside it, so that ``--resume`` on a copy needs nothing else."""
    folder = work / "ckpt_run"
    if not (folder / "checkpoint" / "state.json").is_file():
        from simcse.train import train

        folder.mkdir(parents=True, exist_ok=True)
        shutil.copytree(model_folder(work), folder / "base")
        (folder / "c.txt").write_text("\n".join(CORPUS[:16]) + "\n", encoding="utf-8")
        train(_checkpoint_config(folder))
    return folder


def _checkpoint_config(folder: Path, resume: bool = False):
    from simcse.train import build_config

    return build_config(model=str(folder / "base"), pooler="avg", train_file=str(folder / "c.txt"),
                        output_dir=str(folder), batch_size=4, max_length=12, eval_steps=0, save_steps=2,
                        progress=False, tensorboard=False, resume=resume)


def _resume(folder: Path):
    from simcse.train import train

    return train(_checkpoint_config(folder, resume=True))  # at the last step already: restores, checks, stops


def _checkpoint_argv(folder: Path) -> list[str]:
    return ["train", "--model", str(folder / "base"), "--pooler", "avg", "--train-file", str(folder / "c.txt"),
            "--output-dir", str(folder), "--batch-size", "4", "--max-length", "12", "--eval-steps", "0",
            "--save-steps", "2", "--no-progress", "--no-tensorboard", "--resume"]


@dataclass(frozen=True)
class Artefact:
    build: Callable[[Path], Path]  # work folder -> a sound folder in it (built once, copied per case)
    load: Callable[[Path], Any]  # the library call that must refuse a damaged copy
    probe: Callable[[Any], np.ndarray]  # a loaded artefact's result, compared for cases that load
    argv: Callable[[Path], list[str]]  # the `simcse` command line that must exit 2 on a damaged copy


def _search_argv(folder: Path) -> list[str]:
    return ["search", "--index", str(folder), "--device", "cpu", QUERY]


ARTEFACTS: dict[str, Artefact] = {
    "model": Artefact(model_folder, _load_model, _probe_model,
                      lambda folder: ["similarity", "--model", str(folder), "--device", "cpu", QUERY, "the stock market fell"]),
    "checkpoint": Artefact(checkpoint_run, _resume, lambda result: np.array([result.steps]), _checkpoint_argv),
    **{
        f"index/{backend}": Artefact(index_builder(backend, **params), _load_index, _probe_index, _search_argv)
        for backend, params in [("exact", {}), ("flat", {}), ("hnsw", {"m": 8}), ("ivf_flat", {"nlist": 2}),
                                ("int8", {}), ("binary", {}), ("rabitq", {})]
    },
    "index/documents": Artefact(documents_index, _load_index, _probe_index, _search_argv),
}


@dataclass(frozen=True)
class Case:
    artefact: str  # a key of ARTEFACTS
    file: str  # path inside the folder
    corruption: str  # what was done to it, in a few words
    damage: Damage
    loads: str = ""  # non-empty: the damaged folder loads by design, and why
    same: bool = True  # for a case that loads: its result must equal the sound folder's (within 1e-4)

    @property
    def id(self) -> str:
        return f"{self.artefact}:{self.file}:{self.corruption}"


def damaged_copy(case: Case, sound: Path, dest: Path) -> Path:
    """Copy the sound folder to ``dest`` and damage ``case.file`` in the copy."""
    shutil.copytree(sound, dest)
    case.damage(dest / case.file)
    return dest


def _nan(t):
    t = t.clone()
    t.view(-1)[0] = float("nan")
    return t


def _weights_cases(artefact: str, file: str) -> list[Case]:
    """Damage that no weights file may survive: NaN, a wrong shape, a missing tensor."""
    return [
        Case(artefact, file, "NaN weight", edit_tensors(set_first(lambda n: "word_embeddings" in n, _nan))),
        Case(artefact, file, "wrong shape (embeddings)",
             edit_tensors(set_first(lambda n: "word_embeddings" in n, lambda t: t[:, :16].contiguous()))),
        Case(artefact, file, "tensor deleted",
             edit_tensors(lambda ts: {n: t for n, t in ts.items() if "layer.1.output.dense" not in n})),
    ]


MODEL_CASES = [
    Case("model", "config.json", "missing", delete),
    Case("model", "config.json", "empty", empty),
    Case("model", "config.json", "truncate", truncate),
    Case("model", "config.json", "JSON list", write("[]")),
    Case("model", "config.json", "wrong type (hidden_size '32')", edit_json(hidden_size="32")),
    Case("model", "config.json", "wrong shape (hidden_size 64)", edit_json(hidden_size=64, intermediate_size=128)),
    Case("model", "config.json", "extra layer (no weights for it)", edit_json(num_hidden_layers=3)),
    Case("model", "config.json", "unknown model_type", edit_json(model_type="nonesuch")),
    Case("model", "model.safetensors", "missing", delete),
    Case("model", "model.safetensors", "empty", empty),
    Case("model", "model.safetensors", "truncate", truncate),
    Case("model", "model.safetensors", "garbage", write(b"\x01" * 4096)),
    Case("model", "model.safetensors", "bit flip (header length)", flip(1, 3)),
    Case("model", "model.safetensors", "bit flip (header JSON)", flip(8, 1)),
    Case("model", "model.safetensors", "bit flip (weight mantissa)", flip_weight("word_embeddings", 2 * 32, 0),
         loads="the lowest mantissa bit of the [CLS] embedding: a valid model whose embeddings move by ~1e-7 "
               "(safetensors has no checksum)"),
    Case("model", "model.safetensors", "bit flip (weight exponent)", flip_weight("word_embeddings", 2 * 32, 30)),
    Case("model", "model.safetensors", "zeroed tail (256 bytes)", zero_tail(256),
         loads="the file's last tensor is BERT's pooler, which this model does not use (its head is 2_Dense): "
               "same embeddings"),
    Case("model", "model.safetensors", "zeroed weight (used)", zero_weight("layer.1.output.dense.weight"), same=False,
         loads="KNOWN GAP: zeros are valid weights, so this is a valid, different model; only a checksum "
               "recorded at save time could tell (safetensors has none)"),
    *_weights_cases("model", "model.safetensors"),
    Case("model", "tokenizer.json", "missing (all tokenizer files)", delete),
    Case("model", "tokenizer.json", "empty", empty),
    Case("model", "tokenizer.json", "truncate", truncate),
    Case("model", "tokenizer.json", "JSON string", write('"x"')),
    Case("model", "simcse_config.json", "missing", delete,
         loads="the folder is then read as the sentence-transformers folder it also is (modules.json, "
               "1_Pooling, 2_Dense): the same model and embeddings"),
    Case("model", "simcse_config.json", "empty", empty),
    Case("model", "simcse_config.json", "JSON list", write("[]")),
    Case("model", "simcse_config.json", "JSON string", write('"cls"')),
    Case("model", "simcse_config.json", "not UTF-8", write(b"\xff\xfe{")),
    Case("model", "simcse_config.json", "wrong type (max_length '16')", edit_json(max_length="16")),
    Case("model", "simcse_config.json", "wrong type (mlp_only_train 'no')", edit_json(mlp_only_train="no")),
    Case("model", "simcse_config.json", "unknown pooler", edit_json(pooler="max")),
    Case("model", "modules.json", "JSON string", write('"x"')),
    Case("model", "modules.json", "list of strings", write('["a", "b"]')),
    Case("model", "modules.json", "unknown module", replace_text("models.Pooling", "models.Poolin")),
    Case("model", "1_Pooling/config.json", "JSON list", write("[]")),
    Case("model", "1_Pooling/config.json", "disagrees (mean pooling)",
         edit_json(pooling_mode_cls_token=False, pooling_mode_mean_tokens=True)),
    Case("model", "2_Dense/config.json", "wrong type (in_features '32')", edit_json(in_features="32")),
    Case("model", "2_Dense/model.safetensors", "missing", delete),
    Case("model", "2_Dense/model.safetensors", "truncate", truncate),
    Case("model", "2_Dense/model.safetensors", "NaN weight", edit_tensors(set_first(lambda n: "weight" in n, _nan))),
    Case("model", "2_Dense/model.safetensors", "wrong shape", edit_tensors(set_first(lambda n: "weight" in n, lambda t: t[:8].contiguous()))),
    Case("model", "sentence_bert_config.json", "wrong type (max_seq_length 'x')", edit_json(max_seq_length="x")),
]

def _index_cases(artefact: str) -> list[Case]:
    """The files every index folder has: manifest.json, vectors.npy, items.jsonl."""
    return [
        Case(artefact, "manifest.json", "missing", delete),
        Case(artefact, "manifest.json", "empty", empty),
        Case(artefact, "manifest.json", "truncate", truncate),
        Case(artefact, "manifest.json", "JSON list", write("[]")),
        Case(artefact, "manifest.json", "JSON string", write('"exact"')),
        Case(artefact, "manifest.json", "wrong type (dim '32')", edit_json(dim="32")),
        Case(artefact, "manifest.json", "count negative", edit_json(count=-1)),
        Case(artefact, "manifest.json", "count too high", edit_json(count=len(CORPUS) + 1)),
        Case(artefact, "manifest.json", "next_id negative", edit_json(next_id=-1)),
        Case(artefact, "manifest.json", "next_id below the ids", edit_json(next_id=1)),
        Case(artefact, "manifest.json", "unknown backend", edit_json(backend="annoy")),
        Case(artefact, "manifest.json", "unknown param", edit_json(params={"colour": 3})),
        Case(artefact, "manifest.json", "unknown pooler", edit_json(pooler="max")),
        Case(artefact, "vectors.npy", "missing", delete),
        Case(artefact, "vectors.npy", "empty", empty),
        Case(artefact, "vectors.npy", "truncate", truncate),
        Case(artefact, "vectors.npy", "wrong shape (dim + 1)", edit_npy(lambda v: np.pad(v, ((0, 0), (0, 1))))),
        Case(artefact, "vectors.npy", "wrong shape (a row short)", edit_npy(lambda v: v[:-1])),
        Case(artefact, "vectors.npy", "wrong dtype (float64)", edit_npy(lambda v: v.astype(np.float64))),
        Case(artefact, "vectors.npy", "NaN row", edit_npy(lambda v: np.where(np.arange(len(v))[:, None] == 3, np.nan, v))),
        Case(artefact, "vectors.npy", "zeroed tail", zero_tail(1024)),
        Case(artefact, "vectors.npy", "bit flip (exponent)", flip_npy(5, 0, 30)),
        Case(artefact, "vectors.npy", "bit flip (mantissa)", flip_npy(5, 0, 0),
             loads="the lowest mantissa bit of one coordinate: the row is still a unit vector within 1e-7, so its "
                   "scores move by less than 1e-6 (the unit-norm check allows 1e-3)"),
        Case(artefact, "items.jsonl", "missing", delete),
        Case(artefact, "items.jsonl", "empty", empty),
        Case(artefact, "items.jsonl", "truncate", truncate),
        Case(artefact, "items.jsonl", "not JSON", edit_line(2, lambda line: "not json\n")),
        Case(artefact, "items.jsonl", "JSON list", edit_line(2, lambda line: "[1, 2]\n")),
        Case(artefact, "items.jsonl", "text null", edit_line(2, lambda line: '{"id": 1, "text": null}\n')),
        Case(artefact, "items.jsonl", "id a string", edit_line(2, lambda line: '{"id": "1", "text": "x"}\n')),
        Case(artefact, "items.jsonl", "duplicate id", edit_line(3, lambda line: '{"id": 1, "text": "x"}\n')),
        Case(artefact, "items.jsonl", "huge id (2**64)", edit_line(2, lambda line: '{"id": 18446744073709551616, "text": "x"}\n')),
        Case(artefact, "items.jsonl", "negative id", edit_line(2, lambda line: '{"id": -1, "text": "x"}\n')),
        Case(artefact, "items.jsonl", "lone surrogate", edit_line(2, lambda line: '{"id": 1, "text": "\\ud800"}\n')),
        Case(artefact, "items.jsonl", "bit flip (invalid UTF-8)", flip(-3, 7)),
    ]


def _faiss_file_cases(artefact: str, file: str, ids_at_end: bool = True) -> list[Case]:
    """Damage that no FAISS file may survive (an index with ids: they end the file)."""
    return [
        Case(artefact, file, "missing", delete),
        Case(artefact, file, "empty", empty),
        Case(artefact, file, "truncate", truncate),
        Case(artefact, file, "garbage", write(b"junk" * 256)),
        *([Case(artefact, file, "bit flip (last id)", flip(-2, 5))] if ids_at_end else []),
    ]


FAISS_CASES = [
    *[
        case
        for backend in ("flat", "hnsw", "ivf_flat")
        for case in [
            *_faiss_file_cases(f"index/{backend}", "index.faiss"),
            Case(f"index/{backend}", "index.faiss", "bit flip (a vector's mantissa)", flip_stored_vector(7, 0)),
        ]
    ],
    Case("index/hnsw", "index.faiss", "bit flip (graph link, high bit)", flip_hnsw_link(30)),
    Case("index/hnsw", "index.faiss", "bit flip (graph link, low bit)", flip_hnsw_link(0), same=False,
         loads="a link now points at another vector in the index: HNSW search is approximate and scores "
               "every hit from the stored vectors, so hits and scores stay true; only the route changes"),
    Case("index/hnsw", "manifest.json", "ef_search -5", edit_json(params={"m": 8, "ef_construction": 200, "ef_search": -5})),
    Case("index/hnsw", "manifest.json", "wrong type (m '8')", edit_json(params={"m": "8", "ef_construction": 200, "ef_search": 128})),
    Case("index/ivf_flat", "manifest.json", "nprobe 0", edit_json(params={"nlist": 2, "nprobe": 0})),
    Case("index/ivf_flat", "manifest.json", "nlist differs from index.faiss", edit_json(params={"nlist": 3, "nprobe": 2})),
]

QUANTIZED_CASES = [
    *[
        case
        for backend in ("int8", "binary", "rabitq")
        for case in [
            *_faiss_file_cases(f"index/{backend}", "codes.faiss", ids_at_end=False),  # codes by row: no ids
            Case(f"index/{backend}", "codes.faiss", "bit flip (a code)", flip_a_code(0)),
            Case(f"index/{backend}", "manifest.json", "rescore_multiplier 0", edit_json(params={"rescore_multiplier": 0})),
        ]
    ],
    Case("index/binary", "manifest.json", "hamming_multiplier 0", edit_json(params={"hamming_multiplier": 0})),
    Case("index/int8", "codes.faiss", "binary codes instead", binary_codes),
    Case("index/rabitq", "codes.faiss", "query bits qb 8 -> 5", rabitq_query_bits),
]

def edit_document(lineno: int, **changes: Any) -> Damage:
    """Change fields of the document on line ``lineno`` of documents.jsonl."""
    return edit_line(lineno, lambda line: json.dumps({**json.loads(line), **changes}) + "\n")


def _first_passage(line: str, change: Callable[[list[int]], list[int]]) -> str:
    doc = json.loads(line)
    return json.dumps({**doc, "passages": [change(doc["passages"][0]), *doc["passages"][1:]]}) + "\n"


DOCUMENT_CASES = [
    Case("index/documents", "documents.jsonl", "missing", delete),
    Case("index/documents", "documents.jsonl", "empty", empty),
    Case("index/documents", "documents.jsonl", "truncate", truncate),
    Case("index/documents", "documents.jsonl", "not JSON", edit_line(2, lambda line: "not json\n")),
    Case("index/documents", "documents.jsonl", "unknown field", edit_document(1, colour="red")),
    Case("index/documents", "documents.jsonl", "duplicate document id", edit_document(2, id="doc0")),
    Case("index/documents", "documents.jsonl", "span past the text", edit_line(1, lambda line: _first_passage(
        line, lambda p: [p[0], p[1], 10_000]))),
    Case("index/documents", "documents.jsonl", "unknown row id", edit_line(1, lambda line: _first_passage(
        line, lambda p: [999_999, p[1], p[2]]))),
    Case("index/documents", "documents.jsonl", "text edited", edit_line(1, lambda line: line.replace(" . ", " ; ", 1))),
    Case("index/documents", "documents.jsonl", "NaN metadata",
         edit_line(1, lambda line: line.replace('"n": 0', '"n": NaN'))),
    Case("index/documents", "documents.jsonl", "lone surrogate", edit_document(1, metadata={"n": "\ud800"})),
    Case("index/documents", "items.jsonl", "passage text edited", edit_line(1, lambda line: json.dumps(
        {**json.loads(line), "text": "other words"}) + "\n")),
    Case("index/documents", "manifest.json", "chunk settings removed",
         edit_json(chunk_tokens=None, chunk_overlap=None)),
    Case("index/documents", "manifest.json", "overlap as big as a passage", edit_json(chunk_overlap=8)),
    Case("index/exact", "documents.jsonl", "added to an index of sentences", write('{"id": "a"}\n')),
]


def _optimizer_wrong_shape(tensors: dict) -> dict:
    name = next(n for n in sorted(tensors) if n.endswith(".exp_avg"))
    return {**tensors, name: tensors[name].new_zeros(3, 3)}


CHECKPOINT_CASES = [
    Case("checkpoint", "checkpoint/state.json", "missing", delete),
    Case("checkpoint", "checkpoint/state.json", "empty", empty),
    Case("checkpoint", "checkpoint/state.json", "truncate", truncate),
    Case("checkpoint", "checkpoint/state.json", "JSON list", write("[]")),
    Case("checkpoint", "checkpoint/state.json", "other version", edit_json(version=1)),
    Case("checkpoint", "checkpoint/state.json", "section not an object", edit_json(progress=[4])),
    Case("checkpoint", "checkpoint/model.safetensors", "missing", delete),
    Case("checkpoint", "checkpoint/model.safetensors", "truncate", truncate),
    Case("checkpoint", "checkpoint/model.safetensors", "garbage", write(b"\x01" * 4096)),
    *_weights_cases("checkpoint", "checkpoint/model.safetensors"),
    Case("checkpoint", "checkpoint/optimizer.safetensors", "missing", delete),
    Case("checkpoint", "checkpoint/optimizer.safetensors", "truncate", truncate),
    Case("checkpoint", "checkpoint/optimizer.safetensors", "wrong shape", edit_tensors(_optimizer_wrong_shape)),
    Case("checkpoint", "checkpoint/optimizer.safetensors", "NaN moment", edit_tensors(set_first(lambda n: n.endswith(".exp_avg"), _nan))),
    Case("checkpoint", "checkpoint/rng.safetensors", "missing", delete),
    Case("checkpoint", "checkpoint/rng.safetensors", "no state for this process", edit_tensors(lambda ts: {"rank1.cpu": ts["rank0.cpu"]})),
]

CASES: list[Case] = [*MODEL_CASES, *_index_cases("index/exact"), *FAISS_CASES, *QUANTIZED_CASES, *DOCUMENT_CASES,
                     *CHECKPOINT_CASES]
