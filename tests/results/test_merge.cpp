// pebench merge: shards of one study into one store, checked by reading it back.
#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>

#include "results/merge.h"
#include "results/store.h"
#include "tests/results/store_fixtures.h"

namespace pebench {
namespace {

// A store with `layouts`; the runs named in `done` are finished with results_of(shift).
std::string shard(const std::string& name, const std::vector<RunLayout>& layouts,
                  const std::vector<std::string>& done, double shift = 0) {
  const std::string path = temp_path(name);
  ParallelStore::create(path, MPI_COMM_WORLD, {"[study]\nname = merge\n", "", ""});
  ParallelStore store(path, MPI_COMM_WORLD);
  store.add_runs(layouts, true);
  for (const auto& layout : layouts)
    for (const auto& id : done)
      if (layout.run_id == id) {
        RunResults results = results_of(shift);
        results.summary.wall_seconds = 10 + shift + static_cast<double>(path.size());  // timings always differ
        results.compute = "cpu attention=explicit in " + path;  // and so may how a copy was computed
        store.write_results(id, results);
        store.write_status({id, layout.encoding, layout.train_seq_len, layout.seed, "done"});
      }
  store.close();
  return path;
}

TEST(Merge, ShardsBecomeOneStoreFinishedCopiesWinIdenticalDuplicatesAreAccepted) {
  const auto a = layout("alibi-1", "alibi", 0), b = layout("rope-1", "rope", 0), c = layout("t5-1", "t5", 0);
  // Shard 0 did alibi; shard 1 did rope and holds alibi's identical copy; a third,
  // older shard has rope still pending and t5 done.
  const std::string first = shard("m0.h5", {a}, {"alibi-1"});
  const std::string second = shard("m1.h5", {a, b}, {"alibi-1", "rope-1"});
  const std::string third = shard("m2.h5", {b, c}, {"t5-1"});
  const std::string output = temp_path("merged.h5");
  const MergeSummary summary = merge_stores({first, third, second}, output);
  EXPECT_EQ(summary.runs, 3);
  EXPECT_EQ(summary.duplicates, 2);
  EXPECT_FALSE(std::filesystem::exists(output + ".partial"));

  const StoreContents merged = read_store(output);
  EXPECT_EQ(merged.study_text, "[study]\nname = merge\n");
  ASSERT_EQ(merged.runs.size(), 3u);
  EXPECT_EQ(merged.runs[0].row.run_id, "alibi-1");
  EXPECT_EQ(merged.runs[0].compute, "cpu attention=explicit in " + first);  // the first copy's
  EXPECT_EQ(merged.runs[1].row.run_id, "rope-1");  // first seen pending in the third shard...
  EXPECT_EQ(merged.runs[1].row.status, "done");    // ...taken finished from the second
  EXPECT_EQ(merged.runs[2].row.run_id, "t5-1");
  for (const auto& run : merged.runs) {
    EXPECT_EQ(run.row.status, "done");
    EXPECT_EQ(run.eval_ppl, results_of(0).eval_ppl);
    EXPECT_EQ(run.eval_lengths, (std::vector<int64_t>{16, 32, 64}));
    EXPECT_EQ(run.config, layout(run.row.run_id, run.row.encoding, 0).config);
  }
  // A merged store is an ordinary store: a study can go on in it.
  {
    ParallelStore store(output, MPI_COMM_WORLD);
    store.add_runs({layout("kerple-1", "kerple_log", 0)}, true);
    store.close();
  }
  EXPECT_EQ(read_index(output).size(), 4u);
}

TEST(Merge, ConflictingFinishedDuplicatesAreRefusedAndNothingIsWritten) {
  const auto a = layout("alibi-1", "alibi", 0);
  const std::string first = shard("c0.h5", {a}, {"alibi-1"}, 0.0);
  const std::string second = shard("c1.h5", {a}, {"alibi-1"}, 0.5);
  const std::string output = temp_path("conflict.h5");
  try {
    merge_stores({first, second}, output);
    FAIL() << "merged conflicting copies";
  } catch (const StoreError& error) {
    EXPECT_NE(std::string(error.what()).find("run alibi-1 is finished in both"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("different eval/ppl"), std::string::npos) << error.what();
    // Each copy's compute string, the likeliest reason for last-digit differences.
    EXPECT_NE(std::string(error.what()).find("computed as 'cpu attention=explicit in " + first + "' and as 'cpu attention=explicit in " + second + "'"),
              std::string::npos)
        << error.what();
  }
  EXPECT_FALSE(std::filesystem::exists(output));
  EXPECT_FALSE(std::filesystem::exists(output + ".partial"));
}

}  // namespace
}  // namespace pebench
