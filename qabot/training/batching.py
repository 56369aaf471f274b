"""Training batches of similar lengths in a seeded, shuffled order (less padding per batch)."""

from __future__ import annotations

import random
from collections.abc import Sequence


def shuffled_length_batches(lengths: Sequence[int], batch_size: int, seed: int,
                            epoch: int) -> list[list[int]]:
    """Indices shuffled per (seed, epoch), sorted by length within chunks of 50 batches, cut
    into batches, and the batches shuffled: each batch holds similar lengths, the order stays
    random, and the same (seed, epoch) always gives the same batches (resumable training)."""
    rng = random.Random(seed * 1000 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for i in range(0, len(order), chunk):
        part = sorted(order[i : i + chunk], key=lambda j: lengths[j])
        batches += [part[k : k + batch_size] for k in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches
