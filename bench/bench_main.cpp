// pebench_bench: timed mains for BENCHMARKS.md, each measuring the production code path.
//   sgemm  --threads N [--size S]        fp32 torch::mm peak, GFLOP/s
//   train  [model options] [--steps N]   training tokens/s through harness train_model
//   eval   [model options] --length L    eval tokens/s through harness window_losses, peak RSS
//   launches [model options]             kernel ops one training step dispatches, with the
//                                        kernels train_model picks on CUDA (counted here)
// Model options: --encoding E --d_model D --layers L --heads H --seq_len T --batch B
// --threads N --precision fp32|bf16 (train.precision) --device cpu|cuda --attention
// auto|explicit|fused (`pebench run --attention`) --cuda_graph auto|off (train.cuda_graph)
// --kernels device|cuda (train: the step's kernels as train_model picks them on this device, or
// as it picks them on CUDA, whatever the device; launches always counts CUDA's). One line of `key=value` on stdout per
// call (bench/run_benchmarks.sh and bench/gpu_benchmarks.sh read it).
#include <malloc.h>
#include <sys/resource.h>

#include <torch/cuda.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "harness/data.h"
#include "harness/evaluate.h"
#include "harness/study.h"
#include "harness/train.h"
#include "encodings/torch_version.h"
#include "tests/op_counter.h"

using namespace pebench;

namespace {

std::map<std::string, std::string> parse_flags(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"encoding", "none"}, {"d_model", "128"}, {"layers", "2"},
                                              {"heads", "4"},       {"seq_len", "128"}, {"batch", "32"},
                                              {"threads", "1"},     {"steps", "40"},    {"length", "4096"},
                                              {"tokens", "32768"},  {"size", "1024"},
                                              {"precision", "fp32"}, {"device", "cpu"},
                                              {"attention", "auto"}, {"cuda_graph", "off"}, {"kernels", "device"}};
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0 || !flags.count(key.substr(2))) throw std::invalid_argument("unknown flag " + key);
    flags[key.substr(2)] = argv[i + 1];
  }
  return flags;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Model FLOPs per token of one forward (explicit attention computes the full T x T
// scores, as the Python reference does): 2 per multiply-add of the matmuls.
double forward_flops_per_token(const std::map<std::string, std::string>& f, int64_t length) {
  const double d = std::stod(f.at("d_model")), layers = std::stod(f.at("layers"));
  return 2 * (12 * d * d * layers + 256 * d) + 4 * layers * static_cast<double>(length) * d;
}

// The run a study with these flags would have: every other key at its default.
RunConfig run_of(const std::map<std::string, std::string>& f, int64_t eval_length) {
  std::ostringstream study;
  study << "[model]\nd_model = " << f.at("d_model") << "\nlayers = " << f.at("layers") << "\nheads = " << f.at("heads")
        << "\n[train]\nseq_len = " << f.at("seq_len") << "\nbatch = " << f.at("batch") << "\nsteps = " << f.at("steps")
        << "\nlog_every = 10\nprecision = " << f.at("precision") << "\ncuda_graph = " << f.at("cuda_graph") << "\n[eval]\nlengths = " << eval_length << "\ntokens = " << std::max<int64_t>(eval_length, std::stoll(f.at("tokens")))
        << "\n[grid]\nencoding = " << f.at("encoding") << "\n";
  return parse_study("bench.ini", study.str(), {}).runs.front();
}

torch::Device device_of(const std::map<std::string, std::string>& f) {
  if (f.at("device") == "cpu") return torch::kCPU;
  if (f.at("device") != "cuda") throw std::invalid_argument("--device " + f.at("device") + ": expected cpu | cuda");
  if (!torch::cuda::is_available()) throw std::invalid_argument("--device cuda: this LibTorch has no CUDA device");
  return torch::kCUDA;
}

// The model of `run` on the bench's device, attending as --attention says.
TransformerLM bench_model(const RunConfig& run, const std::map<std::string, std::string>& f) {
  auto model = build_model(run);
  model->to(device_of(f));
  model->options().attention = f.at("attention");
  return model;
}

// The choices of a CUDA run, on whatever device the bench runs: fused AdamW and the
// multi-tensor clip where this LibTorch has them, the Linear bias folded into addmm, and
// attention `auto` as fused.
void pick_cuda_kernels(TransformerLM& model, TrainControl& control) {
  if (model->options().attention == "auto") model->options().attention = fused_attention_available() ? "fused" : "explicit";
  model->options().linear_bias = "folded";
  control.kernels = step_kernels(torch::kCUDA);
}

std::vector<uint16_t> random_tokens(int64_t count) {
  std::vector<uint16_t> tokens(static_cast<size_t>(count));
  std::mt19937_64 generator(1);
  for (auto& t : tokens) t = static_cast<uint16_t>(generator() % 256);
  return tokens;
}

void sgemm(const std::map<std::string, std::string>& f) {
  const int64_t n = std::stoll(f.at("size"));
  auto a = torch::randn({n, n}), b = torch::randn({n, n});
  for (int i = 0; i < 3; ++i) torch::mm(a, b);
  int repeats = 0;
  const auto start = std::chrono::steady_clock::now();
  while (seconds_since(start) < 3) torch::mm(a, b), ++repeats;
  const double gflops = 2.0 * n * n * n * repeats / seconds_since(start) / 1e9;
  std::cout << "bench=sgemm threads=" << f.at("threads") << " size=" << n << " gflops=" << gflops << std::endl;
}

void train(const std::map<std::string, std::string>& f) {
  const RunConfig run = run_of(f, std::stoll(f.at("seq_len")));
  Corpus corpus;
  corpus.train = random_tokens(1 << 20);
  auto model = bench_model(run, f);
  TrainControl control;
  if (f.at("kernels") == "cuda") pick_cuda_kernels(model, control);
  else if (f.at("kernels") != "device") throw std::invalid_argument("--kernels " + f.at("kernels") + ": expected device | cuda");
  // tokens/s of every logged window but the first (allocator and caches warming up).
  std::vector<double> windows;
  const TrainLog log = train_model(model, corpus, run, device_of(f), control, [&](const std::string& line) {
    const auto end = line.rfind(" tok/s"), begin = line.rfind(' ', end - 1);
    windows.push_back(std::stod(line.substr(begin + 1, end - begin - 1)));
  });
  windows.erase(windows.begin());
  std::sort(windows.begin(), windows.end());
  const double tokens_per_second = windows[windows.size() / 2];
  const double final_loss = log.loss.back();
  const double gflops = 3 * forward_flops_per_token(f, std::stoll(f.at("seq_len"))) * tokens_per_second / 1e9;
  std::cout << "bench=train encoding=" << f.at("encoding") << " d_model=" << f.at("d_model") << " layers=" << f.at("layers")
            << " heads=" << f.at("heads") << " seq_len=" << f.at("seq_len") << " batch=" << f.at("batch")
            << " threads=" << f.at("threads") << " precision=" << f.at("precision") << " device=" << f.at("device")
            << " attention=" << f.at("attention") << " cuda_graph=" << f.at("cuda_graph") << " kernels=" << f.at("kernels")
            << " tokens_per_s=" << tokens_per_second
            << " model_gflops=" << gflops << " final_loss=" << final_loss << std::endl;
}

void eval(const std::map<std::string, std::string>& f) {
  const int64_t length = std::stoll(f.at("length"));
  const RunConfig run = run_of(f, length);
  auto model = bench_model(run, f);
  const torch::Device device = device_of(f);
  torch::NoGradGuard no_grad;
  model->eval();
  const auto tokens = random_tokens(std::max<int64_t>(length, std::stoll(f.at("tokens"))) + 1);
  const int64_t budget = static_cast<int64_t>(tokens.size() - 1) / length * length;
  const int64_t batch_tokens = run.eval.batch_tokens;
  window_losses(model, tokens, std::min(budget, length), length, batch_tokens, device);  // warm-up window
  const auto start = std::chrono::steady_clock::now();
  window_losses(model, tokens, budget, length, batch_tokens, device);  // returns on the host: every kernel has run
  const double seconds = seconds_since(start);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::cout << "bench=eval encoding=" << f.at("encoding") << " d_model=" << f.at("d_model") << " layers=" << f.at("layers")
            << " length=" << length << " threads=" << f.at("threads") << " device=" << f.at("device")
            << " attention=" << f.at("attention") << " tokens_per_s=" << static_cast<double>(budget) / seconds
            << " peak_rss_mib=" << static_cast<double>(usage.ru_maxrss) / 1024 << std::endl;
}


// The kernel ops of one training step (tests/op_counter.h count_kernel_ops) with what a CUDA
// run picks (pick_cuda_kernels). Counted through train_model itself: 8 steps less
// 4 steps (each with its one log point at the end), over 4. The launch count is what bounds
// a small model's CUDA step (~5 us a launch), and it is the same on any device.
void launches(const std::map<std::string, std::string>& f) {
  auto count = [&](int64_t steps) {
    auto with_steps = f;
    with_steps["steps"] = std::to_string(steps);
    const RunConfig run = run_of(with_steps, std::stoll(f.at("seq_len")));
    Corpus corpus;
    corpus.train = random_tokens(1 << 16);
    auto model = bench_model(run, f);
    TrainControl control;
    pick_cuda_kernels(model, control);
    return count_kernel_ops([&] { train_model(model, corpus, run, device_of(f), control); });
  };
  const auto shorter = count(4), longer = count(8);
  std::map<std::string, int64_t> per_step;
  int64_t total = 0;
  for (const auto& [name, calls] : longer) {
    const int64_t difference = calls - (shorter.count(name) ? shorter.at(name) : 0);
    if (difference % 4 != 0) throw std::logic_error("launches: " + name + " differs by " + std::to_string(difference) + " in 4 steps");
    if (difference) per_step[name] = difference / 4, total += difference / 4;
  }
  std::cout << "bench=launches encoding=" << f.at("encoding") << " d_model=" << f.at("d_model") << " layers=" << f.at("layers")
            << " heads=" << f.at("heads") << " seq_len=" << f.at("seq_len") << " batch=" << f.at("batch")
            << " attention=" << f.at("attention") << " " << kernels_text(step_kernels(torch::kCUDA)) << " torch=" << TORCH_VERSION
            << " kernel_ops_per_step=" << total << " by_op=";
  bool first = true;
  for (const auto& [name, calls] : per_step) std::cout << (first ? "" : ",") << name.substr(6) << ":" << calls, first = false;
  std::cout << std::endl;
}
}  // namespace

int main(int argc, char** argv) {
  // The same allocator settings as pebench itself (harness/main.cpp).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  if (argc < 2) {
    std::cerr << "usage: pebench_bench sgemm|train|eval|launches [--flag value ...]\n";
    return 2;
  }
  try {
    const auto flags = parse_flags(argc, argv);
    torch::set_num_threads(std::stoi(flags.at("threads")));
    const std::string what = argv[1];
    if (what == "sgemm") sgemm(flags);
    else if (what == "train") train(flags);
    else if (what == "eval") eval(flags);
    else if (what == "launches") launches(flags);
    else throw std::invalid_argument("unknown benchmark " + what);
  } catch (const std::exception& error) {
    std::cerr << "pebench_bench: " << error.what() << std::endl;
    return 2;
  }
  return 0;
}
