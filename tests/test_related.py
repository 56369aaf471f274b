"""The related reply's pieces: plain text from help-centre Markdown, the excerpt, the links,
the 700-character reply, and the tier evidence."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from qabot.dialogue.excerpt import EXCERPT_CHARS, bounded_steps, excerpt_around
from qabot.dialogue.plain import plain
from qabot.dialogue.related import (
    LEAD,
    OFFER,
    REPLY_CHARS,
    excerpt_source,
    more_articles,
    related_reply,
)
from qabot.dialogue.tier_evidence import article_margin


@dataclass(frozen=True)
class Hit:
    text: str
    source: str = "a.md"
    title: str = "A"
    headings: tuple[str, ...] = ()
    score: float = 0.7
    passage_id: int = 1
    link: str | None = None

    @property
    def location(self) -> str:
        return self.source


ZULIP = """{start_tabs}

{tab|desktop-web}

1. Click the **pencil** (<i class="fa fa-pencil"></i>) icon on the draft.

!!! warn ""

    **Note**: Drafts are local to your client, and are not synced to
    other devices. See [drafts](/help/drafts) and [[Sync#Drafts|how sync works]]."""


def test_plain_drops_markup_and_maps_offsets_back():
    p = plain(ZULIP)
    assert "{start_tabs}" not in p.text and "!!!" not in p.text and "<i" not in p.text
    assert "**" not in p.text and "/help/drafts" not in p.text
    assert "Click the pencil icon on the draft." in p.text
    assert "See drafts and how sync works." in p.text
    start = ZULIP.index("not synced")
    a, b = p.to_plain(start, start + len("not synced"))
    assert p.text[a:b] == "not synced"
    assert p.to_original(a, b) == (start, start + len("not synced"))


@pytest.mark.parametrize("kept", ["price * quantity", "#page=3", "OLLAMA_ORIGINS", "@_"])
def test_plain_keeps_what_is_not_markup(kept):
    assert kept in plain(f"Use {kept} here.").text


def test_excerpt_grows_by_whole_sentences_within_the_cap():
    sentences = [f"Sentence number {i} says something about drafts." for i in range(30)]
    text = " ".join(sentences)
    start = text.index("number 10")
    left, right = excerpt_around(text, start, start + 9)
    assert right - left <= EXCERPT_CHARS
    assert left <= start and start + 9 <= right
    assert text[left:right].startswith("Sentence number") and text[left:right].endswith(".")
    assert right - left > 300  # neighbours were added, not just the one sentence


def test_an_overlong_sentence_is_cut_around_the_span():
    text = "word " * 400 + "ANSWER " + "word " * 400
    start = text.index("ANSWER")
    left, right = excerpt_around(text, start, start + 6)
    assert right - left <= EXCERPT_CHARS and left <= start < right


def test_bounded_steps_cut_at_an_item():
    steps = "\n".join(f"{i}. Do the thing number {i} and then carefully check it worked."
                      for i in range(1, 12))
    cut = bounded_steps(steps)
    assert len(cut) <= EXCERPT_CHARS and cut.endswith("…") and cut.startswith("1. ")
    assert "\n6. " in cut or "\n5. " in cut


def test_a_how_to_excerpt_is_the_steps_of_its_list():
    text = "Intro.\n\n1. Open Settings.\n2. Select Security.\n3. Turn on 2FA.\n\nOutro text."
    start = text.index("Security")
    source, steps = excerpt_source(Hit(text), start, start + 8, how_to=True, base_url=None)
    assert steps and source.snippet == "1. Open Settings.\n2. Select Security.\n3. Turn on 2FA."
    a, b = source.highlight
    assert source.snippet[a:b] == "Security"


def test_links_are_http_only_and_the_reply_stays_within_700_characters():
    long = "A sentence that is long enough to matter in this passage. " * 10
    hits = [Hit(long, "guide/setup.md", "Setup", link="/setup"),
            Hit("x", "other.md", "Other", passage_id=2, link="javascript:alert(1)"),
            Hit("y", "third.md", "Third", passage_id=3),
            Hit("z", "guide/setup.md", "Setup", passage_id=4)]
    base = "https://help.example.com/" + "deep/" * 30
    source, _ = excerpt_source(hits[0], 10, 20, how_to=False, base_url=base)
    assert source.url == base + "setup" and len(source.snippet) <= EXCERPT_CHARS
    more = more_articles(hits, source.source, base)
    assert [m.source for m in more] == ["other.md", "third.md"]  # one per file, not itself
    # javascript: in the file is ignored: the file's own path under the base instead
    assert more[0].url == base + "other"
    text, cited = related_reply(source, more)
    assert len(text) <= REPLY_CHARS
    assert text.startswith(LEAD) and text.endswith(OFFER)
    assert "javascript" not in text
    assert cited[0] == source


def test_without_a_base_url_nothing_is_linked():
    hit = Hit("Refunds are possible within 30 days of the charge.", link="refunds")
    source, _ = excerpt_source(hit, 0, 7, how_to=False, base_url=None)
    text, _ = related_reply(source, ())
    assert source.url is None and "http" not in text and "30 days" in text


def test_article_margin():
    hits = [Hit("a", "x.md", score=0.8), Hit("b", "x.md", score=0.75),
            Hit("c", "y.md", score=0.6)]
    assert article_margin(hits) == pytest.approx(0.2)
    assert article_margin(hits[:2]) == pytest.approx(0.8)
