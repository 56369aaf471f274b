"""qabot-index: build | search | stats | remove.

Errors the user can fix print one line on stderr and exit 1; bad flags exit 2 (argparse).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from indexer.errors import IndexerError

DEFAULT_INDEX = os.environ.get("QABOT_INDEX_DIR", ".qabot/index")


class SubcommandParser(argparse.ArgumentParser):
    """The parser of a sub-command (``parser_class`` of ``add_subparsers``, inherited by its
    own sub-commands): it reports the arguments it does not know itself, with its own usage
    ("qabot-index build: error: unrecognized arguments: --bogus"). A plain sub-parser hands
    them back to the top-level parser, whose usage line says nothing of the sub-command."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--index", "-i", type=Path, default=Path(DEFAULT_INDEX), metavar="DIR",
        help="index directory (default: $QABOT_INDEX_DIR or .qabot/index)",
    )
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    keeping = argparse.ArgumentParser(add_help=False)
    keeping.add_argument("--keep-generations", type=int, default=3, metavar="N",
                         help="superseded index generations kept on disk, the live one "
                         "included (default 3), so that running bots reading an older one "
                         "are not cut off")
    keeping.add_argument("--keep-minutes", type=float, default=10.0, metavar="M",
                         help="and any generation replaced less than M minutes ago (default "
                         "10: running bots switch to a new generation within seconds)")

    parser = argparse.ArgumentParser(
        prog="qabot-index",
        description="Turn a knowledge base (Markdown, text, HTML, PDF, FAQ sheets) into a "
        "FAISS index of passages, incrementally and safely.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=SubcommandParser)

    build = sub.add_parser(
        "build", parents=[common, keeping], help="index a knowledge-base folder (incremental)",
        description="Add new files, re-embed changed ones and drop deleted ones. An unchanged "
        "corpus is not re-embedded. The index is replaced atomically. A folder with no file "
        "to index (empty, only unsupported or hidden files, or none readable) is an error "
        "that changes nothing.",
    )
    build.add_argument("kb_dir", type=Path, metavar="KB_DIR", help="knowledge-base folder")
    build.add_argument("--dry-run", action="store_true",
                       help="print what would change, change nothing")
    build.add_argument("--rebuild", action="store_true", help="re-embed every file from scratch")
    build.add_argument("--index-type", choices=["flat", "hnsw"], default=None,
                       help="FAISS index: exact 'flat' (default for new indexes) or 'hnsw' for "
                       "large corpora (default: keep the index's current type)")
    build.add_argument("--chunk-tokens", type=int, default=None, metavar="N",
                       help="passage size in encoder tokens, heading context included "
                       "(default: the index's own, 160 for a new index)")
    build.add_argument("--overlap", type=int, default=None, metavar="N",
                       help="tokens shared by consecutive passages of a section (default: the "
                       "index's own, 32 for a new index)")
    build.add_argument("--model", default=None, metavar="NAME|PATH",
                       help="the embedding model: a local sentence-transformers folder or a "
                       "bundled model (default: qabot/retriever-minilm-l6-squad-v1, the "
                       "trained question -> passage retriever; "
                       "sentence-transformers/all-MiniLM-L6-v2 is the general encoder)")
    build.add_argument("--strict", action="store_true", help="exit 3 if any file was skipped")
    build.add_argument("--no-progress", action="store_true", help="no progress bars")

    search = sub.add_parser("search", parents=[common], help="retrieve passages for a query")
    search.add_argument("query", help="the question or keywords")
    search.add_argument("-k", type=int, default=5, help="number of results (default 5)")
    search.add_argument("--faq", action="store_true",
                        help="search FAQ questions instead of passages")

    stats = sub.add_parser("stats", parents=[common], help="show what the index holds")
    stats.add_argument("--files", action="store_true", help="list indexed files")

    remove = sub.add_parser(
        "remove", parents=[common, keeping],
        help="remove files (or a folder's files) from the index",
        description="Remove the passages and FAQ entries of files. PATH is the file's name as "
        "indexed (relative to the knowledge base), a path to it, or a folder. A later build adds "
        "files back if they are still in the knowledge base.",
    )
    remove.add_argument("paths", nargs="+", metavar="PATH")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"build": cmd_build, "search": cmd_search, "stats": cmd_stats,
                "remove": cmd_remove}[args.command](args)
    except IndexerError as exc:
        print(f"qabot-index: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qabot-index: interrupted; the index was not changed", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


# --------------------------------------------------------------------------- build


def _retention(args: argparse.Namespace):
    from indexer.writer import Retention

    return Retention(keep=args.keep_generations, minutes=args.keep_minutes)


def cmd_build(args: argparse.Namespace) -> int:
    from indexer.chunking import ChunkSettings
    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build

    chunking = None  # the index's own settings
    if args.chunk_tokens is not None or args.overlap is not None:
        from indexer.manifest import read_manifest

        current = ChunkSettings()
        if (args.index / "manifest.json").is_file() and not args.rebuild:
            m = read_manifest(args.index)
            current = ChunkSettings(max_tokens=m.max_tokens, overlap_tokens=m.overlap_tokens)
        chunking = ChunkSettings(
            max_tokens=current.max_tokens if args.chunk_tokens is None else args.chunk_tokens,
            overlap_tokens=current.overlap_tokens if args.overlap is None else args.overlap)
    embedder = SentenceTransformerEmbedder.named(args.model)
    progress = not args.no_progress and not args.json and sys.stderr.isatty()
    report = build(
        args.kb_dir, args.index, embedder, chunking=chunking, index_type=args.index_type,
        rebuild=args.rebuild, dry_run=args.dry_run, progress=progress,
        retention=_retention(args),
    )
    if args.json:
        print(json.dumps(_report_json(report, args.index), indent=2))
    else:
        _print_report(report, args.index)
    return 3 if args.strict and report.failures else 0


def _report_json(report, index_dir: Path) -> dict:
    plan = report.plan
    return {
        "knowledge_base": plan.knowledge_base,
        "index": str(index_dir),
        "dry_run": report.dry_run,
        "committed": report.committed,
        "generation": report.manifest.generation if report.manifest else None,
        "added": list(plan.added), "updated": list(plan.updated),
        "removed": list(plan.removed), "unchanged": len(plan.unchanged),
        "ignored": list(plan.ignored), "rebuild_reason": plan.rebuild_reason,
        "failures": [asdict(f) for f in report.failures], "warnings": report.warnings,
        "passages_added": report.passages_added, "passages_removed": report.passages_removed,
        "faq_added": report.faq_added, "faq_removed": report.faq_removed,
        "embedded": report.embedded, "seconds": round(report.seconds, 3),
    }


def _print_report(report, index_dir: Path) -> None:
    plan = report.plan
    total = len(plan.added) + len(plan.updated) + len(plan.unchanged)
    print(f"Knowledge base: {plan.knowledge_base} ({total} files)")
    if plan.rebuild_reason:
        print(f"  re-indexing every file: {plan.rebuild_reason}")
    if report.dry_run:
        print("Dry run, nothing changed. A build would:")
        for label, items in (("add", plan.added), ("update", plan.updated),
                             ("remove", plan.removed)):
            for source in items:
                print(f"  {label:<7}{source}")
        if plan.reindex_vectors:
            print("  convert the vector index to the requested type")
        if not plan.has_changes:
            print("  nothing: the index is up to date")
        print(f"  ({len(plan.unchanged)} unchanged)")
        return
    if not plan.has_changes:
        print(f"Index is up to date ({len(plan.unchanged)} files unchanged).")
        _print_ignored(plan)
        _print_failures(report)
        return
    print(f"  files: added {len(plan.added)}, updated {len(plan.updated)}, removed "
          f"{len(plan.removed)}, unchanged {len(plan.unchanged)}")
    print(f"  passages +{report.passages_added} -{report.passages_removed}, FAQ entries "
          f"+{report.faq_added} -{report.faq_removed}; embedded {report.embedded} texts "
          f"in {report.seconds:.1f} s")
    _print_ignored(plan)
    for warning in report.warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    _print_failures(report)
    m = report.manifest
    if m is None:
        print(f"Index: {index_dir} unchanged (no file could be read)")
        return
    print(f"Index: {index_dir} ({m.generation}: {m.files} files, {m.passages} passages, "
          f"{m.faq_entries} FAQ entries, {m.index_type})")


def _print_failures(report) -> None:
    if report.failures:
        print(f"  skipped {len(report.failures)} file(s) that could not be read:", file=sys.stderr)
        for failure in report.failures:
            print(f"    {failure.source}: {failure.reason}", file=sys.stderr)


def _print_ignored(plan) -> None:
    if plan.ignored:
        names = ", ".join(plan.ignored[:5]) + (" ..." if len(plan.ignored) > 5 else "")
        print(f"  ignored {len(plan.ignored)} file(s) of unsupported type: {names}")


# --------------------------------------------------------------------------- search


def cmd_search(args: argparse.Namespace) -> int:
    from indexer.embedding import embedder_for
    from indexer.errors import InvalidSettingError
    from indexer.manifest import read_manifest
    from indexer.store import IndexStore

    if args.k < 1:
        raise InvalidSettingError(f"-k must be at least 1; got {args.k}")
    if not args.query.strip():
        raise InvalidSettingError("the query is empty")
    manifest = read_manifest(args.index)
    embedder = embedder_for(manifest.model_name, manifest.dimension)
    with IndexStore.open(args.index, model_name=embedder.model_name,
                         dimension=embedder.dimension) as store:
        vector = embedder.embed([args.query])[0]
        hits = store.search_faq(vector, args.k) if args.faq else store.search(vector, args.k)
    if args.json:
        print(json.dumps({"query": args.query, "results": [h.to_dict() for h in hits]},
                         indent=2, ensure_ascii=False))
        return 0
    if not hits:
        print("No results (the index is empty).")
        return 0
    width = shutil.get_terminal_size((100, 20)).columns
    if args.faq:
        _table(["#", "score", "source", "question", "answer"],
               [[i, f"{h.score:.3f}", f"{h.source}:{h.row}", h.question, h.answer]
                for i, h in enumerate(hits, 1)], width)
    else:
        _table(["#", "score", "source", "text"],
               [[i, f"{h.score:.3f}", h.location, h.text] for i, h in enumerate(hits, 1)], width)
    return 0


def _table(header: list[str], rows: list[list], width: int) -> None:
    """Fixed columns, the last one truncated to the terminal width."""
    cells = [[str(c).replace("\n", " ") for c in row] for row in rows]
    widths = [min(max(len(r[i]) for r in [header, *cells]), 48) for i in range(len(header) - 1)]
    used = sum(widths) + 2 * len(widths)
    last = max(width - used, 20)
    for row in [header, *cells]:
        head = "  ".join(_fit(c, w).ljust(w) for c, w in zip(row, widths))
        print(f"{head}  {_fit(row[-1], last)}")


def _fit(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# --------------------------------------------------------------------------- stats / remove


def cmd_stats(args: argparse.Namespace) -> int:
    from indexer.store import IndexStore

    with IndexStore.open(args.index) as store:
        stats = store.stats(with_files=args.files)
    if args.json:
        print(json.dumps(asdict(stats), indent=2))
        return 0
    print(f"Index:          {stats.index_dir} ({stats.generation})")
    print(f"Knowledge base: {stats.knowledge_base or '-'}")
    print(f"Model:          {stats.model_name} (dim {stats.dimension})")
    print(f"Vector index:   {stats.index_type}")
    print(f"Files:          {stats.files}")
    print(f"Passages:       {stats.passages}")
    print(f"FAQ entries:    {stats.faq_entries}")
    print(f"Size on disk:   {stats.bytes_on_disk / 1e6:.2f} MB")
    print(f"Updated:        {stats.updated_at}")
    if args.files:
        _table(["passages", "faq", "size", "source"],
               [[f.passages, f.faq_entries, f.size, f.source] for f in stats.file_list], 200)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from indexer.manifest import read_manifest
    from indexer.store import IndexStore
    from indexer.sync import remove_sources

    manifest = read_manifest(args.index)
    with IndexStore.open(args.index) as store:
        indexed = sorted(store.file_hashes())
    sources: list[str] = []
    for path in args.paths:
        matched = resolve_sources(path, indexed, manifest.knowledge_base)
        if not matched:
            raise IndexerError(f"not in the index: {path} (see 'qabot-index stats --files')")
        sources += [s for s in matched if s not in sources]
    n_pass, n_faq, new = remove_sources(args.index, sources, retention=_retention(args))
    if args.json:
        print(json.dumps({"removed": sources, "passages_removed": n_pass,
                          "faq_removed": n_faq, "generation": new.generation}, indent=2))
    else:
        for source in sources:
            print(f"removed {source}")
        print(f"{n_pass} passages and {n_faq} FAQ entries removed; {new.passages} passages "
              f"and {new.faq_entries} FAQ entries left ({new.generation}).")
    return 0


def resolve_sources(path: str, indexed: list[str], kb_root: str | None) -> list[str]:
    """Indexed sources named by ``path``: exact name, a path into the KB, or a folder prefix."""
    candidates = {path.strip().rstrip("/").replace(os.sep, "/")}
    if kb_root:
        try:
            rel = Path(path).resolve().relative_to(Path(kb_root))
            candidates.add(rel.as_posix())
        except ValueError:
            pass
    candidates.discard("")
    exact = [s for s in indexed if s in candidates]
    if exact:
        return exact
    prefixes = [c + "/" for c in candidates if c != "."]
    if "." in candidates:
        return list(indexed)
    return [s for s in indexed if any(s.startswith(p) for p in prefixes)]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
