"""Fitting the reply tiers on help centres (``qabot train tiers``), as numbered steps:

1. examples: each help centre (a knowledge-base folder and its question files, in the format
   ``qabot eval support`` reads) is indexed, and every question is asked as the bot asks it
   (``ChatEngine.assess``): the tier evidence of its best candidate, and whether the answer it
   would assert, and the related reply it would show, resolve the question (a gold string in
   the reply, at most 700 characters; never, for an unanswerable question). Each question file
   is one fold; the files of one help centre must cover disjoint articles.
2. out-of-fold probabilities: each fold scored by models fitted on the other folds;
3. the operating point, on those out-of-fold probabilities: the lowest related probability at
   which at most ``unanswerable_share`` of the unanswerable questions that the answer tier
   leaves get a related reply (a question the help centre cannot answer gets a suggestion at
   most that often; the answerable ones get one as often as that allows);
4. the final model on every example, with that operating point, saved into a copy of the
   confidence file (the answer and FAQ models are kept as they are: the answer tier keeps the
   answer model's own operating point, see BENCHMARKS.md section 13).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from qabot.dialogue.confidence import ConfidenceModel, Confidences, Tiers
from qabot.dialogue.tier_evidence import TIER_FEATURES
from qabot.training.confidence import fit, out_of_fold, precision_curve, thin


@dataclass(frozen=True)
class TierExample:
    id: str
    fold: str  # the question file: folds never share an article
    group: str  # the article (unanswerable questions: their own id)
    features: tuple[float, ...]
    answer_resolves: bool
    related_resolves: bool
    answerable: bool


@dataclass(frozen=True)
class TierTrainConfig:
    sources: list[tuple[Path, list[Path]]]  # (knowledge-base folder, its question files)
    confidence_in: Path | None  # the confidence file to extend (None: the shipped one)
    out: Path
    work_dir: Path = Path(".qabot/train/tiers")
    unanswerable_share: float = 0.25
    c: float = 1.0
    extra: dict = field(default_factory=dict)


def collect(kb: Path, question_file: Path, work_dir: Path, *, settings,
            progress: Callable | None = None) -> list[TierExample]:
    """Step 1 for one question file (its knowledge base indexed in ``work_dir``)."""
    import tempfile
    from dataclasses import replace

    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build
    from qabot.app import build_engine
    from qabot.evaluation.support import load_questions, resolves

    questions = load_questions(question_file)
    index = work_dir / f"index-{kb.resolve().name}"
    build(kb, index, SentenceTransformerEmbedder(), progress=False)
    out = []
    with tempfile.TemporaryDirectory(prefix="qabot-tiers-") as tmp:
        engine = build_engine(replace(settings, index_dir=index, kb_dir=kb,
                                      database_url=f"sqlite:///{Path(tmp) / 'h.sqlite'}"))
        try:
            for q in (progress(questions) if progress else questions):
                found = engine.assess(q.text)
                if found is None:
                    continue
                out.append(TierExample(
                    f"{question_file.stem}:{q.id}", question_file.stem,
                    q.article or f"{question_file.stem}:{q.id}", found.tier.values,
                    q.answerable and resolves(found.answer.text, q.answers),
                    q.answerable and resolves(found.related.text, q.answers),
                    q.answerable))
        finally:
            engine.history.close()
    return out


def load_examples(path: Path) -> list[TierExample]:
    with open(path, encoding="utf-8") as f:
        return [TierExample(**{**row, "features": tuple(row["features"])})
                for row in map(json.loads, f) if row]


def save_examples(examples: Sequence[TierExample], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(asdict(e)) + "\n")


def out_of_fold_by_file(x: np.ndarray, y: np.ndarray, folds: Sequence[str], c: float
                        ) -> np.ndarray:
    """Step 2: each question file scored by a model fitted on the others."""
    names = sorted(set(folds))
    if len(names) < 2:  # one file: fall back to article groups within it
        return out_of_fold(x, y, list(folds), c)
    out = np.zeros(len(y))
    index = np.array(folds)
    for name in names:
        test = index == name
        if len(set(y[~test])) < 2:
            continue
        mean, scale, weights, bias = fit(x[~test], y[~test], c)
        out[test] = 1.0 / (1.0 + np.exp(-(((x[test] - mean) / scale) @ weights + bias)))
    return out


def operating_point(related_p: np.ndarray, answered: np.ndarray,
                    examples: Sequence[TierExample], share: float) -> float:
    """Step 3: the lowest related probability at which at most ``share`` of the unanswerable
    questions left unanswered get a related reply."""
    unanswerable = np.array([not e.answerable for e in examples]) & ~answered
    allowed = share * unanswerable.sum()
    for threshold in sorted(set(related_p.tolist())):
        if ((related_p >= threshold) & unanswerable).sum() <= allowed:
            return float(threshold)
    return 1.0


def summarize(answered: np.ndarray, related: np.ndarray, examples: Sequence[TierExample]
              ) -> dict:
    """Resolved and misleading per fold, as ``qabot eval support`` counts them."""
    out = {}
    for fold in [*sorted({e.fold for e in examples}), "all"]:
        idx = [i for i, e in enumerate(examples) if fold in ("all", e.fold)]
        a = [i for i in idx if examples[i].answerable]
        u = [i for i in idx if not examples[i].answerable]
        resolved = sum(1 for i in a if (answered[i] and examples[i].answer_resolves)
                       or (related[i] and examples[i].related_resolves))
        out[fold] = {"answerable": len(a), "unanswerable": len(u), "resolved": resolved,
                     "answered": int(sum(answered[i] for i in a)),
                     "misleading": sum(1 for i in a if answered[i]
                                       and not examples[i].answer_resolves),
                     "related": int(sum(related[i] for i in a)),
                     "unanswerable_answered": int(sum(answered[i] for i in u)),
                     "unanswerable_related": int(sum(related[i] for i in u))}
    return out


def train_tiers(examples: Sequence[TierExample], cfg: TierTrainConfig,
                answer_threshold: float) -> tuple[Tiers, dict]:
    """Steps 2-4 on ready examples; ``answer_threshold`` is the answer tier's operating point
    (on the ``answer_logit`` feature's probability)."""
    x = np.array([e.features for e in examples], dtype=np.float64)
    y = np.array([e.related_resolves for e in examples], dtype=int)
    if len(set(y)) < 2:
        raise ValueError("the related tier needs questions it resolves and ones it does not")
    answered = 1.0 / (1.0 + np.exp(-x[:, TIER_FEATURES.index("answer_logit")])) \
        >= answer_threshold
    oof = out_of_fold_by_file(x, y, [e.fold for e in examples], cfg.c)
    threshold = operating_point(oof, answered, examples, cfg.unanswerable_share)
    shown = (oof >= threshold) & ~answered
    report = {"at_point": summarize(answered, shown, examples),
              "curve": thin(precision_curve(oof[~answered], y[~answered]))}
    mean, scale, weights, bias = fit(x, y, cfg.c)
    model = ConfidenceModel(
        tuple(map(float, mean)), tuple(map(float, scale)), tuple(map(float, weights)),
        bias, threshold,
        {"unanswerable_share": cfg.unanswerable_share,
         "weights_by_feature": {f: round(float(w), 4) for f, w in zip(TIER_FEATURES, weights)},
         "examples": len(examples), "resolving": int(y.sum()),
         "validation": {"note": "out-of-fold: each question file scored by a model fitted on "
                                "the others", **report["at_point"]},
         "curve": report["curve"], **cfg.extra})
    return Tiers(model), report


def run(cfg: TierTrainConfig, *, progress: bool = False) -> tuple[Confidences, dict]:
    from dataclasses import replace

    from tqdm import tqdm

    from qabot.config import load_settings
    from qabot.dialogue.confidence import load_confidence

    settings = load_settings(env={})
    base = load_confidence(cfg.confidence_in)
    base = replace(base, tiers=None)  # examples are asked without tier models
    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    confidence_file = cfg.work_dir / "confidence-base.json"
    base.save(confidence_file)
    settings = replace(settings, confidence_model=confidence_file)
    examples: list[TierExample] = []
    for kb, files in cfg.sources:
        for question_file in files:
            cache = cfg.work_dir / f"{question_file.stem}.jsonl"
            if cache.is_file():
                examples += load_examples(cache)
                continue
            bar = (lambda it, n=question_file.stem: tqdm(it, desc=n, unit="q")) \
                if progress else None
            found = collect(kb, question_file, cfg.work_dir, settings=settings, progress=bar)
            save_examples(found, cache)
            examples += found
    tiers, report = train_tiers(examples, cfg, base.answer.threshold)
    both = replace(base, tiers=tiers)
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    both.save(cfg.out)
    return both, report
