#!/usr/bin/env bash
# `pebench submit --device cuda --gpus-per-node G --ranks-per-gpu K` without a GPU: the
# rendered SLURM script is run with stand-ins on PATH for srun (runs its command; the
# pebench run line is recorded, exiting as FAKE_RUN_EXIT says), scontrol, scancel and
# nvidia-cuda-mps-control (records its calls with the pipe folder it was given). Checked:
# the GPU directives (SLURM --gpus-per-node, PBS select with ngpus), the run line
# (--device cuda and the flags forwarded after `--`, quoted), one MPS daemon started
# before the ranks with a per-job pipe folder and stopped on every way out (done, failed,
# checkpointed and requeued), nothing left behind; no MPS with one rank per GPU; bad
# GPU flags and forwarded flags exit 2 with one line and write nothing.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
cd "$work" || exit 1
printf '[model]\nd_model = 16\nheads = 2\n[train]\nseq_len = 16\nsteps = 5\n' > study.ini

mkdir bin
cat > bin/srun <<'SH'
#!/bin/bash
# Skip srun's own options, run the rest; a pebench run line is recorded instead.
while [[ $# -gt 0 && $1 == --* ]]; do shift; done
if [[ ${1:-} == */pebench ]]; then
  echo "run $* pipe=${CUDA_MPS_PIPE_DIRECTORY:-none}" >> "$FAKE_LOG"
  exit "${FAKE_RUN_EXIT:-0}"
fi
exec "$@"
SH
cat > bin/nvidia-cuda-mps-control <<'SH'
#!/bin/bash
if [[ ${1:-} == -d ]]; then
  echo "mps start pipe=$CUDA_MPS_PIPE_DIRECTORY log=$CUDA_MPS_LOG_DIRECTORY" >> "$FAKE_LOG"
  [[ -d $CUDA_MPS_PIPE_DIRECTORY ]] || echo "mps pipe folder missing" >> "$FAKE_LOG"
else
  echo "mps $(cat) pipe=$CUDA_MPS_PIPE_DIRECTORY" >> "$FAKE_LOG"
fi
SH
printf '#!/bin/bash\necho "scontrol $*" >> "$FAKE_LOG"\n' > bin/scontrol
printf '#!/bin/bash\necho "scancel $*" >> "$FAKE_LOG"\n' > bin/scancel
chmod +x bin/*
export PATH=$work/bin:$PATH FAKE_LOG=$work/calls.log

"$pebench" submit study.ini --scheduler slurm --device cuda --gpus-per-node 2 --ranks-per-gpu 4 --store "$work/gpu.h5" \
  --dry-run -- --train.steps 3 --eval.lengths "16,32" > script.out 2> script.err || die "dry run: $(cat script.err)"
tail -n +2 script.out > job.sh
grep -q '^#SBATCH --gpus-per-node=2$' job.sh || fail "no --gpus-per-node"
grep -q '^#SBATCH --ntasks-per-node=8$' job.sh || fail "ranks per node is not 2 x 4"
grep -q -- "--device cuda '--train.steps' '3' '--eval.lengths' '16,32' " job.sh || fail "run line: $(grep 'run ' job.sh)"

run_job() {  # EXIT_CODE JOB_ID: the script under the stand-ins; prints its exit code
  rm -f "$FAKE_LOG"
  SLURM_JOB_ID=$2 SLURM_JOB_NODELIST=node1 FAKE_RUN_EXIT=$1 bash job.sh > "job-$2.log" 2>&1
  echo $?
}
for case in "0 101" "1 102" "3 103"; do
  read -r code job <<< "$case"
  got=$(run_job "$code" "$job")
  [[ $got == "$code" ]] || fail "job $job exited $got, not $code: $(cat "job-$job.log")"
  calls=$(cat "$FAKE_LOG")
  expected="mps start pipe=/tmp/pebench-mps-$job/pipe log=/tmp/pebench-mps-$job/log"
  [[ $(sed -n 1p "$FAKE_LOG") == "$expected" ]] || fail "job $job: the daemon did not start first: $calls"
  [[ $(sed -n 2p "$FAKE_LOG") == "run "*"pipe=/tmp/pebench-mps-$job/pipe" ]] || fail "job $job: ranks without the job's MPS pipe: $calls"
  grep -q "^mps quit pipe=/tmp/pebench-mps-$job/pipe$" "$FAKE_LOG" || fail "job $job (exit $code): the daemon was not stopped: $calls"
  [[ $(grep -c "^mps start" "$FAKE_LOG") == 1 ]] || fail "job $job: not one daemon per node: $calls"
  if [[ $code == 3 ]]; then
    grep -q "^scontrol requeue $job$" "$FAKE_LOG" || fail "job $job: checkpointed but not requeued: $calls"
  fi
  [[ ! -e /tmp/pebench-mps-$job ]] || fail "job $job left /tmp/pebench-mps-$job"
  leftovers=$(ls "$work" | grep -c "mps-")
  [[ $leftovers == 0 ]] || fail "job $job left flag files: $(ls "$work")"
done
echo "ok   MPS started before the ranks and stopped after them (done, failed, requeued)"

# One rank per GPU: no MPS.
"$pebench" submit study.ini --scheduler slurm --device cuda --gpus-per-node 4 --store "$work/one.h5" --dry-run > one.sh || fail "one rank per GPU"
grep -q "nvidia-cuda-mps-control" one.sh && fail "MPS started for one rank per GPU"
grep -q '^#SBATCH --ntasks-per-node=4$' one.sh || fail "one rank per GPU: ranks per node"
# CPU jobs render as before: no GPU lines, no --device.
"$pebench" submit study.ini --scheduler slurm --ranks-per-node 2 --store "$work/cpu.h5" --dry-run > cpu.sh || fail "cpu job"
grep -q -e "gpus" -e "--device" -e "mps" cpu.sh && fail "a CPU job with GPU lines: $(cat cpu.sh)"
# PBS: PBS Pro's select with ngpus and mpiprocs, MPS per node through mpirun.
"$pebench" submit study.ini --scheduler pbs --device cuda --gpus-per-node 2 --ranks-per-gpu 2 --nodes 2 --store "$work/gpu.h5" \
  --dry-run > pbs.sh || fail "pbs"
grep -q '^#PBS -l select=2:ncpus=4:mpiprocs=4:ngpus=2$' pbs.sh || fail "pbs resources: $(grep '#PBS -l' pbs.sh)"
grep -q 'mpirun -np 2 --map-by ppr:1:node bash -c' pbs.sh || fail "pbs: no daemon per node"
grep -q -- '-x CUDA_MPS_PIPE_DIRECTORY -x CUDA_MPS_LOG_DIRECTORY' pbs.sh || fail "pbs: ranks do not get the MPS folders"
grep -q '^#PBS -l nodes=1:ppn=1$' <("$pebench" submit study.ini --scheduler pbs --store "$work/cpu.h5" --dry-run) || fail "pbs cpu resources changed"
echo "ok   GPU directives for SLURM and PBS; CPU scripts unchanged"

expect_refusal() {  # TEXT ARGS...: exit 2, that text, one line, nothing written
  local text=$1
  shift
  "$pebench" submit study.ini --scheduler slurm --store "$work/bad.h5" "$@" > out.txt 2> err.txt
  local code=$?
  [[ $code == 2 ]] || fail "$*: exit $code"
  grep -qF -- "$text" err.txt || fail "$*: said $(cat err.txt)"
  [[ $(wc -l < err.txt) == 1 ]] || fail "$*: more than one line: $(cat err.txt)"
  ls "$work"/bad.h5* > /dev/null 2>&1 && fail "$*: wrote $(ls "$work"/bad.h5*)"
}
expect_refusal '--gpus-per-node "0": expected 1..1024 with --device cuda' --device cuda
expect_refusal '--gpus-per-node "2": expected 0 without --device cuda' --gpus-per-node 2
expect_refusal '--ranks-per-gpu "2": expected 1 without --device cuda' --ranks-per-gpu 2
expect_refusal '--ranks-per-node "3": expected gpus-per-node x ranks-per-gpu = 8' --device cuda --gpus-per-node 2 --ranks-per-gpu 4 --ranks-per-node 3
expect_refusal '--device "tpu": expected cpu | cuda' --device tpu
expect_refusal '-- --store: the job'"'"'s run line sets it; use pebench submit --store' -- --store x.h5
expect_refusal '-- --threads-per-rank: the job'"'"'s run line sets it; use pebench submit --threads-per-rank' -- --threads-per-rank 2
expect_refusal '--train.steps = "0": expected a positive integer' -- --train.steps 0
echo "ok   bad GPU and forwarded flags refused"
finish "gpu submit"
