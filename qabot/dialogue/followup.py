"""Pure follow-up detection: is a question about the previous topic, and what to retrieve with.

"and how much does it cost?", "what about on Android?", "does it work offline?" say little on
their own; retrieval reads them with the topic of the conversation's last knowledge question.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[\w']+", re.UNICODE)
LEADS = ("and", "also", "but", "so", "then", "plus", "or")
OPENERS = ("what about", "how about", "and what", "and how", "what if", "same for",
           "is that", "is it", "does it", "does that", "can it", "can i do that",
           "how much is it", "how much does it", "how long does it", "how do i do that",
           "why is that", "where is that", "where is it", "is there one", "in that case",
           "what happens if", "what happens when", "can they", "do they", "are they")
REFERRING = {"it", "its", "it's", "that", "this", "those", "these", "they", "them", "their",
             "one", "ones", "he", "she", "him", "her", "such", "same"}
SHORT = 3  # a question of at most this many words is read with its topic
OPENER_WORDS = 8  # an opener makes a follow-up of a question up to this long


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def starts_follow_up(text: str) -> bool:
    """Opens like a continuation: "and ...", "what about ...", "does it ..."."""
    w = words(text)
    if not w:
        return False
    return w[0] in LEADS or (len(w) <= OPENER_WORDS
                             and any(" ".join(w).startswith(o) for o in OPENERS))


def is_follow_up(text: str) -> bool:
    """True when ``text`` reads as a continuation of an earlier question."""
    w = words(text)
    if not w:
        return False
    if starts_follow_up(text) or len(w) <= SHORT:
        return True
    # a short question that leans on a referent it does not name: "is it free?"
    return len(w) <= 7 and any(x in REFERRING for x in w)


def contextual_query(text: str, topic: str | None) -> str:
    """What to retrieve with: the topic question followed by the follow-up."""
    if not topic:
        return text
    return f"{topic.rstrip()} {text.lstrip()}"
