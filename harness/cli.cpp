// The command line in one place: each subcommand's options bound to its flags struct
// (cli.h), the subcommand list, and the commands that only read stores.
#include "harness/cli.h"

#include <boost/program_options.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "encodings/registry.h"
#include "harness/data.h"
#include "harness/run_command.h"
#include "harness/submit.h"
#include "results/compare.h"
#include "results/export.h"
#include "results/merge.h"
#include "results/report.h"
#include "results/safe_file.h"
#include "results/store.h"

namespace pebench {
namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

// Parses argv[2..] against `options`; false (after printing the help) for --help.
bool parse_options(int argc, char** argv, const po::options_description& options,
                   const po::positional_options_description& positional, const std::string& usage) {
  po::variables_map values;
  try {
    po::store(po::command_line_parser(argc - 1, argv + 1).options(options).positional(positional).run(), values);
    if (values.count("help")) {
      std::cout << usage << "\n\n" << options;
      return false;
    }
    po::notify(values);
  } catch (const po::unknown_option& error) {
    // The flags a reader can type: not the names that hold the positional arguments.
    std::set<std::string> positional_names;
    for (unsigned i = 0; i < std::min(positional.max_total_count(), 8u); ++i) positional_names.insert(positional.name_for_position(i));
    std::vector<std::string> names;
    for (const auto& option : options.options())
      if (!positional_names.count(option->long_name())) names.push_back(option->long_name());
    const std::string token = error.get_option_name();
    const std::string nearest = nearest_name(token.substr(std::min(token.find_first_not_of('-'), token.size())), names);
    throw UserError(std::string("command line: ") + error.what() + (nearest.empty() ? "" : " (did you mean '--" + nearest + "'?)"));
  } catch (const po::error& error) {
    throw UserError(std::string("command line: ") + error.what());
  }
  return true;
}

void add_grouping(po::options_description& options, GroupingFlags& grouping) {
  options.add_options()
      ("by", po::value(&grouping.by), "group by these keys, e.g. encoding,train.seq_len (default: every key that varies, but seed)")
      ("where", po::value(&grouping.where), "KEY=V1,V2: keep runs whose KEY is one of these (repeatable)")
      ("tolerance", po::value(&grouping.tolerance)->default_value(0.1, "0.1"), "eff_len: ppl within (1 + tolerance) of the best at or below the train length")
      ("metric", po::value(&grouping.metric)->default_value("ppl"), "ppl | bpb (bits per byte of held-out text; text runs)")
      ("baseline", po::value(&grouping.baseline), "KEY=VALUE, e.g. encoding=alibi: each group against that one, run by run "
                                                  "(same seed): ppl ratio (bpb difference) with its 95% CI per length");
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ',')) parts.push_back(part);
  return parts;
}

// --by, --where and --tolerance into CompareOptions; the stores' own key defaults fill
// keys a run leaves out (results/store.h), this version's for stores that record none.
CompareOptions compare_options(const GroupingFlags& grouping) {
  CompareOptions compare;
  if (!(grouping.tolerance >= 0))
    throw UserError("command line: --tolerance \"" + std::to_string(grouping.tolerance) + "\": expected a non-negative number");
  compare.tolerance = grouping.tolerance;
  if (grouping.metric != "ppl" && grouping.metric != "bpb")
    throw UserError("command line: --metric \"" + grouping.metric + "\": expected ppl | bpb");
  compare.metric = grouping.metric;
  if (!grouping.by.empty()) compare.by = split_commas(grouping.by);
  compare.defaults = study_key_defaults();
  compare.legacy = legacy_value;
  if (!grouping.baseline.empty()) {
    const auto equals = grouping.baseline.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == grouping.baseline.size() ||
        grouping.baseline.find(',') != std::string::npos)
      throw UserError("command line: --baseline \"" + grouping.baseline + "\": expected KEY=VALUE (one value), e.g. encoding=alibi");
    compare.baseline_key = grouping.baseline.substr(0, equals);
    compare.baseline_value = grouping.baseline.substr(equals + 1);
  }
  for (const auto& condition : grouping.where) {
    const auto equals = condition.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == condition.size())
      throw UserError("command line: --where \"" + condition + "\": expected KEY=VALUE[,VALUE...], e.g. encoding=alibi,rope");
    for (const auto& value : split_commas(condition.substr(equals + 1)))
      compare.where[condition.substr(0, equals)].insert(value);
  }
  return compare;
}

StoreContents open_store(const std::string& path) {
  try {
    return read_store(path);
  } catch (const StoreError& error) {
    throw UserError(std::string("command line: store: ") + error.what());
  }
}

std::vector<StoreContents> open_stores(const std::vector<std::string>& paths) {
  std::vector<StoreContents> stores;
  for (const auto& path : paths) stores.push_back(open_store(path));
  return stores;
}

int compare_command(int argc, char** argv) {
  CompareFlags flags;
  if (!parse_compare_flags(argc, argv, flags)) return 0;
  const std::set<std::string> formats = {"table", "csv", "json", "markdown"};
  if (!formats.count(flags.format))
    throw UserError("command line: --format \"" + flags.format + "\": expected table | csv | json | markdown");
  CompareOptions compare = compare_options(flags.grouping);
  compare.sort = flags.sort;
  compare.format = flags.format;
  const auto stores = open_stores(flags.stores);
  try {
    std::cout << compare_stores(stores, compare);
  } catch (const std::invalid_argument& error) {
    throw UserError(std::string("command line: ") + error.what());
  }
  return 0;
}

int report_command(int argc, char** argv) {
  ReportFlags flags;
  if (!parse_report_flags(argc, argv, flags)) return 0;
  ReportOptions report;
  report.compare = compare_options(flags.grouping);
  report.store_paths = flags.stores;
  const auto stores = open_stores(flags.stores);
  std::string html;
  try {
    html = html_report(stores, report);
  } catch (const std::invalid_argument& error) {  // --baseline that pairs nothing or several
    throw UserError(std::string("command line: ") + error.what());
  }
  // Written beside the target and renamed: a reader never sees half a report. A device
  // or FIFO (-o /dev/stdout) is written into.
  try {
    write_file_safely(flags.output, html);
  } catch (const FileError& error) {
    throw UserError("command line: -o \"" + flags.output + "\": " + error.what());
  }
  std::cout << "pebench: wrote " << flags.output << " (" << html.size() / 1024 << " KiB)" << std::endl;
  return 0;
}

int merge_command(int argc, char** argv) {
  MergeFlags flags;
  if (!parse_merge_flags(argc, argv, flags)) return 0;
  namespace fs = std::filesystem;
  if (fs::exists(flags.output))
    throw UserError("command line: -o \"" + flags.output + "\": the file exists; merge writes a new store only");
  for (const auto& input : flags.inputs)
    if (fs::absolute(input).lexically_normal() == fs::absolute(flags.output).lexically_normal())
      throw UserError("command line: -o \"" + flags.output + "\" is also an input");
  MergeSummary summary;
  try {
    summary = merge_stores(flags.inputs, flags.output);
  } catch (const StoreError& error) {
    throw UserError(std::string("command line: merge: ") + error.what());
  }
  std::cout << "pebench: merged " << summary.runs << " runs from " << flags.inputs.size() << " stores ("
            << summary.duplicates << " duplicate copies, identical or unfinished) into " << flags.output << std::endl;
  return 0;
}

// The tokenizer and token files a `tokens:` study reads, made by the same code as a
// study's own data.tokenizer (harness/data.cpp), with no cache.
int tokenize_command(int argc, char** argv) {
  TokenizeFlags flags;
  if (!parse_tokenize_flags(argc, argv, flags)) return 0;
  std::ostringstream text;
  text << "[study]\nname = tokenize\n[data]\nsource = " << (flags.corpus.rfind("text:", 0) == 0 ? flags.corpus : "text:" + flags.corpus)
       << "\ntokenizer = " << flags.tokenizer << "\nholdout = " << flags.holdout << "\n";
  if (!flags.eval_source.empty())
    text << "eval_source = " << (flags.eval_source.rfind("text:", 0) == 0 ? flags.eval_source : "text:" + flags.eval_source) << "\n";
  // Checked as a study's [data] section is: the same keys, values and messages.
  const Study study = parse_study("command line", text.str(), {});
  DataOptions data = study.runs.front().data;
  if (data.tokenizer == "bytes")
    throw UserError("command line: --tokenizer \"bytes\": expected bpe:N | unigram:N | spm:PATH");
  if (data.tokenizer.rfind("spm:", 0) == 0)  // its size, which a study states as data.vocab_size
    data.vocab_size = make_tokenizer(data.tokenizer, {}, "command line: --tokenizer").vocab_size();
  const Corpus corpus = load_corpus(data, "", "command line");
  std::error_code error;
  fs::create_directories(flags.output, error);
  if (error) throw UserError("command line: -o \"" + flags.output + "\": cannot create the folder: " + error.message());
  auto bytes_of = [](const std::vector<uint16_t>& tokens) {
    return std::string(reinterpret_cast<const char*>(tokens.data()), tokens.size() * 2);
  };
  try {
    write_file_safely((fs::path(flags.output) / "tokenizer.model").string(), corpus.tokenizer->model());
    write_file_safely((fs::path(flags.output) / "train.bin").string(), bytes_of(corpus.train));
    write_file_safely((fs::path(flags.output) / "val.bin").string(), bytes_of(corpus.heldout));
  } catch (const FileError& failure) {
    throw UserError(std::string("command line: -o: ") + failure.what());
  }
  std::cout << "pebench: " << corpus.description << ": " << corpus.train.size() << " train and " << corpus.heldout.size()
            << " val tokens, vocabulary " << corpus.vocab_size << " (model " << corpus.tokenizer->hash() << ") in "
            << flags.output << "\nuse: [data] source = tokens:" << flags.output << "/train.bin, eval_source = tokens:"
            << flags.output << "/val.bin, tokenizer = spm:" << flags.output << "/tokenizer.model, vocab_size = "
            << corpus.vocab_size << "\n";
  return 0;
}

int inspect_command(int argc, char** argv) {
  InspectFlags flags;
  if (parse_inspect_flags(argc, argv, flags)) std::cout << inspect_table(open_store(flags.store));
  return 0;
}

// "encoding.rope_base, encoding.rope_scaling (pi, ntk, yarn)": each key, with its choices.
std::string key_names(const std::vector<OptionKey>& keys, const std::vector<std::string>& also_reads = {}) {
  std::string names;
  for (const auto& key : keys) {
    std::string choices;
    for (const auto& choice : key.choices) choices += (choices.empty() ? "" : ", ") + choice;
    names += (names.empty() ? "" : ", ") + key.name + (choices.empty() ? "" : " (" + choices + ")");
  }
  for (const auto& name : also_reads) names += (names.empty() ? "" : ", ") + name;
  return names;
}

int export_command(int argc, char** argv) {
  ExportFlags flags;
  if (!parse_export_flags(argc, argv, flags)) return 0;
  ExportSummary summary;
  try {
    summary = flags.all ? export_all(flags.store, flags.output) : export_run(flags.store, flags.run_id, flags.output);
  } catch (const ExportError& error) {
    throw UserError(std::string("command line: export: ") + error.what());
  } catch (const StoreError& error) {
    throw UserError(std::string("command line: store: ") + error.what());
  }
  for (const auto& skipped : summary.skipped) std::cout << "pebench: not exported: " << skipped << "\n";
  std::cout << "pebench: exported " << summary.exported.size() << " run(s) to " << flags.output
            << " (model.safetensors, config.json, tokenizer.json, pebench_model.py"
            << (flags.all ? " in one folder per run" : "") << ")" << std::endl;
  return 0;
}

// Every registered encoding, the randomized wrapper and the windowed-attention option.
int encodings_command(int, char**) {
  auto row = [](const std::string& name, const std::string& kind, const std::string& extrapolates,
                const std::string& paper, const std::string& summary, const std::string& options) {
    auto pad = [](const std::string& text, size_t width) {
      return text + std::string(width > text.size() ? width - text.size() : 1, ' ');
    };
    std::cout << pad(name, 19) << pad(kind, 15) << pad(extrapolates, 13) << paper << "\n";
    if (!summary.empty())
      std::cout << std::string(19, ' ') << summary << (options.empty() ? "" : "; options: " + options) << "\n";
  };
  row("NAME", "KIND", "EXTRAPOLATES", "PAPER", "", "");
  for (const auto& info : encoding_registry())
    row(info.name, info.kind, info.extrapolates ? "yes" : "no", info.paper, info.summary, key_names(info.keys, info.also_reads));
  row("randomized:<base>", "sampler", "yes", "Ruoss et al. 2023, arXiv 2305.16843",
      "any encoding above fed sorted random positions from [0, max_position) in training", key_names(randomized_keys()));
  row("(any) + window", "band mask", "-", "windowed attention reference of Chi et al. 2023, arXiv 2212.10356",
      "each query sees its last w keys, in training and eval; receptive field layers·(w-1)+1",
      "model.attention_window = w");
  return 0;
}

struct Command {
  const char* name;
  const char* summary;
  int (*handler)(int argc, char** argv);
};

const std::vector<Command>& command_list() {
  static const std::vector<Command> commands = {
      {"run", "run STUDY.ini      train and evaluate every run of a study (alone or under mpirun/srun)", run_command},
      {"submit", "submit STUDY.ini --scheduler slurm|pbs   render a batch script and submit it", submit_command},
      {"compare", "compare STORE.h5...   ppl vs length per group of seeds (mean ±95% CI), ratio, eff. length; --format csv|json|markdown", compare_command},
      {"report", "report STORE.h5... -o report.html   one self-contained HTML file: charts, tables, runs", report_command},
      {"inspect", "inspect STORE.h5   runs with status and timing", inspect_command},
      {"tokenize", "tokenize CORPUS --tokenizer bpe:N -o DIR   train.bin, val.bin (uint16) and tokenizer.model for tokens: sources", tokenize_command},
      {"merge", "merge A.h5 B.h5... -o OUT.h5   combine stores (job-array shards) into one", merge_command},
      {"export", "export STORE.h5 RUN_ID -o DIR   a run's model as safetensors + config.json + pebench_model.py (PyTorch); --all: every done run", export_command},
      {"encodings", "encodings          registered positional encodings", encodings_command},
  };
  return commands;
}

// The error for an option `pebench run` does not have, with the flag or study key it most
// likely meant (`--train.checkpoint_evry`: --train.checkpoint_every).
UserError unknown_run_option(const std::string& token, const po::options_description& all) {
  const size_t start = std::min(token.find_first_not_of('-'), token.size());
  const std::string name = token.substr(start, token.find('=') - start);
  const bool grid = name.rfind("grid.", 0) == 0;
  std::vector<std::string> names;
  for (const auto& option : all.options())
    if (option->long_name() != "study" && (option->long_name().rfind("grid.", 0) == 0) == grid)
      names.push_back(option->long_name());
  const std::string nearest = nearest_name(name, names);
  return UserError("command line: unknown option '" + token.substr(0, token.find('=')) + "'" + (nearest.empty() ? "" : " (did you mean '--" + nearest + "'?)") +
                   "; see `pebench run --help` for flags and study keys");
}

}  // namespace

bool parse_run_flags(int argc, char** argv, RunFlags& flags) {
  std::string shard;
  po::options_description options("How this invocation runs (not part of the study)");
  options.add_options()
      ("help,h", "show this help")
      ("store", po::value(&flags.store_path), "HDF5 store to write (default: STUDY_NAME.h5)")
      ("resume", po::bool_switch(&flags.resume), "continue an existing store: skip finished runs")
      ("dry-run", po::bool_switch(&flags.dry_run), "print the expanded run list and exit")
      ("shard", po::value(&shard), "i/n: run only the i-th (0-based) of n disjoint slices of the runs, into STORE.shard-i-of-n.h5 (job arrays; then `pebench merge`)")
      ("keep-checkpoints", po::bool_switch(&flags.keep_checkpoints), "keep a run's checkpoint (STORE.ckpt/RUN_ID.pt) after it is done")
      ("threads-per-rank", po::value(&flags.threads_per_rank), "intra-op threads per rank (default: cores / ranks on the node; 1 for models under d_model 128 and 2^18 activations per step)")
      ("device", po::value(&flags.device)->default_value("cpu"), "cpu | cuda")
      ("attention", po::value(&flags.attention)->default_value("auto"),
       "auto | explicit | fused: softmax(q.k + bias) v by torch's scaled_dot_product_attention (fused, torch >= 2.1) or by scores, softmax and product (explicit, every CPU number); auto: fused on CUDA")
      ("deterministic", po::bool_switch(&flags.deterministic),
       "torch's deterministic algorithms, for CUDA runs that repeat bit for bit: the memory-efficient attention backward (fused attention with a bias) stops splitting keys across blocks, cuBLAS gets CUBLAS_WORKSPACE_CONFIG=:4096:8 unless set, and an op with no deterministic kernel stops the run naming itself; CPU numbers unchanged")
      ("verbose", po::bool_switch(&flags.verbose), "print training progress of every run");
  po::options_description keys("Study keys (override the study file; `--grid.KEY a,b` adds a grid axis)");
  for (const auto& key : study_keys())
    keys.add_options()(key.name.c_str(), po::value<std::string>(),
                       (key.help + " [" + key.allowed + "; default " +
                        (key.default_value.empty() ? "-" : key.default_value) + "]").c_str());
  po::options_description all;
  all.add(options).add(keys).add_options()("study", po::value(&flags.study_path));
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
    if (values.count("help")) {
      std::cout << "usage: pebench run STUDY.ini [--store FILE.h5] [--resume] [--dry-run] [--KEY VALUE ...]\n"
                << "       mpirun -np N pebench run STUDY.ini ...\n\n"
                << options << "\n" << keys << "\n";
      return false;
    }
    po::notify(values);
  } catch (const po::too_many_positional_options_error&) {
    // An unknown `--KEY VALUE` leaves VALUE as a second study file: name the key instead.
    for (int i = 2; i < argc; ++i) {
      const std::string token = argv[i];
      if (token.rfind("--", 0) == 0 && token.size() > 2 && !all.find_nothrow(token.substr(2, token.find('=') - 2), false))
        throw unknown_run_option(token, all);
    }
    throw UserError("command line: one STUDY file, then flags and --KEY VALUE pairs; usage: pebench run STUDY.ini [--KEY VALUE ...]");
  } catch (const po::error& error) {
    throw UserError(std::string("command line: ") + error.what());
  }
  for (int i = 1; i < argc; ++i) flags.arguments += (i > 1 ? " " : "") + std::string(argv[i]);
  for (const auto& option : parsed.options) {
    if (option.unregistered) throw unknown_run_option(option.original_tokens.front(), all);
    if (option.string_key.rfind("grid.", 0) == 0 || find_study_key(option.string_key))
      flags.overrides.push_back({option.string_key, option.value.front()});
  }
  if (flags.study_path.empty()) throw UserError("command line: missing STUDY file; usage: pebench run STUDY.ini");
  if (!shard.empty()) {
    const auto slash = shard.find('/');
    size_t used_index = 0, used_count = 0;
    bool ok = slash != std::string::npos && slash > 0 && shard.find_first_not_of("0123456789/") == std::string::npos;
    if (ok) {
      try {
        flags.shard_index = std::stoll(shard.substr(0, slash), &used_index);
        flags.shard_count = std::stoll(shard.substr(slash + 1), &used_count);
      } catch (...) {
        ok = false;
      }
    }
    if (!ok || used_index != slash || used_count != shard.size() - slash - 1 || flags.shard_count < 1 ||
        flags.shard_index >= flags.shard_count)
      throw UserError("command line: --shard \"" + shard + "\": expected i/n with 0 <= i < n, e.g. 0/4");
  }
  if (flags.device != "cpu" && flags.device != "cuda")
    throw UserError("command line: --device \"" + flags.device + "\": expected cpu | cuda");
  if (flags.attention != "auto" && flags.attention != "explicit" && flags.attention != "fused")
    throw UserError("command line: --attention \"" + flags.attention + "\": expected auto | explicit | fused");
  if (values.count("threads-per-rank") && flags.threads_per_rank < 1)
    throw UserError("command line: --threads-per-rank \"" + std::to_string(flags.threads_per_rank) +
                    "\": expected a positive integer");
  return true;
}

bool parse_submit_flags(int argc, char** argv, SubmitFlags& flags) {
  po::options_description options(
      "pebench submit STUDY.ini --scheduler slurm|pbs: render a batch script beside the store and submit it");
  options.add_options()
      ("help,h", "show this help")
      ("scheduler", po::value(&flags.scheduler), "slurm | pbs")
      ("nodes", po::value(&flags.nodes)->default_value(1), "nodes")
      ("ranks-per-node", po::value(&flags.ranks_per_node)->default_value(0), "MPI ranks per node (0: 1, or gpus-per-node x ranks-per-gpu with --device cuda)")
      ("device", po::value(&flags.device)->default_value("cpu"), "cpu | cuda: the job's `pebench run --device`; local rank r uses GPU r mod gpus-per-node")
      ("gpus-per-node", po::value(&flags.gpus_per_node)->default_value(0), "cuda: GPUs per node (SLURM --gpus-per-node, PBS ngpus)")
      ("ranks-per-gpu", po::value(&flags.ranks_per_gpu)->default_value(1), "cuda: ranks sharing each GPU; above 1 the job runs one MPS control daemon per node")
      ("threads-per-rank", po::value(&flags.threads_per_rank)->default_value(1), "intra-op threads (cores) per rank")
      ("time", po::value(&flags.time)->default_value("01:00:00"), "walltime HH:MM:SS")
      ("partition", po::value(&flags.partition), "SLURM partition / PBS queue")
      ("account", po::value(&flags.account), "account to charge")
      ("array-shards", po::value(&flags.array_shards)->default_value(0), "SLURM: K >= 2 → a job array of --shard i/K tasks, then a merge job")
      ("store", po::value(&flags.store), "the HDF5 store (default: STUDY_NAME.h5 here); the script is written beside it")
      ("max-requeues", po::value(&flags.max_requeues)->default_value(3), "SLURM: requeues after a checkpointed stop (exit 3)")
      ("signal-seconds", po::value(&flags.signal_seconds)->default_value(120), "SLURM: USR1 this long before walltime")
      ("extra", po::value(&flags.extra), "a directive line added verbatim, e.g. \"#SBATCH --mem=8G\" (repeatable)")
      ("template", po::value(&flags.template_path), "render this file instead of the built-in template")
      ("dry-run", po::bool_switch(&flags.dry_run), "print the script; submit nothing, write nothing")
      ("study", po::value(&flags.study_path), "the study file");
  po::positional_options_description positional;
  positional.add("study", 1);
  // `-- RUN FLAGS...`: forwarded to the job's `pebench run`, checked by submit_command.
  int own = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--") {
      own = i;
      break;
    }
  for (int i = own + 1; i < argc; ++i) flags.run_arguments.push_back(argv[i]);
  if (!parse_options(own, argv, options, positional,
                     "usage: pebench submit STUDY.ini --scheduler slurm|pbs [options] [-- pebench run flags]"))
    return false;
  if (flags.study_path.empty())
    throw UserError("command line: missing STUDY; usage: pebench submit STUDY.ini --scheduler slurm|pbs");
  return true;
}

bool parse_compare_flags(int argc, char** argv, CompareFlags& flags) {
  po::options_description options(
      "pebench compare STORE.h5...: perplexity vs eval length per group of runs that differ only by seed");
  options.add_options()("help,h", "show this help");
  add_grouping(options, flags.grouping);
  options.add_options()
      ("sort", po::value(&flags.sort), "sort rows by this column (e.g. ratio, eff_len, ppl@1024, ERF90)")
      ("format", po::value(&flags.format)->default_value("table"), "table | csv | json | markdown")
      ("stores", po::value(&flags.stores), "stores");
  po::positional_options_description positional;
  positional.add("stores", -1);
  if (!parse_options(argc, argv, options, positional, "usage: pebench compare STORE.h5... [options]")) return false;
  if (flags.stores.empty()) throw UserError("command line: missing STORE; usage: pebench compare STORE.h5...");
  return true;
}

bool parse_report_flags(int argc, char** argv, ReportFlags& flags) {
  po::options_description options("pebench report STORE.h5... -o report.html: one self-contained HTML file with "
                                  "the study's charts, comparison table and runs");
  options.add_options()("help,h", "show this help")
      ("output,o", po::value(&flags.output)->default_value("report.html"), "the HTML file to write (replaced whole)");
  add_grouping(options, flags.grouping);
  options.add_options()("stores", po::value(&flags.stores), "stores");
  po::positional_options_description positional;
  positional.add("stores", -1);
  if (!parse_options(argc, argv, options, positional, "usage: pebench report STORE.h5... -o report.html [options]"))
    return false;
  if (flags.stores.empty())
    throw UserError("command line: missing STORE; usage: pebench report STORE.h5... -o report.html");
  return true;
}

bool parse_tokenize_flags(int argc, char** argv, TokenizeFlags& flags) {
  po::options_description options("pebench tokenize CORPUS --tokenizer bpe:N -o DIR: train a tokenizer on CORPUS's train "
                                  "split and write DIR/train.bin, DIR/val.bin (uint16, nanoGPT's layout) and "
                                  "DIR/tokenizer.model, for data.source = tokens:DIR/train.bin");
  options.add_options()("help,h", "show this help")
      ("tokenizer", po::value(&flags.tokenizer), "bpe:N | unigram:N | spm:PATH (as data.tokenizer)")
      ("output,o", po::value(&flags.output), "the folder to write (created)")
      ("holdout", po::value(&flags.holdout)->default_value(0.1, "0.1"), "last fraction held out as val.bin (as data.holdout)")
      ("eval-source", po::value(&flags.eval_source), "val.bin from this text file or folder instead (as data.eval_source)")
      ("corpus", po::value(&flags.corpus), "a text file, a folder of text files, text:PATH or text:embedded");
  po::positional_options_description positional;
  positional.add("corpus", 1);
  const std::string usage = "usage: pebench tokenize CORPUS --tokenizer bpe:N -o DIR";
  if (!parse_options(argc, argv, options, positional, usage)) return false;
  if (flags.corpus.empty() || flags.tokenizer.empty() || flags.output.empty()) throw UserError("command line: " + usage);
  return true;
}

bool parse_merge_flags(int argc, char** argv, MergeFlags& flags) {
  po::options_description options("pebench merge STORE.h5... -o OUT.h5: combine stores of one study (job-array shards) into one");
  options.add_options()("help,h", "show this help")("output,o", po::value(&flags.output), "the merged store to create")(
      "inputs", po::value(&flags.inputs), "stores to merge");
  po::positional_options_description positional;
  positional.add("inputs", -1);
  if (!parse_options(argc, argv, options, positional, "usage: pebench merge STORE.h5... -o OUT.h5")) return false;
  if (flags.inputs.empty() || flags.output.empty()) throw UserError("command line: usage: pebench merge STORE.h5... -o OUT.h5");
  return true;
}

bool parse_inspect_flags(int argc, char** argv, InspectFlags& flags) {
  po::options_description options("pebench inspect STORE.h5: runs with status and timing");
  options.add_options()("help,h", "show this help")("store", po::value(&flags.store), "the store");
  po::positional_options_description positional;
  positional.add("store", 1);
  if (!parse_options(argc, argv, options, positional, "usage: pebench inspect STORE.h5")) return false;
  if (flags.store.empty()) throw UserError("command line: missing STORE; usage: pebench inspect STORE.h5");
  return true;
}

bool parse_export_flags(int argc, char** argv, ExportFlags& flags) {
  po::options_description options("pebench export STORE.h5 RUN_ID -o DIR | --all STORE.h5 -o DIR: a run's final "
                                  "weights as a PyTorch model (model.safetensors, config.json, pebench_model.py)");
  options.add_options()("help,h", "show this help")
      ("output,o", po::value(&flags.output), "the folder to create (absent or empty); written beside it and renamed")
      ("all", po::bool_switch(&flags.all), "export every done run, each into DIR/RUN_ID/")
      ("store", po::value(&flags.store), "the store")("run", po::value(&flags.run_id), "the run id");
  po::positional_options_description positional;
  positional.add("store", 1).add("run", 1);
  const std::string usage = "usage: pebench export STORE.h5 RUN_ID -o DIR | pebench export --all STORE.h5 -o DIR";
  if (!parse_options(argc, argv, options, positional, usage)) return false;
  if (flags.store.empty() || flags.output.empty() || (flags.run_id.empty() != flags.all))
    throw UserError("command line: " + usage);
  return true;
}

int run_cli(int argc, char** argv) {
  const auto& commands = command_list();
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << "usage: pebench COMMAND [options]\n\ncommands:\n";
    for (const auto& command : commands) std::cout << "  " << command.summary << "\n";
    std::cout << "\n`pebench COMMAND --help` describes each.\n";
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  try {
    for (const auto& command : commands)
      if (name == command.name) return command.handler(argc, argv);
    std::string allowed;
    for (const auto& command : commands) allowed += (allowed.empty() ? "" : ", ") + std::string(command.name);
    throw UserError("unknown command '" + name + "'; allowed: " + allowed);
  } catch (const UserError& error) {
    std::cerr << "pebench: error: " << error.what() << std::endl;
    return 2;
  } catch (const StoreError& error) {
    // A store a command was given that it cannot read or write as asked: bad input.
    std::cerr << "pebench: error: " << error.what() << std::endl;
    return 2;
  } catch (const std::exception& error) {
    // Nothing escapes as an abort: what no check above named is still one line, exit 1.
    std::cerr << "pebench: error: " << UserError(error.what()).what() << std::endl;
    return 1;
  }
}

}  // namespace pebench
