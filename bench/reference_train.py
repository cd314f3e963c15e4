#!/usr/bin/python3
"""PyTorch-from-Python reference for BENCHMARKS.md: the same decoder-only LM as
models/transformer.cpp (pre-LayerNorm, fused qkv, explicit causal attention with an
additive -inf mask, 4x GELU MLP, tied embedding/output, weights ~ N(0, 1/fan_in)), no
positional encoding (the `none` run of pebench_bench), trained with the same AdamW
(betas 0.9/0.95, weight decay 0.1 on matrices, grad-norm clip 1.0) on random tokens.

Debian's python3-torch is the same LibTorch 1.13 that pebench links, so the comparison
is the framework overhead and the allocator, not the kernels. Run with Debian's
interpreter:
    /usr/bin/python3 bench/reference_train.py train --d_model 128 --layers 2 --heads 4 --seq_len 128 --batch 32
    /usr/bin/python3 bench/reference_train.py eval --length 4096
    python3 bench/reference_train.py launches --mode eager   (torch >= 2.4: `pebench_bench launches`'s peer)
Prints one `key=value` line like pebench_bench.

On a GPU (torch 2.x; bench/gpu_benchmarks.sh), the PyTorch peer of `pebench_bench --device
cuda`: --device cuda, AdamW(fused=True) as pebench uses there, batches uploaded from pinned
host memory each step as pebench does, and --mode
  eager           the explicit attention above
  sdpa            F.scaled_dot_product_attention(is_causal=True) (pebench --attention fused)
  compile         the whole step (forward, backward, clip, AdamW) under torch.compile
  compile-graphs  the same with mode="reduce-overhead" (CUDA graphs)
"""
import argparse
import math
import os
import re
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def no_kernel_ops():
    """The ops that launch no kernel of their own: tests/op_counter.h's no_kernel_ops list,
    read from there so that both counters skip the same ops."""
    header = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "op_counter.h")).read()
    body = header[header.index("no_kernel_ops()"):]
    return set(re.findall(r'"(aten::\w+)"', body[:body.index("};")]))


def count_kernel_ops(body):
    """The kernel ops `body` dispatches, by name, counted as tests/op_counter.h's
    count_kernel_ops does: ATen ops none of whose callees does work, a multi-tensor op once."""
    from torch.autograd.profiler import profile
    with profile() as trace:
        body()
    counts, skipped = {}, no_kernel_ops()

    def walk(event):  # the kernel ops under `event`, added to counts
        name = event.name
        if name.startswith("aten::_foreach_") or name.startswith("aten::_fused_"):
            counts[name] = counts.get(name, 0) + 1
            return 1
        below = sum(walk(child) for child in event.cpu_children)
        if below == 0 and name.startswith("aten::") and name not in skipped:
            counts[name] = counts.get(name, 0) + 1
            return 1
        return below

    for event in trace.function_events:
        if event.cpu_parent is None:
            walk(event)
    return counts


class Block(nn.Module):
    def __init__(self, d_model, heads):
        super().__init__()
        self.heads = heads
        self.norm_attention = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.norm_mlp = nn.LayerNorm(d_model)
        self.mlp_in = nn.Linear(d_model, 4 * d_model)
        self.mlp_out = nn.Linear(4 * d_model, d_model)

    def attention(self, x, mask):
        batch, length, d_model = x.shape
        d_head = d_model // self.heads
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, d_head).permute(2, 0, 3, 1, 4)
        q = q * (1.0 / math.sqrt(d_head))
        if mask is None:  # --mode sdpa: the fused kernel with its own causal mask
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0)
        else:
            attended = torch.softmax(q @ k.transpose(-2, -1) + mask, dim=-1) @ v
        return self.out(attended.transpose(1, 2).reshape(batch, length, d_model))

    def forward(self, x, mask):
        h = x + self.attention(self.norm_attention(x), mask)
        return h + self.mlp_out(F.gelu(self.mlp_in(self.norm_mlp(h))))


class LM(nn.Module):
    def __init__(self, vocab, d_model, layers, heads, sdpa=False):
        super().__init__()
        self.sdpa = sdpa
        self.embedding = nn.Embedding(vocab, d_model)
        self.blocks = nn.ModuleList(Block(d_model, heads) for _ in range(layers))
        self.final_norm = nn.LayerNorm(d_model)
        with torch.no_grad():
            self.embedding.weight.normal_(0, d_model ** -0.5)
            for block in self.blocks:
                for linear in (block.qkv, block.out, block.mlp_in, block.mlp_out):
                    linear.weight.normal_(0, linear.weight.shape[1] ** -0.5)
                    linear.bias.zero_()

    def forward(self, tokens):
        length = tokens.shape[1]
        mask = None if self.sdpa else torch.full((length, length), float("-inf"), device=tokens.device).triu(1).unsqueeze(0)
        x = self.embedding(tokens)
        for block in self.blocks:
            x = block(x, mask)
        return self.final_norm(x) @ self.embedding.weight.t()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["train", "eval", "launches"])
    for name, default in [("d_model", 128), ("layers", 2), ("heads", 4), ("seq_len", 128), ("batch", 32),
                          ("steps", 40), ("threads", 1), ("length", 4096), ("tokens", 32768)]:
        parser.add_argument("--" + name, type=int, default=default)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")  # as train.precision
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--mode", choices=["eager", "sdpa", "compile", "compile-graphs"], default="eager")
    # cuda: AdamW(fused=True) and clip_grad_norm_(foreach=True) whatever the device, as
    # `pebench_bench train --kernels cuda` (launches always counts these)
    parser.add_argument("--kernels", choices=["device", "cuda"], default="device")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = LM(256, args.d_model, args.layers, args.heads, sdpa=args.mode == "sdpa").to(device)
    d, layers = args.d_model, args.layers
    cuda = device.type == "cuda"

    def upload(batch):  # as pebench's harness/data.h upload()
        return batch.pin_memory().to(device, non_blocking=True) if cuda else batch

    def forward_flops_per_token(length):  # as bench/bench_main.cpp
        return 2 * (12 * d * d * layers + 256 * d) + 4 * layers * length * d

    if args.what in ("train", "launches"):
        decayed = [p for p in model.parameters() if p.dim() >= 2]
        plain = [p for p in model.parameters() if p.dim() < 2]
        cuda_kernels = cuda or args.kernels == "cuda" or args.what == "launches"
        fused = {"fused": True} if cuda_kernels else {}
        optimizer = torch.optim.AdamW([{"params": decayed, "weight_decay": 0.1}, {"params": plain, "weight_decay": 0.0}],
                                      lr=1e-3, betas=(0.9, 0.95), **fused)
        generator = torch.Generator().manual_seed(1)

        def train_step(batch):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                logits = model(batch[:, :-1])
            loss = F.cross_entropy(logits.float().reshape(-1, 256), batch[:, 1:].reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True if cuda_kernels else None)
            optimizer.step()
            return loss.detach()

        if args.what == "launches":  # steps 5 to 8, as pebench_bench's 8 steps less 4
            if args.mode.startswith("compile"):
                raise SystemExit("reference_train.py launches: --mode eager or sdpa (compiled steps hide their kernels)")
            batches = [torch.randint(0, 256, (args.batch, args.seq_len + 1), generator=generator) for _ in range(8)]
            for batch in batches[:4]:
                train_step(upload(batch))
            counts = count_kernel_ops(lambda: [train_step(upload(batch)) for batch in batches[4:]])
            by_op = ",".join(f"{name[6:]}:{calls // 4}" for name, calls in sorted(counts.items()))
            print(f"bench=reference_launches d_model={d} layers={layers} heads={args.heads} seq_len={args.seq_len} "
                  f"batch={args.batch} mode={args.mode} torch={torch.__version__.split('+')[0]} "
                  f"kernel_ops_per_step={sum(counts.values()) // 4} by_op={by_op}")
            return
        if args.mode.startswith("compile"):
            train_step = torch.compile(train_step, mode="reduce-overhead" if args.mode == "compile-graphs" else "default")
        windows, losses, start = [], [], time.perf_counter()
        for step in range(1, args.steps + 1):
            batch = upload(torch.randint(0, 256, (args.batch, args.seq_len + 1), generator=generator))
            loss = train_step(batch)
            # CUDA graphs reuse their output buffer: keep a copy
            losses.append(loss.clone() if args.mode == "compile-graphs" else loss)
            if step % 10 == 0:  # a log point, as pebench's train.log_every = 10
                final_loss = torch.stack(losses).mean().item()
                losses = []
                now = time.perf_counter()
                windows.append(10 * args.batch * args.seq_len / (now - start))
                start = now
        windows = sorted(windows[1:])
        tokens_per_second = windows[len(windows) // 2]
        print(f"bench=reference_train d_model={d} layers={layers} heads={args.heads} seq_len={args.seq_len} "
              f"batch={args.batch} threads={args.threads} precision={args.precision} device={args.device} "
              f"mode={args.mode} kernels={args.kernels} tokens_per_s={tokens_per_second:.1f} "
              f"model_gflops={3 * forward_flops_per_token(args.seq_len) * tokens_per_second / 1e9:.2f} "
              f"final_loss={final_loss:.4f}")
    else:
        model.eval()
        length = args.length
        windows = max(1, args.tokens // length)
        per_batch = max(1, 16384 // length)
        data = torch.randint(0, 256, (windows, length + 1), generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            model(upload(data[:1, :-1]))  # warm-up
            start = time.perf_counter()
            losses = []
            for first in range(0, windows, per_batch):
                chunk = upload(data[first:first + per_batch])
                losses.append(F.cross_entropy(model(chunk[:, :-1]).reshape(-1, 256), chunk[:, 1:].reshape(-1),
                                              reduction="none"))
            torch.cat(losses).cpu()  # every kernel has run (pebench reads its losses back once)
            seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"bench=reference_eval d_model={d} layers={layers} length={length} threads={args.threads} "
              f"device={args.device} mode={args.mode} "
              f"tokens_per_s={windows * length / seconds:.1f} peak_rss_mib={peak:.1f}")


if __name__ == "__main__":
    main()
