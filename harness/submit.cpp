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
  for (const auto& [flag, value] : {std::pair<const char*, int64_t>{"nodes", s.nodes}, {"ranks-per-node", s.ranks_per_node},
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
  const Study study = load_study(s.study_path, {});  // bad studies fail here, not on the cluster
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
      {"ARRAY_SHARDS", std::to_string(s.array_shards)}, {"DIRECTIVES", directives}};
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
