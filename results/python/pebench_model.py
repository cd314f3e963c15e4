"""pebench's transformer LM and every positional encoding, in PyTorch (torch and numpy only).

`pebench export STORE RUN_ID -o DIR` copies this file into DIR beside model.safetensors and
config.json; a test holds its logits equal to pebench's (1e-5 relative) for every encoding.

    import pebench_model
    model = pebench_model.load("DIR")                 # eval mode, float32, CPU
    logits = model(tokens)                            # tokens [B, T] int64 -> logits [B, T, vocab]
    logits = model(tokens, rope_scaling="yarn")       # rope's eval-time variants: pi, ntk, yarn, yarn_paper

Conventions that change numbers (README "Conventions that change numbers"): pre-LayerNorm
blocks, exact GELU, tied embeddings (or an untied output.weight), token embeddings x sqrt(d_model) for additive PEs,
biases added after the 1/sqrt(d_head) scaling, half-split RoPE, T5 buckets as HF's (causal),
KERPLE parameters clamped before use, FIRE's threshold |L0 m| (L0 = fire_threshold x train length), Sandwich's cosine sum,
xPos centred decay. randomized:<base> uses positions 0..T-1 unless given `positions` ([T], or
[L, T] rows per layer), or `positions="pebench"` to draw them as pebench's eval does (the same
generator stream, per layer where pebench draws per layer).
Where transformers is installed, PebenchConfig / PebenchForCausalLM make DIR load with
AutoModelForCausalLM.from_pretrained(DIR, trust_remote_code=True).
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ---- shared formulas (encodings/formulas.h) ------------------------------------------


def causal_distance(query_positions, key_positions):
    """(query - key) clamped at 0, int64 [Tq, Tk]; keys after the query are masked anyway."""
    return (query_positions.unsqueeze(1) - key_positions.unsqueeze(0)).clamp_min(0)


def rope_inverse_frequency(d_head, base):
    return torch.exp(torch.arange(0, d_head, 2, dtype=torch.float64) * (-math.log(base) / d_head))


def rotate_half(x):
    half = x.size(-1) // 2
    return torch.cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1)


def rope_angles(positions, inverse_frequency):
    angles = positions.to(torch.float64).unsqueeze(1) * inverse_frequency.unsqueeze(0)
    return torch.cat([angles, angles], 1)


def yarn_kept_share(variant, d_head, base, train_length, beta_slow, beta_fast):
    """Share of each θ_i that yarn (HF's ramp over pair index) or yarn_paper (ramp over turns) keeps."""
    theta = rope_inverse_frequency(d_head, base)
    length, d = float(train_length), float(d_head)
    if variant == "yarn_paper":
        turns = theta * (length / (2 * math.pi))
        return ((turns - beta_slow) / (beta_fast - beta_slow)).clamp(0, 1)

    def index_of(turns):
        return d * math.log(length / (turns * 2 * math.pi)) / (2 * math.log(base))
    lo = max(math.floor(index_of(beta_fast)), 0.0)
    hi = min(math.ceil(index_of(beta_slow)), d - 1)
    if lo == hi:
        hi += 0.001
    index = torch.arange(d_head // 2, dtype=torch.float64)
    return 1 - ((index - lo) / (hi - lo)).clamp(0, 1)


def rope_scaled_frequency(variant, d_head, base, scale, train_length, beta_slow=1.0, beta_fast=32.0):
    if not variant or scale <= 1:
        return rope_inverse_frequency(d_head, base)
    if variant == "pi":
        return rope_inverse_frequency(d_head, base) / scale
    d = float(d_head)
    if variant == "ntk":
        return rope_inverse_frequency(d_head, base * math.pow(scale, d / (d - 2)))
    if variant in ("yarn", "yarn_paper"):
        theta = rope_inverse_frequency(d_head, base)
        kept = yarn_kept_share(variant, d_head, base, train_length, beta_slow, beta_fast)
        return (1 - kept) * theta / scale + kept * theta
    raise ValueError(f"unknown rope scaling {variant!r}")


def alibi_slopes(heads):
    def power_of_two(n):
        start = math.pow(2.0, -8.0 / n)
        return [math.pow(start, h) for h in range(1, n + 1)]
    closest = 1 << int(math.floor(math.log2(heads)))
    slopes = power_of_two(closest)
    doubled = power_of_two(2 * closest)
    i = 0
    while len(slopes) < heads:
        slopes.append(doubled[i])
        i += 2
    return slopes


def sinusoid_table(positions, d_model, layout):
    half = d_model // 2
    inverse_frequency = torch.exp(torch.arange(half, dtype=torch.float64) * (-2.0 * math.log(10000.0) / d_model))
    angles = positions.to(torch.float64).unsqueeze(1) * inverse_frequency.unsqueeze(0)
    if layout == "concat":
        table = torch.cat([angles.sin(), angles.cos()], 1)
    else:
        table = torch.stack([angles.sin(), angles.cos()], 2).reshape(positions.size(0), 2 * half)
    return table.to(torch.float32)


def t5_bucket(distance, buckets, max_distance):
    exact = buckets // 2
    scaled = (torch.log(distance.to(torch.float64) / float(exact)) / math.log(float(max_distance) / float(exact))
              * float(buckets - exact))
    large = (scaled.clamp(-1, float(buckets)).to(torch.long) + exact).clamp_max(buckets - 1)
    return torch.where(distance < exact, distance, large)


def sandwich_bias(distance, dim, heads):
    k = torch.arange(1, dim // 2 + 1, dtype=torch.float64)
    inverse_frequency = torch.pow(10000.0, -2.0 * k / float(dim))
    inner = torch.cos(distance.to(torch.float64).unsqueeze(-1) * inverse_frequency).sum(-1) - float(dim // 2)
    compression = torch.arange(1, heads + 1, dtype=torch.float64) * (8.0 / heads)
    shape = [heads] + [1] * distance.dim()
    return inner.unsqueeze(0) / compression.view(shape)


# ---- encodings (encodings/*.cpp) ------------------------------------------------------
# Each: embed(x, positions), rotate(q, k, positions), bias(query_positions, key_positions)
# -> [H, Tq, Tk] or [layers, H, Tq, Tk] or None; set_variant(variant, length) for rope.


class Encoding(nn.Module):
    additive = False

    def __init__(self, c=None):
        super().__init__()

    def embed(self, x, positions):
        return x

    def rotate(self, q, k, positions):
        return q, k

    def bias(self, query_positions, key_positions):
        return None

    def set_variant(self, variant, length):
        pass


class NoEncoding(Encoding):
    pass


class Sinusoidal(Encoding):
    additive = True

    def __init__(self, c):
        super().__init__()
        self.d_model, self.layout = c["d_model"], c["options"].get("sinusoid_layout", "interleaved")

    def embed(self, x, positions):
        return x + sinusoid_table(positions, self.d_model, self.layout).to(x.dtype)


class Learned(Encoding):
    additive = True

    def __init__(self, c):
        super().__init__()
        self.table = nn.Parameter(torch.zeros(c["max_length"], c["d_model"]))

    def embed(self, x, positions):
        return x + self.table.index_select(0, positions)


class Rope(Encoding):
    def __init__(self, c):
        super().__init__()
        self.d_head, self.base = c["d_model"] // c["heads"], float(c["options"].get("rope_base", 10000))
        self.train_length, self.variant, self.scale = c["train_length"], "", 1.0
        self.beta_slow = float(c["options"].get("yarn_beta_slow", 1))
        self.beta_fast = float(c["options"].get("yarn_beta_fast", 32))
        # A store made before yarn became HF's ramp has no yarn bounds in its config: its
        # yarn curves are the paper's ramp.
        listed = str(c["options"].get("rope_scaling", "none")).split(",")
        self.old_yarn = "yarn" in listed and "yarn_beta_fast" not in c["options"]

    def set_variant(self, variant, length):
        self.variant, self.scale = variant or "", float(length) / float(self.train_length)
        if self.variant == "yarn" and self.old_yarn:
            self.variant = "yarn_paper"

    def rotate(self, q, k, positions):
        angles = rope_angles(positions, rope_scaled_frequency(self.variant, self.d_head, self.base, self.scale,
                                                              self.train_length, self.beta_slow, self.beta_fast))
        yarn = self.variant in ("yarn", "yarn_paper")
        factor = 0.1 * math.log(self.scale) + 1 if yarn and self.scale > 1 else 1.0
        cos, sin = (angles.cos() * factor).to(q.dtype), (angles.sin() * factor).to(q.dtype)
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


class Xpos(Encoding):
    def __init__(self, c):
        super().__init__()
        self.d_head, self.base = c["d_model"] // c["heads"], float(c["options"].get("rope_base", 10000))
        self.scale_base = float(c["options"].get("xpos_scale_base", 512))

    def rotate(self, q, k, positions):
        angles = rope_angles(positions, rope_inverse_frequency(self.d_head, self.base))
        n = positions.size(0)
        centre = math.floor((float(positions[0]) + float(positions[n - 1])) / 2) if n else 0.0
        exponent = (positions.to(torch.float64).unsqueeze(1) - centre) / self.scale_base
        j = torch.arange(self.d_head // 2, dtype=torch.float64)
        decay = (2.0 * j / float(self.d_head) + 0.4) / 1.4
        scale = torch.pow(decay.unsqueeze(0), exponent)
        scale = torch.cat([scale, scale], 1)
        q_cos, q_sin = (angles.cos() * scale).to(q.dtype), (angles.sin() * scale).to(q.dtype)
        k_cos, k_sin = (angles.cos() / scale).to(q.dtype), (angles.sin() / scale).to(q.dtype)
        return q * q_cos + rotate_half(q) * q_sin, k * k_cos + rotate_half(k) * k_sin


class Alibi(Encoding):
    def __init__(self, c):
        super().__init__()
        self.register_buffer("slopes", torch.tensor(alibi_slopes(c["heads"]), dtype=torch.float64).to(torch.float32))

    def bias(self, query_positions, key_positions):
        distance = (query_positions.unsqueeze(1) - key_positions.unsqueeze(0)).to(torch.float32)
        return -self.slopes.view(-1, 1, 1) * distance.unsqueeze(0)


class Sandwich(Encoding):
    def __init__(self, c):
        super().__init__()
        self.dim, self.heads = int(c["options"].get("sandwich_dim", 128)), c["heads"]

    def bias(self, query_positions, key_positions):
        distance = causal_distance(query_positions, key_positions)
        needed = int(distance.max()) + 1 if distance.numel() else 1
        profile = sandwich_bias(torch.arange(needed), self.dim, self.heads).to(torch.float32)
        return profile.index_select(1, distance.reshape(-1)).view(self.heads, distance.size(0), distance.size(1))


def _sets(c):
    return 1 if c["options"].get("share_across_layers", True) in (True, "true") else c["layers"]


class T5(Encoding):
    def __init__(self, c):
        super().__init__()
        self.buckets, self.max_distance = int(c["options"].get("t5_buckets", 32)), int(c["options"].get("t5_max_distance", 128))
        self.share = _sets(c) == 1
        self.bucket_bias = nn.Parameter(torch.zeros(_sets(c), c["heads"], self.buckets))

    def bias(self, query_positions, key_positions):
        buckets = t5_bucket(causal_distance(query_positions, key_positions), self.buckets, self.max_distance)
        tq, tk = buckets.shape
        bias = self.bucket_bias.index_select(2, buckets.reshape(-1)).view(self.bucket_bias.size(0), -1, tq, tk)
        return bias.squeeze(0) if self.share else bias


class Kerple(Encoding):
    def __init__(self, c, kind):
        super().__init__()
        self.kind, self.share = kind, _sets(c) == 1
        self.r1 = nn.Parameter(torch.zeros(_sets(c), c["heads"], 1, 1))
        self.r2 = nn.Parameter(torch.zeros(_sets(c), c["heads"], 1, 1))

    def bias(self, query_positions, key_positions):
        r1 = self.r1.clamp(min=0.01)
        r2 = self.r2.clamp(0.01, 2.0) if self.kind == "power" else self.r2.clamp(min=0.01)
        distance = causal_distance(query_positions, key_positions).to(r1.dtype)
        bias = -r1 * torch.pow(distance, r2) if self.kind == "power" else -r1 * torch.log1p(r2 * distance)
        return bias.squeeze(0) if self.share else bias


class Fire(Encoding):
    width = 32

    def __init__(self, c):
        super().__init__()
        # L0 = fire_threshold x the train length; stores made before the key started at 512.
        ratio = c["options"].get("fire_threshold")
        self.initial_threshold = float(ratio) * c["train_length"] if ratio is not None else 512.0
        sets, heads = _sets(c), c["heads"]
        self.share = sets == 1
        self.hidden_weight = nn.Parameter(torch.zeros(sets, 1, self.width))
        self.hidden_bias = nn.Parameter(torch.zeros(sets, 1, self.width))
        self.out_weight = nn.Parameter(torch.zeros(sets, self.width, heads))
        self.out_bias = nn.Parameter(torch.zeros(sets, 1, heads))
        self.c = nn.Parameter(torch.zeros(sets, 1, 1))
        self.threshold_multiplier = nn.Parameter(torch.zeros(sets, 1, 1))

    def bias(self, query_positions, key_positions):
        query = query_positions.to(self.c.dtype).view(1, -1, 1)
        distance = (query_positions.unsqueeze(1) - key_positions.unsqueeze(0)).to(self.c.dtype).unsqueeze(0)
        threshold = (self.threshold_multiplier * self.initial_threshold).abs()
        normalizer = torch.log((self.c * torch.maximum(query, threshold)).abs() + 1) + 1e-6
        normalized = torch.log((self.c * distance).abs() + 1) / normalizer
        sets, tq, tk = normalized.shape
        flat = normalized.view(sets, tq * tk, 1)
        hidden = torch.relu(torch.baddbmm(self.hidden_bias, flat, self.hidden_weight))
        heads = torch.baddbmm(self.out_bias, hidden, self.out_weight)
        bias = heads.transpose(1, 2).reshape(sets, -1, tq, tk)
        return bias.squeeze(0) if self.share else bias


BASES = {"none": NoEncoding, "sinusoidal": Sinusoidal, "learned": Learned, "rope": Rope, "xpos": Xpos,
         "alibi": Alibi, "sandwich": Sandwich, "t5": T5, "fire": Fire,
         "kerple_log": lambda c: Kerple(c, "log"), "kerple_power": lambda c: Kerple(c, "power")}


class Randomized(Encoding):
    """randomized:<base> (Ruoss et al. 2023): the base encoding at sampled positions in
    training; at eval, positions 0..T-1 unless pebench's eval draws are asked for.
    random_draw = per_layer (encodings/randomized.cpp): additive bases draw once per
    forward; rotary bases and fire draw positions per layer ([L, T]); relative biases draw
    a distance table D per layer ([L, T], bias at i - j = d is the base's at D[d])."""

    def __init__(self, c, base):
        super().__init__()
        option = int(c["options"].get("random_max_position", 0))
        self.max_position = option if option > 0 else c["max_length"]
        self.seed = c["seed"]
        self.layers = c["layers"]
        self.eval_randomized = c["options"].get("random_eval_positions", "randomized") == "randomized"
        self.base = BASES[base](dict(c, max_length=max(c["max_length"], self.max_position)))
        self.additive = self.base.additive
        # A store made before draws were per layer has no random_draw in its config.
        per_layer = c["options"].get("random_draw", "per_forward") == "per_layer"
        if not per_layer or self.additive or base == "none":
            self.sampling = "positions_per_forward"
        elif base in ("alibi", "sandwich", "t5", "kerple_log", "kerple_power"):
            self.sampling = "distances_per_layer"
        else:
            self.sampling = "positions_per_layer"

    def _generator(self, index):
        mask = (1 << 64) - 1
        seed = ((self.seed * 0x100000001b3) & mask) ^ 0xc2b2ae3d27d4eb4f ^ index
        return torch.Generator().manual_seed(seed & mask)

    def draw(self, length, draw):
        """pebench's eval draw number `draw` (0, 1, ... per forward of one evaluation):
        [length] sorted positions from [0, max_position), or [layers, length] rows."""
        if self.sampling == "positions_per_forward":
            return self._positions(length, draw)
        rows = []
        for layer in range(self.layers):
            index = draw * self.layers + layer
            if self.sampling == "positions_per_layer":
                rows.append(self._positions(length, index))
            else:
                drawn = torch.randperm(self.max_position - 1, generator=self._generator(index), dtype=torch.long)
                rows.append(torch.cat([torch.zeros(1, dtype=torch.long), drawn[:length - 1].sort().values + 1]))
        return torch.stack(rows)

    def _positions(self, length, index):
        drawn = torch.randperm(self.max_position, generator=self._generator(index), dtype=torch.long)
        return drawn[:length].sort().values

    def embed(self, x, positions):
        return self.base.embed(x, positions)

    def rotate(self, q, k, positions):
        return self.base.rotate(q, k, positions)

    def bias(self, query_positions, key_positions):
        if query_positions.dim() == 1:
            return self.base.bias(query_positions, key_positions)
        distances = self.sampling == "distances_per_layer"
        tq, tk = query_positions.size(1), key_positions.size(1)
        distance = causal_distance(torch.arange(tk - tq, tk), torch.arange(tk)) if distances else None
        layers = []
        for layer in range(self.layers):
            if distances:
                bias = self.base.bias(key_positions[layer], torch.zeros(1, dtype=torch.long))
            else:
                bias = self.base.bias(query_positions[layer], key_positions[layer])
            if bias is None:
                return None
            bias = bias[layer] if bias.dim() == 4 else bias
            if distances:
                bias = bias.squeeze(-1)[:, distance.reshape(-1)].view(bias.size(0), tq, tk)
            layers.append(bias)
        return torch.stack(layers)


def make_encoding(c):
    name = c["encoding"]
    if name.startswith("randomized:"):
        return Randomized(c, name[len("randomized:"):])
    if name not in BASES:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(BASES)}, randomized:<any>")
    return BASES[name](c)


# ---- the model (models/transformer.cpp) -----------------------------------------------


class Attention(nn.Module):
    def __init__(self, d_model, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)


class Block(nn.Module):
    def __init__(self, d_model, heads):
        super().__init__()
        self.norm_attention = nn.LayerNorm(d_model)
        self.attention = Attention(d_model, heads)
        self.norm_mlp = nn.LayerNorm(d_model)
        self.mlp_in = nn.Linear(d_model, 4 * d_model)
        self.mlp_out = nn.Linear(4 * d_model, d_model)


class _Body:
    """The LM's modules and forward, shared by PebenchLM and PebenchForCausalLM, so both
    hold the exported names (token_embedding.weight, blocks.0.attention.qkv.weight, ...)."""

    def _build(self, c):
        self.c = c
        self.token_embedding = nn.Embedding(c["vocab_size"], c["d_model"])
        self.blocks = nn.ModuleList(Block(c["d_model"], c["heads"]) for _ in range(c["layers"]))
        self.final_norm = nn.LayerNorm(c["d_model"])
        if not c["tie_embeddings"]:  # model.tie_embeddings = false: its own output matrix
            self.output = nn.Linear(c["d_model"], c["vocab_size"], bias=False)
        self.encoding = make_encoding(c)

    def _offset(self, positions, layer):
        t = positions.size(-1)
        index = torch.arange(t)
        forbidden = index.unsqueeze(0) > index.unsqueeze(1)  # causal, by token order
        window = self.c["attention_window"]
        if window > 0:
            forbidden = forbidden | (index.unsqueeze(1) - index.unsqueeze(0) >= window)
        bias = self.encoding.bias(positions, positions)
        offset = bias.clone() if bias is not None else torch.zeros(1, t, t, dtype=torch.float32)
        offset = offset.masked_fill(forbidden, float("-inf"))
        return offset[layer] if offset.dim() == 4 else offset

    def _forward(self, tokens, positions=None, rope_scaling=None):
        t = tokens.size(1)
        if isinstance(positions, str) and positions == "pebench":
            positions = self.encoding.draw(t, 0) if isinstance(self.encoding, Randomized) else None
        if positions is None:
            positions = torch.arange(t, dtype=torch.long)
        self.encoding.set_variant(rope_scaling or "", t)
        d_model, heads = self.c["d_model"], self.c["heads"]
        d_head = d_model // heads
        x = self.token_embedding(tokens)
        if self.encoding.additive and self.c["scale_embeddings"]:
            x = x * math.sqrt(d_model)
        x = self.encoding.embed(x, positions)
        for layer, block in enumerate(self.blocks):
            h = block.norm_attention(x)
            b = h.size(0)
            qkv = block.attention.qkv(h).view(b, t, 3, heads, d_head).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            q, k = self.encoding.rotate(q, k, positions[layer] if positions.dim() == 2 else positions)
            q = q * (1.0 / math.sqrt(d_head))
            scores = torch.matmul(q, k.transpose(-2, -1)) + self._offset(positions, layer)
            attended = torch.matmul(torch.softmax(scores, -1), v)
            x = x + block.attention.out(attended.transpose(1, 2).reshape(b, t, d_model))
            x = x + block.mlp_out(F.gelu(block.mlp_in(block.norm_mlp(x))))
        self.encoding.set_variant("", self.c["train_length"])
        head = self.token_embedding.weight if self.c["tie_embeddings"] else self.output.weight
        return torch.matmul(self.final_norm(x), head.t())


class PebenchLM(_Body, nn.Module):
    def __init__(self, config):
        nn.Module.__init__(self)
        self._build(model_config(config))

    def forward(self, tokens, positions=None, rope_scaling=None):
        """tokens [B, T] int64 -> logits [B, T, vocab]. positions: [T] or [L, T] int64, or "pebench"
        (randomized: pebench's first eval draw); rope_scaling: pi | ntk | yarn | yarn_paper (rope only)."""
        return self._forward(tokens, positions, rope_scaling)


def model_config(config):
    """The model's settings from an exported config.json (dict)."""
    study = config.get("study_config", {})
    options = dict(config.get("encoding_options", {}))
    return {"encoding": config["encoding"], "vocab_size": int(config["vocab_size"]), "d_model": int(config["d_model"]),
            "layers": int(config["layers"]), "heads": int(config["heads"]),
            "train_length": int(config["train_length"]), "max_length": int(config["max_length"]),
            "seed": int(config.get("seed", 0)), "options": options,
            "scale_embeddings": study.get("model.scale_embeddings", True) in (True, "true"),
            "tie_embeddings": study.get("model.tie_embeddings", True) in (True, "true"),
            "attention_window": int(study.get("model.attention_window", 0))}


def read_safetensors(path):
    """name -> float32 tensor, from the file format alone (8-byte header length, JSON, data)."""
    with open(path, "rb") as f:
        data = f.read()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    header.pop("__metadata__", None)
    start = 8 + length
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {info['dtype']}; pebench exports F32")
        begin, end = info["data_offsets"]
        array = np.frombuffer(data, dtype="<f4", count=(end - begin) // 4, offset=start + begin)
        tensors[name] = torch.from_numpy(array.copy()).view(info["shape"])
    return tensors


def load(folder):
    """The exported model in `folder` (config.json, model.safetensors), in eval mode."""
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    model = PebenchLM(config)
    model.load_state_dict(read_safetensors(os.path.join(folder, "model.safetensors")), strict=True)
    return model.eval()


def perplexities(model, heldout, lengths, tokens=32768, batch_tokens=16384, rope_scaling=None, positions=None):
    """Perplexity at every length by pebench's non-overlapping protocol (harness/evaluate.cpp):
    the same budget at every length, min(tokens, len(heldout) - 1) rounded down to the longest
    length; windows of `length` (+1 target) from 0, `batch_tokens // length` per forward;
    exp of the mean loss. positions="pebench": randomized encodings draw per forward as
    pebench's eval does (draws numbered from 0 across the lengths, in order)."""
    heldout = torch.as_tensor(np.asarray(heldout, dtype=np.int64))
    lengths = sorted(lengths)
    budget = min(tokens, len(heldout) - 1) // lengths[-1] * lengths[-1]
    draws = 0
    result = []
    with torch.no_grad():
        for length in lengths:
            starts = list(range(0, budget - length + 1, length))
            per_batch = max(1, batch_tokens // length)
            total, count = 0.0, 0
            for first in range(0, len(starts), per_batch):
                windows = torch.stack([heldout[s:s + length + 1] for s in starts[first:first + per_batch]])
                drawn = None
                if positions == "pebench" and isinstance(model.encoding, Randomized) and model.encoding.eval_randomized:
                    drawn, draws = model.encoding.draw(length, draws), draws + 1
                logits = model(windows[:, :length], positions=drawn, rope_scaling=rope_scaling)
                loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), windows[:, 1:].reshape(-1),
                                       reduction="none")
                total += float(loss.to(torch.float64).sum())
                count += loss.numel()
            result.append(math.exp(total / count))
    return result


try:  # HF transformers, when installed: AutoModelForCausalLM.from_pretrained(DIR, trust_remote_code=True)
    from transformers import PretrainedConfig, PreTrainedModel
    from transformers.modeling_outputs import CausalLMOutput

    class PebenchConfig(PretrainedConfig):
        model_type = "pebench"

    class PebenchForCausalLM(_Body, PreTrainedModel):
        config_class = PebenchConfig

        def __init__(self, config):
            PreTrainedModel.__init__(self, config)
            self._build(model_config(config.to_dict()))

        def forward(self, input_ids, labels=None, **kwargs):
            logits = self._forward(input_ids)
            loss = None
            if labels is not None:
                loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1))
            return CausalLMOutput(loss=loss, logits=logits)
except ImportError:
    pass
