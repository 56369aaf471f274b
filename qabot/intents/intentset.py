"""The intent set: which intents exist, their training examples, and what the bot does for each.

An intent set is data, not code. YAML (the shipped ``data/default_intents.yaml``)::

    version: 1
    intents:
      - name: greeting
        action: template          # one of ACTIONS
        description: The user says hello.
        responses: ["Hi! Ask me anything about the product."]
        examples: ["hi", "hello there", ...]

or CSV with a header ``text,intent[,action]``, or JSON lines with those keys (one example per
row; the label may also be called ``label`` or ``category``, as in BANKING77; an intent's action
is taken from its first row that names one, else ``answer``, or ``fallback`` for
``out_of_scope``). Loading validates everything and raises ``IntentSetError`` with the file,
the intent and what was wrong.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from qabot.errors import QabotError

DEFAULT_INTENTS = Path(__file__).resolve().parent / "data" / "default_intents.yaml"

ACTIONS = {
    "answer": "answer from the knowledge base (FAQ, then retrieval and the reader)",
    "template": "reply with one of the intent's responses",
    "handoff": "hand the conversation to a human",
    "end": "close the conversation",
    "context": "a reply to the bot's last question (yes/no); the dialogue decides",
    "fallback": "say politely that this is out of scope",
}
OUT_OF_SCOPE = "out_of_scope"  # the label predictions fall back to below the threshold
LABEL_KEYS = ("intent", "label", "category")  # accepted names of the label column


class IntentSetError(QabotError, ValueError):
    """An intent file is missing, malformed, or fails validation."""


@dataclass(frozen=True)
class Intent:
    name: str
    action: str
    examples: tuple[str, ...]
    responses: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class IntentSet:
    intents: tuple[Intent, ...]
    source: str = ""
    by_name: dict[str, Intent] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {i.name: i for i in self.intents})

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.intents]

    def action(self, name: str) -> str:
        intent = self.by_name.get(name)
        return intent.action if intent else "fallback"

    def examples(self) -> tuple[list[str], list[str]]:
        """(texts, labels) of every training example, in file order."""
        texts, labels = [], []
        for intent in self.intents:
            texts += intent.examples
            labels += [intent.name] * len(intent.examples)
        return texts, labels


def load_intent_set(path: str | Path = DEFAULT_INTENTS) -> IntentSet:
    path = Path(path)
    return validate(read_entries(path), str(path))


def read_entries(path: Path) -> list:
    """The file's intent entries as parsed, before validation (examples not de-duplicated)."""
    if not path.is_file():
        raise IntentSetError(f"intent file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _read_yaml(path)
    if suffix in (".csv", ".tsv"):
        return _read_csv(path, "\t" if suffix == ".tsv" else ",")
    if suffix == ".jsonl":
        return _read_jsonl(path)
    raise IntentSetError(
        f"{path}: unsupported intent file type {suffix!r} (use .yaml, .csv or .jsonl)")


def _read_yaml(path: Path) -> list[dict]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise IntentSetError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("intents"), list):
        raise IntentSetError(f"{path}: expected a mapping with an 'intents' list")
    return data["intents"]


def _read_csv(path: Path, delimiter: str) -> list[dict]:
    try:
        rows = list(csv.DictReader(path.open(encoding="utf-8", newline=""),
                                   delimiter=delimiter))
    except (csv.Error, UnicodeDecodeError) as exc:
        raise IntentSetError(f"{path}: not valid CSV ({exc})") from None
    header = set(rows[0]) if rows else set()
    if "text" not in header or not header & set(LABEL_KEYS):
        raise IntentSetError(f"{path}: expected a header with 'text' and 'intent' columns")
    return _group(rows)


def _read_jsonl(path: Path) -> list[dict]:
    import json

    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IntentSetError(f"{path}:{number}: not valid JSON ({exc})") from None
        if not isinstance(row, dict) or "text" not in row or not row.keys() & set(LABEL_KEYS):
            raise IntentSetError(f"{path}:{number}: expected an object with 'text' and 'intent'")
        rows.append(row)
    return _group(rows)


def _group(rows: list[dict]) -> list[dict]:
    """One entry per intent from rows with text, a label column and optionally an action."""
    label = next(k for k in LABEL_KEYS if k in rows[0])
    intents: dict[str, dict] = {}
    for row in rows:
        name = (row.get(label) or "").strip()
        entry = intents.setdefault(name, {"name": name, "examples": []})
        if row.get("action") and "action" not in entry:
            entry["action"] = row["action"].strip()
        entry["examples"].append(row.get("text") or "")
    for entry in intents.values():
        entry.setdefault("action", "fallback" if entry["name"] == OUT_OF_SCOPE else "answer")
    return list(intents.values())


def validate(raw: list, source: str) -> IntentSet:
    """Intents from parsed YAML/CSV entries; every problem is an ``IntentSetError``."""
    intents: list[Intent] = []
    seen: set[str] = set()
    for number, entry in enumerate(raw, 1):
        if not isinstance(entry, dict):
            raise IntentSetError(f"{source}: intent #{number} is not a mapping")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise IntentSetError(f"{source}: intent #{number} has no name")
        name = name.strip()
        where = f"{source}: intent {name!r}"
        if name in seen:
            raise IntentSetError(f"{where} is defined twice")
        seen.add(name)
        action = entry.get("action", "answer")
        if action not in ACTIONS:
            raise IntentSetError(
                f"{where}: unknown action {action!r}; choose one of {', '.join(ACTIONS)}")
        examples = _strings(entry.get("examples"), f"{where}: examples")
        examples = tuple(dict.fromkeys(e.strip() for e in examples if e.strip()))
        if not examples:
            raise IntentSetError(f"{where} has no examples")
        responses = tuple(r.strip() for r in _strings(entry.get("responses"),
                                                      f"{where}: responses") if r.strip())
        if action == "template" and not responses:
            raise IntentSetError(f"{where}: action 'template' needs at least one response")
        intents.append(Intent(name, action, examples, responses,
                              str(entry.get("description") or "").strip()))
    if len(intents) < 2:
        raise IntentSetError(f"{source}: at least two intents are needed to train a classifier")
    return IntentSet(tuple(intents), source)


def _strings(value, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise IntentSetError(f"{where} must be a list")
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise IntentSetError(
            f"{where}: {bad[0]!r} is not text (quote it: YAML reads yes/no/numbers as values)")
    return value
