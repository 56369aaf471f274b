"""Reader training throughput: windows per second of the training step (forward, backward,
clipping, AdamW) on real SQuAD train windows, fp32 against bf16 autocast, in the same run.

The windows are the first ``--windows`` of a seeded sample of SQuAD v1.1 train questions
(256-token windows, stride 96, ~171 tokens each on average), in length-bucketed batches of 16 as
``qabot train reader`` makes them; the model is the shipped reader. The first ``--warmup``
steps of each setting are not timed. Training FLOPs per token are estimated as 6 x the
non-embedding parameters + 12 x window length x 384 x 6 layers (attention), to say how close
the loop comes to the machine's peak.

Run: ``.venv/bin/python benchmarks/bench_reader_training.py`` (about 3 minutes on 2 cores).
Result: ``benchmarks/results/bench_reader_training.json``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import DATA, REPO, require, write_result


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per setting")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    return p.parse_args()


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from qabot.reader.windows import WindowSettings
    from qabot.training.batching import shuffled_length_batches
    from qabot.training.reader_features import collate, featurize
    from qabot.training.squad import training_examples

    train = require(DATA / "squad" / "v1.1" / "train-v1.1-explorer.json", "SQuAD v1.1 train")
    model_dir = REPO / "qabot" / "models" / "reader"
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    examples = random.Random(13).sample(training_examples([train], None).examples, 2000)
    features = featurize(examples, tokenizer, WindowSettings(256, 96))
    batches = shuffled_length_batches([len(f.input_ids) for f in features], args.batch_size,
                                      13, 0)[: args.warmup + args.steps]
    result: dict = {"batch_size": args.batch_size, "steps": args.steps, "settings": {}}
    for name, dtype in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
        model = AutoModelForQuestionAnswering.from_pretrained(
            str(model_dir), attention_probs_dropout_prob=0.0, dtype=torch.float32)
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
        windows = tokens = 0
        for i, idx in enumerate(batches):
            if i == args.warmup:
                t0, windows, tokens = time.perf_counter(), 0, 0
            batch = collate(features, idx, tokenizer.pad_token_id)
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            windows += len(idx)
            tokens += int(batch["input_ids"].numel())
        seconds = time.perf_counter() - t0
        embedding = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
        dense = sum(p.numel() for p in model.parameters()) - embedding
        per_token = 6 * dense + 12 * 384 * 6 * (tokens / windows)  # weights + attention
        row = {"windows_per_second": round(windows / seconds, 2),
               "tokens_per_window": round(tokens / windows, 1),
               "gflops_per_second": round(per_token * tokens / seconds / 1e9, 1)}
        result["settings"][name] = row
        print(name, row, flush=True)
    write_result("bench_reader_training", result, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
