"""Public URLs of knowledge-base articles, for the links in a reply's citations. Pure.

Rules (``public_url``):
1. The file's own link (``Passage.link``: a Markdown file's front-matter ``permalink`` /
   ``url`` / ``slug``, the first present, or an HTML page's ``<link rel="canonical">``):
   - an absolute http(s) URL is used as it is;
   - a path (``sync/plans``, ``/help/sync/``) is joined to the setting ``kb_base_url`` with
     exactly one ``/`` between them (a leading ``/`` does not climb to the site's root);
   - anything else (``javascript:``, ``mailto:``, ``//host/x``) is ignored, as if absent.
2. No usable link in the file: ``kb_base_url`` + the file's path in the knowledge base without
   its extension, URL-quoted (``/`` kept): ``https://obsidian.md/help/`` + ``Obsidian Sync/Plans
   and storage limits.md`` -> ``https://obsidian.md/help/Obsidian%20Sync/Plans%20and%20storage
   %20limits``.
3. No ``kb_base_url`` and no absolute http(s) link in the file: no URL (None).

Only what ``is_web_url`` accepts is ever rendered as a link: an ``http``/``https`` URL with a
host, and no whitespace, control or invisible formatting characters anywhere, no backslash, no
``<>"`` and no user name or password before the host. So ``javascript:``, ``data:``, relative
paths, ``//host``, ``JAVASCRIPT:``, `` javascript:`` and ``java\\tscript:`` never count.
"""

from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath
from urllib.parse import quote, urlsplit

WEB_SCHEMES = ("http", "https")
_UNSAFE = set('\\<>"`')
# what a path from a file may keep unquoted: RFC 3986's reserved characters and "%" (a path
# that is already percent-encoded stays as it is); spaces and non-ASCII letters are quoted
_PATH_SAFE = "/:@!$&'()*+,;=%?#~"


def is_web_url(url: str | None) -> bool:
    """Whether ``url`` is an absolute http(s) URL that is safe to render as a link."""
    if not isinstance(url, str) or not url:
        return False
    for ch in url:
        if ch in _UNSAFE or ch.isspace() or unicodedata.category(ch)[0] in "CZ":
            return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        return False
    return "@" not in parts.netloc


def public_url(source: str, link: str | None, base_url: str | None) -> str | None:
    """The public URL of the article ``source`` (its path in the knowledge base) whose file
    states ``link`` (or None), under ``base_url`` (the setting ``kb_base_url``, or None); None
    when there is none. See the module doc for the rules."""
    link = link.strip() if isinstance(link, str) else ""
    if link and is_web_url(link):
        return link
    if not is_web_url(base_url):
        return None
    if link and _is_path(link):
        return _join(base_url, quote(link, safe=_PATH_SAFE))
    path = PurePosixPath(source).with_suffix("").as_posix() if source else ""
    if not path or path == ".":
        return None
    return _join(base_url, quote(path, safe="/"))


def _is_path(link: str) -> bool:
    """A link with no scheme and no host: a path (relative or from the root)."""
    if link.startswith("//") or "\\" in link:
        return False
    try:
        parts = urlsplit(link)
    except ValueError:
        return False
    return not parts.scheme and not parts.netloc


def _join(base_url: str, path: str) -> str | None:
    url = f"{base_url.rstrip('/')}/{path.lstrip('/')}"
    return url if is_web_url(url) else None
