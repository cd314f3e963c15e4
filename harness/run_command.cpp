#include "harness/run_command.h"

#include <sched.h>
#include <unistd.h>
#include <torch/cuda.h>

#include <boost/program_options.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <set>
#include <algorithm>
#include <sstream>
#include <thread>

#include "encodings/registry.h"
#include "harness/analyse.h"
#include "harness/data.h"
#include "harness/evaluate.h"
#include "harness/fault.h"
#include "harness/scheduler.h"
#include "harness/signals.h"
#include "harness/study.h"
#include "harness/train.h"
#include "models/transformer.h"
#include "results/compare.h"
#include "results/store.h"

namespace pebench {
namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

struct Invocation {
  std::string study_path;
  std::string store_path;
  bool resume = false;
  bool dry_run = false;
  bool verbose = false;
  bool keep_checkpoints = false;
  int64_t shard_index = 0, shard_count = 1;  // --shard i/n: the i-th of n slices (0-based)
  int threads_per_rank = 0;  // 0: cores on the node / ranks on the node
  std::string device = "cpu";
  std::vector<Override> overrides;
  std::string arguments;  // as given after `pebench`, for the command that resumes
};

po::options_description invocation_options() {
  po::options_description options("How this invocation runs (not part of the study)");
  options.add_options()
      ("help,h", "show this help")
      ("store", po::value<std::string>(), "HDF5 store to write (default: STUDY_NAME.h5)")
      ("resume", po::bool_switch(), "continue an existing store: skip finished runs")
      ("dry-run", po::bool_switch(), "print the expanded run list and exit")
      ("shard", po::value<std::string>(), "i/n: run only the i-th (0-based) of n disjoint slices of the runs, into STORE.shard-i-of-n.h5 (job arrays; then `pebench merge`)")
      ("keep-checkpoints", po::bool_switch(), "keep a run's checkpoint (STORE.ckpt/RUN_ID.pt) after it is done")
      ("threads-per-rank", po::value<int>(), "intra-op threads per rank (default: cores / ranks on the node; 1 for models under d_model 128 and 2^18 activations per step)")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu | cuda")
      ("verbose", po::bool_switch(), "print training progress of every run");
  return options;
}

po::options_description key_options() {
  po::options_description options("Study keys (override the study file; `--grid.KEY a,b` adds a grid axis)");
  for (const auto& key : study_keys())
    options.add_options()(key.name.c_str(), po::value<std::string>(),
                          (key.help + " [" + key.allowed + "; default " +
                           (key.default_value.empty() ? "-" : key.default_value) + "]").c_str());
  return options;
}

Invocation parse_invocation(int argc, char** argv) {
  auto options = invocation_options();
  auto keys = key_options();
  po::options_description all;
  all.add(options).add(keys).add_options()("study", po::value<std::string>());
  for (const auto& key : study_keys())
    if (key.name.rfind("study.", 0) != 0) all.add_options()(("grid." + key.name).c_str(), po::value<std::string>());
  po::positional_options_description positional;
  positional.add("study", 1);
  po::variables_map values;
  po::parsed_options parsed(nullptr);
  try {
    parsed = po::command_line_parser(argc - 1, argv + 1)
                 .options(all)
                 .positional(positional)
                 .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
                 .allow_unregistered()
                 .run();
    po::store(parsed, values);
  } catch (const po::error& error) {
    throw UserError(std::string("command line: ") + error.what());
  }
  Invocation invocation;
  for (int i = 1; i < argc; ++i) invocation.arguments += (i > 1 ? " " : "") + std::string(argv[i]);
  if (values.count("help")) {
    std::cout << "usage: pebench run STUDY.ini [--store FILE.h5] [--resume] [--dry-run] [--KEY VALUE ...]\n"
              << "       mpirun -np N pebench run STUDY.ini ...\n\n"
              << options << "\n" << keys << "\n";
    throw 0;
  }
  for (const auto& option : parsed.options) {
    if (option.string_key.rfind("grid.", 0) == 0 && !option.unregistered) {
      invocation.overrides.push_back({option.string_key, option.value.front()});
      continue;
    }
    if (option.unregistered) {
      throw UserError("command line: unknown option '" + option.original_tokens.front() +
                      "'; see `pebench run --help` for flags and study keys");
    }
    if (option.string_key == "study" || option.position_key >= 0) continue;
    for (const auto& key : study_keys())
      if (option.string_key == key.name) invocation.overrides.push_back({key.name, option.value.front()});
  }
  if (!values.count("study")) throw UserError("command line: missing STUDY file; usage: pebench run STUDY.ini");
  invocation.study_path = values["study"].as<std::string>();
  if (values.count("store")) invocation.store_path = values["store"].as<std::string>();
  invocation.resume = values["resume"].as<bool>();
  invocation.dry_run = values["dry-run"].as<bool>();
  invocation.verbose = values["verbose"].as<bool>();
  invocation.keep_checkpoints = values["keep-checkpoints"].as<bool>();
  if (values.count("shard")) {
    const std::string shard = values["shard"].as<std::string>();
    const auto slash = shard.find('/');
    size_t used_index = 0, used_count = 0;
    bool ok = slash != std::string::npos && slash > 0 && shard.find_first_not_of("0123456789/") == std::string::npos;
    if (ok) {
      try {
        invocation.shard_index = std::stoll(shard.substr(0, slash), &used_index);
        invocation.shard_count = std::stoll(shard.substr(slash + 1), &used_count);
      } catch (...) {
        ok = false;
      }
    }
    if (!ok || used_index != slash || used_count != shard.size() - slash - 1 || invocation.shard_count < 1 ||
        invocation.shard_index >= invocation.shard_count)
      throw UserError("command line: --shard \"" + shard + "\": expected i/n with 0 <= i < n, e.g. 0/4");
  }
  invocation.device = values["device"].as<std::string>();
  if (invocation.device != "cpu" && invocation.device != "cuda")
    throw UserError("command line: --device \"" + invocation.device + "\": expected cpu | cuda");
  if (values.count("threads-per-rank")) {
    invocation.threads_per_rank = values["threads-per-rank"].as<int>();
    if (invocation.threads_per_rank < 1)
      throw UserError("command line: --threads-per-rank \"" + std::to_string(invocation.threads_per_rank) +
                      "\": expected a positive integer");
  }
  return invocation;
}

// Relative cost in FLOPs: training plus evaluation, for largest-first scheduling.
double estimated_cost(const RunConfig& run) {
  const double d = static_cast<double>(run.integer("model.d_model"));
  const double layers = static_cast<double>(run.integer("model.layers"));
  auto per_token = [&](double length) { return layers * (12 * d * d + 2 * length * d); };
  const double length = static_cast<double>(run.integer("train.seq_len"));
  double cost = 3 * static_cast<double>(run.integer("train.steps") * run.integer("train.batch")) * length *
                per_token(length);
  for (int64_t eval_length : run.eval_lengths())
    cost += static_cast<double>(run.integer("eval.tokens")) * per_token(static_cast<double>(eval_length));
  return cost;
}

// The task metrics a run stores, [n_lengths] each, in EvalResult's order.
std::vector<std::string> task_metric_names(const RunConfig& run) {
  const auto task = task_spec(run);
  if (!task) return {};
  if (task->name != "anchor_composite") return {"eval/accuracy"};
  return {"eval/accuracy", "eval/anchor/inferential_accuracy", "eval/anchor/symmetric_accuracy"};
}

RunLayout layout_of(const RunConfig& run) {
  RunLayout layout;
  layout.run_id = run.run_id;
  layout.encoding = run.text("encoding");
  layout.train_seq_len = run.integer("train.seq_len");
  layout.seed = run.integer("seed");
  layout.init_gamma = run.real("model.init_gamma");
  layout.pe_init_std = run.real("model.pe_init_std");
  layout.config = run.canonical_text();
  auto model = build_model(run);
  layout.params = model->parameter_count();
  layout.facts = model->encoding().facts();
  if (const int64_t window = run.integer("model.attention_window"); window > 0)
    layout.facts.push_back({"theoretical_receptive_field", run.integer("model.layers") * (window - 1) + 1});
  layout.n_logged = static_cast<int64_t>(log_steps(run.integer("train.steps"), run.integer("train.log_every")).size());
  layout.eval_lengths = run.eval_lengths();
  layout.eval_protocol = run.text("eval.protocol");
  layout.eval_stride = run.integer("eval.stride");
  layout.eval_variants = model->encoding().eval_variants();
  // The shapes come from the encoding itself: a one-distance profile, and its table.
  torch::NoGradGuard no_grad;
  auto profile = bias_profile(model->encoding(), 1, torch::kCPU);
  if (profile.defined()) {
    layout.bias_profile_shape = profile.sizes().vec();
    layout.bias_profile_shape.back() = layout.eval_lengths.back();
  }
  auto table = model->encoding().table();
  if (table.defined()) layout.table_shape = table.sizes().vec();
  for (const auto& name : task_metric_names(run))
    layout.extra_datasets.push_back({name, {static_cast<int64_t>(layout.eval_lengths.size())}, false});
  for (const auto& dataset : analysis_layout(run, table.defined() ? table.size(0) : 0))
    layout.extra_datasets.push_back({dataset.name, dataset.shape, dataset.integer});
  return layout;
}

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

// The i-th of n slices of the runs: largest cost first, each run to the slice with the
// least cost so far, so shards of one job array take about the same time.
std::vector<RunConfig> shard_of(const std::vector<RunConfig>& runs, int64_t index, int64_t count) {
  std::vector<size_t> order(runs.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> cost(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) cost[i] = estimated_cost(runs[i]);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cost[a] > cost[b]; });
  std::vector<double> load(static_cast<size_t>(count), 0.0);
  std::vector<bool> mine(runs.size(), false);
  for (size_t i : order) {
    const auto lightest = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[lightest] += cost[i];
    mine[i] = static_cast<int64_t>(lightest) == index;
  }
  std::vector<RunConfig> slice;
  for (size_t i = 0; i < runs.size(); ++i)
    if (mine[i]) slice.push_back(runs[i]);
  return slice;
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
    if (name.rfind("data.", 0) == 0) key += name + "=" + value + ";";
  return key;
}

// A task as a corpus: held-out sequences for the analyses, as many tokens as any run's
// analyses read (eval generates its own sequences).
Corpus load_task(const TaskSpec& task, const std::vector<RunConfig>& runs) {
  int64_t longest = 0, tokens = 0;
  for (const auto& run : runs) {
    longest = std::max(longest, run.eval_lengths().back());
    if (!run.analyses().empty())
      tokens = std::max({tokens, run.integer("analysis.tokens"), run.integer("analysis.sequences") * run.eval_lengths().back()});
  }
  return task_corpus(task, longest, tokens + longest);
}

Prepared prepare(const Invocation& invocation) {
  Prepared prepared;
  prepared.study = load_study(invocation.study_path, invocation.overrides);
  const auto& runs = prepared.study.runs;
  // The source and a task's parameters may be grid axes (text and tasks side by side);
  // the split and vocabulary are the study's. Each distinct data config is loaded once.
  for (const auto& axis : prepared.study.grid_axes)
    if (axis.rfind("data.", 0) == 0 && axis != "data.source" && axis != "data.symbols" && axis != "data.lags")
      throw UserError(invocation.study_path + ": [grid] " + axis +
                      ": data keys cannot be grid axes, but data.source, data.symbols and data.lags");
  for (const auto& run : runs) {
    const std::string key = data_key(run);
    if (!prepared.corpora.count(key)) {
      const auto task = task_spec(run);
      prepared.corpora[key] = task ? load_task(*task, runs)
                                   : load_corpus(run.text("data.source"), run.real("data.holdout"),
                                                 run.integer("data.vocab_size"), invocation.study_path);
    }
    const Corpus& corpus = prepared.corpora[key];
    if (corpus.task) continue;  // generated: any length has data
    const int64_t seq_len = run.integer("train.seq_len");
    if (static_cast<int64_t>(corpus.train.size()) < seq_len + 2)
      throw UserError(invocation.study_path + ": [data] source = \"" + run.text("data.source") +
                      "\": the train split has " + std::to_string(corpus.train.size()) +
                      " tokens, too few for train.seq_len " + std::to_string(seq_len));
    eval_budget(static_cast<int64_t>(corpus.heldout.size()), run.integer("eval.tokens"),
                run.eval_lengths().back(), invocation.study_path);
  }
  prepared.store_path = invocation.store_path.empty() ? prepared.study.name + ".h5" : invocation.store_path;
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
      throw UserError("command line: --store \"" + prepared.store_path +
                      "\": the store exists; pass --resume to continue it, or choose another --store");
    std::string changed;
    try {
      changed = changed_fixed_key(prepared.study, read_configs(prepared.store_path));
    } catch (const StoreError& error) {
      throw UserError("command line: --store \"" + prepared.store_path + "\": " + error.what());
    }
    if (!changed.empty())
      throw UserError(invocation.study_path + ": " + changed + " (store " + prepared.store_path +
                      "); restore the key or use a new --store");
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
    std::cout << "\n" << run.run_id << "\n";
    std::istringstream lines(run.canonical_text());
    std::string line;
    while (std::getline(lines, line)) std::cout << "  " << line << "\n";
  }
}

// What every run of this invocation shares.
struct RunContext {
  const MpiSession& mpi;
  const Invocation& invocation;
  const std::map<std::string, Corpus>& corpora;  // by data_key
  torch::Device device;
  ParallelStore& store;
  std::string checkpoint_folder;  // STORE.ckpt
};

// Trains (or continues from its checkpoint), evaluates and stores one run; the status
// cell is written last. A stop signal leaves the run pending with a checkpoint.
RunReport run_one(const RunConfig& run, RunContext& context) {
  const MpiSession& mpi = context.mpi;
  IndexRow row{run.run_id, run.text("encoding"), run.integer("train.seq_len"), run.integer("seed"), "running"};
  context.store.write_status(row);
  RunReport report;
  const auto start = std::chrono::steady_clock::now();
  TrainControl control;
  control.checkpoint_path = (fs::path(context.checkpoint_folder) / (run.run_id + ".pt")).string();
  control.checkpoint_every = run.integer("train.checkpoint_every");
  control.stop_requested = stop_requested;
  try {
    fs::create_directories(context.checkpoint_folder);
    auto model = build_model(run);
    model->to(context.device);
    auto log_line = [&](const std::string& line) {
      if (context.invocation.verbose) std::cerr << "[rank " << mpi.rank << "] " << run.run_id << " " << line << std::endl;
    };
    if (fs::exists(control.checkpoint_path)) log_line("continuing from " + control.checkpoint_path);
    const Corpus& corpus = context.corpora.at(data_key(run));
    const TrainLog log = train_model(model, corpus, run, context.device, control, log_line);
    if (log.interrupted) throw Interrupted();
    RunResults results;
    results.train_step = log.step;
    results.train_loss = log.loss;
    results.train_lr = log.lr;
    const auto lengths = run.eval_lengths();
    results.eval_ppl.assign(lengths.size(), NAN);
    results.eval_tokens.assign(lengths.size(), -1);
    results.position_loss.assign(lengths.back(), NAN);
    // A diverged run keeps its train curve; its eval stays NaN.
    EvalResult evaluation;
    for (const auto& variant : model->encoding().eval_variants())
      results.variants.push_back({variant, results.eval_ppl, results.eval_tokens, results.position_loss});
    if (log.diverged_step < 0) {
      auto evaluate = [&](const std::string& variant) {
        return corpus.task ? evaluate_task(model, *corpus.task, run, context.device, variant)
                           : evaluate_model(model, corpus.heldout, run, context.device, variant);
      };
      evaluation = evaluate("");
      results.eval_ppl = evaluation.ppl;
      results.eval_tokens = evaluation.tokens;
      results.position_loss = evaluation.position_loss;
      const std::vector<std::vector<double>*> metrics = {&evaluation.accuracy, &evaluation.inferential_accuracy,
                                                         &evaluation.symmetric_accuracy};
      const auto names = task_metric_names(run);
      for (size_t i = 0; i < names.size(); ++i) results.extra.push_back({names[i], *metrics[i]});
      for (auto& curve : results.variants) {
        const EvalResult scaled = evaluate(curve.name);
        curve.ppl = scaled.ppl;
        curve.tokens = scaled.tokens;
        curve.position_loss = scaled.position_loss;
        evaluation.seconds += scaled.seconds;
      }
    }
    // Why it extrapolates (or not): the analyses the study enables.
    if (log.diverged_step < 0)
      for (auto& dataset : analyse_model(model, corpus.heldout, run, context.device))
        results.extra.push_back({dataset.name, std::move(dataset.values)});
    // What the encoding learned (or fixed): its bias by distance, its table.
    {
      torch::NoGradGuard no_grad;
      auto profile = bias_profile(model->encoding(), lengths.back(), context.device);
      if (profile.defined()) results.bias_profile = flat_values(profile);
      auto table = model->encoding().table();
      if (table.defined()) results.table = flat_values(table);
    }
    // Wall time over every attempt: earlier processes' training plus this one.
    const double wall = log.seconds_before_resume +
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    results.summary = {wall, log.seconds, evaluation.seconds, log.tokens_per_second, log.final_loss,
                       log.diverged_step, mpi.rank, mpi.host};
    // A diverged run stopped early: its unlogged points stay missing.
    const size_t n_logged = log_steps(run.integer("train.steps"), run.integer("train.log_every")).size();
    results.train_step.resize(n_logged, -1);
    results.train_loss.resize(n_logged, NAN);
    results.train_lr.resize(n_logged, NAN);
    fault_point("before_results");
    context.store.write_results(run.run_id, results);
    fault_point("before_status");
    row.status = log.diverged_step < 0 ? "done" : "diverged";
    context.store.write_status(row);  // last: the run counts as finished only now
    if (!context.invocation.keep_checkpoints) fs::remove(control.checkpoint_path);
    report.status = log.diverged_step < 0 ? 0 : 1;
    if (log.diverged_step < 0) {
      report.ppl_train = results.eval_ppl[std::find(lengths.begin(), lengths.end(), run.integer("train.seq_len")) - lengths.begin()];
      report.ppl_longest = results.eval_ppl.back();
    }
  } catch (const Interrupted&) {
    row.status = "pending";
    context.store.write_status(row);
    report.status = 3;
  } catch (const std::exception& failure) {
    std::cerr << "pebench: run " << run.run_id << " failed on rank " << mpi.rank << ": "
              << std::string(failure.what()).substr(0, 2000) << std::endl;
    row.status = "failed";
    context.store.write_status(row);
    report.status = 2;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

// Creates the layout of every run not yet in the store, on a copy that replaces the
// store only when complete: a kill during object creation can corrupt an HDF5 file, a
// kill during a rename cannot.
void lay_out_new_runs(const MpiSession& mpi, const std::string& store_path, const std::string& study_text,
                      bool exists, const std::vector<RunLayout>& new_layouts) {
  const bool root = mpi.rank == 0;
  const std::string partial = store_path + ".partial";
  if (root) {
    if (exists) fs::copy_file(store_path, partial, fs::copy_options::overwrite_existing);
    else fs::remove(partial);
  }
  gentle_barrier(mpi.comm);
  if (!exists) ParallelStore::create(partial, mpi.comm, study_text);
  {
    ParallelStore store(partial, mpi.comm);
    store.add_runs(new_layouts, root);
    store.flush();
    store.close();
  }
  gentle_barrier(mpi.comm);
  if (root) {
    fault_point("before_layout_rename");
    fs::rename(partial, store_path);
  }
  gentle_barrier(mpi.comm);
}

}  // namespace

// Intra-op threads for one run when --threads-per-rank is not given. From d_model 128, or
// 2^18 activations per step, 2 threads train 1.2-1.7x faster than 1; below, OpenMP and
// per-op costs eat the split matmuls and 2 threads run 0.8-1.4x of 1 from session to
// session (BENCHMARKS.md §3), so such runs keep the stable one. A rule of the config, not
// a timing probe: the thread count changes the floating-point result, so the same run
// must get the same count every time.
int threads_for(const RunConfig& run, int share) {
  const int64_t d_model = run.integer("model.d_model");
  const int64_t activations = run.integer("train.batch") * run.integer("train.seq_len") * d_model;
  return d_model >= 128 || activations >= (int64_t{1} << 18) ? share : 1;
}

std::string shard_store_path(const std::string& store, int64_t index, int64_t count) {
  const fs::path path(store);
  return (path.parent_path() / (path.stem().string() + ".shard-" + std::to_string(index) + "-of-" +
                                std::to_string(count) + path.extension().string()))
      .string();
}

int run_command(int argc, char** argv) {
  const auto invocation_start = std::chrono::steady_clock::now();
  MpiSession mpi(argc, argv);
  install_stop_signals();
  const bool root = mpi.rank == 0;

  // Bad input: every rank checks the same things; one message, exit 2, nothing written.
  Invocation invocation;
  Prepared prepared;
  std::string error;
  try {
    invocation = parse_invocation(argc, argv);
    prepared = prepare(invocation);
  } catch (const UserError& failure) {
    error = failure.what();
  } catch (int) {
    return 0;  // --help
  }
  error = first_message(mpi.comm, error);
  if (!error.empty()) {
    if (root) std::cerr << "pebench: error: " << error << std::endl;
    return 2;
  }
  if (invocation.dry_run) {
    if (root) print_dry_run(prepared);
    return 0;
  }

  // Threads: --threads-per-rank for every run, else threads_for each run within the share.
  const int threads = invocation.threads_per_rank > 0 ? invocation.threads_per_rank : core_share(mpi);
  torch::set_num_threads(threads);
  torch::Device device(torch::kCPU);
  if (invocation.device == "cuda") {
    if (!torch::cuda::is_available()) {
      if (root) std::cerr << "pebench: error: command line: --device \"cuda\": this LibTorch has no CUDA device; expected cpu" << std::endl;
      return 2;
    }
    device = torch::Device(torch::kCUDA, static_cast<int>(mpi.local_rank % torch::cuda::device_count()));
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
    if (!laid_out.count(run.run_id)) new_layouts.push_back(layout_of(run));
  gentle_barrier(mpi.comm);  // every rank has read the store before anyone changes it
  if (!exists || !new_layouts.empty())
    lay_out_new_runs(mpi, store_path, prepared.study.file_text, exists, new_layouts);

  ParallelStore store(store_path, mpi.comm);
  std::vector<int64_t> order;
  std::vector<double> cost(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    cost[i] = estimated_cost(runs[i]);
    if (!finished.count(runs[i].run_id)) order.push_back(static_cast<int64_t>(i));
  }
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cost[a] > cost[b]; });
  if (root)
    std::cout << "pebench: study " << prepared.study.name << ": " << order.size() << " of " << runs.size()
              << " runs to do on " << mpi.size << " rank(s) x " << (invocation.threads_per_rank == 0 && threads > 1 ? "up to " : "")
              << threads << " thread(s); store "
              << store_path << std::endl;

  RunContext context{mpi, invocation, prepared.corpora, device, store, store_path + ".ckpt"};
  const auto study_start = std::chrono::steady_clock::now();
  size_t reported = 0;
  int worst = 0;  // this rank's exit code: 1 a run failed, 3 interrupted
  auto work = [&](int64_t index) {
    if (invocation.threads_per_rank == 0) torch::set_num_threads(threads_for(runs[index], threads));
    RunReport report = run_one(runs[index], context);
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
      line << "done on rank " << report.rank << ": ppl@" << run.integer("train.seq_len") << " " << report.ppl_train
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
  double costs[2] = {store_seconds(), std::chrono::duration<double>(std::chrono::steady_clock::now() - invocation_start).count()};
  MPI_Allreduce(MPI_IN_PLACE, costs, 2, MPI_DOUBLE, MPI_MAX, mpi.comm);
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
      std::cout << "pebench: stopped by a signal; unfinished runs are checkpointed in " << context.checkpoint_folder
                << "; continue with the same command and --resume: pebench " << invocation.arguments
                << (invocation.resume ? "" : " --resume") << std::endl;
    } else {
      std::error_code ignored;
      fs::remove(context.checkpoint_folder, ignored);  // only when empty: kept checkpoints stay
      CompareOptions closing_table;
      closing_table.defaults = study_key_defaults();
      std::cout << "\n" << compare_stores({read_store(store_path)}, closing_table);
      std::cout << "store: " << store_path << " (pebench inspect " << store_path << ")" << std::endl;
    }
  }
  return code;
}

}  // namespace pebench
