// `pebench run STUDY`: the study loop. Validate, lay out the store, schedule runs over
// MPI ranks (largest first, harness/plan.h), run each (harness/run_one.h), and print the
// comparison table.
#include "harness/run_command.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>
#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <set>
#include <iomanip>
#include <sstream>
#include <thread>

#include "harness/cli.h"
#include "harness/data.h"
#include "harness/evaluate.h"
#include "harness/layout.h"
#include "harness/passkey.h"
#include "harness/plan.h"
#include "harness/run_one.h"
#include "harness/scheduler.h"
#include "harness/signals.h"
#include "harness/study.h"
#include "results/compare.h"
#include "results/config_text.h"
#include "results/fault.h"
#include "results/safe_file.h"
#include "results/store.h"

namespace pebench {
namespace fs = std::filesystem;

namespace {

// An existing store is continued only with --resume.
std::string store_exists_message(const std::string& store) {
  return "command line: --store \"" + store + "\": the store exists; pass --resume to continue it, or choose another --store";
}

// An advisory lock on STORE.lock for the life of an invocation, held by rank 0 (the other
// ranks are the same job): a second `pebench run` on the store exits 2 naming the holder
// instead of training the same runs. The kernel drops a flock when its process dies,
// however it dies, so a lock file left by a killed job holds no lock and is taken over.
// (flock works across nodes on NFSv4 and on Lustre mounted with -o flock.)
class StoreLock {
 public:
  StoreLock() = default;
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;
  ~StoreLock() {
    if (fd_ < 0) return;
    unlink(path_.c_str());  // while still held: nobody else holds a lock on this file
    close(fd_);
  }
  // "" when taken; else why not, naming the holder.
  std::string acquire(const std::string& store, const std::string& host) {
    path_ = store + ".lock";
    fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd_ < 0) return "command line: --store \"" + store + "\": cannot open its lock " + path_ + ": " + std::strerror(errno);
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      std::string holder(512, '\0');
      const ssize_t got = pread(fd_, holder.data(), holder.size(), 0);
      holder.resize(got > 0 ? static_cast<size_t>(got) : 0);
      close(fd_);
      fd_ = -1;
      return "command line: --store \"" + store + "\": in use by " + (holder.empty() ? "another pebench" : holder) +
             " (lock " + path_ + "); wait for it to end, or stop it";
    }
    char started[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%S%z", std::localtime(&now));
    const std::string text = "pebench pid " + std::to_string(getpid()) + " on " + host + " since " + started;
    if (ftruncate(fd_, 0) != 0 || pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
      return "command line: --store \"" + store + "\": cannot write its lock " + path_ + ": " + std::strerror(errno);
    return "";
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// This rank's share of the node's cores: cores / ranks on the node, within its affinity.
int core_share(const MpiSession& mpi) {
  cpu_set_t set;
  int bound = static_cast<int>(std::thread::hardware_concurrency());
  if (sched_getaffinity(0, sizeof(set), &set) == 0) bound = CPU_COUNT(&set);
  const int share = static_cast<int>(std::thread::hardware_concurrency()) / mpi.local_size;
  return std::max(1, std::min(bound, share));
}

std::string format_duration(double seconds) {
  std::ostringstream out;
  const auto total = static_cast<int64_t>(seconds);
  if (total >= 3600) out << total / 3600 << "h";
  if (total >= 60) out << (total % 3600) / 60 << "m";
  out << total % 60 << "s";
  return out.str();
}

// Everything checked before anything is written; identical on every rank.
struct Prepared {
  Study study;
  std::map<std::string, Corpus> corpora;  // by data_key
  std::string store_path;
};

// The data keys of a run, which pick its corpus (or task).
std::string data_key(const RunConfig& run) {
  std::string key;
  for (const auto& [name, value] : run.values)
    if (name.rfind("data.", 0) == 0 && name != "data.passkey_mix") key += name + "=" + value + ";";
  return key;
}

// A task as a corpus: held-out sequences for the analyses, as many tokens as any run's
// analyses read (eval generates its own sequences).
Corpus load_task(const TaskSpec& task, const std::vector<RunConfig>& runs) {
  int64_t longest = 0, tokens = 0;
  for (const auto& run : runs) {
    longest = std::max(longest, run.eval_lengths().back());
    if (!run.analysis.run.empty())
      tokens = std::max({tokens, run.analysis.tokens, run.analysis.sequences * run.eval_lengths().back()});
  }
  return task_corpus(task, longest, tokens + longest);
}

Prepared prepare(const RunFlags& invocation) {
  Prepared prepared;
  prepared.study = load_study(invocation.study_path, invocation.overrides);
  const auto& runs = prepared.study.runs;
  // The source and a task's parameters may be grid axes (text and tasks side by side);
  // the split and vocabulary are the study's. Each distinct data config is loaded once.
  for (const auto& axis : prepared.study.grid_axes)
    if (axis.rfind("data.", 0) == 0 && axis != "data.source" && axis != "data.symbols" && axis != "data.lags" &&
        axis != "data.tokenizer" && axis != "data.documents" && axis != "data.passkey_mix")
      throw UserError(invocation.study_path + ": [grid] " + axis +
                      ": data keys cannot be grid axes, but data.source, data.tokenizer, data.documents, "
                      "data.passkey_mix, data.symbols and data.lags");
  // Before anything is built: a run that cannot fit in this machine's memory is refused
  // with the estimate and the keys that set it, not after an allocation fails.
  const double machine = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  for (const auto& run : runs) {
    const MemoryEstimate memory = estimated_memory(run);
    if (machine > 0 && memory.bytes > machine) {
      std::ostringstream line;
      line.precision(3);
      line << invocation.study_path << ": run " << run.run_id << " needs at least " << memory.bytes / 1e9
           << " GB, mostly " << memory.largest << "; this machine has " << machine / 1e9
           << " GB: lower those keys";
      throw UserError(line.str());
    }
  }
  prepared.store_path = invocation.store_path.empty() ? prepared.study.name + ".h5" : invocation.store_path;
  // Trained tokenizers and encoded corpora, shared by the stores of one folder.
  const fs::path store_folder = fs::path(prepared.store_path).has_parent_path() ? fs::path(prepared.store_path).parent_path()
                                                                                  : fs::path(".");
  const std::string cache_folder = (store_folder / "pebench-cache").string();
  for (const auto& run : runs) {
    const std::string key = data_key(run);
    if (!prepared.corpora.count(key)) {
      const auto task = run.task();
      prepared.corpora[key] = task ? load_task(*task, runs) : load_corpus(run.data, cache_folder, invocation.study_path);
    }
    const Corpus& corpus = prepared.corpora[key];
    if (corpus.task) continue;  // generated: any length has data
    if (run.eval.passkey || run.data.passkey_mix > 0) {
      const int64_t needs = passkey_overhead(*corpus.tokenizer);
      if (run.train.seq_len + 1 < needs)
        throw UserError(invocation.study_path + ": [train] seq_len = \"" + std::to_string(run.train.seq_len) +
                        "\": a passkey prompt needs " + std::to_string(needs) + " tokens with " + run.data.tokenizer +
                        "; use a longer train.seq_len or turn eval.passkey and data.passkey_mix off");
    }
    const int64_t seq_len = run.train.seq_len;
    if (static_cast<int64_t>(corpus.train.size()) < seq_len + 2)
      throw UserError(invocation.study_path + ": [data] source = \"" + run.data.source +
                      "\": the train split has " + std::to_string(corpus.train.size()) +
                      " tokens, too few for train.seq_len " + std::to_string(seq_len));
    eval_budget(static_cast<int64_t>(corpus.heldout.size()), run.eval.tokens,
                run.eval_lengths().back(), invocation.study_path);
  }
  if (invocation.shard_count > 1) {
    prepared.store_path = shard_store_path(prepared.store_path, invocation.shard_index, invocation.shard_count);
    prepared.study.runs = shard_of(prepared.study.runs, invocation.shard_index, invocation.shard_count);
  }
  const fs::path store(prepared.store_path);
  const fs::path folder = store.has_parent_path() ? store.parent_path() : fs::path(".");
  if (!fs::is_directory(folder) || access(folder.c_str(), W_OK) != 0)
    throw UserError("command line: --store \"" + prepared.store_path + "\": folder '" + folder.string() +
                    "' does not exist or is not writable");
  if (fs::exists(store)) {
    if (!invocation.resume && !invocation.dry_run)
      throw UserError(store_exists_message(prepared.store_path));
    // Read whole, so a damaged store is refused before anything is written to it.
    StoreContents stored;
    try {
      stored = read_store(prepared.store_path);
    } catch (const StoreError& error) {
      throw UserError("command line: --store \"" + prepared.store_path + "\": " + error.what());
    }
    std::vector<std::string> configs;
    std::map<std::string, std::string> identities;
    for (const auto& run : stored.runs) {
      configs.push_back(run.config);
      if (!run.data_identity.empty()) identities[run.row.run_id] = run.data_identity;
    }
    const std::string changed = changed_fixed_key(prepared.study, configs);
    if (!changed.empty())
      throw UserError(invocation.study_path + ": " + changed + " (store " + prepared.store_path +
                      "); restore the key or use a new --store");
    // One run id, one corpus: a corpus file replaced since the store's runs were laid out
    // would continue them (or sit beside them) on other data.
    for (const auto& run : prepared.study.runs) {
      auto recorded = identities.find(run.run_id);
      const Corpus& corpus = prepared.corpora.at(data_key(run));
      if (recorded != identities.end() && !corpus.identity.empty() && recorded->second != corpus.identity)
        throw UserError(invocation.study_path + ": [data] source = \"" + run.data.source + "\": the corpus changed since run " +
                        run.run_id + " was laid out in " + prepared.store_path + " (then " + recorded->second + ", now " +
                        corpus.identity + "); restore it, or use a new --store");
    }
  }
  return prepared;
}

void print_dry_run(const Prepared& prepared) {
  std::cout << "study " << prepared.study.name << ": " << prepared.study.runs.size() << " runs";
  if (!prepared.study.grid_axes.empty()) {
    std::cout << " over";
    for (const auto& axis : prepared.study.grid_axes) std::cout << " " << axis;
  }
  for (const auto& [key, corpus] : prepared.corpora)
    std::cout << "; corpus " << corpus.description << " (" << corpus.train.size() << " train / "
              << corpus.heldout.size() << " held-out tokens)";
  std::cout << "; store " << prepared.store_path << "\n";
  for (const auto& run : prepared.study.runs) {
    const MemoryEstimate memory = estimated_memory(run);
    std::cout << "\n" << run.run_id << "\n  # estimated peak memory " << std::setprecision(3) << memory.bytes / 1e9
              << " GB, mostly " << memory.largest << "\n";
    std::istringstream lines(run.canonical_text());
    std::string line;
    while (std::getline(lines, line)) std::cout << "  " << line << "\n";
  }
}

// Creates the layout of every run not yet in the store, on a copy that replaces the
// store only when complete: a kill during object creation can corrupt an HDF5 file, a
// kill during a rename cannot.
void lay_out_new_runs(const MpiSession& mpi, const std::string& store_path, const Study& study, bool exists,
                      const std::vector<RunLayout>& new_layouts) {
  const bool root = mpi.rank == 0;
  const std::string partial = store_path + ".partial";
  if (root) {
    create_exclusively(partial);  // never through a symlink left at that name
    if (exists) fs::copy_file(store_path, partial, fs::copy_options::overwrite_existing);
  }
  gentle_barrier(mpi.comm);
  try {
    if (!exists)
      ParallelStore::create(partial, mpi.comm, {study.file_text, study.name, format_config_text(study_key_defaults())});
    ParallelStore store(partial, mpi.comm);
    store.add_runs(new_layouts, root);
    store.flush();
    store.close();
  } catch (...) {
    // A full disk or a refused attribute: the store stays as it was, and no .partial is left.
    if (root) std::remove(partial.c_str());
    throw;
  }
  gentle_barrier(mpi.comm);
  if (root) {
    fault_point("before_layout_rename");
    fs::rename(partial, store_path);
  }
  gentle_barrier(mpi.comm);
}

}  // namespace

int run_command(int argc, char** argv) {
  const auto invocation_start = std::chrono::steady_clock::now();
  MpiSession mpi(argc, argv);
  install_stop_signals();
  const bool root = mpi.rank == 0;

  // Bad input: every rank checks the same things; one message, exit 2, nothing written.
  RunFlags invocation;
  Prepared prepared;
  std::string error;
  // Rank 0 prepares first: it trains and caches any tokenizer and encoded corpus, which
  // the other ranks then read instead of training the same model at once.
  bool help = false;
  auto prepare_here = [&] {
    try {
      if (!parse_run_flags(argc, argv, invocation)) help = true;
      else prepared = prepare(invocation);
    } catch (const UserError& failure) {
      error = failure.what();
    }
  };
  if (root) prepare_here();
  error = first_message(mpi.comm, error);
  if (error.empty() && !root) prepare_here();
  if (help) return 0;  // --help
  error = first_message(mpi.comm, error);
  if (!error.empty()) {
    if (root) std::cerr << "pebench: error: " << error << std::endl;
    return 2;
  }
  if (invocation.dry_run) {
    if (root) print_dry_run(prepared);
    return 0;
  }
  // The store is this invocation's until it returns. Taken before the store is read: a
  // store that another process created in the meantime needs --resume like any other.
  StoreLock lock;
  if (root) {
    error = lock.acquire(prepared.store_path, mpi.host);
    if (error.empty() && !invocation.resume && fs::exists(prepared.store_path))
      error = store_exists_message(prepared.store_path);
  }
  error = first_message(mpi.comm, error);
  if (!error.empty()) {
    if (root) std::cerr << "pebench: error: " << UserError(error).what() << std::endl;
    return 2;
  }

  // Threads: --threads-per-rank for every run, else threads_for each run within the share.
  const int threads = invocation.threads_per_rank > 0 ? invocation.threads_per_rank : core_share(mpi);
  torch::set_num_threads(threads);
  if (invocation.deterministic) {
    // Before any cuBLAS handle exists: cuBLAS reads its workspace setting once.
    setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/false);
  }
  torch::Device device(torch::kCPU);
  if (invocation.device == "cuda") {
    if (!torch::cuda::is_available()) {
      if (root) std::cerr << "pebench: error: command line: --device \"cuda\": this LibTorch has no CUDA device; expected cpu" << std::endl;
      return 2;
    }
    device = torch::Device(torch::kCUDA, static_cast<int>(mpi.local_rank % torch::cuda::device_count()));
  }
  if (invocation.attention == "fused" && !fused_attention_available()) {
    if (root) std::cerr << "pebench: error: command line: --attention \"fused\": this LibTorch (" TORCH_VERSION ") has no scaled_dot_product_attention with a scale (torch >= 2.1); expected auto | explicit" << std::endl;
    return 2;
  }

  const auto& runs = prepared.study.runs;
  const std::string& store_path = prepared.store_path;
  std::set<std::string> finished;
  std::set<std::string> laid_out;
  const bool exists = fs::exists(store_path);
  if (exists)
    for (const auto& row : read_index(store_path)) {
      laid_out.insert(row.run_id);
      if (row.status == "done" || row.status == "diverged") finished.insert(row.run_id);
    }
  std::vector<RunLayout> new_layouts;
  for (const auto& run : runs)
    if (!laid_out.count(run.run_id)) {
      new_layouts.push_back(layout_of(run));
      const Corpus& corpus = prepared.corpora.at(data_key(run));
      new_layouts.back().data_identity = corpus.identity;
      if (corpus.tokenizer && !corpus.tokenizer->is_bytes()) {
        new_layouts.back().tokenizer = run.data.tokenizer + " model=" + corpus.tokenizer->hash();
        new_layouts.back().tokenizer_model = corpus.tokenizer->model();
      }
    }
  // Room for the layout (a copy of the store plus the new runs' datasets) before any of it
  // is written: a disk that fills during HDF5's layout leaves a file HDF5 cannot close.
  error.clear();
  if (root && (!exists || !new_layouts.empty())) {
    const fs::path folder = fs::absolute(store_path).parent_path();
    std::error_code ignored;
    const double needed = layout_bytes(new_layouts) + 65536 + (exists ? static_cast<double>(fs::file_size(store_path, ignored)) : 0);
    const auto space = fs::space(folder, ignored);
    if (!ignored && static_cast<double>(space.available) < needed) {
      std::ostringstream line;
      line.precision(3);
      line << "--store \"" << store_path << "\": laying out " << new_layouts.size() << " run(s) needs about "
           << needed / 1e6 << " MB in " << folder.string() << ", which has " << static_cast<double>(space.available) / 1e6
           << " MB free" << (exists ? "; the store is unchanged" : "");
      error = line.str();
    }
  }
  error = first_message(mpi.comm, error);
  if (!error.empty()) {
    if (root) std::cerr << "pebench: error: " << UserError(error).what() << std::endl;
    return 2;
  }
  gentle_barrier(mpi.comm);  // every rank has read the store before anyone changes it
  if (!exists || !new_layouts.empty())
    lay_out_new_runs(mpi, store_path, prepared.study, exists, new_layouts);

  ParallelStore store(store_path, mpi.comm);
  const std::vector<int64_t> order = largest_first(runs, finished);
  if (root)
    std::cout << "pebench: study " << prepared.study.name << ": " << order.size() << " of " << runs.size()
              << " runs to do on " << mpi.size << " rank(s) x " << (invocation.threads_per_rank == 0 && threads > 1 ? "up to " : "")
              << threads << " thread(s); store "
              << store_path << std::endl;

  RunEnvironment environment;
  environment.device = device;
  environment.attention = invocation.attention;
  environment.checkpoint_folder = store_path + ".ckpt";
  environment.keep_checkpoints = invocation.keep_checkpoints;
  environment.rank = mpi.rank;
  environment.host = mpi.host;
  if (invocation.verbose)
    environment.progress = [&](const std::string& line) { std::cerr << "[rank " << mpi.rank << "] " << line << std::endl; };
  const auto study_start = std::chrono::steady_clock::now();
  size_t reported = 0;
  int worst = 0;  // this rank's exit code: 1 a run failed, 3 interrupted
  auto work = [&](int64_t index) {
    if (invocation.threads_per_rank == 0) torch::set_num_threads(threads_for(runs[index], threads));
    const RunConfig& run = runs[static_cast<size_t>(index)];
    RunReport report = run_one(run, prepared.corpora.at(data_key(run)), environment, store);
    if (report.status == 3) worst = 3;
    else if (report.status == 2 && worst == 0) worst = 1;
    return report;
  };
  auto on_finished = [&](const RunReport& report) {
    ++reported;
    const RunConfig& run = runs[report.index];
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - study_start).count();
    const double eta = elapsed / static_cast<double>(reported) * static_cast<double>(order.size() - reported);
    const auto lengths = run.eval_lengths();
    std::ostringstream line;
    line.setf(std::ios::fixed);
    line.precision(3);
    line << "[" << reported << "/" << order.size() << "] " << run.run_id << " ";
    if (report.status == 0)
      line << "done on rank " << report.rank << ": ppl@" << run.train.seq_len << " " << report.ppl_train
           << ", ppl@" << lengths.back() << " " << report.ppl_longest;
    else
      line << (report.status == 1 ? "DIVERGED" : report.status == 2 ? "FAILED" : "INTERRUPTED (checkpointed)")
           << " on rank " << report.rank;
    line.precision(0);
    line << " (" << report.seconds << " s), ETA " << format_duration(eta);
    std::cout << line.str() << std::endl;
  };
  schedule_dynamic(mpi.comm, order, work, on_finished, stop_requested);
  if (stop_requested()) worst = 3;
  gentle_barrier(mpi.comm);
  store.close();
  const int code = max_over_ranks(mpi.comm, worst);
  // HDF5 time of the busiest rank against the whole invocation's (target: < 1%).
  std::vector<double> costs = {store_seconds(), std::chrono::duration<double>(std::chrono::steady_clock::now() - invocation_start).count()};
  costs = max_over_ranks(mpi.comm, costs);
  if (root) {
    std::ostringstream line;
    line.setf(std::ios::fixed);
    line.precision(3);
    line << "pebench: store (HDF5) work " << costs[0] << " s on the busiest rank, " << 100 * costs[0] / costs[1]
         << "% of " << costs[1] << " s";
    std::cout << line.str() << std::endl;
  }
  if (root) {
    if (code == 3) {
      std::cout << "pebench: stopped by a signal; unfinished runs are checkpointed in " << environment.checkpoint_folder
                << "; continue with the same command and --resume: pebench " << invocation.arguments
                << (invocation.resume ? "" : " --resume") << std::endl;
    } else {
      std::error_code ignored;
      fs::remove(environment.checkpoint_folder, ignored);  // only when empty: kept checkpoints stay
      CompareOptions closing_table;
      closing_table.defaults = study_key_defaults();
      std::cout << "\n" << compare_stores({read_store(store_path)}, closing_table);
      std::cout << "store: " << store_path << " (pebench inspect " << store_path << ")" << std::endl;
    }
  }
  return code;
}

}  // namespace pebench
