#!/usr/bin/env bash
# Run ids are how stores resume and merge: for every study file in jobs/ (and a few
# overrides that reach the run-id rules: analyses, bf16, rope scaling, a task, an
# encoding key, a tokenizer, a passkey), `pebench run --dry-run` must print exactly the
# ids recorded in golden_run_ids.txt, which were taken with pebench before the typed run
# spec. Re-recorded once since, on 2026-11-30, for the runs on text:embedded only: its
# files became documents with an end-of-document token between them (data.documents),
# which changes what those runs compute; every other id stayed as recorded. (Study files
# whose settings change get new ids with them: alibi-vs-sandwich-receptive-field.ini
# gained its passkey windows then.) Re-recorded again on 2026-12-01 for issue 17's fixes,
# each changing what its runs compute: every synthetic-task run (a start token first,
# varied copy lengths: data.start_token, data.copy_lengths), rope runs with a yarn curve
# (yarn became HF's ramp: encoding.yarn_beta_*), fire runs (threshold from the train
# length: encoding.fire_threshold) and runs with the probe (k-fold: analysis.probe_folds).
# Every other id stayed as recorded. And for the rest of issue 17 (2026-12-01, later):
# jobs/quickstart.ini and jobs/zoo.ini run window_ppl and gradient by default (their
# settings changed, so every id of theirs and of their overrides), and randomized runs
# whose draws became per layer (rope, xpos, fire, relative biases: encoding.random_draw)
# changed in wikitext.ini and sparse-memory-extrapolation.ini; randomized:learned kept its.
# jobs/studies/init-rate-composite.ini moved to Zhang et al.'s setting (one head, untied
# output, a fixed training set, their learning rate, 5 seeds; 2026-12-01): its ids only.
# usage: golden_run_ids.sh PEBENCH [--record]
set -uo pipefail
pebench=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
golden=$here/golden_run_ids.txt
cases=(
  "jobs/quickstart.ini"
  "jobs/quickstart.ini --analysis.run window_ppl,gradient,attention,probe,pe_geometry"
  "jobs/quickstart.ini --train.precision bf16"
  "jobs/quickstart.ini --encoding rope --encoding.rope_scaling pi,ntk,yarn"
  "jobs/quickstart.ini --data.source synthetic:copy --data.symbols 8"
  "jobs/quickstart.ini --train.checkpoint_every 7 --train.cuda_graph auto --study.name other"
  "jobs/receptive_field.ini"
  "jobs/receptive_field.ini --data.tokenizer bpe:1024 --eval.passkey true"
  "jobs/receptive_field.ini --data.tokenizer unigram:1024 --data.passkey_mix 0.05"
  "jobs/quickstart.ini --data.documents joined"
  "jobs/quickstart.ini --train.eval_every 0"
  "jobs/quickstart.ini --train.eval_every 100"
  "jobs/zoo.ini"
  "jobs/zoo.ini --encoding.t5_buckets 16 --encoding.share_across_layers false"
  "jobs/studies/alibi-vs-sandwich-receptive-field.ini"
  "jobs/wikitext.ini"
  "jobs/studies/init-rate-composite.ini"
  "jobs/studies/learned-pe-init-scale.ini"
  "jobs/studies/sparse-memory-extrapolation.ini"
)
out=$(mktemp)
stores=$(mktemp -d)  # --dry-run checks an existing store: never the quickstart.h5 a user made here
trap 'rm -rf "$out" "$stores"' EXIT
export OMPI_MCA_orte_tmpdir_base=$stores  # OpenMPI's session folders: tests/lib.sh says why
cd "$root" || exit 1  # study files name ../shared/data relative to the checkout
for case in "${cases[@]}"; do
  # shellcheck disable=SC2086
  ids=$("$pebench" run $case --dry-run --store "$stores/none.h5" 2>&1) || { echo "FAIL: pebench run $case --dry-run: $ids"; exit 1; }
  grep -E '^[a-z0-9_:]+-L[0-9]+-s[0-9]+-[0-9a-f]{8}$' <<< "$ids" | sed "s|^|$case\t|" >> "$out"
done
if [[ ${2:-} == --record ]]; then
  cp "$out" "$golden"
  echo "recorded $(wc -l < "$golden") run ids"
  exit 0
fi
if ! diff -u "$golden" "$out"; then
  echo "FAIL: run ids differ from $golden (a change that alters them for an unchanged config is a bug)"
  exit 1
fi
echo "golden run ids: $(wc -l < "$golden") ids, all equal"
