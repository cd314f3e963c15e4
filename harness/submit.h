// `pebench submit STUDY --scheduler slurm|pbs`: renders a batch script from a template
// (jobs/templates/, compiled in), writes it beside the store and submits it with
// sbatch or qsub. The script always runs `pebench run --resume`, so a resubmitted or
// requeued job continues; on SLURM it asks for USR1 before walltime, passes it to the
// ranks (checkpoint, exit 3) and requeues itself. --array-shards K: a job array of
// `--shard i/K` tasks and a merge job that depends on them.
#pragma once

namespace pebench {

// Exit codes: 0 submitted (or printed with --dry-run), 1 the scheduler refused, 2 bad input.
int submit_command(int argc, char** argv);

}  // namespace pebench
