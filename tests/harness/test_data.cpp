#include <gtest/gtest.h>

#include <map>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#if PEBENCH_CUDA_SYNC_DEBUG
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "tests/op_counter.h"
#include "tests/scratch.h"
#include "tests/tiny_model.h"
#include "harness/cuda_graph.h"
#include "harness/data.h"
#include "harness/evaluate.h"
#include "harness/signals.h"
#include "harness/study.h"
#include "harness/train.h"

namespace pebench {
namespace {

std::string temp_file(const std::string& name, const std::string& bytes) {
  const std::string path = scratch_path(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const UserError& error) {
    return error.what();
  }
  return "";
}

TEST(Data, TextIsBytesWithTheLastFractionHeldOut) {
  const auto path = temp_file("text.txt", "abcdefghij");
  const Corpus corpus = load_corpus("text:" + path, 0.2, 256, "s.ini");
  EXPECT_EQ(corpus.vocab_size, 256);
  EXPECT_EQ(corpus.train, (std::vector<uint16_t>{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}));
  EXPECT_EQ(corpus.heldout, (std::vector<uint16_t>{'i', 'j'}));
}

TEST(Data, TokenFilesAreLittleEndianUint16) {
  const std::string bytes = {'\x01', '\x00', '\x02', '\x01', '\x10', '\x00', '\x05', '\x00'};
  const Corpus corpus = load_corpus("tokens:" + temp_file("tokens.bin", bytes), 0.25, 300, "s.ini");
  EXPECT_EQ(corpus.train, (std::vector<uint16_t>{1, 258, 16}));
  EXPECT_EQ(corpus.heldout, (std::vector<uint16_t>{5}));
}

TEST(Data, BadCorporaAreUserErrorsNamingFileAndKey) {
  EXPECT_NE(message_of([] { load_corpus("text:/nonexistent/x.txt", 0.1, 256, "s.ini"); }).find("s.ini: [data] source"), std::string::npos);
  EXPECT_NE(message_of([] { load_corpus("text:" + temp_file("empty.txt", ""), 0.1, 256, "s.ini"); }).find("corpus is empty"), std::string::npos);
  EXPECT_NE(message_of([] { load_corpus("tokens:" + temp_file("odd.bin", "abc"), 0.1, 256, "s.ini"); }).find("odd byte count"), std::string::npos);
  const std::string big = {'\x00', '\x02', '\x01', '\x00'};  // ids 512 and 1
  EXPECT_NE(message_of([&] { load_corpus("tokens:" + temp_file("big.bin", big), 0.1, 300, "s.ini"); }).find("holds id 512"), std::string::npos);
}

TEST(Data, EmbeddedCorpusIsRealEnglishText) {
  const std::string text = embedded_corpus_text();
  EXPECT_GT(text.size(), 100000u);
  EXPECT_NE(text.find("GNU GENERAL PUBLIC LICENSE"), std::string::npos);
}

TEST(Data, BatchesAreSeededContiguousWindowsOfTheCorpus) {
  std::vector<uint16_t> tokens(5000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint16_t>(i);
  BatchSampler a(tokens, 8, 16, 42), b(tokens, 8, 16, 42), c(tokens, 8, 16, 43);
  auto batch = a.next();
  EXPECT_EQ(batch.sizes(), (std::vector<int64_t>{8, 17}));
  EXPECT_TRUE(torch::equal(batch, b.next()));
  EXPECT_FALSE(torch::equal(batch, c.next()));
  for (int64_t row = 0; row < 8; ++row)
    for (int64_t t = 1; t < 17; ++t) EXPECT_EQ(batch[row][t].item<int64_t>(), batch[row][0].item<int64_t>() + t);
}

// data.train_examples: N sequences drawn once, served in epochs of fresh shuffles; the
// first N drawn are what an unfixed sampler would have drawn.
TEST(Data, FixedTrainingExamplesAreServedInShuffledEpochs) {
  std::vector<uint16_t> tokens(5000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint16_t>(i);
  BatchSampler fixed(tokens, 4, 16, 42), fresh(tokens, 6, 16, 42);
  fixed.fix_examples(6);
  const auto pool = fresh.next();  // the same draws, as one batch of 6
  std::map<int64_t, int> served;
  std::vector<int64_t> first_epoch, second_epoch;
  for (int step = 0; step < 3; ++step) {  // 12 examples: two epochs of 6
    const auto batch = fixed.next();
    for (int64_t row = 0; row < 4; ++row) {
      const int64_t start = batch[row][0].item<int64_t>();
      ++served[start];
      (step * 4 + row < 6 ? first_epoch : second_epoch).push_back(start);
    }
  }
  ASSERT_EQ(served.size(), 6u);
  for (int64_t row = 0; row < 6; ++row) EXPECT_EQ(served[pool[row][0].item<int64_t>()], 2);
  EXPECT_NE(first_epoch, second_epoch);  // each epoch its own shuffle
  // A restored sampler continues the same stream.
  BatchSampler again(tokens, 4, 16, 42);
  again.fix_examples(6);
  BatchSampler reference(tokens, 4, 16, 42);
  reference.fix_examples(6);
  reference.next();
  again.restore(reference.state());
  EXPECT_TRUE(torch::equal(again.next(), reference.next()));
}

TEST(Data, EvalBudgetIsTheSameMultipleOfTheLongestLength) {
  EXPECT_EQ(eval_budget(10000, 4096, 1024, "s.ini"), 4096);
  EXPECT_EQ(eval_budget(3000, 32768, 1024, "s.ini"), 2048);
  EXPECT_NE(message_of([] { eval_budget(1000, 4096, 1024, "s.ini"); }).find("the held-out split has 1000 tokens"), std::string::npos);
}

RunConfig tiny_run(const std::string& extra = "") {
  return parse_study("tiny.ini",
                     "encoding = alibi\n[model]\nd_model = 32\nlayers = 1\nheads = 2\n[train]\nsteps = 8\n"
                     "batch = 4\nseq_len = 16\nlog_every = 4\nwarmup = 2\n[eval]\nlengths = 16,64\ntokens = 256\n" + extra,
                     {}).runs.front();
}

TransformerLM tiny_model(const RunConfig& run) {
  TinyModel tiny;
  tiny.encoding = run.encoding;
  tiny.heads = 2;
  tiny.layers = 1;
  tiny.max_length = 64;
  tiny.attention_block = 16;
  tiny.seed = static_cast<uint64_t>(run.seed);
  return tiny.build();
}

Corpus tiny_corpus() {
  std::string text;
  for (int i = 0; i < 400; ++i) text += "the quick brown fox " + std::to_string(i) + ". ";
  return load_corpus("text:" + temp_file("fox.txt", text), 0.1, 256, "tiny.ini");
}

TEST(Train, SameRunGivesTheSameCurvesBitForBit) {
  const RunConfig run = tiny_run();
  const Corpus corpus = tiny_corpus();
  auto first = tiny_model(run), second = tiny_model(run);
  const TrainLog a = train_model(first, corpus, run, torch::kCPU);
  const TrainLog b = train_model(second, corpus, run, torch::kCPU);
  EXPECT_EQ(a.step, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_LT(a.loss.back(), a.loss.front());
  EXPECT_EQ(a.diverged_step, -1);
  const EvalResult ea = evaluate_model(first, corpus.heldout, run, torch::kCPU);
  const EvalResult eb = evaluate_model(second, corpus.heldout, run, torch::kCPU);
  EXPECT_EQ(ea.ppl, eb.ppl);
}

// Weight decay must not shrink the rows of a learned table that training never reaches.
TEST(Train, LearnedRowsPastTrainLengthKeepTheirInitThroughTheOptimizer) {
  const RunConfig run = tiny_run("[grid]\nencoding = learned\n");
  auto model = tiny_model(run);
  auto table = model->named_parameters()["encoding.table"];
  auto initial = table.detach().clone();
  train_model(model, tiny_corpus(), run, torch::kCPU);
  EXPECT_FALSE(torch::equal(table.slice(0, 0, 16), initial.slice(0, 0, 16)));
  EXPECT_TRUE(torch::equal(table.slice(0, 16), initial.slice(0, 16)));
}

// One Adam step moves every parameter by ±lr (m/sqrt(v) = sign(g)); the encoding's
// by ±lr·train.encoding_lr_scale.
TEST(Train, EncodingParametersLearnAtTheirScaledRate) {
  for (double scale : {1.0, 10.0}) {
    const RunConfig run = parse_study("t.ini",
                                      "encoding = t5\n[model]\nd_model = 32\nlayers = 1\nheads = 2\n[train]\n"
                                      "steps = 1\nwarmup = 1\nlr = 0.001\nbatch = 4\nseq_len = 16\nlog_every = 1\n"
                                      "[eval]\nlengths = 16,64\ntokens = 256\n",
                                      {{"train.encoding_lr_scale", std::to_string(scale)}})
                              .runs.front();
    auto model = tiny_model(run);
    auto bucket_bias = model->named_parameters()["encoding.bucket_bias"];
    auto out_bias = model->named_parameters()["blocks.0.attention.out.bias"];
    auto bucket_before = bucket_bias.detach().clone(), out_before = out_bias.detach().clone();
    train_model(model, tiny_corpus(), run, torch::kCPU);
    EXPECT_NEAR((bucket_bias - bucket_before).abs().max().item<double>(), 0.001 * scale, 1e-5 * scale) << scale;
    EXPECT_NEAR((out_bias - out_before).abs().max().item<double>(), 0.001, 1e-5) << scale;
  }
}

// train.precision = bf16 trains every encoding under autocast: the losses move off the
// fp32 ones (the matmuls ran in bf16) but stay within bf16's rounding of them, the weights
// stay fp32, and autocast is off again afterwards (eval runs in fp32).
TEST(Train, Bf16PrecisionTrainsEveryEncodingUnderAutocast) {
  for (const auto& info : encoding_registry()) {
    const std::string grid = "[grid]\nencoding = " + info.name + "\n";
    const RunConfig fp32_run = tiny_run(grid);
    const RunConfig bf16_run = tiny_run(grid + "[train]\nprecision = bf16\n");
    auto fp32_model = tiny_model(fp32_run), bf16_model = tiny_model(bf16_run);
    const TrainLog fp32 = train_model(fp32_model, tiny_corpus(), fp32_run, torch::kCPU);
    const TrainLog bf16 = train_model(bf16_model, tiny_corpus(), bf16_run, torch::kCPU);
    EXPECT_FALSE(autocast_enabled(c10::DeviceType::CPU)) << info.name;  // put back after training
    ASSERT_EQ(bf16.loss.size(), fp32.loss.size()) << info.name;
    EXPECT_EQ(bf16.diverged_step, -1) << info.name;
    EXPECT_NE(bf16.loss, fp32.loss) << info.name;
    for (size_t i = 0; i < fp32.loss.size(); ++i) EXPECT_NEAR(bf16.loss[i], fp32.loss[i], 0.02 * fp32.loss[i]) << info.name;
    for (const auto& parameter : bf16_model->parameters()) EXPECT_EQ(parameter.scalar_type(), torch::kFloat32) << info.name;
  }
}

TEST(Train, NonFiniteLossMarksTheRunDivergedAtItsStep) {
  const RunConfig run = tiny_run();
  auto model = tiny_model(run);
  {
    torch::NoGradGuard no_grad;
    model->named_parameters()["final_norm.weight"].fill_(NAN);
  }
  const TrainLog log = train_model(model, tiny_corpus(), run, torch::kCPU);
  EXPECT_EQ(log.diverged_step, 1);
  EXPECT_EQ(log.step, (std::vector<int64_t>{4}));  // stops at the log point that saw it
}

// Every encoding, plain and under randomized positions (drawn afresh every step).
std::vector<std::string> every_encoding() {
  std::vector<std::string> names;
  for (const auto& info : encoding_registry()) {
    names.push_back(info.name);
    names.push_back("randomized:" + info.name);
  }
  return names;
}

// The runs and models of the host-sync tests: `steps` steps logged once, at the end; a
// model whose eval attends in query blocks of 16.
RunConfig sync_run(const std::string& encoding, const std::string& steps, const std::string& precision,
                   const std::string& cuda_graph = "off", const std::string& eval_every = "0") {
  return parse_study("tiny.ini",
                     "encoding = alibi\n[model]\nd_model = 32\nlayers = 1\nheads = 2\n[train]\n"
                     "batch = 4\nseq_len = 16\nwarmup = 2\n[eval]\nlengths = 16,64\ntokens = 256\n",
                     {{"encoding", encoding}, {"train.steps", steps}, {"train.log_every", steps},
                      {"train.precision", precision}, {"train.cuda_graph", cuda_graph}, {"train.eval_every", eval_every}})
      .runs.front();
}
TransformerLM blocked_eval_model(const std::string& encoding) {
  TinyModel tiny;
  tiny.encoding = encoding;
  tiny.heads = 2;
  tiny.layers = 1;
  tiny.max_length = 64;
  tiny.attention_block = 16;
  return tiny.build();
}

// No host sync between log points (issue 18): on CUDA an op that reads a value back makes
// the host wait for every queued kernel, and a small model's step is then bound by launch
// latency. Trained 2 and 6 steps to one log point at the end, a run calls the same
// host-syncing ops (those at the log point, and first-forward cache builds): none per step.
// Before: randomized:xpos read the centre of its positions and randomized:sandwich the
// largest distance every step.
TEST(Train, StepsCallNoHostSyncingOpBetweenLogPoints) {
  for (const auto& name : every_encoding()) {
    for (const std::string precision : {"fp32", "bf16"}) {
      std::vector<HostSyncs> syncs;
      for (const std::string steps : {"2", "6"}) {
        const RunConfig run = sync_run(name, steps, precision);
        auto model = tiny_model(run);
        const Corpus corpus = tiny_corpus();
        TrainLog log;
        syncs.push_back(count_host_syncs([&] { log = train_model(model, corpus, run, torch::kCPU); }));
        ASSERT_EQ(log.step, std::vector<int64_t>{std::stoll(steps)}) << name;
      }
      EXPECT_EQ(syncs[1].total, syncs[0].total)
          << name << " " << precision << ": 2 steps " << syncs[0].which << "; 6 steps " << syncs[1].which;
      EXPECT_LE(syncs[0].total, 4) << name << " " << precision << ": " << syncs[0].which;
    }
  }
}

// Eval reads the device once per length, not per batch of windows: the same host-syncing
// ops in 1 batch or 4 per length (queries in blocks of 16), for every encoding (randomized
// ones draw eval positions per forward).
TEST(Evaluate, ReadsTheDeviceOncePerLengthNotPerBatch) {
  for (const auto& name : every_encoding()) {
    std::vector<HostSyncs> syncs;
    for (const std::string batch_tokens : {"1024", "64"}) {
      const RunConfig run = tiny_run("batch_tokens = " + batch_tokens + "\n");
      auto model = blocked_eval_model(name);
      const Corpus corpus = tiny_corpus();
      syncs.push_back(count_host_syncs([&] { evaluate_model(model, corpus.heldout, run, torch::kCPU); }));
    }
    EXPECT_EQ(syncs[1].total, syncs[0].total) << name << ": 1 batch " << syncs[0].which << "; 4 " << syncs[1].which;
  }
  // A synthetic task's eval too (copy has no extra metrics, which read predictions).
  TaskSpec copy;
  copy.name = "copy";
  copy.symbols = 8;
  std::vector<HostSyncs> syncs;
  for (const std::string batch_tokens : {"1024", "64"}) {
    const RunConfig run = tiny_run("batch_tokens = " + batch_tokens + "\n");
    TinyModel tiny;
    tiny.encoding = "alibi";
    tiny.max_length = 64;
    auto model = tiny.build();
    syncs.push_back(count_host_syncs([&] { evaluate_task(model, copy, run, torch::kCPU); }));
  }
  EXPECT_EQ(syncs[1].total, syncs[0].total) << "copy: 1 batch " << syncs[0].which << "; 4 " << syncs[1].which;
}

// train.cuda_graph decides from the run, the device and the build, without touching a
// device (so it is checked here for CUDA too): refused when off, off CUDA, without CUDA
// graphs in the build, for encodings that draw positions every step and runs too short to
// capture after the 3 eager steps, and runs that evaluate during training (their forwards
// at other lengths replace the cached masks a captured step reads); otherwise captured.
TEST(Train, CudaGraphIsRefusedWithItsReason) {
  const torch::Device cuda(torch::kCUDA), cpu(torch::kCPU);
  auto refusal = [](const RunConfig& run, torch::Device device) {
    auto model = tiny_model(run);
    model->train();
    return cuda_graph_refusal(run, model, device);
  };
  EXPECT_EQ(refusal(sync_run("rope", "8", "fp32", "off"), cuda), "off");
  EXPECT_EQ(refusal(sync_run("rope", "8", "fp32", "auto"), cpu), "not on CUDA");
  if (!CudaStepGraph::compiled()) {
    EXPECT_NE(refusal(sync_run("rope", "8", "fp32", "auto"), cuda).find("no graphs in build"), std::string::npos);
    EXPECT_THROW(CudaStepGraph graph(cuda), std::logic_error);
    GTEST_SKIP() << "this build has no CUDA graphs";
  }
  ASSERT_TRUE(MultiTensorAdamW::fused_available());
  for (const std::string name : {"rope", "alibi", "kerple_log", "learned", "none"})
    EXPECT_EQ(refusal(sync_run(name, "8", "bf16", "auto"), cuda), "") << name;
  EXPECT_EQ(refusal(sync_run("randomized:rope", "8", "fp32", "auto"), cuda), "randomized positions");
  EXPECT_EQ(refusal(sync_run("rope", "8", "fp32", "auto", "4"), cuda), "train.eval_every");
  EXPECT_EQ(refusal(sync_run("rope", "3", "fp32", "auto"), cuda), "3 steps or fewer");
  EXPECT_EQ(refusal(sync_run("rope", "4", "fp32", "auto"), cuda), "");
}

// The fixed inputs of a captured step are refilled in place, and only by a batch of their
// shape and dtype.
TEST(Train, UploadIntoRefillsATensorOfTheSameShapeOnly) {
  auto fixed = torch::zeros({2, 3}, torch::kLong);
  const auto storage = fixed.data_ptr();
  upload_into(fixed, torch::arange(6).view({2, 3}));
  EXPECT_TRUE(torch::equal(fixed, torch::arange(6).view({2, 3})));
  EXPECT_EQ(fixed.data_ptr(), storage);
  EXPECT_THROW(upload_into(fixed, torch::arange(8).view({2, 4})), std::logic_error);
  EXPECT_THROW(upload_into(fixed, torch::zeros({2, 3}, torch::kInt)), std::logic_error);
}

#if PEBENCH_CUDA_SYNC_DEBUG
// CUDA's own count of the above: c10's sync-debug mode warns at every call that makes the
// host wait for the device (cudaStreamSynchronize, a blocking or pageable copy, a value
// read), which sees the device-to-host copies the CPU count cannot. Counted through a
// warning handler: from the end of step 1 (first-forward cache builds) to the end of step 5
// of 6 (the log point, which reads the losses, is step 6).
class SyncWarnings : public c10::WarningHandler {
 public:
  void process(const c10::Warning& warning) override {
    if (warning.msg().find("synchroniz") != std::string::npos) ++count;
    else c10::WarningHandler::process(warning);
  }
  int64_t count = 0;
};
int64_t cuda_syncs(const std::function<void()>& body) {
  SyncWarnings warnings;
  c10::WarningUtils::WarningHandlerGuard guard(&warnings);
  body();
  c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_DISABLED);
  return warnings.count;
}

// `run` trained on CUDA, with the waits counted from step boundary `from` up to, not
// including, `until` (boundary k comes after step k).
struct CudaTraining {
  TrainLog log;
  int64_t syncs = 0, boundaries = 0;
};
CudaTraining train_on_cuda(TransformerLM& model, const RunConfig& run, int64_t from, int64_t until) {
  const torch::Device cuda(torch::kCUDA);
  model->to(cuda);
  const Corpus corpus = tiny_corpus();
  CudaTraining trained;
  TrainControl control;
  control.stop_requested = [&] {
    ++trained.boundaries;
    const bool watched = trained.boundaries >= from && trained.boundaries < until;
    c10::cuda::warning_state().set_sync_debug_mode(watched ? c10::cuda::SyncDebugMode::L_WARN
                                                           : c10::cuda::SyncDebugMode::L_DISABLED);
    return false;
  };
  trained.syncs = cuda_syncs([&] { trained.log = train_model(model, corpus, run, cuda, control); });
  return trained;
}

TEST(Cuda, StepsBetweenLogPointsAndEvalBatchesNeverWaitForTheDevice) {
  if (c10::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA);
  for (const auto& name : every_encoding()) {
    for (const std::string precision : {"fp32", "bf16"}) {
      const RunConfig run = sync_run(name, "6", precision);
      auto model = tiny_model(run);
      const CudaTraining trained = train_on_cuda(model, run, 1, 5);
      EXPECT_EQ(trained.syncs, 0) << name << " " << precision;
      EXPECT_EQ(trained.boundaries, 6) << name;
      EXPECT_NE(trained.log.kernels.find("clip=multi_tensor"), std::string::npos) << trained.log.kernels;  // the CUDA kernels
    }
    // Eval: as many waits in 1 batch per length as in 4.
    std::vector<int64_t> syncs;
    for (const std::string batch_tokens : {"1024", "64"}) {
      const RunConfig run = tiny_run("batch_tokens = " + batch_tokens + "\n");
      auto model = blocked_eval_model(name);
      model->to(cuda);
      const Corpus corpus = tiny_corpus();
      syncs.push_back(cuda_syncs([&] {
        c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_WARN);
        evaluate_model(model, corpus.heldout, run, cuda);
      }));
    }
    EXPECT_EQ(syncs[1], syncs[0]) << name << ": eval in 1 batch per length and in 4";
  }
}

// train.cuda_graph = auto: a step captured after 3 eager ones trains as the eager step
// (the same kernels: the same parameters after 8 steps, where a learning rate, Adam step
// count or batch frozen at capture moves them by 1e-4 or more), is refused where the
// encoding draws positions every step, and its replays (steps 5-7) never wait for the device.
TEST(Cuda, GraphedStepsTrainAsEagerStepsWithoutWaiting) {
  if (c10::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  for (const auto& name : every_encoding()) {
    const bool draws = name.rfind("randomized:", 0) == 0;
    for (const std::string precision : {"fp32", "bf16"}) {
      std::vector<std::vector<torch::Tensor>> parameters_after;  // graph off, then auto
      for (const std::string graph : {"off", "auto"}) {
        const RunConfig run = sync_run(name, "8", precision, graph);
        auto model = tiny_model(run);
        const CudaTraining trained = train_on_cuda(model, run, 4, 7);
        const TrainLog& log = trained.log;
        const int64_t syncs = trained.syncs;
        ASSERT_EQ(log.loss.size(), 1u);
        EXPECT_TRUE(std::isfinite(log.loss.back())) << name << " " << precision << " " << graph;
        if (graph == "auto") {
          const std::string expected = draws ? "graph=off (randomized positions)" : "graph=captured";
          EXPECT_NE(log.kernels.find(expected), std::string::npos) << name << ": " << log.kernels;
          EXPECT_EQ(syncs, 0) << name << " " << precision << ": replays waited for the device";
        }
        std::vector<torch::Tensor> parameters;
        for (const auto& p : model->parameters()) parameters.push_back(p.detach().to(torch::kCPU));
        parameters_after.push_back(parameters);
      }
      if (precision != "fp32") continue;
      const auto& eager = parameters_after[0];
      const auto& graphed = parameters_after[1];
      for (size_t i = 0; i < eager.size(); ++i)
        EXPECT_TRUE(torch::allclose(graphed[i], eager[i], 1e-5, 1e-6))
            << name << " parameter " << i << ": " << (graphed[i] - eager[i]).abs().max().item<double>();
    }
  }
}
#endif

// A run stopped by a signal and continued from its checkpoint ends exactly where an
// uninterrupted run ends: losses, parameters and eval, bit for bit (in bf16 too). randomized:rope
// checks that the position draws continue their sequence; learned, the optimizer state
// of a table; the stop falls between log points, so pending losses travel too.
TEST(Train, ResumedFromACheckpointEndsBitForBitLikeAnUninterruptedRun) {
  const Corpus corpus = tiny_corpus();
  for (const std::string name : {"alibi", "randomized:rope", "learned", "rope bf16", "none examples"}) {
    const std::string encoding = name.substr(0, name.find(' '));
    const std::string precision = name.find(" bf16") != std::string::npos ? "bf16" : "fp32";
    const std::string examples = name.find(" examples") != std::string::npos ? "6" : "0";
    const RunConfig run = parse_study("tiny.ini",
                                      "[model]\nd_model = 32\nlayers = 1\nheads = 2\n[train]\nsteps = 10\n"
                                      "batch = 4\nseq_len = 16\nlog_every = 4\nwarmup = 2\n[eval]\nlengths = 16,64\n"
                                      "tokens = 256\n",
                                      {{"encoding", encoding}, {"train.precision", precision},
                                       {"data.train_examples", examples}})
                              .runs.front();
    auto straight = tiny_model(run);
    const TrainLog reference = train_model(straight, corpus, run, torch::kCPU);

    const auto checkpoint = std::filesystem::path(scratch_path("resume.pt"));
    std::filesystem::remove(checkpoint);
    TrainControl control;
    control.checkpoint_path = checkpoint.string();
    control.checkpoint_every = 3;
    int boundaries = 0;
    control.stop_requested = [&] { return ++boundaries == 6; };  // a signal during step 6
    auto stopped = tiny_model(run);
    const TrainLog first = train_model(stopped, corpus, run, torch::kCPU, control);
    EXPECT_TRUE(first.interrupted) << encoding;
    EXPECT_EQ(first.step, (std::vector<int64_t>{4})) << encoding;
    ASSERT_TRUE(std::filesystem::exists(checkpoint)) << encoding;

    control.stop_requested = nullptr;
    auto resumed = tiny_model(run);  // a fresh process: new model, new optimizer
    const TrainLog second = train_model(resumed, corpus, run, torch::kCPU, control);
    EXPECT_FALSE(second.interrupted);
    EXPECT_EQ(second.resumed_from_step, 6) << encoding;
    EXPECT_EQ(second.step, reference.step) << encoding;
    EXPECT_EQ(second.loss, reference.loss) << encoding;
    EXPECT_EQ(second.lr, reference.lr) << encoding;
    auto expected = straight->named_parameters(), got = resumed->named_parameters();
    for (const auto& p : expected) EXPECT_TRUE(torch::equal(p.value(), got[p.key()])) << encoding << " " << p.key();
    EXPECT_EQ(evaluate_model(resumed, corpus.heldout, run, torch::kCPU).ppl,
              evaluate_model(straight, corpus.heldout, run, torch::kCPU).ppl) << encoding;

    // The final checkpoint (written at the last step) restarts nothing: eval can follow.
    auto again = tiny_model(run);
    const TrainLog third = train_model(again, corpus, run, torch::kCPU, control);
    EXPECT_EQ(third.resumed_from_step, 10);
    EXPECT_EQ(third.loss, reference.loss);
    std::filesystem::remove(checkpoint);
  }
}

// train.eval_every: the evaluations during training change no training number (losses
// and weights bit for bit, randomized positions included), and each point is what the
// final eval would give after that step; an eval interrupted by a stop signal is done
// again by the resumed run, whose history then equals the uninterrupted one.
TEST(Train, EvalHistoryLeavesTrainingAsItWasAndResumesAcrossAStopInAnEval) {
  const Corpus corpus = tiny_corpus();
  for (const std::string encoding : {"alibi", "randomized:rope", "learned", "fire"}) {
    const RunConfig config = parse_study("tiny.ini",
                                         "[model]\nd_model = 32\nlayers = 1\nheads = 2\n[train]\nsteps = 10\n"
                                         "batch = 4\nseq_len = 16\nlog_every = 4\nwarmup = 2\neval_every = 3\n"
                                         "[eval]\nlengths = 16,64\ntokens = 256\n",
                                         {{"encoding", encoding}})
                                 .runs.front();
    auto plain = tiny_model(config);
    const TrainLog reference = train_model(plain, corpus, config, torch::kCPU);
    EXPECT_TRUE(reference.history_step.empty());

    TrainControl control;
    TransformerLM* current = nullptr;
    int evaluations = 0, interrupt_at = 0;
    control.evaluate = [&] {
      if (++evaluations == interrupt_at) throw Interrupted();
      return history_values(evaluate_model(*current, corpus.heldout, config, torch::kCPU));
    };
    auto evaluated = tiny_model(config);
    current = &evaluated;
    const TrainLog history = train_model(evaluated, corpus, config, torch::kCPU, control);
    EXPECT_EQ(history.loss, reference.loss) << encoding;
    auto expected = plain->named_parameters(), got = evaluated->named_parameters();
    for (const auto& p : expected) EXPECT_TRUE(torch::equal(p.value(), got[p.key()])) << encoding << " " << p.key();
    EXPECT_EQ(history.history_step, (std::vector<int64_t>{3, 6, 9})) << encoding;
    ASSERT_EQ(history.history.at("ppl").size(), 6u) << encoding;

    // The point at step 6 is the eval of a model stopped after step 6.
    TrainControl stop_at_6;
    int boundaries = 0;
    stop_at_6.stop_requested = [&] { return ++boundaries == 6; };
    auto stopped = tiny_model(config);
    train_model(stopped, corpus, config, torch::kCPU, stop_at_6);
    const auto at_6 = evaluate_model(stopped, corpus.heldout, config, torch::kCPU).ppl;
    EXPECT_EQ(std::vector<double>(history.history.at("ppl").begin() + 2, history.history.at("ppl").begin() + 4), at_6)
        << encoding;

    // A stop signal during the eval after step 6: checkpoint at 6, then the resumed run
    // evaluates step 6 first and ends with the same history and losses.
    const auto checkpoint = std::filesystem::path(scratch_path("history.pt"));
    std::filesystem::remove(checkpoint);
    control.checkpoint_path = checkpoint.string();
    evaluations = 0;
    interrupt_at = 2;
    auto interrupted = tiny_model(config);
    current = &interrupted;
    const TrainLog first = train_model(interrupted, corpus, config, torch::kCPU, control);
    EXPECT_TRUE(first.interrupted) << encoding;
    EXPECT_EQ(first.history_step, (std::vector<int64_t>{3})) << encoding;
    auto resumed = tiny_model(config);
    current = &resumed;
    const TrainLog second = train_model(resumed, corpus, config, torch::kCPU, control);
    EXPECT_EQ(second.resumed_from_step, 6) << encoding;
    EXPECT_EQ(second.history_step, history.history_step) << encoding;
    EXPECT_EQ(second.history, history.history) << encoding;
    EXPECT_EQ(second.loss, reference.loss) << encoding;
    std::filesystem::remove(checkpoint);
  }
}

TEST(Train, ACheckpointOfAnotherConfigurationIsRefused) {
  const Corpus corpus = tiny_corpus();
  const RunConfig run = tiny_run();
  const auto checkpoint = std::filesystem::path(scratch_path("other.pt"));
  TrainControl control;
  control.checkpoint_path = checkpoint.string();
  auto model = tiny_model(run);
  train_model(model, corpus, run, torch::kCPU, control);
  const RunConfig other = parse_study("tiny.ini",
                                      "encoding = alibi\n[model]\nd_model = 32\nlayers = 1\nheads = 2\n[train]\nsteps = 8\n"
                                      "batch = 4\nseq_len = 16\nlog_every = 4\nwarmup = 2\nlr = 0.002\n[eval]\nlengths = 16,64\ntokens = 256\n",
                                      {}).runs.front();
  auto fresh = tiny_model(other);
  EXPECT_THROW(train_model(fresh, corpus, other, torch::kCPU, control), std::runtime_error);
  std::filesystem::remove(checkpoint);
}

TEST(Evaluate, EveryLengthScoresTheSameTokenBudget) {
  const RunConfig run = tiny_run();
  const Corpus corpus = tiny_corpus();
  auto model = tiny_model(run);
  const EvalResult result = evaluate_model(model, corpus.heldout, run, torch::kCPU);
  EXPECT_EQ(result.lengths, (std::vector<int64_t>{16, 64}));
  EXPECT_EQ(result.tokens, (std::vector<int64_t>{256, 256}));
  EXPECT_EQ(result.position_loss.size(), 64u);
  for (double ppl : result.ppl) EXPECT_TRUE(std::isfinite(ppl) && ppl > 1);
  // The per-position curve averages to the longest length's loss.
  double mean = 0;
  for (double loss : result.position_loss) mean += loss / 64;
  EXPECT_NEAR(std::exp(mean), result.ppl.back(), 1e-9 * result.ppl.back());

  const RunConfig sliding = tiny_run("protocol = sliding\nstride = 8\n");
  const EvalResult slid = evaluate_model(model, corpus.heldout, sliding, torch::kCPU);
  EXPECT_EQ(slid.tokens, (std::vector<int64_t>{256, 256}));
  // Length 64 with stride 8: every scored token after the first window has >= 56
  // tokens of context, so a trained-at-16 model's ppl differs from non-overlapping.
  EXPECT_NE(slid.ppl.back(), result.ppl.back());
}

}  // namespace
}  // namespace pebench
