"""Training the answer confidence (``qabot train confidence``), as numbered steps:

1. calibration data: the bot's candidate answers on knowledge bases built from each source
   (``confidence_data``), cached as JSONL in the work folder;
2. out-of-fold confidences: a logistic regression fitted on all articles but one group of
   them, applied to the held-out group (grouped k-fold, so no article is scored by a model
   that saw it);
3. the operating point: the lowest out-of-fold confidence whose precision (right answers /
   answers given, an answer to an unanswerable question being wrong) reaches the target;
4. the final model on every example, with that operating point;
5. the FAQ confidence: a logistic curve over the cosine of labelled question pairs (COVID-QA's),
   its operating point the lowest out-of-fold confidence reaching the FAQ target precision;
both written to one JSON file (the shipped ``qabot/models/confidence.json``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qabot.dialogue.confidence import FEATURES, ConfidenceModel, Confidences, FaqConfidence
from qabot.evaluation.curves import (
    CurveItem,
    CurvePoint,
    coverage_precision_curve,
    operating_point,
)
from qabot.training.confidence_data import CalibrationExample

FOLDS = 5


@dataclass(frozen=True)
class ConfidenceTrainConfig:
    sources: list[str]  # FILE or FILE@TITLES (SQuAD format)
    out: Path
    work_dir: Path = Path(".qabot/train/confidence")
    held_out_articles: int = 8  # of the first source: the reader's validation articles
    distractors: int = 16  # other articles of the first source indexed beside them
    per_fold: int = 400  # retrievable questions asked per fold of the first source
    per_fold_other: int = 90  # ... and of each further source (long documents: slower)
    target_precision: float = 0.9
    faq_pairs: Path | None = None  # CSV question_1,question_2,similar
    faq_target_precision: float = 0.99
    seed: int = 13
    c: float = 1.0  # inverse L2 strength of the logistic regression
    extra: dict = field(default_factory=dict)


def fit(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray, float]:
    """(mean, scale, weights, bias) of an L2 logistic regression on standardised ``x``."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = LogisticRegression(C=c, max_iter=1000)
    model.fit((x - mean) / scale, y)
    return mean, scale, model.coef_[0], float(model.intercept_[0])


def predict(params, x: np.ndarray) -> np.ndarray:
    mean, scale, weights, bias = params
    return 1.0 / (1.0 + np.exp(-(((x - mean) / scale) @ weights + bias)))


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: Sequence[str], c: float,
                folds: int = FOLDS) -> np.ndarray:
    """Each example's confidence from a model fitted without its article group."""
    names = sorted(set(groups))
    fold_of = {g: i % folds for i, g in enumerate(names)}
    index = np.array([fold_of[g] for g in groups])
    out = np.zeros(len(y))
    for k in range(min(folds, len(names))):
        test = index == k
        if test.all() or not test.any() or len(set(y[~test])) < 2:
            continue
        out[test] = predict(fit(x[~test], y[~test], c), x[test])
    return out


def precision_curve(confidence: np.ndarray, right: np.ndarray) -> list[CurvePoint]:
    """Coverage and precision when answering at or above each distinct confidence."""
    return coverage_precision_curve([CurveItem(float(c), bool(r))
                                     for c, r in zip(confidence, right)])


def chosen_point(curve: Sequence[CurvePoint], target: float, min_answers: int = 20
                 ) -> CurvePoint | None:
    """The operating point: the lowest threshold reaching ``target`` precision among those
    answering at least ``min_answers`` examples (a handful of answers proves nothing)."""
    return operating_point([p for p in curve if p.answered >= min_answers], target)


def thin(curve: Sequence[CurvePoint], points: int = 200) -> list[dict]:
    return [p.to_dict() for p in curve[:: max(1, len(curve) // points)]]


def train_confidence(examples: Sequence[CalibrationExample], *, target: float, c: float = 1.0,
                     info: dict | None = None) -> ConfidenceModel:
    """Steps 2-4 on ready calibration examples."""
    x = np.array([e.features for e in examples], dtype=np.float64)
    y = np.array([e.label for e in examples], dtype=int)
    groups = [e.group for e in examples]
    if len(set(y)) < 2:
        raise ValueError("calibration data needs both right and wrong answers")
    oof = out_of_fold(x, y, groups, c)
    curve = precision_curve(oof, y)
    point = chosen_point(curve, target)
    if point is None:
        raise ValueError(f"no confidence reaches {target:.0%} precision on held-out articles")
    mean, scale, weights, bias = fit(x, y, c)
    by_scenario = {}
    for s in sorted({e.scenario for e in examples}):
        mask = np.array([e.scenario == s for e in examples])
        answered = oof[mask] >= point.threshold
        by_scenario[s] = {"examples": int(mask.sum()), "right": int(y[mask].sum()),
                          "answered": int(answered.sum()),
                          "answered_right": int((answered & (y[mask] == 1)).sum())}
    return ConfidenceModel(
        tuple(float(v) for v in mean), tuple(float(v) for v in scale),
        tuple(float(v) for v in weights), bias, point.threshold,
        {"target_precision": target,
         "validation": {**point.to_dict(), "examples": len(y), "right": int(y.sum()),
                        "note": "out-of-fold over article groups",
                        "by_scenario": by_scenario},
         "weights_by_feature": {f: round(float(w), 4) for f, w in zip(FEATURES, weights)},
         "curve": thin(curve),
         **(info or {})})


def train_faq(similarity: np.ndarray, labels: np.ndarray, *, target: float, seed: int = 13,
              folds: int = FOLDS) -> FaqConfidence:
    """Step 5: a logistic curve over the pairs' cosine; the operating point from out-of-fold
    confidences (pairs shuffled, seeded)."""
    x = np.asarray(similarity, dtype=np.float64)[:, None]
    y = np.asarray(labels, dtype=int)
    groups = [str(i) for i in np.random.RandomState(seed).permutation(len(y))]
    oof = out_of_fold(x, y, groups, 1.0, folds)
    curve = precision_curve(oof, y)
    positives = int(y.sum())
    point = chosen_point(curve, target)
    if point is None:
        raise ValueError(f"no FAQ confidence reaches {target:.0%} precision")
    reached = {}
    for level in sorted({0.9, 0.95, target}):
        p = chosen_point(curve, level)
        reached[f"{level:.2f}"] = None if p is None else {
            "threshold": p.threshold, "precision": p.precision,
            "recall": round(p.correct / positives, 4)}
    mean, scale, weights, bias = fit(x, y)
    weight = float(weights[0] / scale[0])
    cosine = float((np.log(point.threshold / (1 - point.threshold)) - bias) / weight + mean[0])
    return FaqConfidence(weight, float(bias - weight * mean[0]), point.threshold,
                         {"target_precision": target,
                          "validation": {**point.to_dict(),
                                         "recall": round(point.correct / positives, 4),
                                         "cosine": round(cosine, 4),
                                         "pairs": len(y), "similar": positives,
                                         "note": "out-of-fold over the pairs"},
                          "at_precision": reached})


def calibration_data(cfg: ConfidenceTrainConfig, *, progress: bool = False,
                     rebuild: bool = False) -> list[CalibrationExample]:
    """Step 1: the first source's held-out articles (the reader never trained on them) with
    distractors from the rest of it, then each further source's articles. Each fold's examples
    are cached in the work folder (an interrupted run resumes), all of them in
    ``examples.jsonl`` (delete it, or pass ``rebuild``, to ask again; a change of the
    embedding model or the retrieval settings asks again by itself)."""
    import random

    from tqdm import tqdm

    from indexer.embedding import SentenceTransformerEmbedder
    from qabot.app import build_reader
    from qabot.config import load_settings
    from qabot.training.confidence_data import (
        calibration_examples,
        load_examples,
        make_folds,
        paragraphs_by_article,
        save_examples,
        source_examples,
    )
    from qabot.training.reader_data import split_validation
    from qabot.training.squad import parse_source

    cache = cfg.work_dir / "examples.jsonl"
    settings = load_settings(env={})
    embedder = SentenceTransformerEmbedder()
    # the bot that answered the cached questions: other retrieval asks again
    from qabot.retrieval.retriever import DENSE_WEIGHT, RRF_K

    stamp = {"embedder": embedder.model_name, "retrieval": settings.retrieval,
             "top_k": settings.top_k, "dense_weight": DENSE_WEIGHT, "rrf_k": RRF_K}
    stamp_file = cfg.work_dir / "bot.json"
    if rebuild or (cfg.work_dir.is_dir() and (
            not stamp_file.is_file() or json.loads(stamp_file.read_text()) != stamp)):
        import shutil

        shutil.rmtree(cfg.work_dir, ignore_errors=True)
    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(json.dumps(stamp) + "\n")
    if cache.is_file():
        return load_examples(cache)
    reader = build_reader(settings)
    examples: list[CalibrationExample] = []
    for number, spec in enumerate(cfg.sources):
        src = parse_source(spec)
        pool = source_examples(src.file, src.titles)
        distractors: dict[str, list[str]] = {}
        if number == 0 and cfg.held_out_articles:
            titles = {e.title for e in pool}
            rest, pool = split_validation(pool, titles, cfg.held_out_articles, cfg.seed)
            others = paragraphs_by_article(rest)
            chosen = random.Random(cfg.seed).sample(sorted(others),
                                                    min(cfg.distractors, len(others)))
            distractors = {t: others[t] for t in chosen}
        per_fold = cfg.per_fold if number == 0 else cfg.per_fold_other
        for k, fold in enumerate(make_folds(pool, distractors, per_fold=per_fold,
                                            seed=cfg.seed)):
            bar = (lambda it, n=number, k=k: tqdm(it, desc=f"source {n + 1} fold {k + 1}",
                                                  unit="q")) if progress else None
            fold_dir = cfg.work_dir / f"s{number}f{k}"
            done = fold_dir / "examples.jsonl"  # a resumed run skips finished folds
            if done.is_file():
                examples += load_examples(done)
                continue
            found = calibration_examples(fold, fold_dir, embedder=embedder, reader=reader,
                                         settings=settings, progress=bar)
            save_examples(found, done)
            examples += found
    save_examples(examples, cache)
    return examples


def faq_similarity(pairs: Path) -> tuple[np.ndarray, np.ndarray]:
    from indexer.embedding import SentenceTransformerEmbedder
    from qabot.evaluation.faq_pairs import read_pairs

    first, second, labels = read_pairs(pairs)
    embedder = SentenceTransformerEmbedder()
    a = np.asarray(embedder.embed(list(first)), dtype=np.float32)
    b = np.asarray(embedder.embed(list(second)), dtype=np.float32)
    return np.sum(a * b, axis=1), labels


def run(cfg: ConfidenceTrainConfig, *, progress: bool = False,
        rebuild: bool = False) -> Confidences:
    if cfg.faq_pairs is None or not Path(cfg.faq_pairs).is_file():
        raise ValueError(f"FAQ question pairs not found: {cfg.faq_pairs}")
    examples = calibration_data(cfg, progress=progress, rebuild=rebuild)
    model = train_confidence(examples, target=cfg.target_precision, c=cfg.c,
                             info={"sources": [str(s) for s in cfg.sources],
                                   "held_out_articles": cfg.held_out_articles,
                                   "distractors": cfg.distractors, "seed": cfg.seed})
    similarity, labels = faq_similarity(cfg.faq_pairs)
    faq = train_faq(similarity, labels, target=cfg.faq_target_precision, seed=cfg.seed)
    faq = FaqConfidence(faq.weight, faq.bias, faq.threshold,
                        {**faq.info, "pairs_file": str(cfg.faq_pairs)})
    both = Confidences(model, faq)
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    both.save(cfg.out)
    return both
