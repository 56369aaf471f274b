"""The composition root: Settings -> a ready ChatEngine (index, models, history), and the
services front ends need beyond the engine (``reindex``). Front ends, the CLI, health checks and
evaluations build what they use here, never by hand."""

from __future__ import annotations

from qabot.config import Settings
from qabot.dialogue.engine import ChatEngine


def build_engine(settings: Settings, *, warm: bool = False) -> ChatEngine:
    """Wire the real components; models load on first use, or now with ``warm=True``."""
    from qabot.history import History
    from qabot.intents.classifier import IntentClassifier
    from qabot.reader.model import Reader
    from qabot.retrieval import Retriever

    retriever = Retriever(settings.index_dir, mode=settings.retrieval)
    embedder = retriever.embedder  # fails clearly when there is no index
    intents = IntentClassifier(settings.intent_model, threshold=settings.intent_threshold)
    shared = intents.meta.get("encoder") == embedder.model_name
    if shared:  # one encoder in memory, and one embedding per message
        intents = IntentClassifier(settings.intent_model, embedder=embedder,
                                   threshold=settings.intent_threshold)
    reader = Reader(settings.reader_model, precision=settings.reader_precision,
                    max_answer_tokens=settings.reader_max_answer_tokens)
    history = History.open(settings.database_url)
    engine = ChatEngine(history=history, retriever=retriever, intents=intents, reader=reader,
                        settings=settings,
                        reuse_vector=shared)
    if warm:
        engine.warm_up()
    return engine


def reindex(engine: ChatEngine, settings: Settings) -> str:
    """Sync the index with the knowledge-base folder (an atomic generation swap, with the
    index's own embedding model), then make the engine read the new generation; returns a
    one-line summary. The previous index stays live if this raises."""
    from indexer.sync import build
    from qabot.errors import InvalidSettingError

    if settings.kb_dir is None:
        raise InvalidSettingError("no knowledge-base folder is configured (QABOT_KB_DIR)")
    report = build(settings.kb_dir, settings.index_dir, engine.retriever.embedder)
    engine.reload_index()
    plan = report.plan
    return (f"Reindexed: {len(plan.added)} files added, {len(plan.updated)} updated, "
            f"{len(plan.removed)} removed, {len(plan.unchanged)} unchanged; "
            f"{len(report.failures)} skipped.")
