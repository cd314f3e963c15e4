#!/usr/bin/env bash
# A one-node SLURM cluster (plus munge) in a temp folder, for tests. Source it, then
#   slurm_start DIR [GPUS]  → exports SLURM_CONF; daemons' pids in DIR/*.pid; with GPUS,
#                             the node has that many GPUs (gres/gpu) for jobs to request
#   slurm_stop DIR    → stops exactly the daemons it started, by pid, and what their jobs
#                       still run
# Facts measured here: munged wants its key in a 0700 folder and its socket in a
# separate 0755 one; proctrack/linuxproc and task/none need no cgroups; every client
# needs SLURM_CONF; start-up takes about a second. slurmd drops a GPU without a device
# file ("Removing file-less GPU") and refuses a regular file ("not a valid character or
# block device"): each GPU here is a link to /dev/null, which jobs never open.

slurm_start() {
  local dir=$1 gpus=${2:-0}
  mkdir -p "$dir"/{munge-key,munge-run,state,spool,log,tmp}
  chmod 0700 "$dir/munge-key"
  chmod 0755 "$dir/munge-run"
  dd if=/dev/urandom of="$dir/munge-key/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$dir/munge-key/munge.key"
  munged --key-file="$dir/munge-key/munge.key" --socket="$dir/munge-run/munge.socket" \
    --pid-file="$dir/munge-run/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge-key/munge.seed" --force || return 1
  local cpus host gres_types="" node_gres="" g
  cpus=$(nproc)
  host=$(hostname -s)
  if ((gpus > 0)); then
    gres_types="GresTypes=gpu"
    node_gres=" Gres=gpu:$gpus"
    for ((g = 0; g < gpus; ++g)); do ln -sf /dev/null "$dir/gpu$g"; done
    echo "NodeName=$host Name=gpu File=$dir/gpu[0-$((gpus - 1))]" > "$dir/gres.conf"
  fi
  cat > "$dir/slurm.conf" <<CONF
ClusterName=pebench-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge-run/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SchedulerType=sched/backfill
ReturnToService=2
TmpFS=$dir/tmp
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=$((20000 + RANDOM % 20000))
SlurmdPort=$((40000 + RANDOM % 20000))
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
KillWait=5
MinJobAge=600
InactiveLimit=0
$gres_types
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus$node_gres State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$dir/slurm.conf
  slurmctld -f "$SLURM_CONF" || return 1
  slurmd -f "$SLURM_CONF" || return 1
  local i
  for i in $(seq 50); do
    sinfo -h -o %t 2>/dev/null | grep -qE '^idle' && return 0
    sleep 0.2
  done
  echo "local slurm did not come up:"; sinfo; tail -5 "$dir/log/"*.log
  return 1
}

slurm_stop() {
  local dir=$1 pid name process
  # The job steps' daemons (slurmstepd) and what they run outlive slurmd: a test that stops
  # mid-job left them running, and the next run's job of the same id failed to launch its
  # steps. They are the processes started with this cluster's SLURM_CONF.
  for process in /proc/[0-9]*; do
    pid=${process#/proc/}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    tr '\0' '\n' 2> /dev/null < "$process/environ" | grep -qxF "SLURM_CONF=$dir/slurm.conf" && kill -9 "$pid" 2> /dev/null
  done
  for name in slurmd slurmctld; do
    [[ -f "$dir/$name.pid" ]] && pid=$(cat "$dir/$name.pid") && kill "$pid" 2>/dev/null
  done
  for name in slurmd slurmctld; do
    [[ -f "$dir/$name.pid" ]] || continue
    pid=$(cat "$dir/$name.pid")
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  [[ -f "$dir/munge-run/munged.pid" ]] && kill "$(cat "$dir/munge-run/munged.pid")" 2>/dev/null
  return 0
}
