#!/usr/bin/python3
"""Where a training step's time goes, per LibTorch op: the reference model of
bench/reference_train.py (the same kernels pebench calls) under torch.profiler.
    /usr/bin/python3 bench/profile_reference.py [--d_model 256 --layers 4 --seq_len 256 --batch 16]
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_train import LM  # noqa: E402

parser = argparse.ArgumentParser()
for name, default in [("d_model", 256), ("layers", 4), ("heads", 4), ("seq_len", 256), ("batch", 16)]:
    parser.add_argument("--" + name, type=int, default=default)
args = parser.parse_args()
torch.set_num_threads(1)
torch.manual_seed(0)
model = LM(256, args.d_model, args.layers, args.heads)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))


def step():
    batch = torch.randint(0, 256, (args.batch, args.seq_len + 1))
    loss = F.cross_entropy(model(batch[:, :-1]).reshape(-1, 256), batch[:, 1:].reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


for _ in range(3):
    step()
with profile(activities=[ProfilerActivity.CPU]) as trace:
    for _ in range(5):
        step()
print(trace.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
