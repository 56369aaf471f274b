"""Turn a trained model folder into the artifact we ship: fp16 safetensors, tokenizer, config.

The shipped weights are stored in fp16 (half the size) and loaded back into fp32 for CPU
inference; the benchmarks check that this costs no accuracy. ``export_reader`` packages a
reader; ``export_sentence_model`` a retriever or reranker (a sentence-transformers folder).
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
    src, dst = Path(src), Path(dst)
    weights = src / "model.safetensors"
    if not weights.is_file():
        from qabot.errors import ModelNotFoundError

        raise ModelNotFoundError(f"no model.safetensors in {src}")
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _save_weights(weights, tmp / "model.safetensors", fp16=fp16)
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


# written by the trainer beside the weights: needed to resume, not to run
TRAINING_STATE = frozenset({"optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json",
                            "training_args.bin", "README.md"})


def export_sentence_model(src: str | Path, dst: str | Path, *, fp16: bool = True) -> Path:
    """Copy a sentence-transformers folder (the model/ of ``qabot train retriever`` or
    ``qabot train reranker``, or a checkpoint) to ``dst`` for shipping: every module file,
    the weights in fp16, no training state. ``dst`` is replaced whole, or not at all."""
    src, dst = Path(src), Path(dst)
    if not (src / "model.safetensors").is_file() or not (src / "config.json").is_file():
        from qabot.errors import ModelNotFoundError

        raise ModelNotFoundError(f"no sentence-transformers model (model.safetensors, "
                                 f"config.json) in {src}")
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=lambda folder, names: [
        n for n in names if n in TRAINING_STATE or n == "model.safetensors"])
    _save_weights(src / "model.safetensors", tmp / "model.safetensors", fp16=fp16)
    config = json.loads((tmp / "config.json").read_text())
    config.pop("_name_or_path", None)
    config["dtype"] = "float32"  # compute in fp32 whatever the stored precision
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    if dst.exists():
        shutil.rmtree(dst)
    tmp.rename(dst)
    return dst


def _save_weights(src: Path, dst: Path, *, fp16: bool) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(src)
    if fp16:
        tensors = {k: v.to(torch.float16) if v.is_floating_point() else v
                   for k, v in tensors.items()}
    save_file({k: v.contiguous() for k, v in tensors.items()}, dst, metadata={"format": "pt"})
