#!/bin/bash
# pebench study {{STUDY_NAME}} on SLURM, rendered by `pebench submit` from jobs/templates/slurm.sh.
# Resubmitting this script, or SLURM requeueing it, continues the study (--resume).
#SBATCH --job-name={{JOB_NAME}}
#SBATCH --nodes={{NODES}}
#SBATCH --ntasks-per-node={{RANKS_PER_NODE}}
#SBATCH --cpus-per-task={{THREADS_PER_RANK}}
#SBATCH --time={{TIME}}
#SBATCH --signal=B:USR1@{{SIGNAL_SECONDS}}
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output={{LOG}}
{{DIRECTIVES}}
set -u
export OMP_NUM_THREADS={{THREADS_PER_RANK}}
shard=()
if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then shard=(--shard "${SLURM_ARRAY_TASK_ID}/{{ARRAY_SHARDS}}"); fi

echo "pebench job ${SLURM_JOB_ID} on ${SLURM_JOB_NODELIST}, start $(date -Is), restart ${SLURM_RESTART_COUNT:-0}"
{{MPS_START}}srun --mpi=pmix {{PEBENCH}} run {{STUDY}} --store {{STORE}} --resume --threads-per-rank {{THREADS_PER_RANK}}{{RUN_FLAGS}} "${shard[@]}" &
srun_pid=$!
# --signal=B:USR1 reaches this shell only (srun would die of it): pass it to every rank,
# which checkpoints at its next step boundary and exits 3.
trap 'echo "walltime or preemption warning: checkpointing"; scancel --signal=USR1 "${SLURM_JOB_ID}"' USR1
code=0
wait "$srun_pid" || code=$?
while kill -0 "$srun_pid" 2> /dev/null; do  # wait returns early when the trap runs
  code=0
  wait "$srun_pid" || code=$?
done
echo "pebench exited ${code} at $(date -Is)"
if [ "$code" -eq 3 ] && [ "${SLURM_RESTART_COUNT:-0}" -lt {{MAX_REQUEUES}} ]; then
  echo "checkpointed: requeueing (restart $(( ${SLURM_RESTART_COUNT:-0} + 1 )) of at most {{MAX_REQUEUES}})"
  scontrol requeue "${SLURM_JOB_ID}"
fi
exit "$code"
