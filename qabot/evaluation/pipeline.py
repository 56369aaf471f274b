"""End-to-end evaluation of the question-answering pipeline on a SQuAD-format file.

1. The contexts become a knowledge base: one Markdown file per article (``# title``, then its
   paragraphs), indexed with the real indexer and embedder.
2. Every answerable question goes through retrieval (each mode asked for) and the reader:
   - retrieval recall@1/5/20 and MRR: a retrieved passage is the gold one when it overlaps the
     question's paragraph and contains a gold answer;
   - the reader given the gold paragraph alone: EM/F1;
   - end to end (the configured retrieval mode, top-k passages, the reader): EM/F1 always
     answering, and at the answer threshold: answer rate and accuracy when answering;
   - the coverage-accuracy curve over the answer threshold, and the lowest threshold whose
     accuracy reaches a target precision.
The evaluator returns a dict of metrics (and the per-question rows for the curve).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qabot.training.squad import load_squad
from qabot.training.squad_metrics import score_one

RECALL_AT = (1, 5, 20)


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    source: str  # the Markdown file of its article
    start: int  # the gold paragraph's offsets in that file
    end: int
    context: str


@dataclass(frozen=True)
class QuestionResult:
    id: str
    ranks: dict  # mode -> 1-based rank of the first gold passage in the top 20, or None
    gold_em: float
    gold_f1: float
    em: float  # end to end, always answering
    f1: float
    score: float | None  # the best answer's fused score (None: no span at all)
    abstained: bool


def write_knowledge_base(data: str | Path, out_dir: Path, titles=None,
                         limit: int | None = None) -> list[EvalQuestion]:
    """SQuAD file -> one Markdown file per article in ``out_dir``; the answerable questions."""
    examples = [e for e in load_squad(data, titles) if not e.is_impossible]
    out_dir.mkdir(parents=True, exist_ok=True)
    by_title: dict[str, list[str]] = {}
    for e in examples:
        paragraphs = by_title.setdefault(e.title, [])
        if e.context not in paragraphs:
            paragraphs.append(e.context)
    offsets: dict[tuple[str, str], tuple[str, int, int]] = {}
    for number, (title, paragraphs) in enumerate(by_title.items()):
        name = f"{number:03d}-{_slug(title)}.md"
        text = f"# {title}\n\n"
        for paragraph in paragraphs:
            offsets[(title, paragraph)] = (name, len(text), len(text) + len(paragraph))
            text += paragraph + "\n\n"
        (out_dir / name).write_text(text, encoding="utf-8")
    questions = [EvalQuestion(e.id, e.question, tuple(a.text for a in e.answers),
                              *offsets[(e.title, e.context)], e.context) for e in examples]
    return questions[:limit] if limit else questions


def is_gold(hit, q: EvalQuestion) -> bool:
    if hit.source != q.source or hit.end <= q.start or hit.start >= q.end:
        return False
    text = _norm(hit.text)
    return any(_norm(a) in text for a in q.answers)


def evaluate_question(q: EvalQuestion, retriever, reader, *, modes: Sequence[str],
                      mode: str, top_k: int) -> QuestionResult:
    vector = retriever.embed(q.question)
    ranks, pipeline_hits = {}, None
    for m in modes:
        hits = retriever.search(q.question, max(RECALL_AT), mode=m, vector=vector)
        ranks[m] = next((i for i, h in enumerate(hits, 1) if is_gold(h, q)), None)
        if m == mode:
            pipeline_hits = hits[:top_k]
    if pipeline_hits is None:
        pipeline_hits = retriever.search(q.question, top_k, mode=mode, vector=vector)
    gold = reader.read(q.question, [q.context], top_k=1).answers  # always answering
    gold_em, gold_f1 = score_one(gold[0].text if gold else "", q.answers)
    result = reader.read(q.question, pipeline_hits, top_k=1)
    best = result.answers[0] if result.answers else None  # always answering
    em, f1 = score_one(best.text if best else "", q.answers)
    return QuestionResult(q.id, ranks, gold_em, gold_f1, em, f1,
                          best.fused_score if best else None, result.abstained)


def coverage_curve(results: Sequence[QuestionResult]) -> list[dict]:
    """One point per distinct threshold (every fused score), highest first: answering the
    questions whose score >= threshold, the coverage and the accuracy (EM) when answering."""
    scored = sorted((r for r in results if r.score is not None and not r.abstained),
                    key=lambda r: -r.score)
    total = len(results)
    points, correct, f1 = [], 0.0, 0.0
    for i, r in enumerate(scored, 1):
        correct += r.em
        f1 += r.f1
        if i == len(scored) or scored[i].score < r.score:
            points.append({"threshold": round(r.score, 4), "coverage": round(i / total, 4),
                           "accuracy": round(correct / i, 4), "f1": round(f1 / i, 4)})
    return points


def threshold_for(curve: Sequence[dict], target: float) -> dict | None:
    """The lowest threshold (most coverage) whose accuracy when answering reaches ``target``."""
    reaching = [p for p in curve if p["accuracy"] >= target]
    return min(reaching, key=lambda p: p["threshold"]) if reaching else None


def summarize(results: Sequence[QuestionResult], *, modes: Sequence[str],
              answer_threshold: float, target_precision: float) -> dict:
    n = len(results)
    retrieval = {}
    for m in modes:
        ranks = [r.ranks.get(m) for r in results]
        retrieval[m] = {**{f"recall@{k}": _pct(sum(1 for x in ranks if x and x <= k) / n)
                           for k in RECALL_AT},
                        "mrr@20": round(sum(1 / x for x in ranks if x) / n, 4)}
    answered = [r for r in results if r.score is not None and not r.abstained
                and r.score >= answer_threshold]
    curve = coverage_curve(results)
    return {
        "questions": n,
        "retrieval": retrieval,
        "reader_given_gold": {"exact": _pct(np.mean([r.gold_em for r in results])),
                              "f1": _pct(np.mean([r.gold_f1 for r in results]))},
        "end_to_end": {"exact": _pct(np.mean([r.em for r in results])),
                       "f1": _pct(np.mean([r.f1 for r in results]))},
        "at_threshold": {"answer_threshold": answer_threshold,
                         "answer_rate": _pct(len(answered) / n),
                         "accuracy_when_answering": _pct(
                             np.mean([r.em for r in answered]) if answered else 0.0)},
        "target_precision": target_precision,
        "threshold_for_target": threshold_for(curve, target_precision),
        "curve": curve,
    }


def write_curve(curve: Sequence[dict], out_dir: Path) -> tuple[Path, Path]:
    """curve.csv and curve.png (coverage vs accuracy when answering)."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out_dir / "curve.csv", out_dir / "curve.png"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["threshold", "coverage", "accuracy", "f1"])
        writer.writeheader()
        writer.writerows(curve)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([p["coverage"] for p in curve], [p["accuracy"] for p in curve], label="EM")
    ax.plot([p["coverage"] for p in curve], [p["f1"] for p in curve], label="F1")
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylabel("accuracy when answering")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return csv_path, png_path


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:60] or "article"


def _pct(value: float) -> float:
    return round(100 * float(value), 2)


def run_pipeline_eval(data: str | Path, work_dir: Path, *, titles=None, limit: int | None = None,
                      mode: str | None = None,
                      modes: Sequence[str] = ("dense", "bm25", "hybrid"),
                      top_k: int | None = None, chunk_tokens: int | None = None,
                      overlap: int | None = None, answer_threshold: float = 15.0,
                      target_precision: float = 0.8, embedder=None, reader=None,
                      settings=None, progress: bool = False) -> dict:
    """Index ``data``'s contexts under ``work_dir`` and evaluate every question (see above).

    The configuration measured is the bot's: ``settings`` (default: ``load_settings()``) gives
    the retrieval mode, top_k and reader unless ``mode``, ``top_k`` or ``reader`` are given."""
    from dataclasses import replace

    from tqdm import tqdm

    from indexer.chunking import ChunkSettings
    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build
    from qabot.app import build_reader, build_retriever
    from qabot.config import load_settings

    settings = settings or load_settings()
    mode = mode or settings.retrieval
    top_k = top_k or settings.top_k

    questions = write_knowledge_base(data, work_dir / "kb", titles, limit)
    embedder = embedder or SentenceTransformerEmbedder()
    chunking = ChunkSettings(**{k: v for k, v in (("max_tokens", chunk_tokens),
                                                  ("overlap_tokens", overlap)) if v is not None})
    build(work_dir / "kb", work_dir / "index", embedder, chunking=chunking)
    retriever = build_retriever(replace(settings, index_dir=work_dir / "index", retrieval=mode),
                                embedder)
    reader = reader or build_reader(settings)
    modes = list(dict.fromkeys([*modes, mode]))
    results = [evaluate_question(q, retriever, reader, modes=modes, mode=mode, top_k=top_k)
               for q in tqdm(questions, disable=not progress, desc="questions", unit="q")]
    summary = summarize(results, modes=modes, answer_threshold=answer_threshold,
                        target_precision=target_precision)
    summary.update({"retrieval_mode": mode, "top_k": top_k,
                    "passages": retriever.store.stats().passages,
                    "chunking": {"max_tokens": chunking.max_tokens,
                                 "overlap_tokens": chunking.overlap_tokens},
                    "reader_precision": reader.precision})
    return summary
