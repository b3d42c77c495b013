#!/usr/bin/env python3
"""Converts a CTranslate2 (faster-whisper) Whisper model to the ggml file
whisper.cpp loads. Standard library only.

    ct2-to-ggml.py MODEL_DIR WHISPER_SDIST_DIR OUT.bin

MODEL_DIR holds CTranslate2's model.bin and config.json; WHISPER_SDIST_DIR is
the unpacked `openai-whisper` source distribution, whose
whisper/assets/mel_filters.npz and multilingual.tiktoken are written into the
ggml file as whisper.cpp's convert-pt-to-ggml.py does. Tensors are renamed to
the names of OpenAI's PyTorch checkpoint, and CTranslate2's fused attention
projections are split (query/key/value; the key has no bias in Whisper).
"""

import base64
import io
import json
import struct
import sys
import zipfile
from pathlib import Path


def read_ct2(path):
    """CTranslate2 model.bin (format version 6): name → (shape, dtype, bytes)."""
    out = {}
    with open(path, "rb") as f:

        def u32():
            return struct.unpack("<I", f.read(4))[0]

        def string():
            n = struct.unpack("<H", f.read(2))[0]
            return f.read(n)[:-1].decode()

        version = u32()
        if version < 5:
            sys.exit(f"unsupported CTranslate2 model version {version}")
        spec = string()
        if spec != "WhisperSpec":
            sys.exit(f"not a Whisper model: {spec}")
        u32()  # spec revision
        for _ in range(u32()):
            name = string()
            rank = f.read(1)[0]
            shape = [u32() for _ in range(rank)]
            dtype = f.read(1)[0]
            nbytes = u32()
            out[name] = (shape, dtype, f.read(nbytes))
    return out


# CTranslate2 dtype ids: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16.
def as_f16(shape, dtype, data):
    if dtype == 4:
        return data
    if dtype == 0:
        n = len(data) // 4
        vals = struct.unpack(f"<{n}f", data)
        return struct.pack(f"<{n}e", *vals)
    sys.exit(f"unsupported tensor dtype {dtype} (convert the model with float16 weights)")


def as_f32(shape, dtype, data):
    if dtype == 0:
        return data
    if dtype == 4:
        n = len(data) // 2
        return struct.pack(f"<{n}f", *struct.unpack(f"<{n}e", data))
    sys.exit(f"unsupported tensor dtype {dtype}")


def rows(shape, dtype, data, start, end):
    """Rows start..end of a 1-D or 2-D tensor."""
    item = 2 if dtype == 4 else 4
    width = 1
    for d in shape[1:]:
        width *= d
    return [end - start] + shape[1:], dtype, data[start * width * item : end * width * item]


def npy_from_npz(path, key):
    with zipfile.ZipFile(path) as z:
        raw = z.read(key + ".npy")
    f = io.BytesIO(raw)
    assert f.read(6) == b"\x93NUMPY", "not an npy array"
    major = f.read(1)[0]
    f.read(1)
    hlen = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))[0]
    header = f.read(hlen).decode("latin1")
    assert "'<f4'" in header and "'fortran_order': False" in header, header
    shape = tuple(int(x) for x in header.split("(")[1].split(")")[0].split(",") if x.strip())
    return shape, f.read()


def main():
    model_dir, sdist, out_path = (Path(a) for a in sys.argv[1:4])
    t = read_ct2(model_dir / "model.bin")
    n_vocab, n_text_state = t["decoder/embeddings/weight"][0]
    n_audio_ctx, n_audio_state = t["encoder/position_encodings/encodings"][0]
    n_text_ctx = t["decoder/position_encodings/encodings"][0][0]
    n_mels = t["encoder/conv1/weight"][0][1]
    def layers(part):
        return len({k.split("/")[1] for k in t
                    if k.startswith(part + "/layer_") and k.split("/")[1][6:].isdigit()})

    n_audio_layer, n_text_layer = layers("encoder"), layers("decoder")
    n_audio_head = struct.unpack("<h", t["encoder/num_heads"][2])[0]
    n_text_head = struct.unpack("<h", t["decoder/num_heads"][2])[0]

    tensors = []  # (name, shape, dtype, data)

    def put(name, src, sl=None):
        shape, dtype, data = t[src]
        if sl is not None:
            shape, dtype, data = rows(shape, dtype, data, *sl)
        tensors.append((name, shape, dtype, data))

    def norm(dst, src):
        put(f"{dst}.weight", f"{src}/gamma")
        put(f"{dst}.bias", f"{src}/beta")

    def linear(dst, src, sl=None, bias=True):
        put(f"{dst}.weight", f"{src}/weight", sl)
        if bias:
            put(f"{dst}.bias", f"{src}/bias", sl)

    def attention(dst, src, s):
        """Self-attention: CTranslate2 fuses query, key and value (Whisper's
        key has no bias)."""
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        qkv = f"{src}/self_attention/linear_0"
        linear(f"{dst}.attn.query", qkv, (0, s))
        linear(f"{dst}.attn.key", qkv, (s, 2 * s), bias=False)
        linear(f"{dst}.attn.value", qkv, (2 * s, 3 * s))
        linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")

    def mlp(dst, src):
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
        linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")

    put("encoder.positional_embedding", "encoder/position_encodings/encodings")
    for c in ("conv1", "conv2"):
        linear(f"encoder.{c}", f"encoder/{c}")
    for i in range(n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        attention(dst, src, n_audio_state)
        mlp(dst, src)
    norm("encoder.ln_post", "encoder/layer_norm")

    put("decoder.positional_embedding", "decoder/position_encodings/encodings")
    put("decoder.token_embedding.weight", "decoder/embeddings/weight")
    s = n_text_state
    for i in range(n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        attention(dst, src, s)
        # Cross-attention: the query alone, key and value fused.
        norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
        linear(f"{dst}.cross_attn.query", f"{src}/attention/linear_0")
        kv = f"{src}/attention/linear_1"
        linear(f"{dst}.cross_attn.key", kv, (0, s), bias=False)
        linear(f"{dst}.cross_attn.value", kv, (s, 2 * s))
        linear(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
        mlp(dst, src)
    norm("decoder.ln", "decoder/layer_norm")

    assets = sdist / "whisper" / "assets"
    mel_shape, mel = npy_from_npz(assets / f"mel_filters.npz", f"mel_{n_mels}")
    tokens = [
        base64.b64decode(line.split()[0])
        for line in (assets / "multilingual.tiktoken").read_text().splitlines()
        if line
    ]

    with open(out_path, "wb") as out:
        out.write(struct.pack("<i", 0x67676D6C))
        for v in (n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
                  n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, 1):
            out.write(struct.pack("<i", v))
        out.write(struct.pack("<ii", *mel_shape))
        out.write(mel)
        out.write(struct.pack("<i", len(tokens)))
        for tok in tokens:
            out.write(struct.pack("<i", len(tok)))
            out.write(tok)
        f32_names = {"encoder.conv1.bias", "encoder.conv2.bias",
                     "encoder.positional_embedding", "decoder.positional_embedding"}
        for name, shape, dtype, data in tensors:
            if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
                shape = [shape[0], 1]
            f32 = len(shape) < 2 or name in f32_names
            data = as_f32(shape, dtype, data) if f32 else as_f16(shape, dtype, data)
            raw = name.encode()
            out.write(struct.pack("<iii", len(shape), len(raw), 0 if f32 else 1))
            for d in reversed(shape):
                out.write(struct.pack("<i", d))
            out.write(raw)
            out.write(data)
    print(f"{out_path}: {len(tensors)} tensors, {n_audio_layer}+{n_text_layer} layers, "
          f"vocabulary {n_vocab}")


if __name__ == "__main__":
    main()
