"""What several command groups share: the settings options, settings, titles, progress."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def common_parser() -> argparse.ArgumentParser:
    """The options of every command that reads the settings (index, database, config)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE",
                        help="TOML settings file (default: $QABOT_CONFIG); QABOT_* env vars "
                        "override it")
    common.add_argument("--index", type=Path, metavar="DIR",
                        help="index folder (default: $QABOT_INDEX_DIR or .qabot/index)")
    common.add_argument("--db", metavar="URL", help="history database URL (default: "
                        "$QABOT_DATABASE_URL or sqlite:///.qabot/history.sqlite)")
    return common


def settings_from(args: argparse.Namespace):
    from qabot.config import load_settings

    return load_settings(args.config, index_dir=args.index, database_url=args.db,
                         kb_dir=getattr(args, "kb", None))


def titles(spec: str | None) -> list[str] | None:
    from qabot.training.squad import read_title_list

    return read_title_list(spec) if spec else None


def progress(args: argparse.Namespace) -> bool:
    """Progress bars on a terminal, unless --no-progress."""
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()
