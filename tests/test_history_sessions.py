"""The web dashboard's operator sessions in the history database, on SQLite and PostgreSQL:
a session lives from sign-in until sign-out, "sign out everywhere" or its expiry."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from qabot.history import History
from qabot.history.models import utcnow

DAY = timedelta(hours=12)


def test_a_session_lives_until_it_is_ended(history_url):
    h = History.open(history_url)
    sessions = h.operator_sessions()
    one, two = sessions.open("ann", DAY), sessions.open("ann", DAY)
    assert one != two and len(one) >= 40  # random, 256 bits
    assert sessions.check(one) == "ann" and sessions.check(two) == "ann"
    assert sessions.end(one) and not sessions.end(one)  # a second sign-out ends nothing
    assert sessions.check(one) is None and sessions.check(two) == "ann"
    for junk in ("", "x" * 5000, "é", "\udc80", one[:-1]):
        assert sessions.check(junk) is None and not sessions.end(junk)
    h.close()


def test_sign_out_everywhere_ends_only_that_operators_sessions(history_url):
    h = History.open(history_url)
    sessions = h.operator_sessions()
    ann = [sessions.open("ann", DAY) for _ in range(3)]
    bob = sessions.open("bob", DAY)
    assert sessions.end_all("ann") == 3 and sessions.end_all("ann") == 0
    assert [sessions.check(s) for s in ann] == [None, None, None]
    assert sessions.check(bob) == "bob"
    h.close()


def test_expired_sessions_are_refused_and_purged_at_the_next_sign_in(history_url):
    now = [utcnow()]
    h = History.open(history_url, clock=lambda: now[0])
    sessions = h.operator_sessions()
    old = sessions.open("ann", timedelta(hours=1))
    now[0] += timedelta(minutes=59)
    assert sessions.check(old) == "ann"
    now[0] += timedelta(minutes=1)
    assert sessions.check(old) is None  # expired: refused though its row is still there
    new = sessions.open("bob", DAY)  # a sign-in purges what has expired
    with h.engine.connect() as c:
        assert c.execute(text("select operator from operator_sessions")).scalars().all() == [
            "bob"]
    assert sessions.check(new) == "bob" and sessions.purge() == 0
    now[0] += DAY
    assert sessions.purge() == 1
    h.close()


def test_the_table_holds_hashes_not_the_session_ids(history_url):
    """A copy of the database holds nothing a cookie can be made from."""
    h = History.open(history_url)
    session = h.operator_sessions().open("ann", DAY)
    with h.engine.connect() as c:
        stored = c.execute(text("select id from operator_sessions")).scalar_one()
    assert session not in stored and len(stored) == 64
    h.close()
