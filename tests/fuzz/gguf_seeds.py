#!/usr/bin/python3
"""Writes the seed corpus of the GGUF fuzz target (tests/fuzz/corpus/gguf/): small, well-formed GGUF files
that reach every branch of src/tessera/ckpt/gguf_reader.cc's parser, written from the layout in
src/tessera/ckpt/gguf_export.h (not by Tessera's exporter, whose smallest real model is ~200 KB, past the
fuzzer's 64 KiB input limit). Run from the repository root: tests/fuzz/gguf_seeds.py
"""
import os
import struct

OUT = "tests/fuzz/corpus/gguf"


def s(text):
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}


def value(kind, v):
    if kind == 8:
        return s(v)
    return struct.pack(SCALAR[kind], v)


def kv(key, kind, v, element=None):
    out = s(key) + struct.pack("<I", kind)
    if kind == 9:
        out += struct.pack("<IQ", element, len(v)) + b"".join(value(element, x) for x in v)
    else:
        out += value(kind, v)
    return out


def gguf(version, kvs, tensors, alignment=32):
    """tensors: (name, ne innermost first, ggml type, data bytes); offsets are laid out aligned."""
    infos, data = b"", b""
    for name, ne, kind, payload in tensors:
        data += b"\0" * (-len(data) % alignment)
        infos += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        infos += struct.pack("<IQ", kind, len(data))
        data += payload
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs) + infos
    return head + b"\0" * (-len(head) % alignment) + data


def f32(values):
    return b"".join(struct.pack("<f", x) for x in values)


def f16(values):
    return b"".join(struct.pack("<e", x) for x in values)


def bf16(values):
    return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", x))[0])[2:] for x in values)


def write(name, blob):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(blob)


# A GPT-2 shaped file as `tessera ckpt export --format gguf` lays it out: C=4, T=3, V=8, one block.
tokens = ["<unk>", "<s>", "</s>", "<0x00>", "<0x41>", "\u2581a", "\u2581the", "[PAD7]"]
gpt2_kv = [
    kv("general.architecture", 8, "gpt2"), kv("general.name", 8, "seed"), kv("general.file_type", 4, 1),
    kv("general.alignment", 4, 32), kv("gpt2.context_length", 4, 3), kv("gpt2.embedding_length", 4, 4),
    kv("gpt2.feed_forward_length", 4, 16), kv("gpt2.block_count", 4, 1), kv("gpt2.attention.head_count", 4, 2),
    kv("gpt2.attention.layer_norm_epsilon", 6, 1e-5), kv("tokenizer.ggml.model", 8, "llama"),
    kv("tokenizer.ggml.tokens", 9, tokens, 8), kv("tokenizer.ggml.scores", 9, [0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -1e9], 6),
    kv("tokenizer.ggml.token_type", 9, [2, 3, 3, 6, 6, 1, 1, 5], 5), kv("tokenizer.ggml.eos_token_id", 4, 2),
    kv("tokenizer.ggml.add_bos_token", 7, 0), kv("tokenizer.ggml.add_space_prefix", 7, 0),
]
gpt2_tensors = [
    ("token_embd.weight", [4, 8], 1, f16([i / 16 for i in range(32)])),
    ("position_embd.weight", [4, 3], 1, f16([-i / 8 for i in range(12)])),
    ("blk.0.attn_norm.weight", [4], 0, f32([1.0] * 4)),
    ("blk.0.attn_qkv.weight", [4, 12], 1, f16([0.25] * 48)),
    ("blk.0.ffn_up.weight", [4, 16], 30, bf16([0.5] * 64)),
    ("output_norm.bias", [4], 0, f32([0.0, 0.5, -0.5, 2.0])),
]
write("gpt2_f16.gguf", gguf(3, gpt2_kv, gpt2_tensors))

# Every metadata value type, version 2, a 64-byte alignment and quantized tensors (q8_0, q4_K).
every_kv = [
    kv("a.u8", 0, 7), kv("a.i8", 1, -7), kv("a.u16", 2, 65535), kv("a.i16", 3, -300), kv("a.u32", 4, 1 << 31),
    kv("a.i32", 5, -1), kv("a.f32", 6, 0.5), kv("a.bool", 7, 1), kv("a.string", 8, "x"),
    kv("a.u64", 10, (1 << 64) - 1), kv("a.i64", 11, -(1 << 40)), kv("a.f64", 12, 0.25),
    kv("a.bools", 9, [0, 1, 1], 7), kv("a.u64s", 9, [1, 2], 10), kv("a.f64s", 9, [1.5], 12), kv("a.empty", 9, [], 8),
    kv("general.alignment", 4, 64),
]
every_tensors = [
    ("q8", [32, 2], 8, bytes(34 * 2)), ("q4k", [256], 12, bytes(144)), ("i32", [3], 26, bytes(12)),
    ("f32", [2, 1, 1, 2], 0, f32([1, 2, 3, 4])),
]
write("every_type_v2.gguf", gguf(2, every_kv, every_tensors, alignment=64))

# Nothing but the header.
write("empty.gguf", gguf(3, [], []))
