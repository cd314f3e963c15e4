// Small layouts and results for store and merge tests (MPI is set up by test_store.cpp).
#pragma once
#include <filesystem>
#include <string>

#include <mpi.h>

#include "results/store.h"
#include "tests/scratch.h"

namespace pebench {

inline std::string temp_path(const std::string& name) { return scratch_path(name); }

inline RunLayout layout(const std::string& id, const std::string& encoding, int64_t seed) {
  RunLayout l;
  l.run_id = id;
  l.encoding = encoding;
  l.train_seq_len = 16;
  l.seed = seed;
  l.init_gamma = 0.5;
  l.pe_init_std = 0.02;
  l.config = "encoding = " + encoding + "\nseed = " + std::to_string(seed) + "\ntrain.seq_len = 16\n";
  l.params = 1234;
  l.facts = {{"pe_table_rows", 64}};
  l.n_logged = 3;
  l.eval_lengths = {16, 32, 64};
  l.eval_protocol = "nonoverlapping";
  return l;
}

// Results that fill `layout(...)`'s datasets, the eval curve offset by `shift`.
inline RunResults results_of(double shift) {
  RunResults results;
  results.summary = {1.0, 0.5, 0.5, 100.0, 2.0, -1, 0, "node"};
  results.train_step = {1, 2, 3};
  results.train_loss = results.train_lr = {3, 2, 1};
  results.eval_ppl = {5 + shift, 6 + shift, 7 + shift};
  results.eval_tokens = {64, 64, 64};
  results.position_loss.assign(64, 1.5);
  return results;
}

// alibi with seeds 0..2 (ppl@16 = 5, 6, 7), a diverged alibi seed 3, and rope seed 0.
inline StoreContents seeds_store(const std::string& name, const std::string& study_text = "",
                                 const std::string& study_name = "") {
  const std::string path = temp_path(name);
  ParallelStore::create(path, MPI_COMM_WORLD, {study_text, study_name, ""});
  std::vector<RunLayout> layouts;
  for (int seed = 0; seed < 4; ++seed) layouts.push_back(layout("alibi-" + std::to_string(seed), "alibi", seed));
  layouts.push_back(layout("rope-0", "rope", 0));
  ParallelStore store(path, MPI_COMM_WORLD);
  store.add_runs(layouts, true);
  for (int seed = 0; seed < 3; ++seed) {
    store.write_results("alibi-" + std::to_string(seed), results_of(seed));
    store.write_status({"alibi-" + std::to_string(seed), "alibi", 16, seed, "done"});
  }
  store.write_status({"alibi-3", "alibi", 16, 3, "diverged"});
  store.write_results("rope-0", results_of(10));
  store.write_status({"rope-0", "rope", 16, 0, "done"});
  store.close();
  return read_store(path);
}

}  // namespace pebench
