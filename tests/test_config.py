"""Settings: defaults < TOML file < QABOT_* env vars < explicit overrides; clear errors."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from qabot.config import Settings, load_settings
from qabot.errors import InvalidSettingError


def test_defaults_without_file_or_env():
    s = load_settings(env={})
    assert s == Settings()
    assert s.index_dir == Path(".qabot/index") and s.top_k == 5 and s.telegram_token is None


def test_file_then_env_then_overrides(tmp_path):
    toml = tmp_path / "qabot.toml"
    toml.write_text('top_k = 3\nfaq_confidence = 0.7\n[qabot]\nindex_dir = "/srv/index"\n'
                    'telegram_admin_ids = [1, 2]\n')
    s = load_settings(toml, env={"QABOT_TOP_K": "8", "QABOT_TELEGRAM_TOKEN": "123:abc",
                                 "QABOT_TELEGRAM_OPERATOR_CHAT": "-100"})
    assert (s.top_k, s.faq_confidence, s.index_dir) == (8, 0.7, Path("/srv/index"))
    assert s.telegram_admin_ids == (1, 2) and s.telegram_operator_chat == -100
    assert "123:abc" not in repr(s)  # the token never shows in logs or errors
    s = load_settings(env={"QABOT_CONFIG": str(toml), "QABOT_TELEGRAM_ADMIN_IDS": "5, 6"},
                      top_k=2, index_dir=None)
    assert (s.top_k, s.index_dir, s.telegram_admin_ids) == (2, Path("/srv/index"), (5, 6))
    assert load_settings(env={"QABOT_INTENT_THRESHOLD": ""}).intent_threshold is None


@pytest.mark.parametrize("env, message", [
    ({"QABOT_TOP_K": "many"}, "QABOT_TOP_K: expected int, got 'many'"),
    ({"QABOT_TOP_K": "0"}, "QABOT_TOP_K: expected an integer from 1 to 50, got 0"),
    ({"QABOT_FAQ_CONFIDENCE": "high"}, "QABOT_FAQ_CONFIDENCE: expected float, got 'high'"),
    ({"QABOT_ANSWER_CONFIDENCE": "1.5"},
     "QABOT_ANSWER_CONFIDENCE: expected a probability from 0 to 1, got 1.5"),
    ({"QABOT_ANSWER_THRESHOLD": "15"},
     "QABOT_ANSWER_THRESHOLD: 'answer_threshold' was replaced by answer_confidence"),
    ({"QABOT_READER_PRECISION": "fp8"}, "QABOT_READER_PRECISION: expected one of auto"),
    ({"QABOT_READER_MAX_ANSWER_TOKENS": "0"},
     "QABOT_READER_MAX_ANSWER_TOKENS: expected an integer from 1 to 256"),
    ({"QABOT_TELEGRAM_ADMIN_IDS": "1,x"}, "QABOT_TELEGRAM_ADMIN_IDS: expected a list of"),
    ({"QABOT_DATABASE_URL": "history.db"}, "QABOT_DATABASE_URL: expected an SQLAlchemy URL"),
    ({"QABOT_CONFIG": "/nonexistent/qabot.toml"}, "config file not found"),
    ({"QABOT_RETRIEVAL": "magic"}, "QABOT_RETRIEVAL: expected one of dense, bm25, hybrid"),
])
def test_invalid_values_name_the_setting(env, message):
    with pytest.raises(InvalidSettingError, match=message.replace("(", r"\(")):
        load_settings(env=env)


def test_bad_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("top_k = = 3")
    with pytest.raises(InvalidSettingError, match="not valid TOML"):
        load_settings(bad, env={})
    bad.write_text("topk = 3")
    with pytest.raises(InvalidSettingError, match="unknown setting 'topk'"):
        load_settings(bad, env={})
    bad.write_text('top_k = "3.5"')
    with pytest.raises(InvalidSettingError, match="top_k: expected int"):
        load_settings(bad, env={})


def test_a_bad_database_url_is_reported_without_its_password():
    with pytest.raises(InvalidSettingError) as error:
        load_settings(env={"QABOT_DATABASE_URL": "bot:hunter2@db.example.com/qabot"})
    assert "hunter2" not in str(error.value) and "bot:***@db.example.com" in str(error.value)


def test_kb_base_url_is_an_http_url_or_unset(tmp_path):
    assert Settings().kb_base_url is None and load_settings(env={}).kb_base_url is None
    env = {"QABOT_KB_BASE_URL": "https://obsidian.md/help/"}
    assert load_settings(env=env).kb_base_url == "https://obsidian.md/help/"
    toml = tmp_path / "qabot.toml"
    toml.write_text('kb_base_url = "http://help.example.com"\n')
    assert load_settings(toml, env={}).kb_base_url == "http://help.example.com"
    assert load_settings(env={"QABOT_KB_BASE_URL": ""}).kb_base_url is None
    for bad in ("javascript:alert(1)", "help.example.com/articles", "//help.example.com",
                " https://help.example.com", "ftp://help.example.com", "data:text/html,x"):
        with pytest.raises(InvalidSettingError,
                           match=r"QABOT_KB_BASE_URL: expected an http\(s\) URL .*got "
                                 + repr(bad).replace("(", r"\(").replace(")", r"\)")):
            load_settings(env={"QABOT_KB_BASE_URL": bad})
    toml.write_text('kb_base_url = "file:///etc/passwd"\n')
    with pytest.raises(InvalidSettingError, match="kb_base_url: expected an http"):
        load_settings(toml, env={})


def test_handoff_timeout_is_a_positive_number_of_minutes(tmp_path):
    assert load_settings(env={}).handoff_timeout_minutes == 60
    env = {"QABOT_HANDOFF_TIMEOUT_MINUTES": "90"}
    assert load_settings(env=env).handoff_timeout_minutes == 90
    toml = tmp_path / "qabot.toml"
    toml.write_text("handoff_timeout_minutes = 2.5\n")
    assert load_settings(toml, env={}).handoff_timeout_minutes == 2.5
    for raw, message in [("0", "expected a positive number of minutes, got 0.0"),
                         ("-5", "expected a positive number of minutes, got -5.0"),
                         ("inf", "expected a positive number of minutes, got inf"),
                         ("soon", "expected float, got 'soon'")]:
        with pytest.raises(InvalidSettingError) as error:
            load_settings(env={"QABOT_HANDOFF_TIMEOUT_MINUTES": raw})
        assert str(error.value) == f"QABOT_HANDOFF_TIMEOUT_MINUTES: {message}"


@pytest.mark.parametrize("source, secret, named", [
    ({"QABOT_WEB_SECRET_KEY": "hunter2-short"}, "hunter2-short", "QABOT_WEB_SECRET_KEY"),
    ({"QABOT_TELEGRAM_TOKEN": "hunter2 123456:ABC"}, "hunter2", "QABOT_TELEGRAM_TOKEN"),
    ({"QABOT_TELEGRAM_TOKEN": "'123456:hunter2'"}, "hunter2", "QABOT_TELEGRAM_TOKEN"),
    ({"QABOT_DATABASE_URL": "postgresql//bot:hunter2@db/qabot"}, "hunter2",
     "QABOT_DATABASE_URL"),
    ({"QABOT_DATABASE_URL": "bot:hunter2@db.example.com/qabot"}, "hunter2",
     "QABOT_DATABASE_URL"),
    ({"QABOT_DATABASE_URL": "bot:hunter2/x:y@z@db.example.com/qabot"}, "hunter2",
     "QABOT_DATABASE_URL"),
    ('telegram_token = 123456\n', "123456", "telegram_token"),
    ('web_secret_key = ["hunter2-a-long-enough-key"]\n', "hunter2", "web_secret_key"),
    ('web_operators = ["ann:pbkdf2_sha256$hunter2", 5]\n', "hunter2", "web_operators"),
    ('database_url = ["postgresql://bot:hunter2@db/qabot"]\n', "hunter2", "database_url"),
])
def test_a_setting_holding_a_secret_is_never_shown_in_its_error(tmp_path, source, secret,
                                                                 named):
    """Whatever is wrong with a secret (a token, a key, password hashes, a database URL's
    password), its error names the setting and says what was expected, but shows at most the
    value's length, never the value."""
    env = source if isinstance(source, dict) else {}
    config = None
    if isinstance(source, str):
        config = tmp_path / "qabot.toml"
        config.write_text(source)
    with pytest.raises(InvalidSettingError) as error:
        load_settings(config, env=env)
    message = str(error.value)
    assert named in message and "expected" in message
    assert secret not in "".join(traceback.format_exception(error.value)), message


def test_a_secret_error_says_what_was_wrong_without_the_value():
    with pytest.raises(InvalidSettingError) as error:
        load_settings(env={"QABOT_WEB_SECRET_KEY": "hunter2-short"})
    assert str(error.value) == ("QABOT_WEB_SECRET_KEY: expected at least 16 characters, "
                                "got a value of 13 characters")
    with pytest.raises(InvalidSettingError) as error:
        load_settings(env={"QABOT_DATABASE_URL": "postgresql//bot:hunter2@db/qabot"})
    assert "postgresql//bot:***@db/qabot" in str(error.value)
    good = "123456:TEST-token_x"
    assert load_settings(env={"QABOT_TELEGRAM_TOKEN": good}).telegram_token == good
