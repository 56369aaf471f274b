"""The index manifest: the commit point of an index directory.

``manifest.json`` names the live generation, the embedding model and its dimension (queries
must be embedded with the same model: ``check_model``), the vector index type and the chunk
settings. The writer replaces it atomically (``write_manifest_atomic``) to commit a generation.

``format_version``: 1, the first; 2 adds passages' public links (``passages.link``). A build
on a format-1 index re-reads every file so that they all get their links (``sync.py``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from indexer.errors import IndexCorruptError, IndexNotFoundError, ModelMismatchError
from indexer.vectors import VectorIndexSpec

FORMAT_VERSION = 2
LINKS_FORMAT = 2  # the first format whose passages carry their file's public link
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    generation: str
    model_name: str
    dimension: int
    index_type: str = "flat"
    hnsw_m: int = 32
    hnsw_ef_search: int = 64
    max_tokens: int = 160
    overlap_tokens: int = 32
    knowledge_base: str | None = None
    files: int = 0
    passages: int = 0
    faq_entries: int = 0
    created_at: str = ""
    updated_at: str = ""
    format_version: int = FORMAT_VERSION

    @property
    def vector_spec(self) -> VectorIndexSpec:
        return VectorIndexSpec(
            dimension=self.dimension,
            index_type=self.index_type,
            hnsw_m=self.hnsw_m,
            hnsw_ef_search=self.hnsw_ef_search,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        if isinstance(data, dict):
            data.setdefault("format_version", 1)  # written before formats were numbered
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def read_manifest(index_dir: Path) -> Manifest:
    path = Path(index_dir) / MANIFEST
    if not path.is_file():
        raise IndexNotFoundError(
            f"no index at {index_dir} (missing {MANIFEST}); build one with "
            "'qabot-index build KB_DIR --index DIR'"
        )
    try:
        manifest = Manifest.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError) as exc:
        raise IndexCorruptError(f"unreadable {path}: {exc}") from exc
    if manifest.format_version > FORMAT_VERSION:
        raise IndexCorruptError(
            f"index at {index_dir} has format {manifest.format_version}; this qabot reads "
            f"up to {FORMAT_VERSION}: upgrade qabot"
        )
    return manifest


def write_manifest_atomic(index_dir: Path, manifest: Manifest) -> None:
    """Write-to-temp, fsync, rename: the commit point of a generation."""
    from indexer.fsutil import fsync_dir

    tmp = Path(index_dir) / f".{MANIFEST}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(manifest.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, Path(index_dir) / MANIFEST)
    fsync_dir(Path(index_dir))


def check_model(manifest: Manifest, model_name: str, dimension: int, index_dir: Path) -> None:
    """Queries must be embedded with the model the index was built with."""
    if manifest.model_name != model_name or manifest.dimension != dimension:
        raise ModelMismatchError(
            f"index at {index_dir} was built with {manifest.model_name} "
            f"(dim {manifest.dimension}), but the embedder in use is {model_name} "
            f"(dim {dimension}); rebuild the index or use the matching model"
        )
