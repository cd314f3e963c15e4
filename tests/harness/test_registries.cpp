// The plug-in points: each registry lists what it holds once, the study keys come from
// one table (core keys plus every encoding's own), the analyses' datasets are declared by
// their layout before compute fills them, and one run goes start to finish with no MPI.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "encodings/registry.h"
#include "harness/analyses/analysis.h"
#include "harness/data.h"
#include "harness/layout.h"
#include "harness/run_one.h"
#include "harness/study.h"
#include "harness/tasks.h"
#include "tests/scratch.h"

namespace pebench {
namespace {

TEST(Registries, EveryStudyKeyIsDeclaredOnceAndEncodingKeysComeFromTheEncodings) {
  std::set<std::string> names;
  for (const auto& key : study_keys()) EXPECT_TRUE(names.insert(key.name).second) << key.name << " twice";
  // An encoding key is declared by the encodings that read it, identically wherever two share it.
  std::map<std::string, OptionKey> declared;
  auto check = [&](const OptionKey& key, const std::string& by) {
    EXPECT_EQ(key.name.rfind("encoding.", 0), 0u) << by << " declares " << key.name;
    EXPECT_TRUE(names.count(key.name)) << key.name << " of " << by << " is no study key";
    auto [at, fresh] = declared.emplace(key.name, key);
    if (!fresh) {
      EXPECT_EQ(at->second.default_value, key.default_value) << key.name;
      EXPECT_EQ(at->second.allowed, key.allowed) << key.name;
      EXPECT_EQ(at->second.kind, key.kind) << key.name;
    }
  };
  for (const auto& info : encoding_registry())
    for (const auto& key : info.keys) check(key, info.name);
  for (const auto& key : randomized_keys()) check(key, "randomized");
  for (const auto& name : names)
    if (name.rfind("encoding.", 0) == 0) {
      EXPECT_TRUE(declared.count(name)) << name << " is read by no encoding";
    }
  // Keys added after stores existed leave their ids alone at the default.
  EXPECT_EQ(find_study_key("train.precision")->id_rule, IdRule::unless_default);
  EXPECT_EQ(find_study_key("analysis.windows")->id_rule, IdRule::with_analyses);
  EXPECT_EQ(find_study_key("data.lags")->id_rule, IdRule::with_task);
  EXPECT_EQ(find_study_key("train.checkpoint_every")->id_rule, IdRule::never);
  EXPECT_EQ(find_study_key("train.cuda_graph")->id_rule, IdRule::never);  // how the step launches, not what it computes
}

TEST(Registries, StudyKeyChoicesAreTheRegistries) {
  EXPECT_EQ(find_study_key("analysis.run")->choices, analysis_names());
  EXPECT_EQ(analysis_names(), (std::vector<std::string>{"window_ppl", "gradient", "attention", "probe", "pe_geometry"}));
  EXPECT_EQ(task_names(), (std::vector<std::string>{"copy", "associative_recall", "sparse_memory", "anchor_composite"}));
  for (const auto& name : task_names())
    EXPECT_NE(find_study_key("data.source")->allowed.find("synthetic:" + name), std::string::npos) << name;
  TaskSpec anchor;
  anchor.name = "anchor_composite";
  EXPECT_EQ(task_metric_names(anchor), (std::vector<std::string>{"eval/accuracy", "eval/anchor/inferential_accuracy",
                                                                 "eval/anchor/symmetric_accuracy"}));
  TaskSpec unknown;
  unknown.name = "no_such_task";
  EXPECT_THROW(unknown.info(), std::invalid_argument);
}

// The layout of every analysis is the shape its compute fills, and a dataset is filled
// only when laid out, with as many values as its shape holds.
TEST(Registries, AnalysisOutputTakesOnlyDeclaredDatasetsOfTheirSize) {
  AnalysisOutput out;
  constexpr DatasetName kDeclared{"test/declared", false}, kOther{"test/other", true};
  out.add(kDeclared, {2, 3});
  EXPECT_THROW(out.set(kDeclared, {1, 2, 3}), std::logic_error);
  EXPECT_THROW(out.set(kOther, {1}), std::logic_error);
  out.set(kDeclared, {1, 2, 3, 4, 5, 6});
  ASSERT_EQ(out.datasets().size(), 1u);
  EXPECT_EQ(out.datasets()[0].values.size(), 6u);
}

struct MemoryWriter : RunWriter {
  std::vector<std::string> statuses;
  std::map<std::string, RunResults> results;
  void write_results(const std::string& run_id, const RunResults& r) override { results[run_id] = r; }
  void write_status(const IndexRow& row) override { statuses.push_back(row.status); }
};

// One run, start to finish, without MPI: results first, then the final status, every
// analysis dataset its layout declared, filled.
TEST(RunOne, TrainsEvaluatesAnalysesAndWritesStatusLastWithoutMpi) {
  const Study study = parse_study("one.ini",
                                  "[model]\nd_model = 16\nlayers = 1\nheads = 2\n[train]\nseq_len = 16\nsteps = 6\n"
                                  "batch = 4\nlog_every = 3\nwarmup = 2\n[eval]\nlengths = 16,32\ntokens = 256\n"
                                  "[analysis]\nrun = window_ppl,gradient,attention,probe,pe_geometry\ntokens = 64\n"
                                  "sequences = 4\nwindows = 1,4,16\n[grid]\nencoding = learned\n",
                                  {});
  const RunConfig& run = study.runs.front();
  Corpus corpus = load_corpus("text:embedded", 0.1, 256, "one.ini");
  RunEnvironment environment;
  environment.checkpoint_folder = scratch_path("run_one.ckpt");
  MemoryWriter writer;
  const RunReport report = run_one(run, corpus, environment, writer);
  EXPECT_EQ(report.status, 0);
  EXPECT_EQ(writer.statuses, (std::vector<std::string>{"running", "done"}));
  const RunResults& results = writer.results.at(run.run_id);
  EXPECT_EQ(results.eval_ppl.size(), 2u);
  EXPECT_TRUE(std::isfinite(results.eval_ppl.back()));
  std::set<std::string> written;
  for (const auto& [name, values] : results.extra) {
    written.insert(name);
    EXPECT_FALSE(values.empty()) << name;
  }
  // Every extra dataset the run's layout plans (analyses, bits per byte) is written, and nothing else.
  const RunLayout layout = layout_of(run);
  for (const auto& dataset : layout.extra_datasets) EXPECT_TRUE(written.count(dataset.name)) << dataset.name;
  EXPECT_EQ(written.size(), layout.extra_datasets.size());
  EXPECT_TRUE(written.count("eval/bpb"));
}

// train.eval_every: the run's eval history has the points its layout planned, each of
// the planned size, and its last point is the final eval (a task: ppl and accuracy).
TEST(RunOne, EvalHistoryEndsWithTheFinalEvalInItsLaidOutShape) {
  const Study study = parse_study("history.ini",
                                  "[data]\nsource = synthetic:copy\n[model]\nd_model = 16\nlayers = 1\nheads = 2\n"
                                  "[train]\nseq_len = 16\nsteps = 7\nbatch = 4\nlog_every = 3\nwarmup = 2\n"
                                  "eval_every = 3\n[eval]\nlengths = 16,32\ntokens = 256\n[grid]\nencoding = rope\n",
                                  {});
  const RunConfig& run = study.runs.front();
  Corpus corpus = task_corpus(*run.task(), 32, 64);
  RunEnvironment environment;
  environment.checkpoint_folder = scratch_path("history.ckpt");
  MemoryWriter writer;
  ASSERT_EQ(run_one(run, corpus, environment, writer).status, 0);
  const RunResults& results = writer.results.at(run.run_id);
  std::map<std::string, std::vector<double>> extra(results.extra.begin(), results.extra.end());
  std::map<std::string, int64_t> planned;
  for (const auto& dataset : layout_of(run).extra_datasets) {
    int64_t size = 1;
    for (int64_t extent : dataset.shape) size *= extent;
    planned[dataset.name] = size;
  }
  EXPECT_EQ(extra.at("eval_history/step"), (std::vector<double>{3, 6, 7}));
  for (const std::string name : {"eval_history/step", "eval_history/ppl", "eval_history/accuracy"})
    EXPECT_EQ(static_cast<int64_t>(extra.at(name).size()), planned.at(name)) << name;
  const auto& ppl = extra.at("eval_history/ppl");
  EXPECT_EQ(std::vector<double>(ppl.end() - 2, ppl.end()), results.eval_ppl);
  for (double value : ppl) EXPECT_TRUE(std::isfinite(value));
  const auto& accuracy = extra.at("eval_history/accuracy");
  EXPECT_EQ(std::vector<double>(accuracy.end() - 2, accuracy.end()), extra.at("eval/accuracy"));
}

}  // namespace
}  // namespace pebench
