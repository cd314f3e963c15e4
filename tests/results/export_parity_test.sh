#!/usr/bin/env bash
# Trained models leave pebench: a tiny model per registered encoding (shared and per-layer
# biases; randomized positions drawn per forward, per layer and as distances; rope's eval
# variants) is trained, exported with `pebench export --all`, loaded with
# results/python/pebench_model.py as copied into each export, and must give pebench's own logits (pebench_export_logits: the production model with the
# stored weights, query-blocked at 4x the train length) to 1e-5 relative at the train
# length and 4x it, and every eval length's perplexity in the store to 1e-5 relative.
# Bad exports exit 2 with one line and write nothing.
# usage: export_parity_test.sh PEBENCH PEBENCH_EXPORT_LOGITS
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
logits_tool=${2:?usage: export_parity_test.sh PEBENCH PEBENCH_EXPORT_LOGITS}
install_missing python3-torch python3-numpy python3-h5py || die "could not install python3-torch"
cd "$work" || exit 1

encodings=$("$pebench" encodings | awk 'NR > 1 && /^[a-z_]+ / {print $1}' | grep -v '^randomized' | paste -sd,)
[[ $encodings == *alibi* && $encodings == *fire* ]] || die "pebench encodings lists no encodings: $encodings"
tiny_study parity.ini "[model]" "layers = 2" "[train]" "steps = 30" "batch = 4" "log_every = 10" "warmup = 5" \
  "[eval]" "lengths = 16,32,64" "tokens = 512" "batch_tokens = 128" "attention_block = 16" \
  "[encoding]" "rope_scaling = pi,ntk,yarn,yarn_paper" \
  "[grid]" "encoding = $encodings,randomized:rope,randomized:learned,randomized:t5,randomized:fire" \
  "encoding.share_across_layers = true,false"
"$pebench" run parity.ini --store parity.h5 --threads-per-rank 1 > run.log 2>&1 || { cat run.log; die "pebench run"; }
"$pebench" export --all parity.h5 -o exports > export.log 2>&1 || { cat export.log; die "pebench export --all"; }
runs=$(ls exports)
[[ $(wc -w <<< "$runs") -eq $(($(tr ',' '\n' <<< "$encodings" | wc -l) * 2 + 8)) ]] || die "exported $(wc -w <<< "$runs") runs"
mkdir -p logits
for run in $runs; do
  for length in 16 64; do "$logits_tool" parity.h5 "$run" "$length" - "logits/$run-$length" || fail "logits of $run"; done
  if [[ $run == rope-* ]]; then
    for variant in pi ntk yarn yarn_paper; do "$logits_tool" parity.h5 "$run" 64 "$variant" "logits/$run-64-$variant" || fail "logits of $run"; done
  fi
done

$python - parity.h5 exports logits <<'PY' || fail "parity"
import importlib.util, json, math, os, sys
import h5py, numpy as np, torch
store_path, exports, logits_dir = sys.argv[1:4]
store = h5py.File(store_path, "r")
checked = worst = 0
for run_id in sorted(os.listdir(exports)):
    folder = os.path.join(exports, run_id)
    spec = importlib.util.spec_from_file_location("pebench_model_" + run_id.replace("-", "_").replace(":", "_"),
                                                  os.path.join(folder, "pebench_model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load(folder)
    config = json.load(open(os.path.join(folder, "config.json")))
    assert config["run_id"] == run_id and config["auto_map"]["AutoModelForCausalLM"], config
    variants = [("", 16), ("", 64)] + ([(v, 64) for v in ("pi", "ntk", "yarn", "yarn_paper")] if run_id.startswith("rope-") else [])
    for variant, length in variants:
        prefix = os.path.join(logits_dir, f"{run_id}-{length}" + (f"-{variant}" if variant else ""))
        tokens = torch.from_numpy(np.fromfile(prefix + ".tokens", dtype=np.int64)).view(1, -1)
        positions = torch.from_numpy(np.fromfile(prefix + ".positions", dtype=np.int64)).view(-1, length)
        positions = positions[0] if positions.size(0) == 1 else positions  # [L, T]: drawn per layer
        if isinstance(model.encoding, module.Randomized):  # pebench's first eval draw, redrawn in Python
            assert torch.equal(model.encoding.draw(length, 0), positions), f"{run_id}: eval draw 0 differs"
        theirs = torch.from_numpy(np.fromfile(prefix + ".logits", dtype=np.float32)).view(1, length, -1)
        with torch.no_grad():
            ours = model(tokens, positions=positions, rope_scaling=variant or None)
        error = float((ours - theirs).abs().max() / theirs.abs().max())
        worst = max(worst, error)
        assert error <= 1e-5, f"{run_id} {variant or 'as trained'} at {length}: relative logit error {error:.2e}"
        checked += 1
    heldout = np.fromfile(os.path.join(logits_dir, f"{run_id}-16.heldout"), dtype=np.int64)
    group = store["runs"][run_id]
    study = config["study_config"]
    lengths = [int(x) for x in group["eval/lengths"][()]]
    for variant in [""] + ([v for v in ("pi", "ntk", "yarn", "yarn_paper")] if run_id.startswith("rope-") else []):
        stored = group["eval/ppl" if not variant else f"eval/{variant}/ppl"][()]
        mine = module.perplexities(model, heldout, lengths, tokens=int(study["eval.tokens"]),
                                   batch_tokens=int(study["eval.batch_tokens"]), rope_scaling=variant or None,
                                   positions="pebench")
        for length, a, b in zip(lengths, mine, stored):
            assert math.isclose(a, b, rel_tol=1e-5), f"{run_id} {variant or 'as trained'} ppl@{length}: {a} vs store {b}"
print(f"{checked} logit comparisons over {len(os.listdir(exports))} exported runs, worst relative error {worst:.1e}; "
      "every stored ppl recomputed in Python")
PY

# Bad exports: one line, exit 2, nothing written.
expect_refusal() {  # NAME TEXT COMMAND...
  local name=$1 text=$2
  shift 2
  "$@" > out.txt 2> err.txt
  local code=$?
  if [[ $code -ne 2 || $(wc -l < err.txt) -ne 1 ]] || ! grep -qF -- "$text" err.txt || [[ -e refused ]]; then
    fail "$name: exit $code: $(cat err.txt)"
  fi
  rm -rf refused
}
first=$(head -1 <<< "$runs")
expect_refusal "missing run id" "has no run nope" "$pebench" export parity.h5 nope -o refused
mkdir full && touch full/x
expect_refusal "non-empty folder" "exists and is not an empty folder" "$pebench" export parity.h5 "$first" -o full
cp parity.h5 states.h5
$python -c "
import h5py, sys
f = h5py.File('states.h5', 'r+'); index = f['index'][()]
index[0]['status'] = b'diverged'; index[1]['status'] = b'pending'; f['index'][...] = index
print(index[0]['run_id'].decode(), index[1]['run_id'].decode())" > ids.txt
read -r diverged pending < ids.txt
expect_refusal "diverged run" "is diverged" "$pebench" export states.h5 "$diverged" -o refused
expect_refusal "unfinished run" "is pending" "$pebench" export states.h5 "$pending" -o refused
"$pebench" run parity.ini --store light.h5 --grid.encoding alibi --grid.encoding.share_across_layers true \
  --train.keep_weights false --threads-per-rank 1 > /dev/null 2>&1 || die "run without weights"
light=$($python -c "import h5py; print(h5py.File('light.h5')['index'][0]['run_id'].decode())")
expect_refusal "no weights" "kept no weights" "$pebench" export light.h5 "$light" -o refused
expect_refusal "--all without weights" "kept no weights" "$pebench" export --all light.h5 -o refused
[[ -z $(ls -A . | grep partial) ]] || fail "a partial export was left behind"
finish "export parity"
