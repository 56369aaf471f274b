"""The composition root: Settings -> a ready ChatEngine (index, models, history), and the
services front ends need beyond the engine (``reindex``, ``add_operator_answers``). Front ends,
the CLI, health checks and evaluations build what they use here, never by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qabot.config import Settings
from qabot.curation import OperatorAnswer
from qabot.dialogue.engine import ChatEngine


def build_retriever(settings: Settings, embedder=None):
    """The retriever over ``settings.index_dir`` in ``settings.retrieval`` mode (queries are
    embedded with the index's own model unless ``embedder`` is given), with the settings'
    reranker if one is configured."""
    from qabot.retrieval import Retriever

    return Retriever(settings.index_dir, embedder, mode=settings.retrieval,
                     reranker=build_reranker(settings),
                     rerank_candidates=settings.rerank_candidates)


def build_reranker(settings: Settings):
    """The settings' cross-encoder reranker (its folder checked now, loaded on first use), or
    None when none is configured."""
    if settings.reranker_model is None:
        return None
    from qabot.errors import ModelNotFoundError
    from qabot.retrieval.rerank import CrossEncoderReranker

    if not (settings.reranker_model / "config.json").is_file():
        raise ModelNotFoundError(f"reranker_model: no cross-encoder in {settings.reranker_model} "
                                 "(train one with 'qabot train reranker')")
    return CrossEncoderReranker(settings.reranker_model)


def build_reader(settings: Settings):
    """The reader of the settings (the shipped one by default), loaded on first use."""
    from qabot.reader.model import Reader

    return Reader(settings.reader_model, precision=settings.reader_precision,
                  max_answer_tokens=settings.reader_max_answer_tokens)


def build_engine(settings: Settings, *, warm: bool = False) -> ChatEngine:
    """Wire the real components; models load on first use, or now with ``warm=True``."""
    from qabot.dialogue.confidence import load_confidence
    from qabot.history import History
    from qabot.intents.classifier import IntentClassifier

    retriever = build_retriever(settings)
    embedder = retriever.embedder  # fails clearly when there is no index
    _warn_if_general_encoder(embedder.model_name, settings)
    intents = IntentClassifier(settings.intent_model, threshold=settings.intent_threshold)
    shared = intents.meta.get("encoder") == embedder.model_name
    if shared:  # one encoder in memory, and one embedding per message
        intents = IntentClassifier(settings.intent_model, embedder=embedder,
                                   threshold=settings.intent_threshold)
    reader = build_reader(settings)
    # a small JSON file, read now so that a wrong QABOT_CONFIDENCE_MODEL fails at start
    confidences = load_confidence(settings.confidence_model)
    history = History.open(settings.database_url)
    engine = ChatEngine(history=history, retriever=retriever, intents=intents, reader=reader,
                        settings=settings, reuse_vector=shared, confidences=confidences)
    if warm:
        engine.warm_up()
    return engine


def _warn_if_general_encoder(model_name: str, settings: Settings) -> None:
    from indexer.embedding import BASE_MODEL_NAME

    if model_name == BASE_MODEL_NAME:
        import logging

        logging.getLogger(__name__).warning(
            "the index at %s was built with the general encoder %s; the trained retriever "
            "finds the answer's passage more often: rebuild it with 'qabot-index build KB_DIR "
            "--index %s --rebuild'", settings.index_dir, BASE_MODEL_NAME, settings.index_dir)


def update_inbox(engine: ChatEngine, channel: str):
    """The journal of ``channel``'s updates in the engine's history database (``Inbox``: a
    front end records updates there before acknowledging them, and answers them from it)."""
    return engine.history.inbox(channel)


def dashboard_reports(engine: ChatEngine):
    """The operator dashboard's queries over the engine's history (``history.reports``)."""
    return engine.history.reports()


def operator_desk(engine: ChatEngine):
    """Operator replies and releases in the engine's history (``history.desk``), journaled
    for delivery on the channels that push (``channels.PUSHED``)."""
    from qabot.channels import PUSHED

    return engine.history.operator_desk(PUSHED)


def outbox(engine: ChatEngine, channel: str):
    """The journal of what goes out to ``channel``'s users (operator messages, release
    lines): an ``Inbox`` whose entries are ``history.desk.Delivery`` payloads."""
    from qabot.history.desk import outbox_channel

    return engine.history.inbox(outbox_channel(channel))


def delivery(payload: str):
    """An outbox entry's payload -> the ``history.desk.Delivery`` it holds (message id, the
    channel's user, text, kind, author): the outbox's format, read in one place."""
    from qabot.history.desk import Delivery

    return Delivery.from_json(payload)


@dataclass(frozen=True)
class TaughtAnswerUse:
    """One answer an operator added (all its phrasings) and how often the bot gave it since."""

    questions: tuple[str, ...]
    answer: str
    author: str | None
    created_at: datetime
    uses: int


@dataclass(frozen=True)
class OperatorActivity:
    waiting: int  # conversations waiting for a person
    oldest_waiting_since: datetime | None
    replies_by: dict[str, int]  # operator -> replies in the last ``days``
    answers: tuple[TaughtAnswerUse, ...]  # added in the last ``days``, newest first
    days: int


def operator_activity(engine: ChatEngine, settings: Settings, days: int = 30
                      ) -> OperatorActivity:
    """The dashboard's operator panel: handoffs waiting (and the oldest one's wait), replies
    by each operator, the answers added to the managed FAQ sheet in the last ``days`` and how
    often the bot gave each since it was added."""
    from qabot.curation import SHEET_NAME, list_answers
    from qabot.errors import Error

    desk = operator_desk(engine)
    activity = desk.activity(days)
    since = engine.history.clock() - timedelta(days=days)
    try:
        rows = list_answers(settings.kb_dir) if settings.kb_dir is not None else []
    except Error:  # a sheet that cannot be read: the panel says nothing about answers
        rows = []
    grouped: dict[tuple, list[OperatorAnswer]] = {}
    for row in rows:
        added = _parse_time(row.created_at)
        if added is not None and added >= since:
            grouped.setdefault((row.answer, row.author, added), []).append(row)
    given = desk.faq_replies(SHEET_NAME, since) if grouped else []
    answers = []
    for (answer, author, added), phrasings in grouped.items():
        questions = tuple(p.question for p in phrasings)
        uses = sum(1 for question, when in given
                   if question in questions and _aware(when) >= added)
        answers.append(TaughtAnswerUse(questions, answer, author, added, uses))
    answers.sort(key=lambda a: a.created_at, reverse=True)
    return OperatorActivity(activity.waiting, activity.oldest_waiting_since,
                            activity.replies_by, tuple(answers), days)


def _parse_time(text: str | None) -> datetime | None:
    try:
        return _aware(datetime.fromisoformat(text.replace("Z", "+00:00"))) if text else None
    except ValueError:
        return None


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def index_info(settings: Settings) -> dict:
    """What the operators see of the index: generation, model, counts, when it was built."""
    from indexer.manifest import read_manifest

    if not (settings.index_dir / "manifest.json").is_file():
        return {"index": str(settings.index_dir), "missing": True}
    m = read_manifest(settings.index_dir)
    return {"index": str(settings.index_dir), "generation": m.generation,
            "model": m.model_name, "files": m.files, "passages": m.passages,
            "faq_entries": m.faq_entries, "updated_at": m.updated_at or m.created_at,
            "knowledge_base": str(settings.kb_dir) if settings.kb_dir else None}


def reindex(engine: ChatEngine, settings: Settings) -> str:
    """Sync the index with the knowledge-base folder (an atomic generation swap, with the
    index's own embedding model), then make the engine read the new generation; returns a
    one-line summary. The previous index stays live if this raises."""
    report = sync_index(settings, engine.retriever.embedder)
    engine.reload_index()
    return reindex_summary(report)


def sync_index(settings: Settings, embedder=None, *, wait_s: float = 0.0):
    """The one incremental reindex (the dashboard's Rebuild, Telegram's /reindex, operator
    answers): ``settings.kb_dir`` -> ``settings.index_dir`` by content hash, so only changed
    files are embedded, with ``embedder`` (default: the index's own model, or the default model
    for a new index). Waits up to ``wait_s`` seconds while another writer holds the index.
    Returns the indexer's ``SyncReport``."""
    import time

    from indexer.errors import IndexLockedError
    from indexer.sync import build
    from qabot.errors import InvalidSettingError

    if settings.kb_dir is None:
        raise InvalidSettingError("no knowledge-base folder is configured (QABOT_KB_DIR)")
    embedder = embedder or index_embedder(settings)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return build(settings.kb_dir, settings.index_dir, embedder)
        except IndexLockedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def index_embedder(settings: Settings):
    """The embedder the index at ``settings.index_dir`` was built with (the default model when
    there is no index yet); nothing is loaded until it embeds."""
    from indexer import embedding
    from indexer.manifest import MANIFEST, read_manifest

    if not (settings.index_dir / MANIFEST).is_file():
        return embedding.SentenceTransformerEmbedder.named(None)
    manifest = read_manifest(settings.index_dir)
    return embedding.embedder_for(manifest.model_name, manifest.dimension)


def reindex_summary(report) -> str:
    """One line for operators about a ``SyncReport``."""
    plan = report.plan
    return (f"Reindexed: {len(plan.added)} files added, {len(plan.updated)} updated, "
            f"{len(plan.removed)} removed, {len(plan.unchanged)} unchanged; "
            f"{len(report.failures)} skipped.")


@dataclass(frozen=True)
class TaughtAnswers:
    """What ``add_operator_answers`` did: the rows saved, the sheet, the reindex's summary and
    the index generation that now serves them."""

    answers: tuple[OperatorAnswer, ...]
    sheet: Path
    summary: str
    generation: str
    resolved: int = 0  # unanswered questions it covered (they left the unanswered list)


def add_operator_answers(settings: Settings, question: str, answer: str, *,
                         also: Sequence[str] = (), category: str | None = None,
                         author: str | None = None, engine: ChatEngine | None = None,
                         history=None, wait_s: float = 60.0) -> TaughtAnswers:
    """Teach the bot an answer: append it (one row per phrasing) to the knowledge base's
    managed FAQ sheet, then reindex incrementally (only the sheet is embedded again) and, given
    an ``engine``, make it read the new generation. The unanswered questions equal to one of the
    phrasings leave the unanswered list, in the engine's history (or ``history``'s). Bad input
    raises ``OperatorAnswerError`` and changes nothing; a failed reindex after the save raises
    ``NotIndexedError`` (the answer is indexed by the next reindex)."""
    from indexer.manifest import read_manifest
    from qabot.curation import append_answers, new_answers
    from qabot.errors import Error, NotIndexedError

    answers = new_answers(question, answer, also=also, category=category, author=author)
    sheet = append_answers(settings.kb_dir, answers)
    history = engine.history if engine is not None else history
    resolved = 0
    if history is not None:
        from qabot.channels import PUSHED

        resolved = history.operator_desk(PUSHED).mark_answered(a.question for a in answers)
    embedder = engine.retriever.embedder if engine is not None else None
    try:
        report = sync_index(settings, embedder, wait_s=wait_s)
    except Error as exc:
        raise NotIndexedError(f"saved {len(answers)} question(s) to {sheet}, but the index was "
                              f"not updated: {exc}") from exc
    if engine is not None:
        engine.reload_index()
    manifest = report.manifest or read_manifest(settings.index_dir)
    return TaughtAnswers(tuple(answers), sheet, reindex_summary(report), manifest.generation,
                         resolved)


def health(settings: Settings) -> dict:
    """Can the bot start? The index manifest, the reader's and router's files and the history
    database are read (no model weights are loaded); raises the error that stops it."""
    from indexer.manifest import read_manifest
    from qabot.errors import IndexNotFoundError, ModelNotFoundError
    from qabot.history import History
    from qabot.intents.classifier import IntentClassifier
    from qabot.reader.model import DEFAULT_MODEL_DIR

    if not (settings.index_dir / "manifest.json").is_file():
        raise IndexNotFoundError(f"no index at {settings.index_dir}")
    manifest = read_manifest(settings.index_dir)
    reader_dir = settings.reader_model or DEFAULT_MODEL_DIR
    if not (reader_dir / "reader_config.json").is_file():
        raise ModelNotFoundError(f"no reader model at {reader_dir}")
    intents = IntentClassifier(settings.intent_model)  # reads its JSON and YAML only
    build_reranker(settings)  # checks its folder, loads nothing
    history = History.open(settings.database_url)
    stats = history.stats()
    history.close()
    return {"ok": True, "index": str(settings.index_dir), "passages": manifest.passages,
            "intents": len(intents.labels), "conversations": stats.conversations}
