#include <gtest/gtest.h>

#include <set>

#include "harness/evaluate.h"
#include "harness/plan.h"
#include "harness/study.h"
#include "harness/train.h"

namespace pebench {
namespace {

const char* kStudy = R"(; a study
[study]
name = demo
[data]
source = text:embedded      ; comment after a value
[model]
d_model = 64
heads = 4
[train]
steps = 10
[eval]
lengths = 64,128
[grid]
encoding = none,alibi,rope
seed = 0,1
)";

// Runs `parse_study` and returns the UserError message ("" when it parsed).
std::string error_of(const std::string& text, const std::vector<Override>& overrides = {}) {
  try {
    parse_study("bad.ini", text, overrides);
  } catch (const UserError& error) {
    return error.what();
  }
  return "";
}

TEST(Study, GridExpandsToTheProductOfAxes) {
  const Study study = parse_study("demo.ini", kStudy, {});
  EXPECT_EQ(study.name, "demo");
  EXPECT_EQ(study.grid_axes, (std::vector<std::string>{"encoding", "seed"}));
  ASSERT_EQ(study.runs.size(), 6u);
  std::set<std::string> ids;
  for (const auto& run : study.runs) {
    ids.insert(run.run_id);
    EXPECT_EQ(run.model.d_model, 64);
    EXPECT_EQ(run.data.source, "text:embedded");  // the comment is gone
    EXPECT_EQ(run.train.batch, 32);               // default
  }
  EXPECT_EQ(ids.size(), 6u);
  EXPECT_EQ(study.runs[0].encoding, "none");
  EXPECT_EQ(study.runs[1].seed, 1);
  EXPECT_EQ(study.runs[1].run_id.substr(0, 12), "none-L64-s1-");
}

TEST(Study, RunIdsAreStableAndDependOnlyOnTheResolvedConfig) {
  const auto first = parse_study("a.ini", kStudy, {}).runs;
  // The same config spelled differently (order, whitespace, defaults written out, name).
  const char* respelled = R"(
encoding = none
seed = 0
[train]
batch = 32
steps=10
[model]
heads = 4
d_model = 64
[eval]
lengths = 64, 128
[study]
name = other
)";
  const auto second = parse_study("b.ini", respelled, {}).runs;
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].run_id, first[0].run_id);
  // Pinned: a change of the canonical form would orphan every existing store.
  EXPECT_EQ(first[0].run_id, "none-L64-s0-" + fnv1a_hex(first[0].canonical_text(), 8));
  EXPECT_EQ(fnv1a_hex("", 16), "cbf29ce484222325");
  EXPECT_EQ(fnv1a_hex("a", 16), "af63dc4c8601ec8c");
}

TEST(Study, AnalysisKeysArePartOfTheRunIdOnlyWhenAnalysesRun) {
  const auto plain = parse_study("a.ini", kStudy, {}).runs;
  EXPECT_EQ(plain[0].canonical_text().find("analysis."), std::string::npos);
  EXPECT_EQ(parse_study("a.ini", kStudy, {{"analysis.rf_length", "64"}}).runs[0].run_id, plain[0].run_id);
  const auto analysed = parse_study("a.ini", kStudy, {{"analysis.run", "probe"}}).runs;
  EXPECT_NE(analysed[0].canonical_text().find("analysis.sequences = 32\n"), std::string::npos);
  EXPECT_NE(analysed[0].run_id, plain[0].run_id);
}

TEST(Study, CheckpointIntervalIsNotPartOfTheRunId) {
  const auto runs = parse_study("a.ini", kStudy, {}).runs;
  const auto often = parse_study("a.ini", kStudy, {{"train.checkpoint_every", "7"}}).runs;
  EXPECT_EQ(often[0].train.checkpoint_every, 7);
  EXPECT_EQ(often[0].run_id, runs[0].run_id);
  EXPECT_EQ(often[0].canonical_text().find("checkpoint"), std::string::npos);
}

// fp32, the precision of every store made before the key existed, keeps their run ids.
TEST(Study, TrainPrecisionIsPartOfTheRunIdOnlyWhenNotFp32) {
  const auto plain = parse_study("a.ini", kStudy, {}).runs;
  EXPECT_EQ(plain[0].train.precision, "fp32");
  EXPECT_EQ(plain[0].canonical_text().find("precision"), std::string::npos);
  EXPECT_EQ(parse_study("a.ini", kStudy, {{"train.precision", "fp32"}}).runs[0].run_id, plain[0].run_id);
  const auto bf16 = parse_study("a.ini", kStudy, {{"train.precision", "bf16"}}).runs;
  EXPECT_NE(bf16[0].canonical_text().find("train.precision = bf16\n"), std::string::npos);
  EXPECT_NE(bf16[0].run_id, plain[0].run_id);
  EXPECT_NE(error_of(kStudy, {{"train.precision", "fp16"}}).find("fp32 | bf16"), std::string::npos);
}

// train.eval_every adds datasets: in the run id only when on (0 keeps every id), points
// every N steps below train.steps plus the final eval, each costing one final eval in the
// schedule's estimate; N >= train.steps would never evaluate during training and is refused.
TEST(Study, EvalEveryIsPartOfTheRunIdOnlyWhenOnAndCountsInTheCost) {
  auto first_run = [](std::vector<Override> overrides) {
    overrides.push_back({"train.steps", "600"});
    return parse_study("a.ini", kStudy, overrides).runs[0];
  };
  const RunConfig plain = first_run({}), on = first_run({{"train.eval_every", "100"}});
  EXPECT_EQ(plain.canonical_text().find("eval_every"), std::string::npos);
  EXPECT_EQ(first_run({{"train.eval_every", "0"}}).run_id, plain.run_id);
  EXPECT_NE(on.run_id, plain.run_id);
  EXPECT_NE(on.canonical_text().find("train.eval_every = 100\n"), std::string::npos);
  EXPECT_EQ(eval_history_points(plain), 0);
  EXPECT_EQ(eval_history_points(on), 6);  // 100 ... 500, then the final eval at 600
  EXPECT_EQ(eval_history_points(first_run({{"train.eval_every", "599"}})), 2);
  EXPECT_EQ(eval_history_points(first_run({{"train.eval_every", "7"}})), 86);  // 7 ... 595, then 600
  // The eval's cost is linear in eval.tokens: one final eval = cost(2x tokens) - cost(x tokens).
  const double one_eval = estimated_cost(first_run({{"eval.tokens", "65536"}})) - estimated_cost(plain);
  EXPECT_GT(one_eval, 0);
  EXPECT_NEAR(estimated_cost(on) - estimated_cost(plain), 5 * one_eval, 1e-9 * estimated_cost(on));
  EXPECT_NE(error_of(kStudy, {{"train.eval_every", "10"}}).find("must be 0 (off) or below train.steps = 10"),
            std::string::npos);
}

// `yarn` became the reference code's ramp: runs with a yarn curve get new ids (the yarn
// bounds enter them), every other run keeps its id.
TEST(Study, YarnBoundsEnterTheRunIdOnlyOfRunsWithAYarnCurve) {
  const auto plain = parse_study("a.ini", kStudy, {{"encoding", "rope"}}).runs;
  EXPECT_EQ(plain[0].canonical_text().find("yarn_beta"), std::string::npos);
  const auto pi = parse_study("a.ini", kStudy, {{"encoding", "rope"}, {"encoding.rope_scaling", "pi,ntk"}}).runs;
  EXPECT_EQ(pi[0].canonical_text().find("yarn_beta"), std::string::npos);
  for (const std::string variants : {"pi,yarn", "yarn_paper"}) {
    const auto yarn = parse_study("a.ini", kStudy, {{"encoding", "rope"}, {"encoding.rope_scaling", variants}}).runs;
    EXPECT_NE(yarn[0].canonical_text().find("encoding.yarn_beta_fast = 32\nencoding.yarn_beta_slow = 1\n"),
              std::string::npos) << variants;
  }
  EXPECT_NE(error_of(kStudy, {{"encoding", "rope"}, {"encoding.rope_scaling", "yarn"}, {"encoding.yarn_beta_fast", "0.5"}})
                .find("encoding.yarn_beta_fast must be above encoding.yarn_beta_slow"),
            std::string::npos);
}

// Randomized draws became per layer (issue 17): runs whose draws changed get new ids;
// per_forward (what they computed before) and additive bases, which draw once either
// way, keep theirs.
TEST(Study, RandomDrawEntersTheRunIdOnlyWhereItChangedTheDraws) {
  for (const std::string name : {"randomized:rope", "randomized:alibi", "randomized:fire"}) {
    const auto run = parse_study("a.ini", kStudy, {{"encoding", name}}).runs[0];
    EXPECT_NE(run.canonical_text().find("encoding.random_draw = per_layer\n"), std::string::npos) << name;
    const auto old = parse_study("a.ini", kStudy, {{"encoding", name}, {"encoding.random_draw", "per_forward"}}).runs[0];
    EXPECT_EQ(old.canonical_text().find("random_draw"), std::string::npos) << name;
    EXPECT_NE(old.run_id, run.run_id) << name;
  }
  for (const std::string name : {"randomized:learned", "randomized:sinusoidal", "rope"})
    EXPECT_EQ(parse_study("a.ini", kStudy, {{"encoding", name}}).runs[0].canonical_text().find("random_draw"),
              std::string::npos) << name;
  EXPECT_NE(error_of(kStudy, {{"encoding", "randomized:rope"}, {"encoding.random_draw", "sometimes"}})
                .find("per_layer | per_forward"), std::string::npos);
}

// Keys whose arrival changed what their runs compute name the value runs from before
// them computed with; compare shows it for a stored run that lacks the key where it counts.
TEST(Study, LegacyValuesNameWhatRunsFromBeforeAKeyComputed) {
  EXPECT_EQ(legacy_value("encoding.random_draw", {{"encoding", "randomized:rope"}}), "per_forward");
  EXPECT_EQ(legacy_value("encoding.random_draw", {{"encoding", "randomized:learned"}}), "");  // never counted
  EXPECT_EQ(legacy_value("encoding.random_draw", {{"encoding", "randomized:rope"}, {"encoding.random_draw", "per_layer"}}), "");
  EXPECT_NE(legacy_value("encoding.fire_threshold", {{"encoding", "fire"}}).find("512"), std::string::npos);
  EXPECT_EQ(legacy_value("encoding.fire_threshold", {{"encoding", "alibi"}}), "");
  EXPECT_EQ(legacy_value("data.start_token", {{"data.source", "synthetic:copy"}}), "false");
  EXPECT_EQ(legacy_value("data.copy_lengths", {{"data.source", "synthetic:copy"}}), "longest");
  EXPECT_EQ(legacy_value("data.start_token", {{"data.source", "text:embedded"}}), "");
  EXPECT_EQ(legacy_value("train.precision", {{"encoding", "rope"}}), "");  // fp32 runs lack it by design
}

// Resume: new grid values add runs; a changed fixed key is reported by name.
TEST(Study, AChangedFixedKeyIsNamedGridGrowthIsNot) {
  const Study before = parse_study("demo.ini", kStudy, {});
  std::vector<std::string> stored;
  for (const auto& run : before.runs) stored.push_back(run.canonical_text());
  EXPECT_EQ(changed_fixed_key(before, stored), "");
  EXPECT_EQ(changed_fixed_key(parse_study("demo.ini", kStudy, {{"grid.seed", "0,1,2"}}), stored), "");
  EXPECT_EQ(changed_fixed_key(parse_study("demo.ini", kStudy, {{"grid.encoding", "rope,t5"}}), stored), "");
  // A former fixed key that became a grid axis keeps the stored runs valid.
  EXPECT_EQ(changed_fixed_key(parse_study("demo.ini", kStudy, {{"grid.train.steps", "10,20"}}), stored), "");
  const std::string changed = changed_fixed_key(parse_study("demo.ini", kStudy, {{"train.steps", "20"}}), stored);
  EXPECT_EQ(changed.rfind("train.steps is 10 in the store's runs but 20 in the study now", 0), 0u) << changed;
  EXPECT_NE(changed_fixed_key(parse_study("demo.ini", kStudy, {{"model.d_model", "32"}}), stored), "");
  // Stored configs without analysis keys (no analyses): enabling them is a change, named.
  const std::string analyses = changed_fixed_key(parse_study("demo.ini", kStudy, {{"analysis.run", "gradient"}}), stored);
  EXPECT_EQ(analyses.rfind("analysis.run is none in the store's runs but gradient", 0), 0u) << analyses;
  // How a run is carried out may change freely.
  EXPECT_EQ(changed_fixed_key(parse_study("demo.ini", kStudy, {{"train.checkpoint_every", "5"}}), stored), "");
}

TEST(Study, CommandLineOverridesTheFile) {
  const auto runs = parse_study("a.ini", kStudy, {{"train.steps", "50"}, {"seed", "7"}}).runs;
  ASSERT_EQ(runs.size(), 3u);  // seed is no longer an axis
  EXPECT_EQ(runs[0].train.steps, 50);
  EXPECT_EQ(runs[0].seed, 7);
  const auto more = parse_study("a.ini", kStudy, {{"grid.model.init_gamma", "0.3,0.5"}}).runs;
  EXPECT_EQ(more.size(), 12u);
  const auto listed = parse_study("a.ini", kStudy, {{"seed", "0,1,2"}}).runs;
  EXPECT_EQ(listed.size(), 9u);
}

TEST(Study, EvalLengthsIncludeTheTrainLength) {
  const auto runs = parse_study("a.ini", "[train]\nseq_len = 32\n[eval]\nlengths = 256,64\n", {}).runs;
  EXPECT_EQ(runs[0].eval_lengths(), (std::vector<int64_t>{32, 64, 256}));
}

struct BadInput {
  std::string text;
  std::vector<Override> overrides;
  std::vector<std::string> expected;  // every piece must be in the one-line message
};

TEST(Study, BadInputNamesFileKeyValueAndWhatIsAllowed) {
  const std::vector<BadInput> cases = {
      {"[train]\nstepz = 5\n", {}, {"bad.ini", "train.stepz", "unknown key", "(did you mean 'train.steps'?)", "sections are"}},
      {"[trian]\nsteps = 5\n", {}, {"bad.ini", "trian.steps", "unknown key", "(did you mean 'train.steps'?)"}},
      {"[train]\nsteps = abc\n", {}, {"bad.ini", "[train] steps", "\"abc\"", "positive integer"}},
      {"[train]\nsteps = -3\n", {}, {"[train] steps", "\"-3\"", "positive integer"}},
      {"[train]\nlr = fast\n", {}, {"[train] lr", "\"fast\"", "positive number"}},
      {"[data]\nholdout = 1.5\n", {}, {"[data] holdout", "(0, 1)"}},
      {"[train]\nseq_len = 128\n[eval]\nlengths = 64,256\n", {}, {"[eval] lengths", "64", "shorter than train.seq_len 128"}},
      {"encoding = transformerxl\n", {}, {"bad.ini: encoding", "transformerxl", "unknown encoding", "alibi"}},
      {"[grid]\nencoding = rope,xyz\n", {}, {"[grid] encoding", "\"xyz\"", "unknown encoding"}},
      {"[model]\nd_model = 100\nheads = 3\n", {}, {"[model] heads", "\"3\"", "must divide model.d_model = 100"}},
      {"encoding = rope\n[model]\nd_model = 12\nheads = 4\n", {}, {"rope needs an even head size"}},
      {"[study]\nname = ../evil\n", {}, {"[study] name", "../evil", "no path separators"}},
      {"[grid]\nwidth = 1,2\n", {}, {"[grid] width", "unknown grid axis"}},
      {"[grid]\nmodel.head = 1,2\n", {}, {"unknown grid axis 'model.head' (did you mean 'model.heads'?)"}},
      {"[grid]\neval.lengths = 64,128\n", {}, {"eval.lengths is a list"}},
      {"[train]\nsteps = 5\nsteps = 6\n", {}, {"bad.ini", "given twice"}},
      {"[eval]\nprotocol = strided\n", {}, {"[eval] protocol", "nonoverlapping | sliding"}},
      {"[eval]\nprotocol = sliding\n", {}, {"[eval] stride", "1 <= eval.stride"}},
      {"[data]\nsource = http://x\n", {}, {"[data] source", "text:embedded | text:PATH | tokens:PATH.bin"}},
      {"[data]\nvocab_size = 100\n", {}, {"[data] vocab_size", "expected 256"}},
      {"[model]\nscale_embeddings = maybe\n", {}, {"[model] scale_embeddings", "true | false"}},
      {"[eval]\ntokens = 10\n", {}, {"[eval] tokens", "at least the longest eval length"}},
      {"", {{"train.steps", "x"}}, {"command line: --train.steps", "\"x\"", "positive integer"}},
      {"", {{"encoding", "nope"}}, {"command line: --encoding", "unknown encoding"}},
      {"encoding = randomized:nope\n", {}, {"bad.ini: encoding", "randomized:nope", "randomized:<any of these>"}},
      {"encoding = xpos\n[model]\nd_model = 12\nheads = 4\n", {}, {"bad.ini: encoding", "xpos needs an even head size"}},
      {"encoding = randomized:rope\n[model]\nd_model = 12\nheads = 4\n", {}, {"rope needs an even head size"}},
      {"encoding = sandwich\n[encoding]\nsandwich_dim = 7\n", {}, {"encoding.sandwich_dim must be even"}},
      {"encoding = t5\n[encoding]\nt5_max_distance = 10\n", {}, {"encoding.t5_max_distance must exceed"}},
      {"[encoding]\nrope_scaling = pi,linear\n", {}, {"[encoding] rope_scaling", "pi,linear", "none | a comma list of pi, ntk, yarn"}},
      {"[grid]\nencoding.rope_scaling = pi,ntk\n", {}, {"encoding.rope_scaling is a list"}},
      {"[encoding]\nrandom_eval_positions = maybe\n", {}, {"[encoding] random_eval_positions", "randomized | sequential"}},
      {"encoding = randomized:alibi\n[encoding]\nrandom_max_position = 100\n", {}, {"random_max_position must be 0", "1024"}},
      {"[encoding]\nshare_across_layers = sometimes\n", {}, {"[encoding] share_across_layers", "true | false"}},
  };
  for (const auto& bad : cases) {
    const std::string message = error_of(bad.text, bad.overrides);
    ASSERT_FALSE(message.empty()) << "accepted: " << bad.text;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const auto& piece : bad.expected) EXPECT_NE(message.find(piece), std::string::npos) << message << " lacks " << piece;
  }
}

// A misspelt key is answered with the key it most likely meant, and only then.
TEST(Study, NearestNameSuggestsOnlyAClearMatch) {
  const std::vector<std::string> keys = {"train.steps", "train.seq_len", "train.checkpoint_every", "eval.lengths",
                                         "model.heads", "store"};
  EXPECT_EQ(nearest_name("train.checkpoint_evry", keys), "train.checkpoint_every");  // a letter dropped
  EXPECT_EQ(nearest_name("trian.steps", keys), "train.steps");                       // neighbours swapped
  EXPECT_EQ(nearest_name("stroe", keys), "store");
  EXPECT_EQ(nearest_name("steps", keys), "train.steps");          // the section left out
  EXPECT_EQ(nearest_name("model.lengths", keys), "eval.lengths");  // the wrong section
  EXPECT_EQ(nearest_name("seq_len", {"train.seq_len", "eval.seq_len"}), "");  // two sections: no guess
  EXPECT_EQ(nearest_name("train.stepa", {"train.steps", "train.stepb"}), "");  // a tie: no guess
  EXPECT_EQ(nearest_name("colour", keys), "");                    // nothing near
  EXPECT_EQ(nearest_name("st", {"se", "store"}), "");             // two letters: one edit is too many
  EXPECT_EQ(nearest_name("store", keys), "");                     // a real name is not misspelt
  EXPECT_EQ(did_you_mean_key("train.stepz"), " (did you mean 'train.steps'?)");
  EXPECT_EQ(did_you_mean_key("width"), "");
}

TEST(Study, EncodingKeysReachTheEncodingOptions) {
  const Study study = parse_study("zoo.ini",
                                  "encoding = randomized:t5\n[encoding]\nrope_scaling = yarn,pi,yarn\n"
                                  "share_across_layers = false\nt5_buckets = 16\nt5_max_distance = 64\n"
                                  "random_max_position = 4096\nrandom_eval_positions = sequential\n",
                                  {{"encoding.sandwich_dim", "64"}});
  ASSERT_EQ(study.runs.size(), 1u);
  const auto& run = study.runs.front();
  EXPECT_EQ(run.values.at("encoding.rope_scaling"), "yarn,pi");  // canonical: each once, in order
  EXPECT_EQ(run.run_id.rfind("randomized:t5-L64-s0-", 0), 0u) << run.run_id;
  // Each encoding reads its own keys from the options, by the key it declares.
  const EncodingOptions options = run.encoding_options();
  auto key = [](const std::string& name) { return *find_study_key(name); };
  EXPECT_EQ(options.list(key("encoding.rope_scaling")), (std::vector<std::string>{"yarn", "pi"}));
  EXPECT_FALSE(options.flag(key("encoding.share_across_layers")));
  EXPECT_EQ(options.integer(key("encoding.t5_buckets")), 16);
  EXPECT_EQ(options.integer(key("encoding.t5_max_distance")), 64);
  EXPECT_EQ(options.integer(key("encoding.sandwich_dim")), 64);
  EXPECT_EQ(options.integer(key("encoding.random_max_position")), 4096);
  EXPECT_EQ(options.text(key("encoding.random_eval_positions")), "sequential");
  EXPECT_EQ(options.max_length, 1024);
  EXPECT_TRUE(parse_study("d.ini", "", {}).runs.front().encoding_options().list(*find_study_key("encoding.rope_scaling")).empty());
}

TEST(Study, MissingStudyFileIsAUserError) {
  EXPECT_THROW(load_study("/nonexistent/study.ini", {}), UserError);
}

// The default thread count is a rule of the run's config (BENCHMARKS.md §3): narrow
// models with few activations per step get one thread, the rest the rank's share.
TEST(RunCommand, DefaultThreadsGiveSmallRunsOneThread) {
  auto run = [](const std::string& d_model, const std::string& seq_len, const std::string& batch) {
    return parse_study("t.ini", "[model]\nd_model = " + d_model + "\n[train]\nseq_len = " + seq_len +
                                    "\nbatch = " + batch + "\n[eval]\nlengths = 256\n", {}).runs.front();
  };
  EXPECT_EQ(threads_for(run("64", "64", "16"), 2), 1);    // 2^16 activations
  EXPECT_EQ(threads_for(run("64", "64", "32"), 8), 1);    // 2^17
  EXPECT_EQ(threads_for(run("64", "256", "16"), 2), 2);   // 2^18
  EXPECT_EQ(threads_for(run("128", "32", "16"), 4), 4);   // d_model 128
  EXPECT_EQ(threads_for(run("256", "256", "16"), 1), 1);  // never more than the share
}

TEST(Train, LearningRateWarmsUpLinearlyThenFollowsTheCosine) {
  EXPECT_DOUBLE_EQ(learning_rate(5, 100, 10, 1.0, 0.1), 0.5);
  EXPECT_DOUBLE_EQ(learning_rate(10, 100, 10, 1.0, 0.1), 1.0);
  EXPECT_NEAR(learning_rate(55, 100, 10, 1.0, 0.1), 0.55, 1e-12);  // halfway: mean of lr and min_lr
  EXPECT_NEAR(learning_rate(100, 100, 10, 1.0, 0.1), 0.1, 1e-12);
}

TEST(Train, LogStepsEndAtTheLastStep) {
  EXPECT_EQ(log_steps(120, 50), (std::vector<int64_t>{50, 100, 120}));
  EXPECT_EQ(log_steps(100, 50), (std::vector<int64_t>{50, 100}));
  EXPECT_EQ(log_steps(7, 50), (std::vector<int64_t>{7}));
}

// Parameters after 6 steps in train_model's three groups (decayed, plain, an encoding
// group with its own learning rate), one parameter missing a gradient at step 2 (it then
// needs its own bias correction), stepped by MultiTensorAdamW up to `handoff` and by
// LibTorch's AdamW::step (on the same object) from there.
// With `device_counts_from` (fused only), the step counts and learning rates move to
// tensors from that step on, as for a captured step; no gradient is then missing.
std::vector<torch::Tensor> adamw_trajectory(int handoff,
                                            MultiTensorAdamW::Kernel kernel = MultiTensorAdamW::Kernel::foreach_ops,
                                            int device_counts_from = 0) {
  torch::manual_seed(3);
  std::vector<torch::Tensor> p;
  for (auto shape : std::vector<std::vector<int64_t>>{{8, 5}, {5}, {4, 3}, {2}}) p.push_back(torch::randn(shape).requires_grad_());
  auto options = torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).weight_decay(0.1);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{p[0], p[2]}, std::make_unique<torch::optim::AdamWOptions>(options));
  groups.emplace_back(std::vector<torch::Tensor>{p[1]}, std::make_unique<torch::optim::AdamWOptions>(
                                                            torch::optim::AdamWOptions(options).weight_decay(0.0)));
  groups.emplace_back(std::vector<torch::Tensor>{p[3]}, std::make_unique<torch::optim::AdamWOptions>(
                                                            torch::optim::AdamWOptions(options).weight_decay(0.0)));
  MultiTensorAdamW optimizer(std::move(groups), options, kernel);
  for (int step = 1; step <= 6; ++step) {
    for (size_t group = 0; group < 3; ++group)
      static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[group].options()).lr((group == 2 ? 10 : 1) * 1e-2 / step);
    for (size_t i = 0; i < p.size(); ++i) p[i].mutable_grad() = torch::randn(p[i].sizes()) * std::pow(10.0, static_cast<double>(i) - 2);
    if (step == 2 && device_counts_from == 0) p[2].mutable_grad() = torch::Tensor();
    if (step == device_counts_from) optimizer.keep_counts_on_device();
    if (optimizer.counts_on_device()) optimizer.upload_learning_rates();
    if (step < handoff) optimizer.step();
    else optimizer.torch::optim::AdamW::step();
  }
  std::vector<torch::Tensor> out;
  for (auto& parameter : p) out.push_back(parameter.detach().clone());
  return out;
}

TEST(Train, MultiTensorAdamWIsLibTorchsAdamWToTheLastBit) {
  const auto libtorch = adamw_trajectory(0), ours = adamw_trajectory(7), handed_over = adamw_trajectory(4);
  torch::manual_seed(3);
  for (size_t i = 0; i < libtorch.size(); ++i) {
    EXPECT_FALSE(torch::allclose(libtorch[i], torch::randn(libtorch[i].sizes()))) << "parameter " << i << " never moved";
    EXPECT_TRUE(torch::equal(ours[i], libtorch[i])) << "parameter " << i << ": " << (ours[i] - libtorch[i]).abs().max().item<double>();
    // LibTorch's step finds the state ours made (same key): the moments and step counts go on.
    EXPECT_TRUE(torch::equal(handed_over[i], libtorch[i])) << "parameter " << i << " after the handover";
  }
}

// torch's fused kernel, where this LibTorch has it (torch >= 2.4; Debian's 1.13 has not):
// the same trajectory as LibTorch's AdamW up to rounding, and the state it leaves is the
// one LibTorch's step continues from.
TEST(Train, FusedAdamWFollowsLibTorchsAdamW) {
  if (!MultiTensorAdamW::fused_available()) {
    auto p = torch::zeros({2}).requires_grad_();
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<torch::Tensor>{p});
    EXPECT_THROW(MultiTensorAdamW(std::move(groups), torch::optim::AdamWOptions(), MultiTensorAdamW::Kernel::fused),
                 std::logic_error);
    GTEST_SKIP() << "this LibTorch has no _fused_adamw_ (torch >= 2.4)";
  }
  const auto libtorch = adamw_trajectory(0), fused = adamw_trajectory(7, MultiTensorAdamW::Kernel::fused),
             handed_over = adamw_trajectory(4, MultiTensorAdamW::Kernel::fused);
  for (size_t i = 0; i < libtorch.size(); ++i) {
    // Measured with torch 2.15 on the CPU: at most 6e-8 apart (an ulp of values ~1);
    // swapped betas, no decay or a step count one off move them by 3e-4 or more.
    EXPECT_TRUE(torch::allclose(fused[i], libtorch[i], 1e-6, 1e-7))
        << "parameter " << i << ": " << (fused[i] - libtorch[i]).abs().max().item<double>();
    EXPECT_TRUE(torch::allclose(handed_over[i], libtorch[i], 1e-6, 1e-7)) << "parameter " << i << " after the handover";
  }
}

// The fused kernel reading its step counts and learning rates from device tensors (a
// captured step's, harness/cuda_graph.h) steps as with counts from the host: the same
// parameters to the last bit, the host's counts set for a checkpoint; it refuses a group
// whose parameters are at different steps.
TEST(Train, FusedAdamWStepsAsWellWithItsCountsOnTheDevice) {
  if (!MultiTensorAdamW::fused_available()) GTEST_SKIP() << "this LibTorch has no _fused_adamw_ (torch >= 2.4)";
  using Kernel = MultiTensorAdamW::Kernel;
  const auto host_counts = adamw_trajectory(7, Kernel::fused, 99), device_counts = adamw_trajectory(7, Kernel::fused, 3);
  for (size_t i = 0; i < host_counts.size(); ++i)
    EXPECT_TRUE(torch::equal(device_counts[i], host_counts[i]))
        << "parameter " << i << ": " << (device_counts[i] - host_counts[i]).abs().max().item<double>();
  // Device counts from step 2: the host's counts stay at 1 until set for a checkpoint.
  auto p = torch::ones({3}).requires_grad_();
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{p});
  MultiTensorAdamW optimizer(std::move(groups), torch::optim::AdamWOptions(0.1), Kernel::fused);
  p.mutable_grad() = torch::ones({3});
  optimizer.step();
  optimizer.keep_counts_on_device();
  for (int step = 2; step <= 4; ++step) optimizer.step();
  optimizer.set_step_count(4);
  for (const auto& [key, state] : optimizer.state())
    EXPECT_EQ(static_cast<const torch::optim::AdamWParamState&>(*state).step(), 4);

  auto q = torch::ones({2}).requires_grad_(), r = torch::ones({2}).requires_grad_();
  std::vector<torch::optim::OptimizerParamGroup> mixed;
  mixed.emplace_back(std::vector<torch::Tensor>{q, r});
  MultiTensorAdamW uneven(std::move(mixed), torch::optim::AdamWOptions(0.1), Kernel::fused);
  q.mutable_grad() = torch::ones({2});
  uneven.step();  // r has no gradient: it stays at step 0
  EXPECT_THROW(uneven.keep_counts_on_device(), std::logic_error);
}

// The gradient clip in multi-tensor ops (what CUDA runs use, torch >= 2.1) scales as the
// per-tensor clip does, both when the threshold engages (the global norm lands on it) and
// when it does not (every gradient as it was); a parameter without a gradient is skipped.
TEST(Train, MultiTensorClipScalesAsThePerTensorClip) {
  torch::manual_seed(5);
  auto make = [] {
    std::vector<torch::Tensor> parameters{torch::zeros({7, 3}).requires_grad_(), torch::zeros({11}).requires_grad_(),
                                          torch::zeros({2, 2}).requires_grad_(), torch::zeros({5}).requires_grad_()};
    parameters[0].mutable_grad() = torch::randn({7, 3});
    parameters[1].mutable_grad() = 3 * torch::randn({11});
    parameters[3].mutable_grad() = torch::randn({5});  // parameters[2]: no gradient
    return parameters;
  };
  auto global_norm = [](const std::vector<torch::Tensor>& parameters) {
    double sum = 0;
    for (const auto& p : parameters)
      if (p.grad().defined()) sum += p.grad().pow(2).sum().item<double>();
    return std::sqrt(sum);
  };
  const auto reference = make();
  const double before = global_norm(reference);
  ASSERT_GT(before, 5.0);
  if (!multi_tensor_clip_available()) {
    EXPECT_THROW(clip_gradient_norm(reference, 1.0, ClipKernel::multi_tensor), std::logic_error);
    GTEST_SKIP() << "this LibTorch has no _foreach_mul_ by a tensor (torch >= 2.1)";
  }
  for (double max_norm : {1.0, 1000.0}) {
    auto per_tensor = make(), multi_tensor = make();
    for (size_t i = 0; i < per_tensor.size(); ++i)
      if (reference[i].grad().defined()) {
        per_tensor[i].mutable_grad() = reference[i].grad().clone();
        multi_tensor[i].mutable_grad() = reference[i].grad().clone();
      }
    clip_gradient_norm(per_tensor, max_norm, ClipKernel::per_tensor);
    clip_gradient_norm(multi_tensor, max_norm, ClipKernel::multi_tensor);
    EXPECT_NEAR(global_norm(multi_tensor), std::min(before, max_norm), 1e-5 * max_norm) << max_norm;
    EXPECT_FALSE(multi_tensor[2].grad().defined());
    for (size_t i = 0; i < per_tensor.size(); ++i) {
      if (per_tensor[i].grad().defined()) {
        EXPECT_TRUE(torch::allclose(multi_tensor[i].grad(), per_tensor[i].grad(), 1e-6, 1e-7)) << "parameter " << i << " at " << max_norm;
      }
    }
  }
}

}  // namespace
}  // namespace pebench
