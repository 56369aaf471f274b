"""Group similar questions (pure): greedy leader clustering by cosine similarity, for the
operators' view of what the bot could not answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np


@dataclass(frozen=True)
class QuestionCluster:
    """Similar questions: the newest as the example, how many, and all of them."""

    example: str
    count: int
    questions: tuple[str, ...]
    latest: datetime | None = None


def cluster(vectors: np.ndarray, threshold: float = 0.75) -> list[list[int]]:
    """Indices of ``vectors`` (L2-normalised rows) grouped: each row joins the cluster whose
    first member (its leader) it is most similar to, if that similarity reaches
    ``threshold``, else starts a cluster. Largest clusters first; ties keep first-seen order."""
    leaders: list[int] = []
    groups: list[list[int]] = []
    for i in range(len(vectors)):
        if leaders:
            similarity = vectors[leaders] @ vectors[i]
            best = int(np.argmax(similarity))
            if similarity[best] >= threshold:
                groups[best].append(i)
                continue
        leaders.append(i)
        groups.append([i])
    order = sorted(range(len(groups)), key=lambda g: (-len(groups[g]), g))
    return [groups[g] for g in order]
