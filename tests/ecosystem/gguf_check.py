#!/usr/bin/python3
"""Checks llama.cpp's greedy continuations of Tessera's GGUF exports (gguf_greedy.mjs output) against
  1. `tessera generate --temperature 0` of the same prompts: the same text, character for character;
  2. the PyTorch peer model loaded from the same checkpoint's Hugging Face export (hf_peer.py): at every
     generated position, llama.cpp's probability of its token must equal the peer's softmax probability
     within a tolerance per weight type — f32 2e-4, f16 1e-3, bf16 5e-3 (absolute; weights rounded to
     11 and 8 significant bits) — and the peer's argmax must be the same token (unless its two best
     probabilities are closer than that tolerance).
Greedy text alone is a weak oracle for a small model that settles into repeating a token; the
probabilities see every layer, position and weight (swapping two rows of position_embd fails check 2).

Usage: gguf_check.py WORK_DIR HF_DIR PEER_SCRIPT PROMPT...   (WORK_DIR has llama.jsonl, tessera_<i>.txt)
"""
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "2")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_peer import load_peer, peer_logits  # noqa: E402

TOLERANCE = {"f32": 2e-4, "f16": 1e-3, "bf16": 5e-3}  # measured max: 4.4e-5, 2.1e-4, 9.6e-4


def main():
    work, hf_dir, peer, prompts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    model, config = load_peer(hf_dir, peer)
    rows = [json.loads(line) for line in open(os.path.join(work, "llama.jsonl"))]
    if len(rows) != 3 * len(prompts):
        sys.exit(f"FAIL: llama.cpp answered {len(rows)} of {3 * len(prompts)} continuations")
    for n, row in enumerate(rows):
        i = n % len(prompts)
        kind = os.path.basename(row["model"])
        tolerance = TOLERANCE[kind.split("_")[-1].split(".")[0]]
        tessera = open(os.path.join(work, f"tessera_{i}.txt"), encoding="utf-8").read()
        expected = prompts[i] + row["text"] + "\n"  # generate prints the prompt, the continuation, a newline
        if len(row["ids"]) < 10:
            sys.exit(f"FAIL: {kind}: llama.cpp generated only {len(row['ids'])} tokens")
        if row["context"] != config["n_positions"]:
            sys.exit(f"FAIL: {kind}: llama.cpp's context is {row['context']}, the model has "
                     f"{config['n_positions']} position rows")
        if tessera != expected:
            sys.exit(f"FAIL: {kind} prompt {prompts[i]!r}: llama.cpp greedy {expected!r} != tessera generate {tessera!r}")
        ids = row["prompt_ids"] + row["ids"]
        logits = peer_logits(model, ids[:-1])
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        worst = 0.0
        for k, (token, confidence) in enumerate(zip(row["ids"], row["confidence"])):
            p = probs[len(row["prompt_ids"]) - 1 + k]
            delta = abs(p[token] - confidence)
            worst = max(worst, delta)
            if delta > tolerance:
                sys.exit(f"FAIL: {kind} prompt {prompts[i]!r} token {k}: llama.cpp p={confidence:.6f}, "
                         f"PyTorch p={p[token]:.6f} (|delta| {delta:.2e} > {tolerance})")
            top2 = np.sort(p)[-2:]
            if int(np.argmax(p)) != token and top2[1] - top2[0] > tolerance:
                sys.exit(f"FAIL: {kind} prompt {prompts[i]!r} token {k}: PyTorch's argmax {int(np.argmax(p))} != {token}")
        print(f"ok: {kind} prompt {prompts[i]!r} ids {row['prompt_ids']}: {len(row['ids'])} tokens equal tessera's; "
              f"max |p_llama - p_torch| {worst:.1e}: {row['text'][:30]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
