"""The tables of BENCHMARKS.md's GPU section (section 7) from the raw `bench=...` lines that
bench/gpu_benchmarks.sh prints and keeps (its RAW file); lines of several calls may be
concatenated: for a cell measured more than once, the last line counts.
usage: python3 bench/gpu_tables.py RAW_FILE
"""
import re, sys
rows = [dict(re.findall(r"(\w+)=(\S+)", line)) for line in open(sys.argv[1]) if line.startswith("bench=")]
def k(v): return f"{float(v) / 1000:,.0f}k"
train = [r for r in rows if r["bench"] in ("train", "reference_train")]
if train:
    print("| model | precision | pebench explicit | pebench fused | pebench fused + CUDA graph | PyTorch eager | sdpa | compile | compile + CUDA graphs |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    shapes = sorted({(r["d_model"], r["layers"], r["heads"], r["seq_len"], r["batch"]) for r in train}, key=lambda s: int(s[0]))
    for shape in shapes:
        for precision in ("fp32", "bf16"):
            def cell(bench, key, value, graph="off"):
                found = [r for r in train if r["bench"] == bench and r.get(key) == value and r["precision"] == precision
                         and r.get("cuda_graph", "off") == graph
                         and (r["d_model"], r["layers"], r["heads"], r["seq_len"], r["batch"]) == shape]
                return k(found[-1]["tokens_per_s"]) if found else "-"
            cells = [cell("train", "attention", a) for a in ("explicit", "fused")] + [cell("train", "attention", "fused", "auto")]
            cells += [cell("reference_train", "mode", m) for m in ("eager", "sdpa", "compile", "compile-graphs")]
            print(f"| d{shape[0]} L{shape[1]} H{shape[2]} T{shape[3]} B{shape[4]} | {precision} | " + " | ".join(cells) + " |")
    print()
launches = [r for r in rows if r["bench"] in ("launches", "reference_launches")]
if launches:
    print("| model | pebench explicit | pebench fused | PyTorch eager | sdpa |   (kernel ops per training step)")
    print("| --- | --- | --- | --- | --- |")
    for shape in sorted({(r["d_model"], r["layers"], r["heads"]) for r in launches}, key=lambda s: int(s[0])):
        def cell(bench, key, value):
            found = [r for r in launches if r["bench"] == bench and r.get(key) == value
                     and (r["d_model"], r["layers"], r["heads"]) == shape]
            return found[-1]["kernel_ops_per_step"] if found else "-"
        print(f"| d{shape[0]} L{shape[1]} H{shape[2]} | " + " | ".join(
            [cell("launches", "attention", "explicit"), cell("launches", "attention", "fused"),
             cell("reference_launches", "mode", "eager"), cell("reference_launches", "mode", "sdpa")]) + " |")
    print()
evals = [r for r in rows if r["bench"] in ("eval", "reference_eval")]
if evals:
    print("| eval length | pebench explicit | pebench fused | PyTorch eager | sdpa |")
    print("| --- | --- | --- | --- | --- |")
    for length in sorted({r["length"] for r in evals}, key=int):
        def cell(bench, key, value):
            found = [r for r in evals if r["bench"] == bench and r.get(key) == value and r["length"] == length]
            return k(found[-1]["tokens_per_s"]) if found else "-"
        print(f"| {length} | " + " | ".join([cell("eval", "attention", "explicit"), cell("eval", "attention", "fused"),
                                             cell("reference_eval", "mode", "eager"), cell("reference_eval", "mode", "sdpa")]) + " |")
    print()
grids = [r for r in rows if r["bench"] == "grid"]
if grids:
    ones = [float(r["seconds"]) for r in grids if r["ranks"] == "1"]
    one = ones[-1] if ones else None
    print(f"| ranks on one device | time-sliced | under MPS |   ({grids[0]['runs']} runs; 1 rank "
          + (f"{one:.1f} s)" if one else "not timed)"))
    print("| --- | --- | --- |")
    for ranks in sorted({r["ranks"] for r in grids if r["ranks"] != "1"}, key=int):
        def cell(mps):
            found = [float(r["seconds"]) for r in grids if r["ranks"] == ranks and r["mps"] == mps]
            if not found: return "-"
            return f"{found[-1]:.1f} s" + (f" ({one / found[-1]:.1f}x)" if one else "")
        print(f"| {ranks} | {cell('no')} | {cell('yes')} |")
