"""The engine's typed reply: what a front end sends, and where an answer came from."""

from __future__ import annotations

from dataclasses import asdict, dataclass

KINDS = ("answer", "faq", "related", "template", "fallback", "handoff", "handed_off", "end",
         "out_of_scope", "context", "invalid", "error")


@dataclass(frozen=True)
class Source:
    """Where an answer came from, for a citation."""

    title: str
    location: str  # "file > heading" or "file, page N"
    snippet: str  # the sentence(s) that hold the answer, or the FAQ question
    highlight: tuple[int, int] | None = None  # the answer's offsets in ``snippet``
    source: str = ""  # the file, relative to the knowledge base
    passage_id: int | None = None
    score: float | None = None  # retrieval similarity
    context: str = ""  # the whole passage (for feedback export)
    answer_start: int | None = None  # the answer's offset in ``context``
    url: str | None = None  # the article's public URL (``links.public_url``); None: no link

    def highlighted(self, before: str = "**", after: str = "**") -> str:
        if self.highlight is None:
            return self.snippet
        a, b = self.highlight
        return f"{self.snippet[:a]}{before}{self.snippet[a:b]}{after}{self.snippet[b:]}"


@dataclass(frozen=True)
class Reply:
    text: str  # what to send ("" when the bot stays silent)
    kind: str  # one of KINDS
    conversation_id: int
    message_id: int  # the stored bot message: the target of feedback
    user_message_id: int
    intent: str | None = None
    confidence: float | None = None
    answer: str | None = None  # the span, or the curated FAQ answer
    score: float | None = None  # the answer confidence (0-1) of an answer, FAQ answer or fallback
    sources: tuple[Source, ...] = ()
    latency_ms: float = 0.0
    # the reply the bot would have given but withheld for low confidence (a fallback's best
    # candidate): for evaluation and operators, never sent to the user
    candidate: str | None = None
    # a line said before the reply, which ``text`` starts with: that the bot took the
    # conversation back from a handoff no one answered (``dialogue.handoff``); None: no line
    notice: str | None = None

    @property
    def silent(self) -> bool:
        return self.kind == "handed_off"

    @property
    def body(self) -> str:
        """``text`` without the notice it starts with (for a front end that shows the notice
        apart, as a related reply's label goes between them)."""
        if self.notice and self.text.startswith(self.notice):
            return self.text[len(self.notice):].lstrip()
        return self.text

    def to_dict(self) -> dict:
        return asdict(self)
