"""The coverage-precision curve over the answer confidence, and its CSV and PNG.

Every question of an evaluation brings one ``CurveItem``: the confidence the bot gave its
would-be reply (``None``: it had nothing to say, so it answers at no threshold) and whether
that reply would be right (an unanswerable question's reply is never right). Answering the
questions whose confidence reaches a threshold ``t`` gives, for each distinct ``t``:
coverage = answered / all questions, precision = right / answered. An operator picks ``t``
with ``operating_point``: the lowest threshold (most coverage) whose precision reaches a target.
The maths is pure; only ``write_curve_csv`` and ``plot_curve`` touch files.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class CurveItem:
    confidence: float | None  # None: no would-be reply
    correct: bool  # the would-be reply is right


@dataclass(frozen=True)
class CurvePoint:
    threshold: float  # answer when the confidence >= threshold
    coverage: float  # share of all questions answered
    precision: float  # share of the answered ones answered right
    answered: int
    correct: int

    def to_dict(self) -> dict:
        return asdict(self)


def coverage_precision_curve(items: Sequence[CurveItem]) -> list[CurvePoint]:
    """One point per distinct confidence, highest threshold first (coverage grows)."""
    total = len(items)
    scored = sorted((i for i in items if i.confidence is not None),
                    key=lambda i: -i.confidence)
    points: list[CurvePoint] = []
    right = 0
    for n, item in enumerate(scored, 1):
        right += bool(item.correct)
        if n == len(scored) or scored[n].confidence < item.confidence:
            points.append(CurvePoint(threshold=item.confidence,
                                     coverage=round(n / total, 4),
                                     precision=round(right / n, 4), answered=n, correct=right))
    return points


def operating_point(curve: Sequence[CurvePoint], target_precision: float) -> CurvePoint | None:
    """The lowest threshold whose precision reaches ``target_precision`` (None: none does)."""
    reaching = [p for p in curve if p.precision >= target_precision]
    return min(reaching, key=lambda p: p.threshold) if reaching else None


def write_curve_csv(curve: Sequence[CurvePoint], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=[f.name for f in fields(CurvePoint)])
        writer.writeheader()
        writer.writerows(p.to_dict() for p in curve)
    return path


def plot_curve(curve: Sequence[CurvePoint], path: Path, *,
               configured: tuple[float, float] | None = None,
               target: CurvePoint | None = None, title: str = "") -> Path:
    """Precision against coverage; ``configured``: the (coverage, precision) the bot reached
    as configured; ``target``: the operating point picked for a target precision."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.plot([p.coverage for p in curve], [p.precision for p in curve], marker=".",
            label="answering at confidence >= t")
    if configured is not None:
        ax.plot(*configured, marker="o", color="black", linestyle="none", label="as configured")
    if target is not None:
        ax.plot(target.coverage, target.precision, marker="*", markersize=12,
                color="tab:red", linestyle="none", label=f"t = {target.threshold:g}")
    ax.set_xlabel("coverage (share of all questions answered)")
    ax.set_ylabel("precision (share of answers that are right)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
