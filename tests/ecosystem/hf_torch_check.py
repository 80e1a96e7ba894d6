#!/usr/bin/python3
"""PyTorch (Debian's python3-torch) loads a `tessera ckpt export --format hf` directory into the PyTorch
peer model (../shared/bench/peer_torch_gpt.py's GPT, an independent implementation of the same GPT-2
architecture) and must reproduce Tessera's validation loss on the same tokens.

The tokens are the run's validation set exactly as Tessera's evaluate() reads it (docs/data_format.md):
the val split's shards as one stream of N tokens, sample i = the T+1 tokens from (i*T) mod (N-T), the
first eval_batches * global_batch samples in chunks of micro_batch; the loss is the mean over chunks of
each chunk's mean cross-entropy. It is compared with the val_loss that metrics.jsonl recorded at the
checkpoint's step: |delta| <= 1e-4 (fp32 in two frameworks, ~1e-6 apart when measured; the loss is ~6).

Weights are read by hf_peer.py (standard library and numpy), so nothing of Tessera's reads them back.

Usage: hf_torch_check.py HF_DIR RUN_DIR PEER_SCRIPT    exit 0 = agree
"""
import json
import os
import struct
import sys
import tomllib

os.environ.setdefault("OMP_NUM_THREADS", "2")
import numpy as np  # noqa: E402


def read_split(data_dir, split):
    """The split's shards (TSRTOKS format, docs/data_format.md) as one token stream."""
    names = sorted(f for f in os.listdir(data_dir) if f.startswith(split + "_") and f.endswith(".bin"))
    parts = []
    for name in names:
        blob = open(os.path.join(data_dir, name), "rb").read()
        assert blob[:8] == b"TSRTOKS\0", name
        (dtype,) = struct.unpack("<I", blob[12:16])
        (count,) = struct.unpack("<Q", blob[24:32])
        parts.append(np.frombuffer(blob[64:], dtype=np.uint16 if dtype == 2 else np.uint32, count=count))
    return np.concatenate(parts).astype(np.int64)


def main():
    hf_dir, run_dir, peer = sys.argv[1:4]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from hf_peer import load_peer  # noqa: E402
    import torch  # noqa: E402

    model, config = load_peer(hf_dir, peer)
    T = config["n_positions"]

    run_config = tomllib.load(open(os.path.join(run_dir, "config.toml"), "rb"))
    train = run_config["train"]
    data_dir = run_config["data"]["dir"]
    B = train["micro_batch"]
    global_batch = train.get("global_batch", 0) or B * run_config.get("parallel", {}).get("dp", 1)
    chunks = train["eval_batches"] * global_batch // B
    tokens = read_split(data_dir, "val")
    starts = (np.arange(chunks * B, dtype=np.int64) * T) % (len(tokens) - T)
    total = 0.0
    with torch.no_grad():
        for c in range(chunks):
            windows = np.stack([tokens[s:s + T + 1] for s in starts[c * B:(c + 1) * B]])
            x = torch.from_numpy(windows[:, :-1].copy())
            y = torch.from_numpy(windows[:, 1:].copy())
            total += model(x, y).item()
    torch_loss = total / chunks

    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    tessera_loss = [r for r in rows if "val_loss" in r][-1]["val_loss"]
    delta = abs(torch_loss - tessera_loss)
    print(f"val loss over {chunks * B} samples: tessera {tessera_loss:.6f}  pytorch {torch_loss:.6f}  |delta| {delta:.2e}")
    if not delta <= 1e-4:
        print("FAIL: PyTorch does not reproduce Tessera's loss from the exported weights", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
