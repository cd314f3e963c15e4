// Every store write against a read-back, and the errors for files that are not stores.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <mpi.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "results/compare.h"
#include "results/store.h"
#include "tests/results/store_fixtures.h"
#include "tests/scratch.h"

namespace pebench {
namespace {

// Every process of pebench_tests (one per test, two at a time) starts as an MPI singleton,
// whose daemon makes its session folder under /tmp/ompi.HOST.UID and whose finalize removes
// that folder when empty: a second process's daemon then failed to make its own in it
// ("mkdir ... No such file or directory", MPI_Init aborted; 1 test of 173 in a fresh-clone
// run, 2026-12-03). Each process's session folders go in its own scratch folder instead.
class MpiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const auto sessions = scratch_folder() / "mpi";
    std::filesystem::create_directories(sessions);
    setenv("OMPI_MCA_orte_tmpdir_base", sessions.c_str(), 1);
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) MPI_Init(nullptr, nullptr);
  }
  void TearDown() override { MPI_Finalize(); }
};
const auto* const kMpi = ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

TEST(Store, WritesReadBackExactlyAndUnwrittenDataIsMissing) {
  const std::string path = temp_path("roundtrip.h5");
  ParallelStore::create(path, MPI_COMM_WORLD, {"[study]\nname = t\n", "", ""});
  RunResults results;
  results.summary = {12.5, 10.0, 2.5, 3000.0, 1.75, -1, 0, "node7"};
  results.compute = "cuda:0 attention=fused adamw=fused clip=multi_tensor torch=2.11.0";
  results.train_step = {50, 100, 120};
  results.train_loss = {3.0, 2.0, 1.75};
  results.train_lr = {1e-3, 5e-4, 1e-4};
  results.eval_ppl = {5.5, 5.6, 7.25};
  results.eval_tokens = {4096, 4096, 4096};
  results.position_loss.assign(64, 0.0);
  for (int i = 0; i < 64; ++i) results.position_loss[i] = 0.01 * i;
  {
    ParallelStore store(path, MPI_COMM_WORLD);
    store.add_runs({layout("a-1", "alibi", 0), layout("r-2", "rope", 1)}, true);
    store.flush();
    store.write_results("a-1", results);
    store.write_status({"a-1", "alibi", 16, 0, "done"});
    store.close();
  }
  const StoreContents contents = read_store(path);
  EXPECT_EQ(contents.study_text, "[study]\nname = t\n");
  ASSERT_EQ(contents.runs.size(), 2u);
  const StoredRun& a = contents.runs[0];
  EXPECT_EQ(a.row.run_id, "a-1");
  EXPECT_EQ(a.row.encoding, "alibi");
  EXPECT_EQ(a.row.status, "done");
  EXPECT_EQ(a.row.train_seq_len, 16);
  EXPECT_EQ(a.config, layout("a-1", "alibi", 0).config);
  EXPECT_EQ(a.params, 1234);
  EXPECT_EQ(a.summary.wall_seconds, 12.5);
  EXPECT_EQ(a.summary.train_tokens_per_second, 3000.0);
  EXPECT_EQ(a.summary.host, "node7");
  EXPECT_EQ(a.summary.diverged_step, -1);
  EXPECT_EQ(a.compute, results.compute);
  EXPECT_EQ(a.train_step, results.train_step);
  EXPECT_EQ(a.train_loss, results.train_loss);
  EXPECT_EQ(a.eval_lengths, (std::vector<int64_t>{16, 32, 64}));
  EXPECT_EQ(a.eval_ppl, results.eval_ppl);
  EXPECT_EQ(a.eval_tokens, results.eval_tokens);
  EXPECT_EQ(a.position_loss, results.position_loss);

  const StoredRun& r = contents.runs[1];
  EXPECT_EQ(r.row.status, "pending");
  EXPECT_EQ(r.row.seed, 1);
  EXPECT_EQ(r.eval_lengths, (std::vector<int64_t>{16, 32, 64}));  // constant data at layout time
  ASSERT_EQ(r.eval_ppl.size(), 3u);
  for (double ppl : r.eval_ppl) EXPECT_TRUE(std::isnan(ppl));
  EXPECT_TRUE(std::isnan(r.summary.wall_seconds));
  EXPECT_EQ(r.compute, "");
  EXPECT_EQ(r.train_step, (std::vector<int64_t>{-1, -1, -1}));

  const std::string table = compare_table(contents);
  EXPECT_NE(table.find("alibi"), std::string::npos);
  EXPECT_NE(table.find("7.250"), std::string::npos);
  EXPECT_NE(table.find("1.32"), std::string::npos);  // 7.25 / 5.5
  EXPECT_NE(table.find("0 +1 unfinished"), std::string::npos);
  EXPECT_NE(inspect_table(contents).find("1 done, 1 pending"), std::string::npos);
  // The whole compute string, once per distinct one; none for the pending run.
  EXPECT_NE(inspect_table(contents).find("1 done, 1 pending\ncomputed as " + results.compute + ": 1 run\n"), std::string::npos);
}

TEST(Store, EncodingDatasetsAndVariantCurvesReadBack) {
  const std::string path = temp_path("encoding.h5");
  ParallelStore::create(path, MPI_COMM_WORLD, {"", "", ""});
  RunLayout rope = layout("rope-1", "rope", 0);
  rope.eval_variants = {"pi", "yarn"};
  RunLayout t5 = layout("t5-1", "t5", 0);
  t5.bias_profile_shape = {2, 4, 64};  // per-layer biases
  RunLayout learned = layout("learned-1", "learned", 0);
  learned.table_shape = {64, 3};
  RunResults results;
  results.train_step = {1, 2, 3};
  results.train_loss = results.train_lr = {1, 2, 3};
  results.eval_ppl = {5, 6, 7};
  results.eval_tokens = {64, 64, 64};
  results.position_loss.assign(64, 1.5);
  RunResults rope_results = results;
  rope_results.variants = {{"pi", {5, 5.5, 6}, {64, 64, 64}, std::vector<double>(64, 2.0)},
                           {"yarn", {5, 5.25, 5.5}, {64, 64, 64}, std::vector<double>(64, 3.0)}};
  RunResults t5_results = results;
  for (int i = 0; i < 2 * 4 * 64; ++i) t5_results.bias_profile.push_back(-0.01 * i);
  RunResults learned_results = results;
  for (int i = 0; i < 64 * 3; ++i) learned_results.table.push_back(0.5 * i);
  {
    ParallelStore store(path, MPI_COMM_WORLD);
    store.add_runs({rope, t5, learned}, true);
    store.write_results("rope-1", rope_results);
    store.write_results("t5-1", t5_results);
    store.write_results("learned-1", learned_results);
    store.close();
  }
  const StoreContents contents = read_store(path);
  ASSERT_EQ(contents.runs.size(), 3u);
  const auto& r = contents.runs[0];
  ASSERT_EQ(r.variants.size(), 2u);
  EXPECT_EQ(r.variants[1].name, "yarn");
  EXPECT_EQ(r.variants[1].ppl, rope_results.variants[1].ppl);
  EXPECT_EQ(r.variants[0].tokens, rope_results.variants[0].tokens);
  EXPECT_EQ(r.variants[0].position_loss, rope_results.variants[0].position_loss);
  EXPECT_TRUE(r.bias_profile_shape.empty() && r.table_shape.empty());
  EXPECT_EQ(contents.runs[1].bias_profile_shape, (std::vector<int64_t>{2, 4, 64}));
  EXPECT_EQ(contents.runs[1].bias_profile, t5_results.bias_profile);
  EXPECT_TRUE(contents.runs[1].variants.empty());
  EXPECT_EQ(contents.runs[2].table_shape, (std::vector<int64_t>{64, 3}));
  EXPECT_EQ(contents.runs[2].table, learned_results.table);
  // Variant curves are their own rows in compare (none of the runs is done yet).
  EXPECT_NE(compare_table(contents).find("rope+yarn"), std::string::npos);
}

// Analysis datasets: created with the layout (fill NaN / -1), written, read back exactly.
TEST(Store, AnalysisDatasetsReadBackWithTheirTypes) {
  const std::string path = temp_path("analysis.h5");
  ParallelStore::create(path, MPI_COMM_WORLD, {"", "", ""});
  RunLayout with = layout("alibi-1", "alibi", 0), without = layout("alibi-2", "alibi", 1);
  with.extra_datasets = {{"receptive_field/erf", {3}, true}, {"attention/mass_by_distance", {2, 2, 3}, false}};
  without.extra_datasets = with.extra_datasets;
  RunResults results = results_of(0);
  std::vector<double> mass;
  for (int i = 0; i < 12; ++i) mass.push_back(0.125 * i);
  results.extra = {{"receptive_field/erf", {4, 10, 14}}, {"attention/mass_by_distance", mass}};
  {
    ParallelStore store(path, MPI_COMM_WORLD);
    store.add_runs({with, without}, true);
    store.write_results("alibi-1", results);
    store.close();
  }
  const StoreContents contents = read_store(path);
  EXPECT_EQ(contents.runs[0].extra.at("receptive_field/erf"), (std::vector<double>{4, 10, 14}));
  EXPECT_EQ(contents.runs[0].extra.at("attention/mass_by_distance"), mass);
  EXPECT_EQ(contents.runs[1].extra.at("receptive_field/erf"), (std::vector<double>{-1, -1, -1}));  // int64 fill
  EXPECT_TRUE(std::isnan(contents.runs[1].extra.at("attention/mass_by_distance")[5]));
  EXPECT_EQ(contents.runs[0].extra.size(), 2u);
}

TEST(Store, GrowsWhenRunsAreAdded) {
  const std::string path = temp_path("grow.h5");
  ParallelStore::create(path, MPI_COMM_WORLD, {"", "", ""});
  {
    ParallelStore store(path, MPI_COMM_WORLD);
    store.add_runs({layout("a-1", "alibi", 0)}, true);
    store.close();
  }
  {
    ParallelStore store(path, MPI_COMM_WORLD);
    store.add_runs({layout("a-2", "alibi", 1), layout("a-3", "alibi", 2)}, true);
    store.write_status({"a-3", "alibi", 16, 2, "failed"});
    store.close();
  }
  const auto rows = read_index(path);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].run_id, "a-1");
  EXPECT_EQ(rows[2].run_id, "a-3");
  EXPECT_EQ(rows[2].status, "failed");
}

TEST(Store, FilesThatAreNotStoresAreRefusedWithTheirPath) {
  const std::string text = temp_path("text.h5");
  std::ofstream(text) << "not hdf5";
  try {
    read_index(text);
    FAIL() << "opened a text file";
  } catch (const StoreError& error) {
    EXPECT_NE(std::string(error.what()).find(text), std::string::npos);
  }

  const std::string truncated = temp_path("truncated.h5");
  ParallelStore::create(truncated, MPI_COMM_WORLD, {"", "", ""});
  std::filesystem::resize_file(truncated, 700);
  EXPECT_THROW(read_store(truncated), StoreError);

  const std::string foreign = temp_path("foreign.h5");
  H5Fclose(H5Fcreate(foreign.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  try {
    read_index(foreign);
    FAIL() << "opened a foreign HDF5 file";
  } catch (const StoreError& error) {
    EXPECT_NE(std::string(error.what()).find("not a pebench store"), std::string::npos);
  }

  const std::string newer = temp_path("newer.h5");
  ParallelStore::create(newer, MPI_COMM_WORLD, {"", "", ""});
  {
    hid_t file = H5Fopen(newer.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t attribute = H5Aopen(file, "schema_version", H5P_DEFAULT);
    const int64_t version = 2;
    H5Awrite(attribute, H5T_NATIVE_INT64, &version);
    H5Aclose(attribute);
    H5Fclose(file);
  }
  try {
    read_index(newer);
    FAIL() << "opened a newer schema";
  } catch (const StoreError& error) {
    EXPECT_NE(std::string(error.what()).find("schema version 2"), std::string::npos);
  }
}

}  // namespace
}  // namespace pebench

namespace pebench {
namespace {

// A store says what it is: its study name and the key defaults of the pebench that made
// it, and each run the names of its extra datasets, which readers iterate; a dataset under
// a prefix no reader knows (a new analysis) is read back with no reader change.
TEST(Store, RecordsItsStudyNameKeyDefaultsAndEveryRunsExtraDatasets) {
  const std::string path = temp_path("self_describing.h5");
  ParallelStore::create(path, MPI_COMM_WORLD, {"[study]\nname = s\n", "s", "model.width = 8\ntrain.precision = fp32\n"});
  RunLayout with_new_analysis = layout("a-1", "alibi", 0);
  with_new_analysis.extra_datasets = {{"new_analysis/curve", {3}, false}, {"eval/accuracy", {3}, false}};
  {
    ParallelStore store(path, MPI_COMM_WORLD);
    store.add_runs({with_new_analysis}, true);
    RunResults results = results_of(0);
    results.extra = {{"new_analysis/curve", {0.25, 0.5, 0.75}}, {"eval/accuracy", {1, 0.5, 0}}};
    store.write_results("a-1", results);
    store.write_status({"a-1", "alibi", 16, 0, "done"});
    store.close();
  }
  const StoreContents contents = read_store(path);
  EXPECT_EQ(contents.study_name, "s");
  EXPECT_EQ(contents.key_defaults, (std::map<std::string, std::string>{{"model.width", "8"}, {"train.precision", "fp32"}}));
  ASSERT_EQ(contents.runs.size(), 1u);
  EXPECT_EQ(contents.runs[0].extra.at("new_analysis/curve"), (std::vector<double>{0.25, 0.5, 0.75}));
  EXPECT_EQ(contents.runs[0].extra.at("eval/accuracy"), (std::vector<double>{1, 0.5, 0}));
  EXPECT_EQ(contents.runs[0].extra.size(), 2u);
}

// Stores made before the root and run attributes above read as before: no study name, no
// recorded defaults, extra datasets found by the prefixes of that time.
TEST(Store, StoresWithoutTheRecordedAttributesReadByTheOldRules) {
  const std::string path = temp_path("older.h5");
  ParallelStore::create(path, MPI_COMM_WORLD, {"[study]\nname = old\n", "old", "a = 1\n"});
  RunLayout older = layout("a-1", "alibi", 0);
  older.extra_datasets = {{"receptive_field/erf", {3}, true}, {"new_analysis/curve", {3}, false}};
  {
    ParallelStore store(path, MPI_COMM_WORLD);
    store.add_runs({older}, true);
    store.close();
  }
  {  // What an older pebench wrote: none of the three attributes, no compute dataset.
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(H5Adelete(file, "study_name"), 0);
    ASSERT_GE(H5Adelete(file, "key_defaults"), 0);
    hid_t group = H5Gopen2(file, "/runs/a-1", H5P_DEFAULT);
    ASSERT_GE(H5Adelete(group, "extra_datasets"), 0);
    ASSERT_GE(H5Ldelete(group, "compute", H5P_DEFAULT), 0);
    H5Gclose(group);
    H5Fclose(file);
  }
  {  // This pebench finishes a run of that layout: its results, without the compute string.
    ParallelStore store(path, MPI_COMM_WORLD);
    RunResults results = results_of(0);
    results.compute = "cpu attention=explicit adamw=foreach clip=per_tensor torch=1.13.0";
    store.write_results("a-1", results);
    store.close();
  }
  const StoreContents contents = read_store(path);
  EXPECT_EQ(contents.runs[0].compute, "");
  EXPECT_EQ(contents.runs[0].eval_ppl, results_of(0).eval_ppl);
  EXPECT_EQ(contents.study_name, "");
  EXPECT_TRUE(contents.key_defaults.empty());
  EXPECT_EQ(contents.runs[0].extra.count("receptive_field/erf"), 1u);
  EXPECT_EQ(contents.runs[0].extra.count("new_analysis/curve"), 0u);  // unknown to the old prefixes
}

}  // namespace
}  // namespace pebench
