#!/usr/bin/env bash
# `pebench submit` against a real one-node SLURM 22.05 (Debian's slurmctld, slurmd,
# munge) started in a temp folder: a plain job, a walltime-style USR1 that checkpoints,
# requeues and completes, a job array of shards with its merge job, the PBS template
# through Debian's slurm-wlm-torque qsub, and a GPU job with MPS (a stand-in daemon).
# Every store must equal an uninterrupted local run bit for bit. Stops only the daemons
# it started, and what their jobs still run.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" "$@"
same_results=$here/../harness/same_results.py
# shellcheck source=local_slurm.sh
source "$here/local_slurm.sh"
at_exit='slurm_stop "$work/slurm"'

install_missing slurmctld slurmd slurm-client munge slurm-wlm-torque || die "could not install the SLURM packages"
slurm_start "$work/slurm" 1 || { echo "FAIL local SLURM did not start"; exit 1; }

cat > "$work/study.ini" <<'INI'
[study]
name = cluster
[model]
d_model = 32
layers = 1
heads = 2
[train]
seq_len = 32
steps = 600
batch = 8
log_every = 50
[eval]
lengths = 32,64,128
tokens = 2048
[grid]
encoding = alibi,rope
INI
"$pebench" run "$work/study.ini" --store "$work/reference.h5" --threads-per-rank 1 > /dev/null || { echo "FAIL reference"; exit 1; }

job_field() { scontrol show job "$1" 2> /dev/null | grep -o "$2=[^ ]*" | head -1 | cut -d= -f2; }
# wait_state JOB STATE SECONDS
wait_state() {
  for _ in $(seq $(($3 * 5))); do
    [[ $(job_field "$1" JobState) == "$2" ]] && return 0
    sleep 0.2
  done
  echo "  job $1 is $(job_field "$1" JobState), not $2 after $3 s"; return 1
}
submitted_job() { sed -n 's/.* as job \([0-9]*\).*/\1/p' "$1" | head -1; }

# 1. A plain job on 2 ranks.
"$pebench" submit "$work/study.ini" --scheduler slurm --ranks-per-node 2 --time 00:10:00 --store "$work/plain.h5" > "$work/plain.out" ||
  fail "submit: $(cat "$work/plain.out")"
job=$(submitted_job "$work/plain.out")
grep -q "watch: squeue -j $job; pebench inspect $work/plain.h5" "$work/plain.out" || fail "submit did not say how to watch"
wait_state "$job" COMPLETED 120 || fail "plain job"
grep -q "on 2 rank(s)" "$work/plain.h5.slurm-$job.log" || fail "plain job did not run 2 ranks: $(cat "$work/plain.h5.slurm-$job.log")"
/usr/bin/python3 "$same_results" "$work/reference.h5" "$work/plain.h5" || fail "plain job's store differs"
echo "ok   plain job $job"

# 2. USR1 before walltime: checkpoint, exit 3, requeue, continue, complete.
"$pebench" submit "$work/study.ini" --scheduler slurm --ranks-per-node 2 --time 00:10:00 --store "$work/signal.h5" > "$work/signal.out"
job=$(submitted_job "$work/signal.out")
for _ in $(seq 300); do [[ -d "$work/signal.h5.ckpt" ]] && break; sleep 0.1; done
sleep 0.5
scancel --signal=USR1 --batch "$job"  # what --signal=B:USR1@120 does before walltime
for _ in $(seq 300); do [[ $(job_field "$job" Restarts) == 1 ]] && break; sleep 0.1; done
[[ $(job_field "$job" Restarts) == 1 ]] || fail "signalled job was not requeued: $(cat "$work/signal.h5.slurm-$job.log")"
# A requeued job otherwise waits ~120 s. Not `now`: slurmd revokes the job's credential at
# the requeue, to the second, and refuses a launch whose credential was made in that same
# second ("Job 2 already killed, do not launch batch job"; the job FAILED in 1 of 2 runs on
# 2 busy cores, 0 of 4 idle). Two seconds on, the new credential postdates the revocation.
scontrol update JobId="$job" StartTime=now+2
log=$work/signal.h5.slurm-$job.log
wait_state "$job" COMPLETED 120 ||
  fail "requeued job: $(scontrol show job "$job" | grep -o 'JobState=[^ ]*\|Reason=[^ ]*\|ExitCode=[^ ]*' | tr '\n' ' ')
--- job log:
$(cat "$log")
--- slurmd log, last 20 lines:
$(tail -20 "$work/slurm/log/slurmd.log" 2>&1)"
grep -q "INTERRUPTED (checkpointed)" "$log" || fail "no run checkpointed: $(cat "$log")"
grep -q "requeueing (restart 1 of at most 3)" "$log" || fail "no requeue in the log"
grep -q "restart 1$" "$log" || fail "the requeued job did not start again"
/usr/bin/python3 "$same_results" "$work/reference.h5" "$work/signal.h5" || fail "requeued job's store differs from an uninterrupted run"
[[ ! -e "$work/signal.h5.ckpt" ]] || fail "checkpoints left"
echo "ok   signal job $job: checkpointed, requeued, completed, identical"

# 3. A job array of 2 shards and the merge job after it.
"$pebench" submit "$work/study.ini" --scheduler slurm --array-shards 2 --time 00:10:00 --store "$work/array.h5" > "$work/array.out"
merge_job=$(sed -n 's/.*merge.slurm.sh as job \([0-9]*\).*/\1/p' "$work/array.out")
[[ -n "$merge_job" ]] || fail "no merge job: $(cat "$work/array.out")"
wait_state "$merge_job" COMPLETED 180 || fail "merge job: $(cat "$work"/array.h5.slurm-merge-*.log)"
[[ -e "$work/array.shard-0-of-2.h5" && -e "$work/array.shard-1-of-2.h5" ]] || fail "no shard stores"
/usr/bin/python3 "$same_results" "$work/reference.h5" "$work/array.h5" || fail "merged array store differs"
echo "ok   array of 2 shards + merge job $merge_job"

# 4. The PBS template, for real through SLURM's qsub wrapper, and as bash.
(cd "$work" && "$pebench" submit "$work/study.ini" --scheduler pbs --ranks-per-node 2 --time 00:10:00 --store "$work/pbs.h5") > "$work/pbs.out" ||
  fail "qsub: $(cat "$work/pbs.out")"
bash -n "$work/pbs.h5.pbs.sh" || fail "the PBS script is not valid bash"
job=$(submitted_job "$work/pbs.out")
wait_state "$job" COMPLETED 120 || fail "PBS job"
/usr/bin/python3 "$same_results" "$work/reference.h5" "$work/pbs.h5" || fail "PBS job's store differs"
echo "ok   PBS job $job"

# 5. A GPU job under MPS, through the real sbatch and srun: 1 GPU per node (the local
# node's is a link to /dev/null), 2 ranks on it (the node's 2 cores). SLURM grants the
# GPU; the MPS step starts the daemon (a stand-in that records its calls) before the ranks
# without holding their step back (`srun --overlap`: without it the ranks' step waits for
# ever, "step creation temporarily disabled"); the ranks stop at once (Debian's LibTorch
# has no CUDA: exit 2); the EXIT trap stops the daemon and removes its folders.
# tests/jobs/gpu_submit_test.sh covers the other ways out, with a stand-in srun.
mkdir -p "$work/bin"
cat > "$work/bin/nvidia-cuda-mps-control" <<'SH'
#!/bin/bash
if [[ ${1:-} == -d ]]; then echo "start pipe=$CUDA_MPS_PIPE_DIRECTORY $([[ -d $CUDA_MPS_PIPE_DIRECTORY ]] && echo made)" >> "$MPS_LOG"
else echo "$(cat) pipe=$CUDA_MPS_PIPE_DIRECTORY" >> "$MPS_LOG"; fi
SH
chmod +x "$work/bin/nvidia-cuda-mps-control"
mps_folders() { compgen -G "/tmp/pebench-mps-*" | sort; }
mps_before=$(mps_folders)
PATH=$work/bin:$PATH MPS_LOG=$work/mps.log "$pebench" submit "$work/study.ini" --scheduler slurm --device cuda --gpus-per-node 1 \
  --ranks-per-gpu 2 --time 00:10:00 --store "$work/gpu.h5" > "$work/gpu.out" || fail "GPU submit: $(cat "$work/gpu.out")"
job=$(submitted_job "$work/gpu.out")
# The job's own MPS folder goes at exit even where the test stops before the job's trap ran.
grep -qx "/tmp/pebench-mps-$job" <<< "$mps_before" || at_exit+="; rm -rf /tmp/pebench-mps-$job"
wait_state "$job" FAILED 120 || die "GPU job: $(scontrol show job "$job"; cat "$work/gpu.h5.slurm-$job.log")"
log=$work/gpu.h5.slurm-$job.log
[[ $(job_field "$job" TresPerNode) == gres:gpu:1 ]] || fail "GPU job: TresPerNode $(job_field "$job" TresPerNode), not gres:gpu:1"
[[ $(job_field "$job" ExitCode) == 2:0 ]] || fail "GPU job: exit code $(job_field "$job" ExitCode), not pebench's 2: $(cat "$log")"
pipe=/tmp/pebench-mps-$job/pipe
[[ $(cat "$work/mps.log" 2> /dev/null) == "start pipe=$pipe made"$'\n'"quit pipe=$pipe" ]] ||
  fail "GPU job: the daemon was not started once in its own folder and stopped: $(cat "$work/mps.log" 2> /dev/null)"
left=$(comm -13 <(echo "$mps_before") <(mps_folders))
[[ -z $left ]] || fail "GPU job: $left left behind"
compgen -G "$work/gpu.h5.mps-*" > /dev/null && fail "GPU job: MPS flag files left: $(ls "$work"/gpu.h5.mps-*)"
# Both ranks started after the daemon was up, and stopped at the device (rank 0 says why).
after=$(sed -n '/^MPS up on 1 node(s): /,$p' "$log")
grep -q 'this LibTorch has no CUDA device' <<< "$after" && grep -q 'tasks 0-1: Exited with exit code 2' <<< "$after" ||
  fail "GPU job: not 2 ranks after the daemon: $(cat "$log")"
[[ -e $work/gpu.h5 ]] && fail "GPU job: a store written by runs that never started"
echo "ok   GPU job $job: its GPU granted, MPS up before 2 ranks and down after"

# 6. --dry-run prints the script and writes nothing.
"$pebench" submit "$work/study.ini" --scheduler slurm --dry-run --store "$work/dry.h5" > "$work/dry.out"
grep -q "^#SBATCH --signal=B:USR1@120" "$work/dry.out" && [[ ! -e "$work/dry.h5.slurm.sh" ]] || fail "dry run"

finish
