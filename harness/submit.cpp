#include "harness/submit.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>

#include "harness/cli.h"
#include "harness/plan.h"
#include "harness/study.h"
#include "job_templates.h"
#include "results/safe_file.h"
#include "results/text_formats.h"

namespace pebench {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void bad(const std::string& flag, const std::string& value, const std::string& allowed) {
  throw UserError("command line: --" + flag + " \"" + value + "\": expected " + allowed);
}

// Paths go into #SBATCH lines, which know no shell quoting: keep them to safe characters.
std::string safe_path(const std::string& flag, const fs::path& path) {  // flag "" : this executable
  const std::string text = fs::absolute(path).lexically_normal().string();
  if (!std::regex_match(text, std::regex("[A-Za-z0-9._/+@%=,:-]+"))) {
    if (flag.empty())
      throw UserError("pebench executable '" + text + "': install it under a path of letters, digits and ._/+@%=,:- "
                      "(it goes into the batch script unquoted)");
    bad(flag, text, "a path of letters, digits and ._/+@%=,:- (it goes into #SBATCH/#PBS lines unquoted)");
  }
  return text;
}

int64_t seconds_of(const std::string& time) {
  std::smatch parts;
  // Hours up to 8 digits: a year is 8,760 hours; longer would overflow the seconds.
  if (!std::regex_match(time, parts, std::regex("(\\d{1,8}):([0-5]\\d):([0-5]\\d)"))) bad("time", time, "HH:MM:SS, HH at most 8 digits");
  return std::stoll(parts[1]) * 3600 + std::stoll(parts[2]) * 60 + std::stoll(parts[3]);
}

// What the flags must satisfy together; each failure names the flag.
void validate(const SubmitFlags& s) {
  // Every value can reach the batch script: a newline or carriage return in one would
  // put a line of its own (any command) into it. No control byte in any of them.
  for (const auto& [flag, value] : std::vector<std::pair<const char*, std::string>>{
           {"scheduler", s.scheduler}, {"time", s.time}, {"partition", s.partition}, {"account", s.account},
           {"store", s.store}, {"template", s.template_path}, {"study", s.study_path}})
    if (has_control(value))
      bad(flag, value, "no control characters (a value goes into the batch script)");
  for (const auto& line : s.extra)
    if (has_control(line))
      bad("extra", line, "one directive line, no control characters (newline, carriage return, escape)");
  if (s.scheduler != "slurm" && s.scheduler != "pbs") bad("scheduler", s.scheduler, "slurm | pbs");
  if (s.device != "cpu" && s.device != "cuda") bad("device", s.device, "cpu | cuda");
  const bool cuda = s.device == "cuda";
  if (cuda && (s.gpus_per_node < 1 || s.gpus_per_node > 1024))
    bad("gpus-per-node", std::to_string(s.gpus_per_node), "1..1024 with --device cuda");
  if (!cuda && s.gpus_per_node != 0) bad("gpus-per-node", std::to_string(s.gpus_per_node), "0 without --device cuda");
  if (s.ranks_per_gpu < 1 || s.ranks_per_gpu > 1024 || (!cuda && s.ranks_per_gpu != 1))
    bad("ranks-per-gpu", std::to_string(s.ranks_per_gpu), cuda ? "1..1024" : "1 without --device cuda");
  if (cuda && s.ranks_per_node != 0 && s.ranks_per_node != s.gpus_per_node * s.ranks_per_gpu)
    bad("ranks-per-node", std::to_string(s.ranks_per_node),
        "gpus-per-node x ranks-per-gpu = " + std::to_string(s.gpus_per_node * s.ranks_per_gpu) + " with --device cuda (or leave it out)");
  for (const auto& [flag, value] : {std::pair<const char*, int64_t>{"nodes", s.nodes}, {"ranks-per-node", s.ranks_per_node == 0 ? 1 : s.ranks_per_node},
                                    {"threads-per-rank", s.threads_per_rank}, {"signal-seconds", s.signal_seconds}})
    if (value < 1 || value > 1000000) bad(flag, std::to_string(value), "a positive integer up to 1000000");
  if (s.max_requeues < 0) bad("max-requeues", std::to_string(s.max_requeues), "a non-negative integer");
  if (s.array_shards == 1 || s.array_shards < 0) bad("array-shards", std::to_string(s.array_shards), "0 (no array) or K >= 2");
  if (s.array_shards > 0 && s.scheduler != "slurm")
    bad("array-shards", std::to_string(s.array_shards),
        "0 with --scheduler pbs (PBS Pro and Torque spell arrays differently; run `pebench run --shard i/K` per job)");
  if (seconds_of(s.time) <= s.signal_seconds)
    bad("time", s.time, "a walltime longer than --signal-seconds " + std::to_string(s.signal_seconds));
  for (const auto& line : s.extra)
    if (line.rfind("#SBATCH ", 0) != 0 && line.rfind("#PBS ", 0) != 0) bad("extra", line, "a line starting with \"#SBATCH \" or \"#PBS \"");
  for (const auto& [flag, value] : {std::pair<const char*, std::string>{"partition", s.partition}, {"account", s.account}})
    if (!std::regex_match(value, std::regex("[A-Za-z0-9._-]*"))) bad(flag, value, "letters, digits, '.', '_', '-'");
}

std::string read_text(const std::string& path) {
  try {
    return read_small_file(path, size_t{1} << 20);
  } catch (const FileError& error) {
    throw UserError("command line: --template \"" + path + "\": " + error.what());
  }
}

// Replaces every {{NAME}}; a placeholder the values do not know is an error in the template.
std::string render(const std::string& text, const std::map<std::string, std::string>& values, const std::string& origin) {
  std::string out;
  size_t at = 0;
  while (true) {
    const size_t open = text.find("{{", at);
    if (open == std::string::npos) break;
    const size_t close = text.find("}}", open);
    if (close == std::string::npos) break;
    const std::string name = text.substr(open + 2, close - open - 2);
    auto found = values.find(name);
    if (found == values.end()) {
      std::string known;
      for (const auto& [key, value] : values) known += (known.empty() ? "" : ", ") + key;
      throw UserError(origin + ": unknown placeholder {{" + name + "}}; known: " + known);
    }
    out += text.substr(at, open - at) + found->second;
    at = close + 2;
  }
  return out + text.substr(at);
}

// Runs `command`, returns its stdout; exit status in `status`.
std::string capture(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) {
    status = -1;
    return "";
  }
  char buffer[4096];
  size_t got = 0;
  while ((got = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, got);
  status = pclose(pipe);
  return out;
}

// Beside the store, written whole and renamed: a symlink left at its name is replaced,
// never written through.
std::string write_script(const std::string& path, const std::string& text) {
  try {
    write_file_safely(path, text, /*executable=*/true);
  } catch (const FileError& error) {
    throw UserError(std::string("command line: --store: ") + error.what());
  }
  return path;
}

// The flags after `--`, checked as `pebench run` would check them (its options, the
// study keys with the study file), as a shell-quoted tail for the run line. Flags the
// script sets itself are refused, naming the submit flag to use instead.
std::string forwarded_run_flags(const SubmitFlags& s, std::vector<Override>& overrides) {
  static const std::map<std::string, std::string> owned = {
      {"store", "pebench submit --store"}, {"resume", "(always on in the job)"},
      {"shard", "pebench submit --array-shards"}, {"device", "pebench submit --device"},
      {"threads-per-rank", "pebench submit --threads-per-rank (it also sets the cores the job asks for)"},
      {"dry-run", "pebench run --dry-run here"}, {"help", "pebench run --help"}};
  std::string tail;
  for (const auto& argument : s.run_arguments) {
    if (has_control(argument))
      throw UserError("command line: -- \"" + argument + "\": expected run flags without control characters (they go into the batch script)");
    if (argument.rfind("--", 0) == 0) {
      const std::string name = argument.substr(2, argument.find('=') == std::string::npos ? std::string::npos : argument.find('=') - 2);
      auto found = owned.find(name);
      if (found != owned.end())
        throw UserError("command line: -- --" + name + ": the job's run line sets it; use " + found->second);
    }
    std::string quoted = "'";
    for (char c : argument) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    tail += " " + quoted + "'";
  }
  std::vector<std::string> words = {"pebench", "run", s.study_path};
  words.insert(words.end(), s.run_arguments.begin(), s.run_arguments.end());
  std::vector<char*> argv;
  for (auto& word : words) argv.push_back(word.data());
  RunFlags run;
  parse_run_flags(static_cast<int>(argv.size()), argv.data(), run);  // UserError names the flag
  overrides = run.overrides;
  return tail;
}

// With K ranks per GPU: one MPS control daemon per node for the job's life, its pipe and
// log folders per job (two jobs on one node never share a daemon). Started by one task
// per node that waits for a stop file beside the store, so no daemon outlives its job:
// the EXIT trap touches it on every way out (done, failed, checkpointed and requeued,
// cancelled). Ranks start once every node's daemon is up.
std::string mps_start(bool slurm, const std::string& store, int64_t nodes) {
  const std::string per_node = slurm ? "srun --overlap --ntasks-per-node=1 --ntasks=" + std::to_string(nodes)
                                     : "mpirun -np " + std::to_string(nodes) + " --map-by ppr:1:node";
  const std::string n = std::to_string(nodes);
  return std::string("# MPS: ranks share each GPU through one control daemon per node (pebench submit --ranks-per-gpu).\n") +
         "mps_job=" + (slurm ? "${SLURM_JOB_ID}" : "$$") + "\n"
         "mps_folder=/tmp/pebench-mps-$mps_job\n"
         "mps_flag=" + store + ".mps-$mps_job\n"
         "export CUDA_MPS_PIPE_DIRECTORY=$mps_folder/pipe CUDA_MPS_LOG_DIRECTORY=$mps_folder/log\n"
         "rm -f \"$mps_flag\".*\n" +
         per_node + " bash -c \"mkdir -p $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY && "
         "CUDA_MPS_PIPE_DIRECTORY=$CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY=$CUDA_MPS_LOG_DIRECTORY nvidia-cuda-mps-control -d && "
         "touch $mps_flag.ready.\\$(hostname); while [ ! -e $mps_flag.stop ]; do sleep 1; done; "
         "echo quit | CUDA_MPS_PIPE_DIRECTORY=$CUDA_MPS_PIPE_DIRECTORY nvidia-cuda-mps-control; rm -rf $mps_folder\" &\n"
         "mps_pid=$!\n"
         "stop_mps() { touch \"$mps_flag.stop\"; wait \"$mps_pid\" 2> /dev/null; rm -f \"$mps_flag\".*; }\n"
         "trap stop_mps EXIT\n"
         "for _ in $(seq 600); do  # 60 s at most\n"
         "  [ \"$(ls \"$mps_flag\".ready.* 2> /dev/null | wc -l)\" -ge " + n + " ] && break\n"
         "  kill -0 \"$mps_pid\" 2> /dev/null || { echo \"MPS did not start\"; exit 1; }\n"
         "  sleep 0.1\n"
         "done\n"
         "[ \"$(ls \"$mps_flag\".ready.* 2> /dev/null | wc -l)\" -ge " + n + " ] || { echo \"MPS did not start on every node\"; exit 1; }\n"
         "echo \"MPS up on " + n + " node(s): $CUDA_MPS_PIPE_DIRECTORY\"\n";
}

// sbatch --parsable prints "id" or "id;cluster".
std::string submitted_id(const std::string& output) {
  std::smatch id;
  if (!std::regex_search(output, id, std::regex("(\\d+)"))) return "";
  return id[1];
}

}  // namespace

int submit_command(int argc, char** argv) {
  SubmitFlags s;
  if (!parse_submit_flags(argc, argv, s)) return 0;
  validate(s);
  std::vector<Override> overrides;
  const std::string run_tail = (s.device == "cuda" ? " --device cuda" : "") + forwarded_run_flags(s, overrides);
  const Study study = load_study(s.study_path, overrides);  // bad studies fail here, not on the cluster
  if (s.ranks_per_node == 0) s.ranks_per_node = s.device == "cuda" ? s.gpus_per_node * s.ranks_per_gpu : 1;
  if (s.store.empty()) s.store = study.name + ".h5";
  const std::string store = safe_path("store", s.store);
  const std::string study_path = safe_path("study", s.study_path);
  const fs::path folder = fs::path(store).parent_path();
  if (!fs::is_directory(folder) || access(folder.c_str(), W_OK) != 0)
    throw UserError("command line: --store \"" + s.store + "\": folder '" + folder.string() + "' does not exist or is not writable");
  char self[4096] = {};
  const ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  const std::string pebench = safe_path("", length > 0 ? std::string(self, static_cast<size_t>(length)) : std::string(argv[0]));

  const bool slurm = s.scheduler == "slurm";
  std::string directives;
  for (const auto& line : s.extra) directives += line + "\n";
  if (!s.partition.empty()) directives += (slurm ? "#SBATCH --partition=" : "#PBS -q ") + s.partition + "\n";
  if (!s.account.empty()) directives += (slurm ? "#SBATCH --account=" : "#PBS -A ") + s.account + "\n";
  if (slurm && s.gpus_per_node > 0) directives += "#SBATCH --gpus-per-node=" + std::to_string(s.gpus_per_node) + "\n";
  const std::string cores = std::to_string(s.ranks_per_node * s.threads_per_rank);
  // PBS: Torque's nodes=N:ppn=C for CPU jobs; PBS Pro's select with ngpus for GPU jobs.
  const std::string resources = s.gpus_per_node > 0 ? "select=" + std::to_string(s.nodes) + ":ncpus=" + cores + ":mpiprocs=" +
                                                          std::to_string(s.ranks_per_node) + ":ngpus=" + std::to_string(s.gpus_per_node)
                                                    : "nodes=" + std::to_string(s.nodes) + ":ppn=" + cores;
  const bool array = s.array_shards > 0;
  const std::string log = store + (slurm ? (array ? ".slurm-%A_%a.log" : ".slurm-%j.log") : ".pbs.log");
  std::map<std::string, std::string> values = {
      {"STUDY_NAME", study.name}, {"JOB_NAME", "pebench-" + study.name}, {"STUDY", study_path}, {"STORE", store},
      {"PEBENCH", pebench}, {"WORKDIR", folder.string()}, {"LOG", log}, {"TIME", s.time},
      {"NODES", std::to_string(s.nodes)}, {"RANKS_PER_NODE", std::to_string(s.ranks_per_node)},
      {"RANKS", std::to_string(s.nodes * s.ranks_per_node)},
      {"THREADS_PER_RANK", std::to_string(s.threads_per_rank)},
      {"CORES_PER_NODE", std::to_string(s.ranks_per_node * s.threads_per_rank)},
      {"SIGNAL_SECONDS", std::to_string(s.signal_seconds)}, {"MAX_REQUEUES", std::to_string(s.max_requeues)},
      {"ARRAY_SHARDS", std::to_string(s.array_shards)}, {"DIRECTIVES", directives},
      {"RESOURCES", resources}, {"RUN_FLAGS", run_tail},
      {"MPS_START", s.ranks_per_gpu > 1 ? mps_start(slurm, store, s.nodes) : ""},
      {"MPI_ENV", s.ranks_per_gpu > 1 ? " -x CUDA_MPS_PIPE_DIRECTORY -x CUDA_MPS_LOG_DIRECTORY" : ""}};
  const std::string origin = s.template_path.empty() ? "jobs/templates/" + s.scheduler + ".sh" : s.template_path;
  const std::string script = render(s.template_path.empty() ? (slurm ? k_slurm_template : k_pbs_template)
                                                            : read_text(s.template_path),
                                    values, origin);
  const std::string script_path = store + (slurm ? ".slurm.sh" : ".pbs.sh");
  if (s.dry_run) {
    std::cout << "# " << script_path << "\n" << script;
    return 0;
  }
  write_script(script_path, script);
  int status = 0;
  const std::string submit = slurm ? "sbatch --parsable" + (array ? " --array=0-" + std::to_string(s.array_shards - 1) : std::string())
                                   : std::string("qsub");
  const std::string output = capture(submit + " " + script_path, status);
  const std::string job = submitted_id(output);
  if (status != 0 || job.empty()) {
    std::cerr << "pebench: error: " << submit << " " << script_path << " failed: " << output;
    return 1;
  }
  std::cout << "pebench: submitted " << script_path << " as job " << job << (array ? " (array of " + std::to_string(s.array_shards) + " shards)" : "")
            << "\n";
  if (array) {
    std::string shards;
    for (int64_t i = 0; i < s.array_shards; ++i) shards += (i ? " " : "") + shard_store_path(store, i, s.array_shards);
    values["SHARDS"] = shards;
    values["ARRAY_JOB"] = job;
    values["LOG"] = store + ".slurm-merge-%j.log";
    const std::string merge_path = write_script(store + ".merge.slurm.sh", render(k_slurm_merge_template, values, "jobs/templates/slurm_merge.sh"));
    const std::string merge_output = capture("sbatch --parsable --dependency=afterok:" + job + " " + merge_path, status);
    const std::string merge_job = submitted_id(merge_output);
    if (status != 0 || merge_job.empty()) {
      std::cerr << "pebench: error: submitting the merge job " << merge_path << " failed: " << merge_output;
      return 1;
    }
    std::cout << "pebench: submitted " << merge_path << " as job " << merge_job << " (runs after every shard succeeded)\n";
  }
  std::cout << "watch: " << (slurm ? "squeue -j " + job : "qstat " + job) << "; pebench inspect " << store
            << (array ? " (after the merge; each shard: pebench inspect STORE.shard-i-of-" + std::to_string(s.array_shards) + ".h5)" : "")
            << "\n";
  return 0;
}

}  // namespace pebench
