"""Turn a trained reader folder into the artifact we ship: fp16 safetensors, tokenizer, config.

The shipped weights are stored in fp16 (half the size) and loaded back into fp32 for CPU
inference; ``compare`` in the benchmark checks that this costs no accuracy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "vocab.txt")


def export_reader(src: str | Path, dst: str | Path, *, fp16: bool = True, **settings) -> Path:
    """Copy ``src`` (a ``qabot train reader`` model folder) to ``dst`` for shipping.

    ``settings`` (e.g. ``null_threshold``) are merged into ``reader_config.json``.
    """
    import torch
    from safetensors.torch import load_file, save_file

    src, dst = Path(src), Path(dst)
    weights = src / "model.safetensors"
    if not weights.is_file():
        from qabot.errors import ModelNotFoundError

        raise ModelNotFoundError(f"no model.safetensors in {src}")
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors = load_file(weights)
    if fp16:
        tensors = {k: v.to(torch.float16) if v.is_floating_point() else v
                   for k, v in tensors.items()}
    save_file({k: v.contiguous() for k, v in tensors.items()}, tmp / "model.safetensors",
              metadata={"format": "pt"})
    config = json.loads((src / "config.json").read_text())
    config.pop("_name_or_path", None)
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, tmp / name)
    reader_config = {}
    if (src / "reader_config.json").is_file():
        reader_config = json.loads((src / "reader_config.json").read_text())
    reader_config.update(settings, weights_dtype="float16" if fp16 else "float32")
    (tmp / "reader_config.json").write_text(json.dumps(reader_config, indent=2) + "\n")
    if dst.exists():
        shutil.rmtree(dst)
    tmp.rename(dst)
    return dst
