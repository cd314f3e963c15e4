// Synthetic tasks: determinism per seed, the exact structure of every generator, the
// anchor split and held-out pair, and accuracy on hand-made predictions.
#include <gtest/gtest.h>

#include <set>

#include "harness/data.h"
#include "harness/tasks.h"

namespace pebench {
namespace {

TaskSpec task(const std::string& name) {
  TaskSpec spec;
  spec.name = name;
  return spec;
}

// The task's own tokens, no start token: the layout each generator writes.
TaskSpec bare(const std::string& name) {
  TaskSpec spec = task(name);
  spec.start_token = false;
  return spec;
}

TaskBatch sample(const TaskSpec& spec, int64_t batch, int64_t length, uint64_t seed,
                 TaskSplit split = TaskSplit::train, AnchorPairs pairs = AnchorPairs::seen) {
  std::mt19937_64 generator(seed);
  return generate_task(spec, batch, length, generator, split, pairs);
}

TEST(Tasks, SameSeedSameSequencesOtherSeedOthers) {
  for (const auto& name : task_names()) {
    const int64_t length = name == "anchor_composite" ? 9 : 64;
    const auto a = sample(task(name), 8, length, 7), b = sample(task(name), 8, length, 7), c = sample(task(name), 8, length, 8);
    EXPECT_TRUE(torch::equal(a.tokens, b.tokens)) << name;
    EXPECT_TRUE(torch::equal(a.scored, b.scored)) << name;
    EXPECT_FALSE(torch::equal(a.tokens, c.tokens)) << name;
  }
}

// Every task's sequence is its start token, then exactly what the task writes for one
// input fewer (the same draws), and the target after the start token is never scored.
TEST(Tasks, EverySequenceStartsWithTheStartTokenBeforeTheTasksOwnTokens) {
  for (const auto& name : task_names()) {
    const int64_t length = name == "anchor_composite" ? 9 : 64;
    const auto with = sample(task(name), 8, length, 7), without = sample(bare(name), 8, length - 1, 7);
    const int64_t start = bare(name).vocab_size();
    EXPECT_EQ(task(name).vocab_size(), start + 1) << name;
    EXPECT_EQ(task(name).shortest_length(), bare(name).shortest_length() + 1) << name;
    EXPECT_TRUE(with.tokens.select(1, 0).eq(start).all().item<bool>()) << name;
    EXPECT_TRUE(torch::equal(with.tokens.slice(1, 1), without.tokens)) << name;
    EXPECT_FALSE(with.scored.select(1, 0).any().item<bool>()) << name;
    EXPECT_TRUE(torch::equal(with.scored.slice(1, 1), without.scored)) << name;
    EXPECT_TRUE(torch::equal(with.targets.slice(1, 1), without.targets)) << name;
  }
}

// Training copies vary in length, so the copy's offset is no fixed shift; eval copies are
// the longest that fit. Pads follow the copy and are never scored.
TEST(Tasks, CopyLengthsVaryInTrainingAndAreTheLongestAtEval) {
  const auto spec = bare("copy");  // the copy's own layout
  for (int64_t length : {16, 17}) {
    for (auto split : {TaskSplit::train, TaskSplit::test}) {
      const auto batch = sample(spec, 200, length, 1, split);
      const auto tokens = batch.tokens.accessor<int64_t, 2>();
      const auto scored = batch.scored.accessor<bool, 2>();
      std::set<int64_t> copy_lengths;
      for (int64_t b = 0; b < 200; ++b) {
        int64_t k = 0;
        while (tokens[b][k] != spec.symbols) ASSERT_LT(tokens[b][k++], spec.symbols);  // up to the separator
        copy_lengths.insert(k);
        ASSERT_GE(k, 1);
        ASSERT_LE(2 * k, length);
        for (int64_t i = 0; i < k; ++i) EXPECT_EQ(tokens[b][k + 1 + i], tokens[b][i]);
        for (int64_t t = 2 * k + 1; t <= length; ++t) EXPECT_EQ(tokens[b][t], spec.symbols + 1);  // pads
        for (int64_t t = 0; t < length; ++t) EXPECT_EQ(scored[b][t], t + 1 > k && t + 1 <= 2 * k) << t;
      }
      if (split == TaskSplit::test) {
        EXPECT_EQ(copy_lengths, std::set<int64_t>{length / 2});
      } else {
        EXPECT_EQ(copy_lengths.size(), static_cast<size_t>(length / 2));  // every k in 1..n/2 drawn
      }
    }
  }
  EXPECT_EQ(spec.vocab_size(), 18);
  EXPECT_EQ(task("copy").vocab_size(), 19);  // + the start token
}

// data.copy_lengths = longest without a start token is pebench 0.1's copy: the first half
// after one pad for odd lengths, the same symbols after the separator.
TEST(Tasks, LongestCopiesWithoutStartTokenAreTheOldFixedOffsetTask) {
  auto spec = bare("copy");
  spec.copy_lengths = "longest";
  for (int64_t length : {16, 17}) {  // an odd length starts with one pad
    const auto batch = sample(spec, 4, length, 1);
    const auto tokens = batch.tokens.accessor<int64_t, 2>();
    const auto scored = batch.scored.accessor<bool, 2>();
    const int64_t half = length / 2, padding = length - 2 * half;
    for (int64_t b = 0; b < 4; ++b) {
      if (padding) {
        EXPECT_EQ(tokens[b][0], spec.symbols + 1);
      }
      EXPECT_EQ(tokens[b][padding + half], spec.symbols);  // the separator
      for (int64_t i = 0; i < half; ++i) {
        EXPECT_LT(tokens[b][padding + i], spec.symbols);
        EXPECT_EQ(tokens[b][padding + half + 1 + i], tokens[b][padding + i]);
      }
      // Target t + 1 is scored exactly when it is a copied symbol.
      for (int64_t t = 0; t < length; ++t) EXPECT_EQ(scored[b][t], t + 1 > padding + half) << t;
    }
  }
}

TEST(Tasks, AssociativeRecallAnswersWithTheQueriedKeysValue) {
  auto spec = bare("associative_recall");
  spec.symbols = 8;
  const int64_t length = 32;
  const auto batch = sample(spec, 16, length, 3);
  const auto tokens = batch.tokens.accessor<int64_t, 2>();
  for (int64_t b = 0; b < 16; ++b) {
    std::map<int64_t, int64_t> value_of;
    for (int64_t i = 0; i + 1 < length - 2; i += 2) {  // (key, value) pairs; a key keeps its value
      ASSERT_LT(tokens[b][i], 8);
      ASSERT_GE(tokens[b][i + 1], 8);
      if (value_of.count(tokens[b][i])) {
        EXPECT_EQ(value_of[tokens[b][i]], tokens[b][i + 1]);
      }
      value_of[tokens[b][i]] = tokens[b][i + 1];
    }
    EXPECT_EQ(tokens[b][length - 2], 16);  // separator
    ASSERT_TRUE(value_of.count(tokens[b][length - 1]));
    EXPECT_EQ(tokens[b][length], value_of[tokens[b][length - 1]]);
  }
  EXPECT_EQ(batch.scored.sum().item<int64_t>(), 16);  // one per sequence: the last target
  EXPECT_TRUE(batch.scored.select(1, length - 1).all().item<bool>());
}

// Wang & E's form: random inputs, and a separate target sequence read from fixed lags;
// each lag alone informs the target (pebench before issue 17 had x_t = sum mod S as the
// next token, where no single lag does).
TEST(Tasks, SparseMemoryTargetsAreTheSumOfTheLaggedInputs) {
  auto spec = bare("sparse_memory");
  spec.symbols = 10;
  spec.lags = {2, 5};
  const int64_t length = 24;
  const auto batch = sample(spec, 64, length, 5);
  const auto tokens = batch.tokens.accessor<int64_t, 2>();
  const auto targets = batch.targets.accessor<int64_t, 2>();
  const auto scored = batch.scored.accessor<bool, 2>();
  for (int64_t b = 0; b < 64; ++b)
    for (int64_t t = 0; t < length; ++t) {
      EXPECT_LT(tokens[b][t], 10);
      EXPECT_EQ(scored[b][t], t >= 5) << t;  // every lag inside the window
      if (t >= 5) {
        EXPECT_EQ(targets[b][t], tokens[b][t - 2] + tokens[b][t - 5]) << t;
      }
    }
  EXPECT_EQ(spec.vocab_size(), 19);  // targets 0..18
  // One lag informs the target: its mean rises with x_{t-2}.
  auto lagged = batch.tokens.slice(1, 3, length - 2).to(torch::kDouble).reshape({-1});
  auto target = batch.targets.slice(1, 5, length).to(torch::kDouble).reshape({-1});
  const double low = target.masked_select(lagged < 5).mean().item<double>();
  const double high = target.masked_select(lagged >= 5).mean().item<double>();
  EXPECT_GT(high - low, 4.0);  // 5 on average: E[x | x >= 5] - E[x | x < 5]
}

// Tasks without their own targets predict the next token.
TEST(Tasks, TargetsAreTheNextTokensUnlessTheTaskSetsThem) {
  const auto batch = sample(task("copy"), 8, 32, 3);
  EXPECT_TRUE(torch::equal(batch.targets, batch.tokens.slice(1, 1)));
}

TEST(Tasks, AnchorMapsAndTheirComposition) {
  EXPECT_EQ(anchor_target(50, 1, 1), 60);  // +5 +5
  EXPECT_EQ(anchor_target(50, 2, 4), 43);  // +1 -8
  EXPECT_EQ(anchor_target(50, 4, 3), 40);  // -8 -2: the inferential answer of the held-out pair
  EXPECT_EQ(anchor_target(50, 3, 4), 44);  // trained on x - 6, not x - 10
}

TEST(Tasks, AnchorSequencesHoldOneAdjacentPairAndRespectTheSplit) {
  const auto spec = bare("anchor_composite");
  for (int64_t length : {9, 16}) {
    for (auto split : {TaskSplit::train, TaskSplit::test}) {
      const auto batch = sample(spec, 400, length, 11, split);
      const auto tokens = batch.tokens.accessor<int64_t, 2>();
      std::set<std::pair<int64_t, int64_t>> pairs;
      for (int64_t b = 0; b < 400; ++b) {
        const int64_t p = batch.key_position[b], x = batch.key_item[b];
        std::vector<int64_t> anchors;
        for (int64_t t = 0; t < length; ++t)
          if (tokens[b][t] <= 4) anchors.push_back(t);
          else EXPECT_TRUE(tokens[b][t] >= 20 && tokens[b][t] <= 99);
        ASSERT_EQ(anchors, (std::vector<int64_t>{p + 1, p + 2}));  // exactly one adjacent pair, after the key
        EXPECT_EQ(tokens[b][p], x);
        EXPECT_EQ(tokens[b][length], anchor_target(x, tokens[b][p + 1], tokens[b][p + 2]));
        EXPECT_EQ(x % (length - 2) == p, split == TaskSplit::test) << x << " at " << p;
        pairs.insert({tokens[b][p + 1], tokens[b][p + 2]});
      }
      EXPECT_EQ(pairs.size(), 15u);  // every pair but the held-out one
      EXPECT_FALSE(pairs.count({4, 3}));
      EXPECT_EQ(batch.scored.sum().item<int64_t>(), 400);
      EXPECT_TRUE(batch.scored.select(1, length - 1).all().item<bool>());
    }
  }
  const auto held_out = sample(spec, 50, 9, 2, TaskSplit::test, AnchorPairs::held_out);
  for (int64_t b = 0; b < 50; ++b) {
    EXPECT_EQ(held_out.first_anchor[b], 4);
    EXPECT_EQ(held_out.second_anchor[b], 3);
  }
}

TEST(Tasks, TrainingSamplerNeverShowsTheHeldOutPair) {
  BatchSampler sampler(bare("anchor_composite"), 64, 9, 1);
  for (int step = 0; step < 50; ++step) {
    const auto tokens = sampler.next();
    for (int64_t b = 0; b < 64; ++b) {
      std::vector<int64_t> row(tokens[b].data_ptr<int64_t>(), tokens[b].data_ptr<int64_t>() + 9);
      for (int64_t t = 0; t + 1 < 9; ++t) EXPECT_FALSE(row[t] == 4 && row[t + 1] == 3);
    }
    EXPECT_EQ(sampler.scored().sum().item<int64_t>(), 64);
  }
}

TEST(Tasks, ExactMatchAccuracyCountsScoredPositionsOnly) {
  const auto predictions = torch::tensor({1, 2, 3, 4, 5, 6}, torch::kLong).view({2, 3});
  const auto targets = torch::tensor({1, 0, 3, 4, 5, 0}, torch::kLong).view({2, 3});
  const auto scored = torch::tensor({1, 1, 0, 0, 1, 1}, torch::kLong).view({2, 3}).to(torch::kBool);
  // Scored: (0,0) right, (0,1) wrong, (1,1) right, (1,2) wrong; the unscored (0,2), (1,0) are right but do not count.
  const auto matches = exact_matches(predictions, targets, scored);
  EXPECT_EQ(matches.correct, 2);
  EXPECT_EQ(matches.scored, 4);
  EXPECT_DOUBLE_EQ(matches.accuracy(), 0.5);
  EXPECT_TRUE(std::isnan(exact_matches(predictions, targets, torch::zeros_like(scored)).accuracy()));
}

TEST(Tasks, TaskCorpusHoldsTestSequencesOfTheLongestLength) {
  const Corpus corpus = task_corpus(task("copy"), 8, 20);
  ASSERT_EQ(corpus.heldout.size(), 24u);  // 3 sequences of 8 input tokens
  EXPECT_TRUE(corpus.train.empty());
  EXPECT_EQ(corpus.vocab_size, 19);
  for (size_t s = 0; s < 3; ++s) {  // start, x1 x2 x3, separator, x1 x2 x3 (the longest copy of 7 inputs)
    EXPECT_EQ(corpus.heldout[s * 8], 18);
    EXPECT_EQ(corpus.heldout[s * 8 + 4], 16);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(corpus.heldout[s * 8 + 5 + i], corpus.heldout[s * 8 + 1 + i]);
  }
}

}  // namespace
}  // namespace pebench
