"""The composition root: Settings -> a ready ChatEngine (index, models, history)."""

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
