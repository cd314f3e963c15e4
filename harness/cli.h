// The command line: every subcommand's flags, one documented field each, bound to their
// options in one table (cli.cpp); the subcommands themselves in one list. A parse either
// fills its struct, prints --help (and says so), or throws UserError naming the flag.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "harness/study.h"

namespace pebench {

// `pebench run STUDY.ini [flags] [--KEY VALUE ...]`
struct RunFlags {
  std::string study_path;
  std::string store_path;            // --store; "" → STUDY_NAME.h5
  bool resume = false;               // --resume: skip finished runs of an existing store
  bool dry_run = false;              // --dry-run: print the expanded runs, write nothing
  bool verbose = false;              // --verbose: every run's training progress
  bool keep_checkpoints = false;     // --keep-checkpoints: keep STORE.ckpt/RUN_ID.pt when done
  int64_t shard_index = 0;           // --shard i/n: the i-th (0-based) of n disjoint slices
  int64_t shard_count = 1;
  int threads_per_rank = 0;          // --threads-per-rank; 0: plan.h threads_for
  std::string device = "cpu";        // --device cpu | cuda
  std::string attention = "auto";    // --attention auto | explicit | fused (TransformerLMOptions::attention)
  bool deterministic = false;        // --deterministic: torch's deterministic algorithms (CUDA reruns bit for bit)
  std::vector<Override> overrides;   // --KEY VALUE and --grid.KEY a,b
  std::string arguments;             // as given after `pebench`, for the resume hint
};

// `pebench submit STUDY.ini --scheduler slurm|pbs [flags]`
struct SubmitFlags {
  std::string study_path;
  std::string scheduler;             // slurm | pbs
  std::string store;                 // "" → STUDY_NAME.h5 here; the script goes beside it
  std::string time = "01:00:00";     // walltime HH:MM:SS
  std::string partition, account;    // SLURM partition / PBS queue; account to charge
  std::string template_path;         // "" → the built-in template (jobs/templates/)
  int64_t nodes = 1;
  int64_t ranks_per_node = 0;        // 0 → 1, or gpus_per_node × ranks_per_gpu with --device cuda
  int64_t threads_per_rank = 1;
  std::string device = "cpu";        // the job's `pebench run --device`
  int64_t gpus_per_node = 0;         // cuda: GPUs asked per node (SLURM --gpus-per-node, PBS ngpus)
  int64_t ranks_per_gpu = 1;         // cuda: ranks sharing each GPU; above 1 the job starts MPS
  std::vector<std::string> run_arguments;  // after `--`: added to the job's `pebench run` line
  int64_t array_shards = 0;          // SLURM: K >= 2 → a job array of shards + a merge job
  int64_t max_requeues = 3;          // SLURM: requeues after a checkpointed stop
  int64_t signal_seconds = 120;      // SLURM: USR1 this long before walltime
  std::vector<std::string> extra;    // directive lines added verbatim
  bool dry_run = false;              // print the script, submit nothing
};

// How compare and report group runs (results/compare.h CompareOptions).
struct GroupingFlags {
  std::string by;                  // --by K,K; "" → every varying key but seed
  std::vector<std::string> where;  // --where KEY=V1,V2 (repeatable)
  double tolerance = 0.1;          // --tolerance: eff_len's band over the best ppl
  std::string metric = "ppl";      // --metric ppl | bpb
  std::string baseline;            // --baseline KEY=VALUE: paired columns against that group; "" → none
};

// `pebench compare STORE.h5... [flags]`
struct CompareFlags {
  std::vector<std::string> stores;
  GroupingFlags grouping;
  std::string sort;                // --sort COLUMN
  std::string format = "table";    // --format table | csv | json | markdown
};

// `pebench report STORE.h5... -o report.html [flags]`
struct ReportFlags {
  std::vector<std::string> stores;
  GroupingFlags grouping;
  std::string output = "report.html";
};

// `pebench tokenize CORPUS --tokenizer bpe:N -o DIR`
struct TokenizeFlags {
  std::string corpus;              // text:PATH, a file, a folder, or text:embedded
  std::string tokenizer;           // bpe:N | unigram:N | spm:PATH
  std::string output;              // DIR: train.bin, val.bin, tokenizer.model
  std::string eval_source;         // --eval-source: val.bin from this file instead of the last --holdout
  double holdout = 0.1;
};

// `pebench merge STORE.h5... -o OUT.h5`
struct MergeFlags {
  std::vector<std::string> inputs;
  std::string output;
};

// `pebench inspect STORE.h5`
struct InspectFlags {
  std::string store;
};

// `pebench export STORE.h5 RUN_ID -o DIR` | `pebench export --all STORE.h5 -o DIR`
struct ExportFlags {
  std::string store;
  std::string run_id;   // "" with --all
  std::string output;   // -o: a folder that does not exist yet, or is empty
  bool all = false;     // --all: every done run, one subfolder each
};

// Each returns false when --help was printed (nothing else to do), true when parsed.
bool parse_run_flags(int argc, char** argv, RunFlags& flags);
bool parse_submit_flags(int argc, char** argv, SubmitFlags& flags);
bool parse_compare_flags(int argc, char** argv, CompareFlags& flags);
bool parse_report_flags(int argc, char** argv, ReportFlags& flags);
bool parse_tokenize_flags(int argc, char** argv, TokenizeFlags& flags);
bool parse_merge_flags(int argc, char** argv, MergeFlags& flags);
bool parse_inspect_flags(int argc, char** argv, InspectFlags& flags);
bool parse_export_flags(int argc, char** argv, ExportFlags& flags);

// `pebench COMMAND ...` → its exit code: 0 done, 1 a run or the scheduler failed, 2 bad
// input (one line on stderr, nothing written), 3 stopped by a signal (run).
int run_cli(int argc, char** argv);

}  // namespace pebench
