"""BERT-whitening and PCA of all-MiniLM-L6-v2 (``simcse whiten``), measured: the tables in the README.

The fit corpus (150,000 sentences): all 149,568 lines of
``training/multi30k/multi30k_task2_en_captions.txt`` (Flickr30k captions, train + val, so the
captions searched by the retrieval task below are among them), then the first 432 lines of
``training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt``.

1. ``simcse whiten`` (no ``--dim``: every direction the sentences span) runs on it in a child
   process: its wall time, CPU time and peak RSS (``ru_maxrss`` of that child) are reported;
   then on 15,000 of them (:data:`MEMORY_POINTS`: the first 14,568 captions and the same 432
   wiki1m lines, the longest sentences, whose batches set the peak), whose peak RSS shows
   whether memory follows the number of sentences.
   ``simcse whiten --method pca`` runs on the same 150,000 sentences too (its time is reported).
2. Then this process encodes, with the base model's raw pooled (unnormalised, unwhitened)
   embeddings, every sentence the evaluations need: the 7 STS test tasks, the retrieval set
   ``retrieval/flickr30k_captions_val`` (1,014 queries, 4,056 captions, qrels ``dev``) and
   2,000 fit sentences drawn with seed 0 for the anisotropy. They are cached under ``WORK``
   (reruns are cheap).
3. Each row applies its whitening to those cached vectors (``K`` < full: the first K
   components of the fitted whitening, which equals fitting with ``--dim K``; a test proves
   it), in float64, then normalises. The same for the ``pca`` rows (K = 384: the rotation
   alone); the ``first K features`` rows keep the unwhitened model's first K features and
   renormalise (``SimCSE(model, truncate_dim=K)``), for comparison. That these are the saved
   models' vectors is checked per row on 300 STS sentences (seed 0): min cosine between the
   cached path and ``SimCSE(model)``, and between ``SimCSE(model)`` and
   ``SentenceTransformer(model)`` (the ST-load check).

Anisotropy: mean cosine of 10,000 random pairs (seed 0, :func:`simcse.evaluation.anisotropy`)
of the 2,000 fit sentences, and of the STS test sentences (not in the fit corpus).

Usage: SIMCSE_DATA_DIR=/work/shared/data python bench/whitening.py [--work /tmp/simcse_whitening_bench]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CAPTIONS = "training/multi30k/multi30k_task2_en_captions.txt"
WIKI = "training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt"
RETRIEVAL = "retrieval/flickr30k_captions_val"
FIT_SENTENCES, ANISO_SENTENCES, PAIRS, CHECK_SENTENCES, SEED = 150_000, 2_000, 10_000, 300, 0
CAPTION_LINES = 149_568
MEMORY_POINTS = (15_000,)  # the fit again on N sentences (the 432 wiki1m lines among them), for its peak RSS
TRUNCATIONS = (256, 128, 64)
SAVE_EVERY = 2048
FIRST_K = "first K features"  # rows that cut the unwhitened model


def build_corpus(root: Path, path: Path) -> list[str]:
    captions = (root / CAPTIONS).read_text(encoding="utf-8").splitlines()
    wiki = (root / WIKI).read_text(encoding="utf-8").splitlines()[: FIT_SENTENCES - len(captions)]
    lines = captions + wiki
    assert len(lines) == FIT_SENTENCES
    if not path.is_file():
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def start_fit(corpus: Path, out: Path, method: str = "bert-whitening") -> subprocess.Popen:
    cmd = [sys.executable, "-m", "simcse.cli", "whiten", "--model", MODEL, "--input", str(corpus), "--out", str(out),
           "--device", "cpu", "--batch-size", "128", "--method", method]
    print("fit:", " ".join(cmd[2:]), flush=True)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def finish_fit(proc: subprocess.Popen, start: float) -> dict:
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = proc.stdout.read()
    if proc.returncode != 0:
        raise SystemExit(f"simcse whiten failed ({proc.returncode}): {out}")
    return {"wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "said": out.strip()}


class RawCache:
    """Raw pooled embeddings of the base model by sentence, kept in ``path`` (.npz)."""

    def __init__(self, path: Path) -> None:
        from simcse import SimCSE
        from simcse.whiten import rewrap

        self.path, self.rows, self.model = path, {}, None
        self.matrix = np.zeros((0, 384), dtype=np.float32)
        if path.is_file():
            saved = np.load(path, allow_pickle=False)
            self.rows = {t: i for i, t in enumerate(saved["texts"].tolist())}
            self.matrix = saved["vectors"]

        def make() -> SimCSE:  # the base model's pooled embeddings, before its Normalize
            encoder = SimCSE(MODEL, device="cpu").encoder
            return SimCSE.from_encoder(rewrap(encoder, dataclasses.replace(encoder.config, normalize=False), None))

        self._make = make

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.rows]
        for i in range(0, len(missing), SAVE_EVERY):  # saved block by block: an interrupted run resumes
            block = missing[i:i + SAVE_EVERY]
            self.model = self.model or self._make()
            vectors = self.model.encode(block, batch_size=128, show_progress=False)
            self.rows.update({t: len(self.rows) + j for j, t in enumerate(block)})
            self.matrix = np.concatenate([self.matrix, vectors])
            tmp = self.path.with_suffix(".tmp.npz")
            np.savez(tmp, texts=np.array(list(self.rows), dtype=str), vectors=self.matrix)
            os.replace(tmp, self.path)
            print(f"raw cache: {len(self.rows):,} sentences", flush=True)
        return self.matrix[[self.rows[t] for t in texts]].astype(np.float64)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cos_min(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min((unit(np.asarray(a, np.float64)) * unit(np.asarray(b, np.float64))).sum(1)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("/tmp/simcse_whitening_bench"))
    args = p.parse_args()
    from simcse.data_dir import data_dir

    root, work = data_dir(), args.work
    work.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(root, work / "corpus.txt")
    full = work / "models" / "full"
    fit_record = work / "fit.json"
    if not fit_record.is_file():  # before the other encodings, not beside them: its wall time is a speed
        start = time.perf_counter()
        fit_record.write_text(json.dumps(finish_fit(start_fit(work / "corpus.txt", full), start)) + "\n")
    pca_full, pca_record = work / "models" / "pca", work / "fit_pca.json"
    if not pca_record.is_file():
        start = time.perf_counter()
        pca_record.write_text(json.dumps(finish_fit(start_fit(work / "corpus.txt", pca_full, "pca"), start)) + "\n")
    wiki = FIT_SENTENCES - CAPTION_LINES  # the longest lines: the batches that set the peak
    for n in MEMORY_POINTS:  # a tenth of the sentences, the same longest ones: does memory follow their number?
        record = work / f"fit_{n}_with_wiki.json"
        if not record.is_file():
            part = work / f"corpus_{n}_with_wiki.txt"
            part.write_text("\n".join(corpus[: n - wiki] + corpus[-wiki:]) + "\n", encoding="utf-8")
            start = time.perf_counter()
            record.write_text(json.dumps(finish_fit(start_fit(part, work / "models" / f"first{n}"), start)) + "\n")

    from simcse import SimCSE
    from simcse.evaluation import STS_TASKS, anisotropy, evaluate
    from simcse.evaluation.retrieval import RetrievalSpec
    from simcse.evaluation.user import evaluate_user, read_user
    from simcse.model_io import load_encoder, save_encoder

    raw = RawCache(work / "raw.npz")
    aniso_texts = random.Random(SEED).sample(corpus, ANISO_SENTENCES)
    raw(aniso_texts)
    retrieval = read_user([RetrievalSpec("flickr", root / RETRIEVAL, split="dev")])
    sts_texts: list[str] = []

    def recording(texts: list[str]) -> np.ndarray:
        sts_texts.extend(texts)
        return raw(texts)

    base_sts = evaluate(recording, root, "test", STS_TASKS)
    base_ret = evaluate_user(lambda t: unit(raw(t)), retrieval)
    sts_texts = list(dict.fromkeys(sts_texts))
    fit = json.loads(fit_record.read_text())
    fit["points"] = {n: json.loads((work / f"fit_{n}_with_wiki.json").read_text()) for n in MEMORY_POINTS}
    fit["pca"] = json.loads(pca_record.read_text())

    layer = load_encoder(full).whitening
    rows: list[tuple[str, int, Path | None]] = [("not whitened", 384, None)]
    for method, fitted, prefix in (("bert-whitening", full, "k"), ("pca", pca_full, "pca")):
        enc = load_encoder(fitted)
        whole = enc.whitening
        rows.append((method, whole.out_features, fitted))
        for k in TRUNCATIONS:  # the first K components of the fit, saved as a model
            folder = work / "models" / f"{prefix}{k}"
            if not folder.is_dir():
                enc.whitening = whole.truncated(k)
                save_encoder(enc, folder)
            rows.append((method, k, folder))
    rows += [(FIRST_K, k, None) for k in TRUNCATIONS]

    import sentence_transformers

    check = random.Random(SEED).sample(sts_texts, CHECK_SENTENCES)
    results = []
    for method, k, folder in rows:
        if folder is None:
            whiten = lambda x, k=k: unit(x[:, :k])  # noqa: E731
        else:
            w = load_encoder(folder).whitening.linear
            weight, bias = w.weight.detach().double().numpy(), w.bias.detach().double().numpy()
            whiten = lambda x, weight=weight, bias=bias: unit(x @ weight.T + bias)  # noqa: E731
        encode = lambda t, whiten=whiten: whiten(raw(t))  # noqa: E731
        sts = base_sts if method == "not whitened" else evaluate(encode, root, "test", STS_TASKS)
        ret = base_ret if method == "not whitened" else evaluate_user(encode, retrieval)
        row = {"method": method, "K": k, "sts": sts, "ndcg@10": ret["flickr/ndcg@10"], "mrr@10": ret["flickr/mrr@10"],
               "aniso_fit": anisotropy(encode(aniso_texts), PAIRS, SEED),
               "aniso_sts": anisotropy(encode(sts_texts), PAIRS, SEED)}
        cut = {} if folder else {"truncate_dim": k}
        ours = SimCSE(str(folder or MODEL), device="cpu", **cut).encode(check, batch_size=128)
        st_path = str(folder) if folder else str(SimCSE(MODEL, device="cpu").folder)
        theirs = sentence_transformers.SentenceTransformer(st_path, device="cpu", **cut).encode(check, batch_size=128)
        row["cos_cache"], row["cos_st"] = cos_min(ours, encode(check)), cos_min(ours, theirs)
        results.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "sts"}), flush=True)
    (work / "results.json").write_text(json.dumps({"fit": fit, "rows": results}, indent=1))
    report(fit, results, layer, corpus, root, len(sts_texts))


def report(fit: dict, results: list[dict], layer, corpus: list[str], root: Path, n_sts: int) -> None:
    weight = layer.linear.weight.detach().double().numpy()  # (K, H) = W^T; column k of W has norm 1/sqrt(s_k)
    variance = 1.0 / (weight ** 2).sum(1)
    docs = [json.loads(line)["text"] for line in (root / RETRIEVAL / "corpus.jsonl").read_text().splitlines()]
    queries = [json.loads(line)["text"] for line in (root / RETRIEVAL / "queries.jsonl").read_text().splitlines()]
    fitted = set(corpus)
    print(f"\nFit: `simcse whiten` on {len(corpus):,} sentences: {fit['wall_s']:.0f} s wall, {fit['cpu_s']:.0f} CPU s, "
          f"peak RSS {fit['peak_rss_mb']} MB ({os.cpu_count()} cores, which other jobs may have shared: the CPU time is the "
          f"fit's own); on " + ", ".join(f"{n:,} of them (the wiki1m lines among them) {p['wall_s']:.0f} s wall, {p['cpu_s']:.0f} CPU s, "
                                               f"peak RSS {p['peak_rss_mb']} MB" for n, p in fit["points"].items())
          + f"; `--method pca` on the {len(corpus):,}: {fit['pca']['wall_s']:.0f} s wall, {fit['pca']['cpu_s']:.0f} CPU s, "
          f"peak RSS {fit['pca']['peak_rss_mb']} MB. Whitening kept {layer.out_features} of "
          f"{layer.in_features} directions (smallest kept variance {variance.min() / variance.max():.1e} of the "
          f"largest). {sum(d in fitted for d in docs):,} of the {len(docs):,} retrieval captions and "
          f"{sum(q in fitted for q in queries):,} of its {len(queries):,} queries are fit sentences.\n")
    from simcse.evaluation import STS_TASKS
    from simcse.evaluation.sts import headline_key

    tasks = [headline_key(t) for t in STS_TASKS]
    print("| method | K | STS avg (7) | " + " | ".join(tasks) + " | Flickr30k nDCG@10 | MRR@10 | anisotropy (fit sentences) "
          f"| anisotropy (STS sentences) | min cos SimCSE vs cached | min cos SimCSE vs ST |")
    print("|---|---|---|" + "---|" * len(tasks) + "---|---|---|---|---|---|")
    for r in results:
        cells = " | ".join(f"{r['sts'][t]:.2f}" for t in tasks)
        print(f"| {r['method']} | {r['K']} | {r['sts']['avg_sts']:.2f} | {cells} | {r['ndcg@10']:.2f} | {r['mrr@10']:.2f} | "
              f"{r['aniso_fit']:+.4f} | {r['aniso_sts']:+.4f} | {r['cos_cache']:.6f} | {r['cos_st']:.6f} |")
    print(f"\nAnisotropy: {PAIRS:,} pairs (seed {SEED}) of {ANISO_SENTENCES:,} fit sentences (seed {SEED}), and of the "
          f"{n_sts:,} distinct STS test sentences. Parity: {CHECK_SENTENCES} STS sentences (seed {SEED}).")


if __name__ == "__main__":
    main()
