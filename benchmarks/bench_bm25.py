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

Run: ``.venv/bin/python benchmarks/bench_bm25.py`` (about 3 minutes on 2 CPU cores).
Result: ``benchmarks/results/bench_bm25.json``.
"""

from __future__ import annotations

import argparse
import gc
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--passages", type=int, default=100_000,
                   help="corpus size of the scale test (default 100000)")
    args = p.parse_args()
    started = time.perf_counter()
    result = {"quality": {"squad_eval": quality("squad", *squad_eval_set()),
                          "covid_qa_all": quality("covid", *covid_set())},
              "scale": scale(args.passages), "bm25s_version": bm25s.__version__}
    print("wrote", write_result("bench_bm25", result, started))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
