"""One validated Settings object: defaults, then an optional TOML file, then ``QABOT_*`` env vars.

Every setting has the same name in the TOML file (top level, or under a ``[qabot]`` table) and,
upper-cased with a ``QABOT_`` prefix, in the environment: ``top_k`` / ``QABOT_TOP_K``. The TOML
file is ``--config FILE`` or ``$QABOT_CONFIG``. An invalid value is one clear error that names the
setting, where it came from, and the value given.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from qabot.errors import InvalidSettingError

PRECISIONS = ("auto", "fp32", "bf16", "int8")


@dataclass(frozen=True)
class Settings:
    # where things live
    index_dir: Path = Path(".qabot/index")
    kb_dir: Path | None = None  # the knowledge-base folder (make run, /reindex)
    # the help centre's public address: replies link to articles under it (dialogue/links.py);
    # None: only articles whose file states an absolute URL get a link
    kb_base_url: str | None = None
    database_url: str = "sqlite:///.qabot/history.sqlite"
    reader_model: Path | None = None  # None: the shipped reader
    intent_model: Path | None = None  # None: the shipped router
    reader_precision: str | None = None  # None: the model's reader_config.json
    # longest answer span in tokens; None: the model's reader_config.json
    reader_max_answer_tokens: int | None = None
    # the cascade's operating points; None: the shipped models' own, chosen on validation data
    intent_threshold: float | None = None  # the router's probability
    # the answer confidence (0-1) an answer needs; the model's own targets >= 90% precision
    answer_confidence: float | None = None
    # the FAQ confidence (0-1) a curated answer needs; the model's own: 99% precision on pairs
    faq_confidence: float | None = None
    # the related confidence (0-1) a "related" reply needs (the excerpt of the passage that
    # looks related, when no answer is sure enough); the model's own: chosen on help centres
    related_confidence: float | None = None
    confidence_model: Path | None = None  # None: the shipped qabot/models/confidence.json
    top_k: int = 5  # passages read per question
    retrieval: str = "hybrid"  # dense | bm25 | hybrid (reciprocal rank fusion of both)
    # a cross-encoder folder (qabot train reranker) that reorders the best rerank_candidates
    # passages before the reader reads top_k; None: no reranking
    reranker_model: Path | None = None
    rerank_candidates: int = 20
    follow_up_turns: int = 3  # user turns looked back at for a follow-up's topic
    max_message_chars: int = 2000  # longer messages are read up to here (stored whole)
    bot_name: str = "the support assistant"
    # history
    retention_days: int = 90
    # a handed-off conversation no one from the team has answered for this long goes back to
    # the bot at the user's next message, which the bot answers with a line saying so
    handoff_timeout_minutes: float = 60.0
    # telegram
    telegram_token: str | None = field(default=None, repr=False)
    telegram_operator_chat: int | None = None
    telegram_admin_ids: tuple[int, ...] = ()
    telegram_base_url: str | None = None  # another Bot API server (self-hosted); None: Telegram's
    # updates one process answers at once (one per chat; each chat's are answered in order)
    telegram_workers: int = 32
    # how long a worker holds an update it answers (renewed meanwhile): a process that died
    # leaves its updates to another worker, or to itself restarted, after this many seconds
    telegram_lease_seconds: float = 10.0
    # web (qabot web)
    web_rate_limit: int = 60  # API requests per minute per client
    web_max_body_bytes: int = 16_384
    web_cors_origins: tuple[str, ...] = ()  # origins (https://help.example.com) the widget runs on
    # the reverse proxies (addresses or networks: 10.0.0.5, 10.0.0.0/8, ::1; "*": any peer)
    # whose X-Forwarded-For and X-Forwarded-Proto are believed: uvicorn's proxy_headers with
    # forwarded_allow_ips. Empty (the default): the headers are ignored and the client is the
    # socket's peer, the address the rate limit and sign-in throttling count per
    web_trusted_proxies: tuple[str, ...] = ()
    # a request body must arrive whole within this many seconds of the app starting to read
    # it, else 408 and the connection closes (a stalled or trickled body holds nothing long)
    web_body_timeout_seconds: float = 10.0
    # an idle keep-alive connection closes after this many seconds (uvicorn's
    # timeout_keep_alive); behind a proxy, keep it above the proxy's upstream idle timeout
    web_keep_alive_seconds: int = 5
    # the operator dashboard (/admin): "name:pbkdf2_sha256$..." entries (qabot web
    # --hash-password) and the key that signs their sessions; without both, /admin is off
    web_operators: tuple[str, ...] = field(default=(), repr=False)
    web_secret_key: str | None = field(default=None, repr=False)
    web_eval_dir: Path | None = None  # the --out folder of the last `qabot eval support`


_CHECKS = {
    "top_k": (lambda v: 1 <= v <= 50, "an integer from 1 to 50"),
    "rerank_candidates": (lambda v: 1 <= v <= 200, "an integer from 1 to 200"),
    "follow_up_turns": (lambda v: 0 <= v <= 20, "an integer from 0 to 20"),
    "max_message_chars": (lambda v: 100 <= v <= 100_000, "an integer from 100 to 100000"),
    "retention_days": (lambda v: v >= 1, "a positive number of days"),
    "handoff_timeout_minutes": (lambda v: 0 < v < float("inf"), "a positive number of minutes"),
    "telegram_workers": (lambda v: 1 <= v <= 1000, "an integer from 1 to 1000"),
    "telegram_lease_seconds": (lambda v: 1.0 <= v <= 3600.0, "seconds from 1 to 3600"),
    "telegram_token": (lambda v: v is None or _TOKEN.fullmatch(v) is not None,
                       "a bot token from @BotFather: digits, ':', then letters, digits, _ and -"),
    "web_secret_key": (lambda v: v is None or len(v) >= 16, "at least 16 characters"),
    "web_rate_limit": (lambda v: 1 <= v <= 100_000, "requests per minute from 1 to 100000"),
    "web_max_body_bytes": (lambda v: 256 <= v <= 10_000_000, "bytes from 256 to 10000000"),
    "web_cors_origins": (lambda v: all(o == "*" or o.startswith(("http://", "https://"))
                                       for o in v), "origins such as https://help.example.com"),
    "web_trusted_proxies": (lambda v: all(_is_address_or_network(p) for p in v),
                            "IP addresses or networks such as 10.0.0.5, 10.0.0.0/8 or ::1, "
                            "or *"),
    "web_body_timeout_seconds": (lambda v: 1.0 <= v <= 300.0, "seconds from 1 to 300"),
    "web_keep_alive_seconds": (lambda v: 1 <= v <= 300, "an integer from 1 to 300 (seconds)"),
    "answer_confidence": (lambda v: v is None or 0.0 <= v <= 1.0, "a probability from 0 to 1"),
    "faq_confidence": (lambda v: v is None or 0.0 <= v <= 1.0, "a probability from 0 to 1"),
    "related_confidence": (lambda v: v is None or 0.0 <= v <= 1.0,
                           "a probability from 0 to 1"),
    "intent_threshold": (lambda v: v is None or 0.0 <= v <= 1.0, "a probability from 0 to 1"),
    "reader_precision": (lambda v: v is None or v in PRECISIONS, "one of " + ", ".join(PRECISIONS)),
    "reader_max_answer_tokens": (lambda v: v is None or 1 <= v <= 256,
                                 "an integer from 1 to 256 (tokens)"),
    "retrieval": (lambda v: v in ("dense", "bm25", "hybrid"), "one of dense, bm25, hybrid"),
    "kb_base_url": (lambda v: v is None or _is_web_url(v),
                    "an http(s) URL such as https://help.example.com/articles/"),
    "database_url": (lambda v: "://" in v or v.startswith("sqlite:"),
                     "an SQLAlchemy URL such as sqlite:///path/history.sqlite"),
}


_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")


def _is_address_or_network(value: str) -> bool:
    """An IP address, an IP network (CIDR) or ``*``: what uvicorn's forwarded_allow_ips
    matches a peer against (it takes anything else as a literal no peer ever is)."""
    import ipaddress

    if value == "*":
        return True
    try:
        if "/" in value:
            ipaddress.ip_network(value)  # strict, as uvicorn parses it: 10.0.0.0/8
        else:
            ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_web_url(value: str) -> bool:
    from qabot.dialogue.links import is_web_url  # here: qabot.dialogue imports this module

    return is_web_url(value)


# settings that were replaced: a config that still names one gets told what to use instead
RENAMED = {"answer_threshold": "answer_confidence (a probability from 0 to 1)",
           "faq_threshold": "faq_confidence (a probability from 0 to 1)"}


def _unknown(name: str, origin: str, known) -> InvalidSettingError:
    if name in RENAMED:
        return InvalidSettingError(f"{origin}: '{name}' was replaced by {RENAMED[name]}")
    return InvalidSettingError(f"{origin}: unknown setting '{name}' (known: {', '.join(known)})")


def load_settings(config_file: str | Path | None = None,
                  env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Defaults < TOML file (``config_file`` or ``$QABOT_CONFIG``) < env vars < ``overrides``."""
    env = os.environ if env is None else env
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    config_file = config_file or env.get("QABOT_CONFIG") or None
    if config_file:
        for name, raw in _read_toml(Path(config_file)).items():
            if name not in known:
                raise _unknown(name, str(config_file), known)
            values[name] = _convert(name, raw, f"{config_file}: {name}")
    for name in RENAMED:
        if f"QABOT_{name.upper()}" in env:
            raise _unknown(name, f"QABOT_{name.upper()}", known)
    for name in known:
        key = f"QABOT_{name.upper()}"
        if key in env:
            values[name] = _convert(name, env[key], key)
    for name, raw in overrides.items():
        if raw is not None:
            values[name] = _convert(name, raw, name)
    settings = replace(Settings(), **values)
    for name, (ok, expected) in _CHECKS.items():
        value = getattr(settings, name)
        if not ok(value):
            origin = f"QABOT_{name.upper()}" if f"QABOT_{name.upper()}" in env else name
            raise InvalidSettingError(f"{origin}: expected {expected}, got {_shown(name, value)}")
    return settings


def is_secret(name: str) -> bool:
    """Whether a setting holds a secret: declared ``field(repr=False)`` (the bot token, the
    session key, the operators' password hashes), so neither ``repr(settings)`` nor an error
    ever shows it. A database URL is no secret but its password is (``_shown``)."""
    return not Settings.__dataclass_fields__[name].repr


def _shown(name: str, value: Any) -> str:
    """A value as an error message shows it: a secret's only by its size, whatever is wrong
    with it; a database URL without its password (``postgresql://bot:***@db/qabot``); any
    other value as its repr."""
    if is_secret(name):
        if isinstance(value, str):
            return f"a value of {len(value)} characters"
        if isinstance(value, list | tuple):
            return f"a list of {len(value)} items"
        return f"a value of type {type(value).__name__}"
    if name == "database_url":
        return _without_password(repr(value))
    return repr(value)


def _without_password(url: str) -> str:
    """``url`` with everything between its user name's ':' and the last '@' masked; the
    ':' of a ``scheme://`` is no user name's, and a value without '@' has no password."""
    at = url.rfind("@")
    if at < 0:
        return url
    scheme = url.find("://", 0, at)
    colon = url.find(":", scheme + 3 if scheme >= 0 else 0, at)
    return url if colon < 0 else f"{url[:colon + 1]}***{url[at:]}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidSettingError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidSettingError(f"{path}: not valid TOML ({exc})") from None
    table = data.pop("qabot", {})
    if not isinstance(table, dict):
        raise InvalidSettingError(f"{path}: [qabot] must be a table")
    return {**data, **table}


def _convert(name: str, raw: Any, origin: str) -> Any:
    """A raw value (a string from the environment, or a TOML value) -> the setting's type."""
    kind = Settings.__dataclass_fields__[name].type
    optional = "None" in kind
    if optional and (raw is None or (isinstance(raw, str) and raw.strip() in ("", "none"))):
        return None
    try:
        if kind.startswith("tuple["):
            items = raw if isinstance(raw, list) else [p for p in str(raw).replace(";", ",")
                                                         .split(",") if p.strip()]
            if "tuple[int" in kind:
                return tuple(_int(item) for item in items)
            if not all(isinstance(item, str) for item in items):
                raise TypeError
            return tuple(item.strip() for item in items)
        if kind.startswith("Path"):
            if not isinstance(raw, str | Path):
                raise TypeError
            return Path(raw).expanduser()
        if kind.startswith("int"):
            return _int(raw)
        if kind.startswith("float"):
            if isinstance(raw, bool):
                raise TypeError
            return float(raw)
        if not isinstance(raw, str):
            raise TypeError
        return raw
    except (TypeError, ValueError):
        expected = (kind.replace(" | None", "").replace("tuple[int, ...]", "a list of integers")
                    .replace("tuple[str, ...]", "a list of strings"))
        raise InvalidSettingError(f"{origin}: expected {expected}, got {_shown(name, raw)}"
                                  ) from None


def _int(raw: Any) -> int:
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise TypeError
    return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
