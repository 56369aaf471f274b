"""ChatEngine: the one place that joins intents, FAQ, retrieval, the reader and history.

``respond(conversation_id, text)`` stores the message, decides a reply by the cascade below,
stores the reply with how it was made, and returns a typed ``Reply``:

1. a handed-off conversation: the bot stays silent (kind ``handed_off``) until released,
   by an operator or by the timeout: a conversation the team has left without a reply for
   ``handoff_timeout_minutes`` (``dialogue.handoff``) is released at the user's next message,
   which is then answered as below with a line first saying the bot is back (``notice``);
2. empty or unreadable input: a polite request to rephrase (``invalid``);
3. the intent decides: template replies (greeting, thanks, small talk, bot identity,
   complaint), ``end`` (goodbye), ``handoff`` (a person takes over), ``context`` (yes/no: a
   "yes" to the offer of a person hands off); except that a message that is one of the FAQ's
   questions word for word (case, spacing and end punctuation aside) gets its curated answer
   whatever the intent (``_verbatim_faq``: an operator's answer is used as written);
4. a knowledge question (or a follow-up to one, or an out-of-scope message that might still be
   one): an FAQ entry whose FAQ confidence reaches ``faq_confidence`` gives its curated answer
   (``faq``); else the top-k passages are read and the best span is the answer (``answer``,
   with its sentence and a citation) when its answer confidence (``dialogue.confidence``: the
   reader's scores, retrieval, agreement, the question's words in the answer's sentence)
   reaches ``answer_confidence``; else an honest "I don't know" that offers a person
   (``fallback``), logged as unanswered. A message the router calls out of scope gets
   ``out_of_scope`` only when the knowledge base has nothing relevant to it either (see
   ``_out_of_scope``); otherwise it is treated as a knowledge question.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime
from time import perf_counter
from typing import TYPE_CHECKING

import numpy as np

from qabot.config import Settings
from qabot.dialogue.answers import (
    FaqPassage,
    Outcome,
    clean_text,
    faq_outcome,
    readable,
    same_words,
)
from qabot.dialogue.assess import Candidate, assess
from qabot.dialogue.confidence import Confidences, load_confidence, relevant
from qabot.dialogue.faq import FaqMatcher
from qabot.dialogue.followup import contextual_query, is_follow_up, starts_follow_up
from qabot.dialogue.handoff import RELEASED_BY, back_notice, stored_notice, timed_out, utcnow
from qabot.dialogue.protocols import ConversationStore, IntentRouter, Reading, Retrieval
from qabot.dialogue.replies import Reply, Source
from qabot.dialogue.twins import same_question
from qabot.intents.text import prepare

if TYPE_CHECKING:  # the engine never imports SQLAlchemy; history is handed to it
    from qabot.history.records import StoredMessage

log = logging.getLogger(__name__)

DONT_KNOW = ("I'm sorry, I couldn't find the answer to that in the help centre. Would you like "
             "me to connect you with a person? (reply yes, or type /human)")
OUT_OF_SCOPE = ("Sorry, I can only help with questions about the product and your account. "
                "Could you rephrase your question?")
INVALID = "I didn't catch that. Could you type your question in a few words?"
HANDOFF = ("I'm connecting you with a person from our support team. They will reply here; "
           "until then I'll stay quiet.")
GOODBYE = "Goodbye! Come back any time."
AFFIRM = "Okay! What would you like to know?"
DENY = "No problem. Is there anything else I can help with?"
ERROR = "Sorry, something went wrong on my side. Please try again in a moment."
FAQ_CONTEXTS = 2  # nearest FAQ entries whose answers the reader also reads


class ChatEngine:
    """``clock`` gives the time now, timezone-aware in UTC (the wall clock unless a test hands
    it another): what a handoff's wait is measured against (the history stamps its rows with
    its own clock; the two are the same wall clock, and a test sets both)."""

    def __init__(self, *, history: ConversationStore, retriever: Retrieval,
                 intents: IntentRouter, reader: Reading, settings: Settings,
                 reuse_vector: bool = True, confidences: Confidences | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.history = history
        self.clock = clock
        self.retriever = retriever
        self.intents = intents
        self.reader = reader
        self.settings = settings
        self.faq = FaqMatcher(retriever.search_faq)
        self._confidences = confidences  # None: loaded from settings on first use
        # features-mode intents read the retrieval embedding when the encoders agree
        self.reuse_vector = reuse_vector and intents.uses_embeddings

    @property
    def confidences(self) -> Confidences:
        """The answer and FAQ confidence models (loaded on first use)."""
        if self._confidences is None:
            self._confidences = load_confidence(self.settings.confidence_model)
        return self._confidences

    @property
    def answer_confidence(self) -> float:
        """The confidence an answer needs: the setting, else the model's operating point."""
        chosen = self.settings.answer_confidence
        return self.confidences.answer.threshold if chosen is None else chosen

    @property
    def related_confidence(self) -> float | None:
        """The confidence a related reply needs: the setting, else the related model's
        operating point (None: no related model, no related replies)."""
        chosen = self.settings.related_confidence
        tiers = self.confidences.tiers
        if tiers is None:
            return None
        return tiers.related.threshold if chosen is None else chosen

    @property
    def faq_confidence(self) -> float:
        chosen = self.settings.faq_confidence
        return self.confidences.faq.threshold if chosen is None else chosen

    def warm_up(self) -> None:
        self.confidences  # noqa: B018  (read now, not on the first question)
        self.retriever.warm_up()
        self.intents.warm_up()
        self.reader.warm_up()

    # ---------------------------------------------------------------- conversations

    def start(self, channel: str, user: str, name: str | None = None, *,
              new: bool = False) -> int:
        """The id of the user's current conversation (a new one after the last ended); with
        ``new``, a new conversation (the user's open one, if any, ends)."""
        user_id = self.history.user_id(channel, user, name)
        if new:
            return self.history.new_conversation(user_id).id
        return self.history.current_conversation(user_id).id

    def reset(self, conversation_id: int) -> int:
        """End this conversation and start a new one for the same user."""
        user_id = self.history.conversation(conversation_id).user_id
        return self.history.new_conversation(user_id).id

    def hand_off(self, conversation_id: int, reason: str | None = None, *,
                 said: str | None = None, reply: str | None = None) -> None:
        """Hand the conversation to a person. Given what the user ``said`` to ask (a button's
        label, a command) and the ``reply`` they were shown, both are stored with the handoff
        (kind ``handoff``), so the operator's transcript shows when and how the user asked."""
        if said is None or reply is None:
            self.history.open_handoff(conversation_id, reason)
            return
        asked = self.history.add_message(conversation_id, "in", said)
        self.history.add_reply(conversation_id, asked, reply, kind="handoff", intent="handoff",
                               handoff=reason or said)

    def release(self, conversation_id: int, by: str | None = None) -> bool:
        """Give the conversation back to the bot, telling no one; front ends release through
        the operator desk (``app.operator_desk``), which also stores and delivers the line
        that tells the user."""
        return self.history.release(conversation_id, by)

    def handed_off(self, conversation_id: int) -> bool:
        """Whether the conversation waits for a person (the bot stays quiet in it)."""
        return self.history.conversation(conversation_id).status == "handed_off"

    def forget(self, channel: str, user: str) -> int:
        """Delete a user's whole history (their right to erasure); returns conversations."""
        return self.history.forget_user(channel, user)

    def feedback(self, message_id: int, helpful: bool, comment: str | None = None) -> None:
        self.history.add_feedback(message_id, 1 if helpful else -1, comment)

    # ---------------------------------------------------------------- what front ends read

    def transcript(self, conversation_id: int, limit: int = 40) -> list[StoredMessage]:
        """The conversation's last ``limit`` messages, oldest first (for an operator)."""
        return self.history.messages(conversation_id, limit)

    def message(self, message_id: int) -> StoredMessage | None:
        return self.history.message(message_id)

    def owner_of_message(self, message_id: int) -> tuple[str, str] | None:
        """(channel, user) of the conversation a message belongs to."""
        return self.history.owner_of_message(message_id)

    def owner_of_conversation(self, conversation_id: int) -> tuple[str, str] | None:
        return self.history.owner_of_conversation(conversation_id)

    def stats(self):
        """Conversations, answer rate, handoffs and feedback (``history.HistoryStats``)."""
        return self.history.stats()

    def unanswered(self, limit: int = 15):
        """The latest questions the bot could not answer, newest first."""
        return self.history.unanswered(limit)

    def rated_answers(self, value: int | None = -1):
        """Answers users rated (-1 not helpful, +1 helpful, None both), with their questions
        and sources (``history.RatedAnswer``)."""
        return self.history.rated_answers(value)

    def unanswered_clusters(self, limit: int = 100, threshold: float = 0.75):
        """The latest ``limit`` unanswered questions grouped by similarity of their embeddings
        (``clusters.cluster``), largest group first: what the help centre is missing."""
        from qabot.dialogue.clusters import QuestionCluster, cluster

        questions = self.history.unanswered(limit)  # newest first
        if not questions:
            return []
        vectors = np.stack([self.retriever.embed(q.question) for q in questions])
        groups = cluster(vectors, threshold)
        return [QuestionCluster(questions[g[0]].question, len(g),
                                tuple(questions[i].question for i in g),
                                questions[g[0]].created_at) for g in groups]

    def reload_index(self) -> None:
        """Read the newest committed index generation (after a reindex)."""
        self.retriever.reload()

    def follow_index(self) -> None:
        """Switch to a generation another process committed, if there is one (in the
        background; cheap when there is none)."""
        self.retriever.refresh()

    # ---------------------------------------------------------------- the cascade

    def respond(self, conversation_id: int, text: str, *, update_key: str | None = None
                ) -> Reply:
        """Answer ``text`` in the conversation. ``update_key`` names the channel update the
        text came with: answering the same update again (after a crash) stores nothing twice,
        and returns the reply already stored for it, when there is one, without recomputing."""
        started = perf_counter()
        raw = text if isinstance(text, str) else ""
        seen = self.history.message_by_key(update_key) if update_key else None
        if seen is not None:
            stored = self.history.reply_to(seen.id)
            if stored is not None:
                return _stored_reply(stored, conversation_id)
            user_message = seen.id
        else:
            user_message = self.history.add_message(conversation_id, "in", raw,
                                                    update_key=update_key)
        notice = None
        try:
            notice = self._take_back(conversation_id)
            outcome = self._decide(conversation_id, raw)
        except Exception:  # a failing model or index must not lose the conversation
            log.exception("reply to message %s failed", user_message)
            outcome = Outcome("error", ERROR)
        if notice is not None:
            text = f"{notice}\n\n{outcome.text}" if outcome.text else notice
            outcome = replace(outcome, text=text, notice=notice)
        latency = (perf_counter() - started) * 1000
        bot_message = self.history.add_reply(
            conversation_id, user_message, outcome.text, kind=outcome.kind,
            intent=outcome.intent, confidence=outcome.confidence, score=outcome.score,
            latency_ms=latency, topic=outcome.topic,
            sources=[asdict(s) for s in outcome.sources],
            unanswered=(outcome.topic or raw) if outcome.unanswered else None,
            handoff=raw[:500] if outcome.kind == "handoff" else None,
            ended=outcome.kind == "end")
        return Reply(outcome.text, outcome.kind, conversation_id, bot_message, user_message,
                     outcome.intent, outcome.confidence, outcome.answer, outcome.score,
                     outcome.sources, round(latency, 2), outcome.candidate, outcome.notice)

    def _take_back(self, conversation_id: int) -> str | None:
        """Release a handed-off conversation the team has left without a reply for
        ``handoff_timeout_minutes``, and return the line saying so; None when it is not
        handed off, the wait is not over, or someone released it meanwhile. The wait runs
        from the latest of the handoff and the latest stored operator message (kind
        "operator"), as ``History.handoff_idle_since`` reads them."""
        if not self.handed_off(conversation_id):
            return None
        minutes = self.settings.handoff_timeout_minutes
        if not timed_out(self.history.handoff_idle_since(conversation_id), self.clock(),
                         minutes):
            return None
        if not self.history.release(conversation_id, RELEASED_BY):
            return None
        log.info("conversation %s: no reply from the team for %s minutes, back to the bot",
                 conversation_id, minutes)
        return back_notice(minutes)

    def _decide(self, conversation_id: int, raw: str) -> Outcome:
        if self.history.conversation(conversation_id).status == "handed_off":
            return Outcome("handed_off", "")
        text = clean_text(raw, self.settings.max_message_chars)
        if not readable(text):
            return Outcome("invalid", INVALID)
        vector = self.retriever.embed(prepare(text))
        prediction = (self.intents.predict_vector(vector) if self.reuse_vector
                      else self.intents.predict(text))
        seen = {"intent": prediction.intent, "confidence": round(prediction.confidence, 4)}
        previous = self.history.messages(conversation_id, limit=2 * self.settings.follow_up_turns
                                         + 2)[:-1]  # the last one is this message
        topic = next((m.topic for m in reversed(previous) if m.direction == "in" and m.topic),
                     None)
        last_reply = next((m for m in reversed(previous) if m.direction == "out"), None)
        action = prediction.action
        follow_up = topic is not None and is_follow_up(text)
        asks = follow_up and (text.rstrip().endswith("?") or starts_follow_up(text))

        if asks and action in ("template", "context") and prediction.confidence < 0.5:
            action = "answer"  # "and Team?" after a question: unsure small talk is a follow-up
        if action != "answer" and not follow_up:
            verbatim = self._verbatim_faq(text, vector, seen)
            if verbatim is not None:  # a curated question asked word for word: its answer
                return verbatim
        if action == "handoff":
            return Outcome("handoff", HANDOFF, **seen)
        if action == "end":
            return Outcome("end", self._template(prediction.intent, conversation_id)
                            or GOODBYE, **seen)
        if action == "template":
            return Outcome("template", self._template(prediction.intent, conversation_id)
                            or AFFIRM, **seen)
        if action == "context":
            offered = last_reply is not None and last_reply.kind in ("fallback", "related")
            if offered and prediction.intent == "affirm":
                return Outcome("handoff", HANDOFF, **seen)
            return Outcome("context", DENY if prediction.intent == "deny" else AFFIRM, **seen)
        if action == "answer" or follow_up:
            # a follow-up asks for something else than what the last reply said
            said = (last_reply if follow_up and last_reply is not None
                    and last_reply.kind in ("answer", "faq") else None)
            return self._knowledge(text, vector, topic if follow_up else None, seen, said)
        return self._out_of_scope(text, vector, seen)

    def _verbatim_faq(self, text: str, vector: np.ndarray, seen: dict) -> Outcome | None:
        """The FAQ answer when the message is one of the FAQ's questions word for word (case,
        spacing and end punctuation aside), whatever the router made of it: a question the
        team answered (an operator's answer, above all) is answered, never handed off or met
        with small talk because its words look like a request for a person or a greeting."""
        faq = self.faq.best(text, vector)
        if faq is None or same_words(faq.question) != same_words(text):
            return None
        confidence = self.confidences.faq.probability(faq.similarity or faq.score)
        return faq_outcome(faq, confidence, text, seen)

    def _out_of_scope(self, text: str, vector: np.ndarray, seen: dict) -> Outcome:
        """The router says out of scope, but its intents were written for one product: the
        knowledge base decides. An answer it is sure of is given; a message it has relevant
        passages for gets an honest "I don't know" (and is logged as unanswered); only a
        message the knowledge base knows nothing about is refused as out of scope."""
        found = self._knowledge(text, vector, None, seen, None)
        if found.kind in ("answer", "faq", "related"):
            return found
        if found.extra.get("relevant"):
            return found
        return Outcome("out_of_scope", OUT_OF_SCOPE, **seen)

    def _knowledge(self, text: str, vector: np.ndarray, topic: str | None, seen: dict,
                   said: StoredMessage | None) -> Outcome:
        query = contextual_query(text, topic)
        if topic is not None:
            vector = self.retriever.embed(query)
        standalone = topic or text
        faq = self.faq.best(query, vector)
        faq_confidence = (self.confidences.faq.probability(faq.score) if faq is not None
                          else 0.0)
        if (faq is not None and faq_confidence >= self.faq_confidence
                and not (said and faq.answer == said.text)):
            return faq_outcome(faq, faq_confidence, standalone, seen)
        hits, found = self._read(query, text, vector, said)
        if found is None:
            return Outcome("fallback", DONT_KNOW, topic=standalone, unanswered=True,
                            extra={"relevant": relevant(query, hits)}, **seen)
        confidence, tiers = found.answer_probability, self.confidences.tiers
        related = tiers.related.probability(found.tier) if tiers is not None else None
        score = round(confidence, 4)
        if confidence >= self.answer_confidence:
            return replace(found.answer, score=score, topic=standalone, **seen)
        threshold = self.related_confidence
        if related is not None and threshold is not None and related >= threshold:
            return replace(found.related, score=score, topic=standalone,
                           extra={"relevant": True, "related": round(related, 4)}, **seen)
        return Outcome("fallback", DONT_KNOW, score=score, topic=standalone, unanswered=True,
                       candidate=found.answer.text, extra={"relevant": relevant(query, hits)},
                       **seen)

    def _read(self, query: str, message: str, vector: np.ndarray,
              said: StoredMessage | None) -> tuple[list, Candidate | None]:
        """The passages read for ``query`` and the best candidate answer in them, assessed."""
        # the curated answers of the nearest FAQ entries are read too (clean, short contexts),
        # but not one whose question the twin check says is another (another plan's, ...)
        faqs = [FaqPassage.of(h)
                for h in self.retriever.search_faq(query, FAQ_CONTEXTS, vector=vector)
                if same_question(query, h.question)]
        hits = [*self.retriever.search(query, self.settings.top_k, vector=vector), *faqs]
        result = self.reader.read(query, hits, top_k=3)
        return hits, assess(query, message, hits, result, said, self.confidences,
                            unknown_words=self.retriever.unknown_words(query),
                            base_url=self.settings.kb_base_url)

    def assess(self, question: str) -> Candidate | None:
        """The best candidate answer to a standalone question, with the replies it would make
        and the evidence the tiers weigh (``qabot train tiers`` and evaluations; nothing is
        stored)."""
        text = clean_text(question, self.settings.max_message_chars)
        return self._read(text, text, self.retriever.embed(prepare(text)), None)[1]

    def _template(self, intent: str, conversation_id: int) -> str | None:
        intent_set = self.intents.intent_set
        found = intent_set.by_name.get(intent) if intent_set else None
        if found is None or not found.responses:
            return None
        turn = len(self.history.messages(conversation_id, limit=50))
        response = found.responses[(conversation_id + turn) % len(found.responses)]
        return response.replace("{bot_name}", self.settings.bot_name)  # what it calls itself




def _stored_reply(stored: StoredMessage, conversation_id: int) -> Reply:
    """The reply as it was stored (sent again after a crash, not recomputed)."""
    sources = tuple(Source(**{**s, "highlight": tuple(s["highlight"]) if s.get("highlight")
                              else None}) for s in stored.sources)
    return Reply(stored.text, stored.kind or "answer", conversation_id, stored.id,
                 stored.reply_to or 0, stored.intent, stored.confidence, None, stored.score,
                 sources, stored.latency_ms or 0.0, notice=stored_notice(stored.text))
