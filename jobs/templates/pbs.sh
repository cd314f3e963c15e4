#!/bin/bash
# pebench study {{STUDY_NAME}} on PBS, rendered by `pebench submit` from jobs/templates/pbs.sh.
# Resubmitting this script continues the study (--resume). It relies on no PBS_*
# variable (Torque, PBS Pro and SLURM's qsub wrapper set different ones).
#PBS -N {{JOB_NAME}}
#PBS -l {{RESOURCES}}
#PBS -l walltime={{TIME}}
#PBS -j oe
#PBS -o {{LOG}}
{{DIRECTIVES}}
set -u
export OMP_NUM_THREADS={{THREADS_PER_RANK}}
cd {{WORKDIR}}
echo "pebench job on $(hostname), start $(date -Is)"
{{MPS_START}}mpirun -np {{RANKS}} --map-by ppr:{{RANKS_PER_NODE}}:node:PE={{THREADS_PER_RANK}}{{MPI_ENV}} \
  {{PEBENCH}} run {{STUDY}} --store {{STORE}} --resume --threads-per-rank {{THREADS_PER_RANK}}{{RUN_FLAGS}} &
mpirun_pid=$!
# PBS sends SIGTERM at walltime (then SIGKILL after its kill delay); mpirun forwards
# SIGUSR1 to every rank, which checkpoints and exits 3.
trap 'echo "walltime: checkpointing"; kill -USR1 "$mpirun_pid"' TERM USR1
code=0
wait "$mpirun_pid" || code=$?
while kill -0 "$mpirun_pid" 2> /dev/null; do
  code=0
  wait "$mpirun_pid" || code=$?
done
echo "pebench exited ${code} at $(date -Is); exit 3 means checkpointed: submit this script again to continue"
exit "$code"
