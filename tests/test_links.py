"""Public URLs of articles (qabot/dialogue/links.py): the file's own link, else kb_base_url + the
file's path; only http(s) URLs ever count as links; the link survives a build and a search."""

from __future__ import annotations

import pytest

from indexer.store import IndexStore
from indexer.sync import build
from qabot.dialogue.links import is_web_url, public_url
from qabot.dialogue.replies import Source

BASE = "https://obsidian.md/help/"


@pytest.mark.parametrize("url", [
    "https://obsidian.md/help/Obsidian%20Sync/Plans",
    "http://example.com",
    "HTTPS://Example.com/a?b=c#d",
    "https://[::1]:8080/x",
    "https://help.example.com/caf%C3%A9",
])
def test_http_and_https_urls_with_a_host_are_web_urls(url):
    assert is_web_url(url)


@pytest.mark.parametrize("url", [
    None, "", "javascript:alert(1)", "JAVASCRIPT:alert(1)", " javascript:alert(1)",
    "java\tscript:alert(1)", "java\nscript:alert(1)", "data:text/html,<b>x</b>",
    "vbscript:msgbox", "mailto:help@example.com", "ftp://example.com/file",
    "help/sync", "/help/sync", "//evil.example.com/x", "https:/example.com", "https://",
    "https:///path", " https://example.com", "https://example.com ", "https://exa mple.com",
    "https://example.com/\x00", "https://example.com/\u200b", "https://example.com\\@evil.com",
    "https:\\\\evil.com", "https://user:pass@example.com/", 'https://example.com/"><script>',
    "https://example.com:99999/", "https://example.com:port/", 42,
])
def test_anything_else_never_counts_as_a_web_url(url):
    assert not is_web_url(url)


@pytest.mark.parametrize("source, link, base, expected", [
    # no link in the file: base + path without its extension, quoted, "/" kept
    ("Obsidian Sync/Plans and storage limits.md", None, BASE,
     "https://obsidian.md/help/Obsidian%20Sync/Plans%20and%20storage%20limits"),
    ("Obsidian Sync/Plans and storage limits.md", None, "https://obsidian.md/help",
     "https://obsidian.md/help/Obsidian%20Sync/Plans%20and%20storage%20limits"),
    ("guides/café & más?.html", None, "https://help.example.com//",
     "https://help.example.com/guides/caf%C3%A9%20%26%20m%C3%A1s%3F"),
    ("refunds.md", "", BASE, "https://obsidian.md/help/refunds"),
    # a path from the file: joined to the base with exactly one "/"
    ("x.md", "sync/plans", BASE, "https://obsidian.md/help/sync/plans"),
    ("x.md", "/sync/plans/", BASE, "https://obsidian.md/help/sync/plans/"),
    ("x.md", "/sync/plans", "https://obsidian.md/help", "https://obsidian.md/help/sync/plans"),
    ("x.md", "Plans and limits", BASE, "https://obsidian.md/help/Plans%20and%20limits"),
    ("x.md", "sync/caf%C3%A9", BASE, "https://obsidian.md/help/sync/caf%C3%A9"),
    # an absolute http(s) link from the file: as it is, base or not
    ("x.md", "https://docs.example.com/a/b", BASE, "https://docs.example.com/a/b"),
    ("x.md", " https://docs.example.com/a/b ", None, "https://docs.example.com/a/b"),
    # a link that is neither: ignored, the file's path is used
    ("x.md", "javascript:alert(1)", BASE, "https://obsidian.md/help/x"),
    ("x.md", "//evil.example.com/x", BASE, "https://obsidian.md/help/x"),
    ("x.md", "JAVASCRIPT:alert(1)", None, None),
    # no base and no absolute link: no URL
    ("x.md", None, None, None),
    ("x.md", "sync/plans", None, None),
    ("x.md", None, "javascript:alert(1)//", None),
])
def test_public_url(source, link, base, expected):
    url = public_url(source, link, base)
    assert url == expected
    assert url is None or is_web_url(url)


def test_source_has_an_optional_url_last():
    assert Source("T", "t.md", "snippet").url is None
    assert Source("T", "t.md", "s", None, "t.md", 1, 0.5, "ctx", 0, "https://x.org/t").url


FRONT_MATTER = ("---\ntitle: Plans\npermalink: /sync/plans-and-limits/\n---\n# Plans\n\n"
                "Sync Standard stores 1 GB of vault history per vault.\n")
CANONICAL = ('<html><head><title>Webhooks</title>'
             '<link rel="canonical" href="https://docs.example.com/webhooks"></head>'
             '<body><main><h1>Webhooks</h1><p>Webhooks retry failed deliveries 5 times.</p>'
             '</main></body></html>')


def test_links_survive_a_build_and_a_search(kb_copy, tmp_path, fake_embedder):
    (kb_copy / "Obsidian Sync").mkdir()
    (kb_copy / "Obsidian Sync" / "Plans and storage limits.md").write_text(FRONT_MATTER)
    (kb_copy / "webhooks-retry.html").write_text(CANONICAL)
    index = tmp_path / "index"
    build(kb_copy, index, fake_embedder)
    with IndexStore.open(index) as store:
        [plans] = store.search(fake_embedder.embed(["Sync Standard vault history"])[0], 1)
        [hooks] = store.search(fake_embedder.embed(["webhooks retry failed deliveries"])[0], 1)
        [plain] = store.search(fake_embedder.embed(["refund monthly payment 14 days"])[0], 1)
        assert store.passage(plans.passage_id).link == "/sync/plans-and-limits/"
        assert [h.to_dict()["link"] for h in store.passages([hooks.passage_id])] == [
            "https://docs.example.com/webhooks"]
    assert (plans.source, plans.link) == ("Obsidian Sync/Plans and storage limits.md",
                                          "/sync/plans-and-limits/")
    assert hooks.link == "https://docs.example.com/webhooks"
    assert plain.source == "refund-policy.md" and plain.link is None
    assert public_url(plans.source, plans.link, BASE) == (
        "https://obsidian.md/help/sync/plans-and-limits/")
    assert public_url(hooks.source, hooks.link, None) == "https://docs.example.com/webhooks"
    assert public_url(plain.source, plain.link, BASE) == "https://obsidian.md/help/refund-policy"
    assert public_url(plain.source, plain.link, None) is None
