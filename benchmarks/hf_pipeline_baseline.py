"""Baseline side of bench_reader.py: transformers' own question-answering pipeline.

transformers removed ``pipeline("question-answering")`` in 5.3, so this script runs in a
separate virtual environment with transformers 5.2.0 and the same torch (``make bench-venv``
creates ``.venv-hfpipe``). It reads a JSON list of {"id", "question", "contexts": [...]} and a
model folder, answers each question with the pipeline (same weights, 256-token windows, stride
96, answers up to 30 tokens) over each of its contexts, keeps the answer with the highest
pipeline score (the usual way to use it over several retrieved passages), and writes
{"predictions": {id: text}, "seconds": [per question]}.

    .venv-hfpipe/bin/python benchmarks/hf_pipeline_baseline.py MODEL_DIR IN.json OUT.json [BATCH]
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> int:
    model_dir, in_path, out_path = sys.argv[1:4]
    batch_size = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    import torch
    import transformers
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, pipeline

    model = AutoModelForQuestionAnswering.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    qa = pipeline("question-answering", model=model, tokenizer=tokenizer, device=-1,
                  batch_size=batch_size)
    items = json.loads(open(in_path).read())
    options = dict(max_seq_len=256, doc_stride=96, max_answer_len=30,
                   handle_impossible_answer=False)
    qa(question=items[0]["question"], context=items[0]["contexts"][0], **options)  # warm-up
    predictions, seconds = {}, []
    for item in items:
        contexts = item["contexts"]
        t = time.perf_counter()
        out = qa(question=[item["question"]] * len(contexts), context=contexts, **options)
        outs = [out] if isinstance(out, dict) else out
        best = max(outs, key=lambda o: o["score"])
        seconds.append(time.perf_counter() - t)
        predictions[item["id"]] = best["answer"]
    with open(out_path, "w") as fh:
        json.dump({"predictions": predictions, "seconds": seconds, "batch_size": batch_size,
                   "transformers": transformers.__version__, "torch": torch.__version__}, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
