"""The Docker files run the same commands the tests exercise: check that they parse."""

from __future__ import annotations

import re

import yaml

from indexer.cli import _parser as index_parser
from qabot.cli import build_parser as qabot_parser
from tests.conftest import ROOT

DOCKER = ROOT / "docker"


def _parse(argv: list[str]) -> None:
    program, *args = argv
    parser = {"qabot": qabot_parser, "qabot-index": index_parser}[program]()
    parser.parse_args(args)  # exits (SystemExit) on an unknown command or flag


def test_compose_commands_are_real_cli_commands():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    commands = {name: s["command"] for name, s in compose["services"].items() if "command" in s}
    assert set(commands) == {"index", "bot", "web"}
    for name in commands:  # each runs the image `make image` builds
        assert compose["services"][name]["image"] == "qabot:latest", name
    for argv in commands.values():
        _parse(argv)
    for service, profile in (("bot", "telegram"), ("web", "web")):
        assert compose["services"][service]["depends_on"]["index"]["condition"] == (
            "service_completed_successfully")
        assert compose["services"][service]["profiles"] == [profile]
    assert compose["services"]["web"]["ports"] == ["${QABOT_WEB_PORT:-8000}:8000"]
    assert "postgres" in compose["services"]["postgres"]["profiles"]


def test_dockerfile_runs_as_non_root_with_cpu_torch_and_a_health_check():
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^USER qabot$", text, re.MULTILINE)
    assert "ARG BASE=python:3.11-slim" in text
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in text
    assert 'pip install --index-url "$TORCH_INDEX" torch==2.13.0' in text
    assert "python3 -m venv /opt/qabot" in text and text.count("FROM ${BASE}") == 2
    commands = re.findall(r"CMD (\[.*\])", text)  # the health check's, then the container's
    assert commands == ['["qabot", "health"]', '["qabot", "telegram"]']
    for command in commands:
        _parse(yaml.safe_load(command))
    assert "HF_HUB_OFFLINE=1" in text and "QABOT_INDEX_DIR=/data/index" in text


def test_health_command(tmp_path, capsys, kb_index):
    import json

    from qabot.cli import main

    assert main(["health", "--json", "--index", str(kb_index),
                 "--db", f"sqlite:///{tmp_path / 'h.sqlite'}"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["passages"] > 0 and report["intents"] == 11
    assert main(["health", "--index", str(tmp_path / "missing")]) == 1
    assert "no index at" in capsys.readouterr().err
