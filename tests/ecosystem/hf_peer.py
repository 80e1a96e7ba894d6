"""Loads a `tessera ckpt export --format hf` directory into the PyTorch peer model
(../shared/bench/peer_torch_gpt.py's GPT, an independent implementation of the same GPT-2 architecture).
Weights are read from model.safetensors with the standard library and numpy alone (8-byte header length,
JSON header, raw little-endian bytes). GPT-2 Conv1D weights are [in, out]; torch.nn.Linear wants
[out, in]: they are transposed here. Used by hf_torch_check.py and gguf_check.py."""
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    dtypes = {"F32": np.float32, "F16": np.float16}
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = np.frombuffer(blob[8 + n + begin:8 + n + end], dtype=dtypes[entry["dtype"]])
        tensors[name] = array.reshape(entry["shape"]).astype(np.float32)
    return header.get("__metadata__", {}), tensors


def load_peer(hf_dir, peer_script):
    """(model, config.json as a dict); the model in eval mode with strictly loaded weights."""
    config = json.load(open(os.path.join(hf_dir, "config.json")))
    L, H, C, T, V = (config[k] for k in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size"))
    assert config["activation_function"] == "gelu_new" and config["layer_norm_epsilon"] == 1e-5, config
    metadata, hf = read_safetensors(os.path.join(hf_dir, "model.safetensors"))
    assert metadata == {"format": "pt"}, metadata
    sys.argv = [peer_script, "--threads", "2"]  # the peer parses its command line at import
    sys.path.insert(0, os.path.dirname(os.path.abspath(peer_script)))
    import peer_torch_gpt
    import torch

    model = peer_torch_gpt.GPT(L, H, C, T, V, None)
    state = {"wte.weight": hf.pop("transformer.wte.weight"), "wpe.weight": hf.pop("transformer.wpe.weight"),
             "lnf.weight": hf.pop("transformer.ln_f.weight"), "lnf.bias": hf.pop("transformer.ln_f.bias")}
    ours = {"ln_1": "ln1", "ln_2": "ln2", "attn.c_attn": "qkv", "attn.c_proj": "proj", "mlp.c_fc": "fc1",
            "mlp.c_proj": "fc2"}
    for i in range(L):
        for theirs, mine in ours.items():
            for kind in ("weight", "bias"):
                value = hf.pop(f"transformer.h.{i}.{theirs}.{kind}")
                if kind == "weight" and value.ndim == 2:
                    value = value.T  # Conv1D [in, out] -> Linear [out, in]
                state[f"blocks.{i}.{mine}.{kind}"] = value
    assert not hf, f"tensors the peer has no place for: {sorted(hf)}"
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=True)
    model.eval()
    return model, config


def peer_logits(model, ids):
    """Logits [len(ids), V] of the peer's layers (embeddings, blocks, final LayerNorm, tied head)."""
    import torch

    with torch.no_grad():
        idx = torch.tensor([ids], dtype=torch.long)
        x = model.wte(idx) + model.wpe(torch.arange(len(ids)))
        for block in model.blocks:
            x = block(x)
        return (model.lnf(x) @ model.wte.weight.T)[0].double().numpy()
