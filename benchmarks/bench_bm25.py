"""BM25 implementations: the hand-written index against the ``bm25s`` library, same tokens.

Both indexes get the SAME tokens, from ``qabot.retrieval.bm25.tokenize`` (the Unicode
tokenizer), and the same formula: k1 = 1.2, b = 0.75, Lucene's idf
log(1 + (N - n + 0.5) / (n + 0.5)), term frequency tf (k1 + 1) / (tf + k1 (1 - b + b len/avg))
(``bm25s`` method "atire" with idf "lucene"); a repeated query term counts once.

* hand: the previous ``qabot.retrieval.bm25.BM25`` (commit c34acb7), copied here and fed token
  lists: a dict of postings, scored term by term in Python, then a full stable argsort.
* bm25s: ``bm25s.BM25`` (numpy backend, no numba) indexed from the token lists; scoring is
  ``get_scores_from_ids`` plus the exact top-k of ``qabot.retrieval.bm25.BM25.search``.

1. Quality. SQuAD v1.1 dev, the eval split's 12 articles (``squad/splits.json`` eval_titles):
   passages = the paragraphs, a question's gold passage = its paragraph. COVID-QA
   (``covid_qa/200423_covidQA.json``, all 98 papers): passages = 160-word windows with a stride
   of 128 words, gold = a window holding a whole gold answer span. Recall@1/5/20 and MRR@20 of
   each implementation, how many queries get the identical top 20, and (for reference) the
   hand index over the previous ASCII tokenizer ``[0-9a-z]+``, to show English is unchanged.
2. Scale. 100,000 passages from the SQuAD v1.1 train paragraphs
   (``train-v1.1-explorer.json``, 18,896 paragraphs): every window of 3, 4 and 5 consecutive
   sentences of each paragraph (a paragraph shorter than the window counts once), in
   paragraph order, the first 100,000 distinct ones. Timed: tokenizing the passages (shared),
   building each index from the tokens, and the whole ``BM25(documents)`` the retriever builds
   (tokenize + bm25s). Queries: 500 train questions, each timed alone after 20 warm-up
   queries, tokenization included: ``search(question, k=20)``. p50/p95 in ms.
   Memory: tracemalloc's size of what the build keeps (current) and its peak, on a second
   build of each (tracemalloc slows the build, so that one is not timed).
3. Save/load of the bm25s index (``save`` to a folder of .npy + JSON, ``load`` with and
   without mmap), and the files' size.
4. The BM25 index saved with each index generation (``--startup``, its own result file).
   a. The writer's cost on the example knowledge base with the real all-MiniLM-L6-v2: a first
      build, an unchanged build (commits nothing) and a one-file change (a sentence appended to
      one article): the whole ``build`` and the part of it spent building + saving BM25.
   b. At the 100,000 passages of 2. (1,000 files of 100 passages, random unit vectors, flat
      FAISS, written with ``IndexWriter`` directly): the first commit and a one-file change,
      whole commit and BM25 part. Then the retriever's start: ``Retriever(mode="hybrid")
      .warm_up()`` (open the store, one dense search, BM25 ready) timed with the generation's
      saved ``bm25/`` folder and with it moved away (built in memory, as before), with a
      stand-in query embedder (hashing, dim 384) so the figure is the index's alone (the real
      model's load adds the same ~5 s to both); and the top 20 of 200 questions compared.

Run: ``.venv/bin/python benchmarks/bench_bm25.py`` (1-3: about 3 minutes on 2 CPU cores).
Result: ``benchmarks/results/bench_bm25.json``. Section 4 alone: ``--startup`` (about 2 minutes),
result ``benchmarks/results/bench_bm25_startup.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import math
import re
import shutil
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
import bm25s
import numpy as np
from _common import DATA, percentile_ms, require, write_result

from qabot.retrieval.bm25 import BM25, tokenize

SQUAD_DEV = DATA / "squad" / "v1.1" / "dev-v1.1.json"
SQUAD_TRAIN = DATA / "squad" / "v1.1" / "train-v1.1-explorer.json"
SQUAD_SPLIT = DATA / "squad" / "splits.json"
COVID = DATA / "covid_qa" / "200423_covidQA.json"
K1, B = 1.2, 0.75
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_OLD_WORD = re.compile(r"[0-9a-z]+(?:['’][a-z]+)?")
_OLD_STOP = frozenset("""a an and are as at be but by can could did do does for from had has have
how i if in into is it its me my of on or our so than that the their them then there these they
this to too up us was we were what when where which who why will with would you your""".split())


def old_tokenize(text: str) -> list[str]:
    """The previous tokenizer (ASCII words only), for the English reference row."""
    out = []
    for word in _OLD_WORD.findall(text.lower()):
        word = word.replace("’", "'").split("'")[0]
        if word in _OLD_STOP or not word:
            continue
        if len(word) > 4 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 4 and word.endswith(("ses", "xes", "ches", "shes")):
            word = word[:-2]
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


class HandBM25:
    """The previous hand-written index, fed token lists instead of texts."""

    def __init__(self, corpus: list[list[str]], k1: float = K1, b: float = B):
        self.k1, self.b = k1, b
        self._postings: dict[str, list[tuple[int, int]]] = {}
        lengths = []
        for row, tokens in enumerate(corpus):
            counts = Counter(tokens)
            lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                self._postings.setdefault(term, []).append((row, tf))
        self._lengths = np.asarray(lengths, dtype=np.float32)
        self._avg = float(self._lengths.mean()) if lengths else 0.0
        self.n = n = len(corpus)
        self._idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5))
                     for t, p in self._postings.items()}

    def scores(self, terms: list[str]) -> np.ndarray:
        scores = np.zeros(self.n, dtype=np.float32)
        norm = self.k1 * (1 - self.b + self.b * self._lengths / max(self._avg, 1e-9))
        for term in set(terms):
            for row, tf in self._postings.get(term, ()):
                scores[row] += self._idf[term] * tf * (self.k1 + 1) / (tf + norm[row])
        return scores

    def search(self, terms: list[str], k: int) -> list[int]:
        scores = self.scores(terms)
        top = np.argsort(-scores, kind="stable")[:k]
        return [int(i) for i in top if scores[i] > 0]


def bm25s_index(corpus: list[list[str]]) -> bm25s.BM25:
    index = bm25s.BM25(k1=K1, b=B, method="atire", idf_method="lucene")
    index.index(corpus, show_progress=False)
    return index


def bm25s_search(index: bm25s.BM25, terms: list[str], k: int) -> list[int]:
    """What ``qabot.retrieval.bm25.BM25.search`` does, on token lists."""
    ids = index.get_tokens_ids(list(dict.fromkeys(terms)))
    if not ids:
        return []
    scores = index.get_scores_from_ids(ids)
    kth = np.partition(scores, len(scores) - k)[len(scores) - k] if k < len(scores) else 0
    rows = np.flatnonzero(scores >= max(kth, np.float32(1e-30)))
    return [int(i) for i in rows[np.lexsort((rows, -scores[rows]))][:k]]


# -- data -------------------------------------------------------------------------------------

def squad_eval_set() -> tuple[list[str], list[tuple[str, set[int]]]]:
    titles = set(json.loads(require(SQUAD_SPLIT, "SQuAD splits").read_text())["eval_titles"])
    articles = json.loads(require(SQUAD_DEV, "SQuAD v1.1 dev").read_text())["data"]
    passages, questions = [], []
    for art in articles:
        if art["title"] not in titles:
            continue
        for para in art["paragraphs"]:
            passages.append(para["context"])
            questions += [(qa["question"], {len(passages) - 1}) for qa in para["qas"]]
    return passages, questions


def covid_set(words: int = 160, stride: int = 128) -> tuple[list[str], list[tuple[str, set[int]]]]:
    papers = json.loads(require(COVID, "COVID-QA").read_text())["data"]
    passages, questions = [], []
    for paper in papers:
        for para in paper["paragraphs"]:
            text = para["context"]
            spans = [m.span() for m in re.finditer(r"\S+", text)]
            windows = []
            for start in range(0, max(len(spans) - words + stride, 1), stride):
                chunk = spans[start : start + words]
                windows.append((chunk[0][0], chunk[-1][1], len(passages)))
                passages.append(text[chunk[0][0] : chunk[-1][1]])
            for qa in para["qas"]:
                gold = {row for a in qa["answers"] for lo, hi, row in windows
                        if lo <= a["answer_start"] and a["answer_start"] + len(a["text"]) <= hi}
                if gold:
                    questions.append((qa["question"], gold))
    return passages, questions


def scale_set(n: int) -> tuple[list[str], list[str]]:
    articles = json.loads(require(SQUAD_TRAIN, "SQuAD v1.1 train").read_text())["data"]
    passages: dict[str, None] = {}
    questions = []
    for art in articles:
        for para in art["paragraphs"]:
            questions += [qa["question"] for qa in para["qas"]]
            sents = _SENTENCE.split(para["context"])
            for w in (3, 4, 5):
                for i in range(max(len(sents) - w + 1, 1)):
                    passages.setdefault(" ".join(sents[i : i + w]))
    if len(passages) < n:
        raise SystemExit(f"only {len(passages)} sentence windows, fewer than {n}")
    return list(passages)[:n], questions[::max(len(questions) // 500, 1)][:500]


# -- measurements -----------------------------------------------------------------------------

def quality(name: str, passages: list[str], questions: list[tuple[str, set[int]]]) -> dict:
    corpus = [tokenize(p) for p in passages]
    queries = [tokenize(q) for q, _ in questions]
    hand, lib = HandBM25(corpus), bm25s_index(corpus)
    old = HandBM25([old_tokenize(p) for p in passages])
    runs = {"hand": [hand.search(q, 20) for q in queries],
            "bm25s": [bm25s_search(lib, q, 20) for q in queries],
            "hand, previous ASCII tokenizer": [old.search(old_tokenize(q), 20)
                                               for q, _ in questions]}
    out = {"passages": len(passages), "questions": len(questions)}
    for label, ranked in runs.items():
        ranks = [next((r for r, row in enumerate(top, 1) if row in gold), None)
                 for top, (_, gold) in zip(ranked, questions)]
        out[label] = {**{f"recall@{k}": round(100 * sum(1 for r in ranks if r and r <= k)
                                              / len(ranks), 2) for k in (1, 5, 20)},
                      "mrr@20": round(sum(1 / r for r in ranks if r) / len(ranks), 4)}
    same = sum(a == b for a, b in zip(runs["hand"], runs["bm25s"]))
    out["identical_top20_hand_vs_bm25s"] = f"{same}/{len(queries)}"
    print(name, json.dumps(out))
    return out


def timed(fn, *args):
    gc.collect()
    t = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - t


def memory(fn, *args) -> dict:
    gc.collect()
    tracemalloc.start()
    value = fn(*args)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del value
    return {"kept_mb": round(current / 2**20, 1), "peak_mb": round(peak / 2**20, 1)}


def latency(search, queries: list[str]) -> dict:
    for q in queries[:20]:
        search(q)
    times = []
    for q in queries:
        t = time.perf_counter()
        search(q)
        times.append(time.perf_counter() - t)
    return {"p50_ms": round(percentile_ms(times, 50), 2),
            "p95_ms": round(percentile_ms(times, 95), 2),
            "mean_ms": round(1000 * sum(times) / len(times), 2)}


def scale(n: int) -> dict:
    passages, questions = scale_set(n)
    corpus, t_tok = timed(lambda: [tokenize(p) for p in passages])
    out = {"passages": len(passages), "queries": len(questions),
           "mean_tokens_per_passage": round(sum(map(len, corpus)) / len(corpus), 1),
           "tokenize_s": round(t_tok, 2)}
    hand, t_hand = timed(HandBM25, corpus)
    _, t_lib = timed(bm25s_index, corpus)
    wrapped, t_wrapped = timed(BM25, enumerate(passages))
    out["build_s"] = {"hand (from tokens)": round(t_hand, 2),
                      "bm25s (from tokens)": round(t_lib, 2),
                      "BM25(documents): tokenize + bm25s": round(t_wrapped, 2)}
    print("build", out["build_s"], "tokenize", out["tokenize_s"])
    out["search_k20"] = {
        "hand (tokenize + score + argsort)": latency(lambda q: hand.search(tokenize(q), 20),
                                                     questions),
        "bm25s via qabot BM25.search": latency(lambda q: wrapped.search(q, 20), questions),
    }
    print("search", out["search_k20"])
    same = sum(hand.search(tokenize(q), 20) == [i for i, _ in wrapped.search(q, 20)]
               for q in questions)
    out["identical_top20_hand_vs_bm25s"] = f"{same}/{len(questions)}"
    hand = wrapped = None  # freed before the memory builds
    out["memory"] = {"hand": memory(HandBM25, corpus), "bm25s": memory(bm25s_index, corpus),
                     "token lists (input to both)": memory(lambda: [tokenize(p) for p in passages])}
    print("memory", out["memory"])
    out["save_load"] = save_load(corpus, questions)
    print("save/load", out["save_load"])
    return out


def save_load(corpus: list[list[str]], questions: list[str]) -> dict:
    index = bm25s_index(corpus)
    folder = Path(tempfile.mkdtemp(prefix="bench_bm25_"))
    try:
        _, t_save = timed(index.save, folder / "bm25")
        size = sum(f.stat().st_size for f in (folder / "bm25").iterdir())
        loaded, t_load = timed(bm25s.BM25.load, folder / "bm25")
        mapped, t_mmap = timed(lambda: bm25s.BM25.load(folder / "bm25", mmap=True))
        queries = [tokenize(q) for q in questions[:50]]
        same = all(bm25s_search(index, q, 20) == bm25s_search(loaded, q, 20)
                   == bm25s_search(mapped, q, 20) for q in queries)
        return {"save_s": round(t_save, 2), "load_s": round(t_load, 2),
                "load_mmap_s": round(t_mmap, 3), "files_mb": round(size / 2**20, 1),
                "loaded_ranks_identical_50_queries": same}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- 4. the saved index: writer cost and start-up --------------------------------------------

@contextlib.contextmanager
def bm25_timer():
    """Seconds the IndexWriter spends building and saving BM25, summed over its commits."""
    from indexer.writer import IndexWriter

    spent = {"build_s": 0.0, "save_s": 0.0}
    originals = IndexWriter._build_bm25, IndexWriter._write_bm25

    def wrap(fn, key):
        def timed_fn(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - t
        return timed_fn

    IndexWriter._build_bm25 = wrap(originals[0], "build_s")
    IndexWriter._write_bm25 = wrap(originals[1], "save_s")
    try:
        yield spent
    finally:
        IndexWriter._build_bm25, IndexWriter._write_bm25 = originals


def _rounded(spent: dict, total: float) -> dict:
    return {"total_s": round(total, 2), "bm25_build_s": round(spent["build_s"], 2),
            "bm25_save_s": round(spent["save_s"], 3),
            "bm25_share": f"{100 * (spent['build_s'] + spent['save_s']) / total:.1f}%"}


def example_kb_cost(folder: Path) -> dict:
    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build

    kb = folder / "kb"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "kb", kb)
    embedder = SentenceTransformerEmbedder()
    embedder.embed(["load the model"])  # its load is not the writer's cost
    out = {}
    for step in ("first build", "unchanged build", "one-file change"):
        if step == "one-file change":
            article = sorted(kb.rglob("*.md"))[0]
            article.write_text(article.read_text() + "\nOne more sentence about refunds.\n")
        with bm25_timer() as spent:
            report, t = timed(build, kb, folder / "index", embedder)
        out[step] = {**_rounded(spent, t), "passages": report.manifest.passages
                     if report.manifest else None, "embedded": report.embedded}
        print("example kb", step, out[step])
    return out


class StandInEmbedder:
    """Query vectors for the start-up timing: hashed words, unit length, dim 384."""

    model_name, dimension = "bench/random-384", 384

    def embed(self, texts, *, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1
            out[row, 0] += 1e-3
            out[row] /= np.linalg.norm(out[row])
        return out


def write_scale_index(folder: Path, passages: list[str]) -> dict:
    from indexer.documents import Passage
    from indexer.generations import FileRecord
    from indexer.writer import IndexWriter

    rng = np.random.default_rng(0)
    emb = StandInEmbedder()

    def file_of(number: int, texts: list[str]):
        source = f"doc{number:04d}.md"
        record = FileRecord(source, hashlib.sha256("".join(texts).encode()).hexdigest(), 0)
        items = [Passage(source=source, title=f"Document {number}", text=t, start=0, end=len(t),
                         headings=(f"Part {i % 3}",)) for i, t in enumerate(texts)]
        vectors = rng.standard_normal((len(texts), emb.dimension)).astype(np.float32)
        return record, items, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def writer():
        return IndexWriter(folder, model_name=emb.model_name, dimension=emb.dimension)

    out = {}
    with writer() as w, bm25_timer() as spent:
        for start in range(0, len(passages), 100):
            w.add_file(*file_of(start // 100, passages[start : start + 100]))
        _, t = timed(w.commit)
    out["first commit"] = _rounded(spent, t)
    print(len(passages), "passages, first commit", out["first commit"])
    with writer() as w, bm25_timer() as spent:
        w.add_file(*file_of(0, [p + " One more sentence." for p in passages[:100]]))
        _, t = timed(w.commit)
    out["one-file change commit"] = _rounded(spent, t)
    print(len(passages), "passages, one-file change", out["one-file change commit"])
    return out


def startup_times(index: Path, questions: list[str]) -> dict:
    from indexer.bm25 import BM25_DIR
    from indexer.manifest import read_manifest
    from qabot.retrieval import Retriever

    saved = index / read_manifest(index).generation / BM25_DIR
    out, tops = {}, {}
    for label in ("saved bm25/ loaded", "no bm25/ (built in memory)"):
        if label.startswith("no"):
            saved.rename(saved.with_name("bm25.moved"))
        retriever = Retriever(index, StandInEmbedder(), mode="hybrid")
        _, t = timed(retriever.warm_up)
        assert (retriever.bm25.loaded_from is not None) == label.startswith("saved")
        t_first = timed(retriever.search, questions[0], 5)[1]
        out[label] = {"warm_up_s": round(t, 2), "then first hybrid search_ms":
                      round(1000 * t_first, 1)}
        tops[label] = [[i for i, _ in retriever.bm25.search(q, 20)] for q in questions[:200]]
        print("start-up", label, out[label])
        retriever.reload()
    saved.with_name("bm25.moved").rename(saved)
    a, b = tops.values()
    out["identical_bm25_top20"] = f"{sum(x == y for x, y in zip(a, b))}/{len(a)}"
    return out


def startup(n: int) -> dict:
    passages, questions = scale_set(n)
    folder = Path(tempfile.mkdtemp(prefix="bench_bm25_startup_"))
    try:
        out = {"example_kb_real_model": example_kb_cost(folder / "example")}
        out["scale"] = {"passages": len(passages),
                        **write_scale_index(folder / "scale", passages)}
        out["scale"]["startup"] = startup_times(folder / "scale", questions)
        from indexer.manifest import read_manifest

        live = folder / "scale" / read_manifest(folder / "scale").generation
        size = sum(f.stat().st_size for f in (live / "bm25").iterdir())
        out["scale"]["bm25_files_mb"] = round(size / 2**20, 1)
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--passages", type=int, default=100_000,
                   help="corpus size of the scale test (default 100000)")
    p.add_argument("--startup", action="store_true",
                   help="only section 4, the saved index (result bench_bm25_startup.json)")
    args = p.parse_args()
    started = time.perf_counter()
    if args.startup:
        result = {"startup": startup(args.passages), "bm25s_version": bm25s.__version__}
        print("wrote", write_result("bench_bm25_startup", result, started))
        return 0
    result = {"quality": {"squad_eval": quality("squad", *squad_eval_set()),
                          "covid_qa_all": quality("covid", *covid_set())},
              "scale": scale(args.passages), "bm25s_version": bm25s.__version__}
    print("wrote", write_result("bench_bm25", result, started))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
