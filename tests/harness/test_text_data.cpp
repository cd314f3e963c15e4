// Text corpora the way papers use them (issue: BPE, bits per byte, splits, passkey):
// tokenizers, their cache, documents, bits per byte and passkey prompts and scoring.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <functional>
#include <set>
#include <filesystem>
#include <fstream>

#include "harness/data.h"
#include "harness/evaluate.h"
#include "harness/passkey.h"
#include "harness/study.h"
#include "harness/tokenizer.h"
#include "results/compare.h"
#include "tests/scratch.h"

namespace pebench {
namespace {
namespace fs = std::filesystem;

fs::path fresh_folder(const std::string& name) {
  const fs::path folder = scratch_path(name);
  fs::create_directories(folder);
  return folder;
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Shakespeare when ../shared is there (tests may read it), else generated English-like text.
std::string some_text() {
  std::ifstream file(std::string(PEBENCH_SOURCE_DIR) + "/../shared/data/tinyshakespeare.txt", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (text.size() > 200000) return text.substr(0, 200000);
  for (int i = 0; text.size() < 200000; ++i)
    text += "The " + std::to_string(i % 97) + " quick brown foxes jump over the lazy dog, said she.\n";
  return text;
}

const Tokenizer& bpe_512() {
  static const Tokenizer tokenizer = make_tokenizer("bpe:512", {some_text()}, "t.ini: [data] tokenizer");
  return tokenizer;
}

TEST(Tokenizer, BpeRoundTripsEveryByteAndKeepsIdsInTheVocabulary) {
  const Tokenizer& tokenizer = bpe_512();
  EXPECT_EQ(tokenizer.vocab_size(), 512);
  // Spaces at line starts, tabs, control bytes, Unicode never seen in training, no final newline.
  const std::string text = "  leading spaces\n\tTab\x01\x7f and \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80 caf\xC3\xA9\n\n12345 end";
  const auto tokens = tokenizer.encode(text);
  EXPECT_EQ(tokenizer.decode(tokens), text);
  for (uint16_t token : tokens) EXPECT_LT(token, tokenizer.vocab_size());
  // It compresses: fewer tokens than bytes on text like its training text.
  const std::string english = some_text().substr(100000, 20000);
  const auto encoded = tokenizer.encode(english);
  EXPECT_LT(encoded.size(), english.size() * 2 / 3);
  EXPECT_EQ(tokenizer.decode(encoded), english);
  // The bytes each token stands for add up to the text's bytes.
  double bytes = 0;
  for (uint16_t token : encoded) bytes += tokenizer.token_bytes()[token];
  EXPECT_EQ(bytes, static_cast<double>(english.size()));
  // Digits are one token each (a passkey's digits score one by one).
  EXPECT_EQ(tokenizer.encode("90210").size(), 5u);
}

TEST(Tokenizer, TheSameTextAndSettingsGiveTheSameModel) {
  const Tokenizer again = make_tokenizer("bpe:512", {some_text()}, "t.ini");
  EXPECT_EQ(again.hash(), bpe_512().hash());
  const Tokenizer unigram = make_tokenizer("unigram:512", {some_text()}, "t.ini");
  EXPECT_NE(unigram.hash(), bpe_512().hash());
  const std::string text = "a unigram model round-trips too: \xC3\xA9\x02\n";
  EXPECT_EQ(unigram.decode(unigram.encode(text)), text);
}

TEST(Tokenizer, BadTokenizersAreUserErrorsNamingTheKey) {
  auto message = [](const std::function<void()>& action) -> std::string {
    try {
      action();
    } catch (const UserError& error) {
      return error.what();
    }
    return "";
  };
  // More pieces than a 3 KB corpus has: SentencePiece's own limit, in one line.
  const std::string small = message([] { make_tokenizer("bpe:8192", {some_text().substr(0, 3000)}, "s.ini: [data] tokenizer"); });
  EXPECT_NE(small.find("s.ini: [data] tokenizer = \"bpe:8192\""), std::string::npos) << small;
  EXPECT_NE(small.find("Vocabulary size too high"), std::string::npos) << small;
  EXPECT_EQ(small.find('\n'), std::string::npos);
  const auto folder = fresh_folder("bad_model");
  write(folder / "x.model", "not a model");
  EXPECT_NE(message([&] { make_tokenizer("spm:" + (folder / "x.model").string(), {}, "s.ini: [data] tokenizer"); })
                .find("not a SentencePiece model"),
            std::string::npos);
  EXPECT_NE(message([] { make_tokenizer("spm:/nonexistent.model", {}, "s.ini: [data] tokenizer"); }).find("s.ini: [data] tokenizer"),
            std::string::npos);
  for (const char* bad : {"bpe:100", "bpe:70000", "wordpiece:512", "bpe:x", "spm:"}) {
    const std::string text = message([&] { parse_study("s.ini", std::string("[data]\ntokenizer = ") + bad + "\n", {}); });
    EXPECT_NE(text.find("s.ini: [data] tokenizer = \"" + std::string(bad) + "\": expected bytes | bpe:N"), std::string::npos) << text;
  }
}

DataOptions text_data(const std::string& source, const std::string& tokenizer) {
  DataOptions data;
  data.source = source;
  data.tokenizer = tokenizer;
  data.eval_source = "none";
  data.documents = "eod";
  data.holdout = 0.1;
  data.vocab_size = 256;
  return data;
}

TEST(Corpus, TrainedTokenizersAndTokensAreCachedByContent) {
  const auto folder = fresh_folder("cache");
  write(folder / "corpus.txt", some_text());
  const auto cache = folder / "pebench-cache";
  const DataOptions data = text_data("text:" + (folder / "corpus.txt").string(), "bpe:400");
  const Corpus first = load_corpus(data, cache.string(), "c.ini");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(cache)) files.push_back(entry.path());
  ASSERT_EQ(files.size(), 2u);  // the model and the tokens
  std::map<fs::path, fs::file_time_type> written;
  for (const auto& file : files) written[file] = fs::last_write_time(file);
  // Reused: the same model and tokens, no file rewritten.
  const Corpus second = load_corpus(data, cache.string(), "c.ini");
  EXPECT_EQ(second.tokenizer->hash(), first.tokenizer->hash());
  EXPECT_EQ(second.train, first.train);
  EXPECT_EQ(second.heldout, first.heldout);
  EXPECT_EQ(second.identity, first.identity);
  for (const auto& file : files) EXPECT_EQ(fs::last_write_time(file), written[file]);
  // The tokens decode to the text: train split then held-out split, documents as they were.
  const std::string text = some_text();
  EXPECT_EQ(first.tokenizer->decode(first.train) + first.tokenizer->decode(first.heldout), text);
  // Invalidated by content: another corpus text trains another model.
  write(folder / "corpus.txt", some_text().substr(1000));
  const Corpus changed = load_corpus(data, cache.string(), "c.ini");
  EXPECT_NE(changed.tokenizer->hash(), first.tokenizer->hash());
  EXPECT_NE(changed.identity, first.identity);
  EXPECT_EQ(std::distance(fs::directory_iterator(cache), fs::directory_iterator()), 4);
  // A damaged cache entry is made again, not read.
  for (const auto& file : files) write(file, "damaged");
  write(folder / "corpus.txt", some_text());
  const Corpus rebuilt = load_corpus(data, cache.string(), "c.ini");
  EXPECT_EQ(rebuilt.tokenizer->hash(), first.tokenizer->hash());
  EXPECT_EQ(rebuilt.train, first.train);
}

TEST(Corpus, AFolderIsDocumentsWithAnEndOfDocumentTokenBetween) {
  const auto folder = fresh_folder("documents");
  fs::create_directories(folder / "docs" / "sub");
  write(folder / "docs" / "a.txt", "first document\n");
  write(folder / "docs" / "sub" / "c.txt", "third");
  write(folder / "docs" / "b.txt", "second");
  DataOptions data = text_data("text:" + (folder / "docs").string(), "bytes");
  data.holdout = 0.2;
  const Corpus corpus = load_corpus(data, "", "d.ini");
  std::vector<uint16_t> all(corpus.train);
  all.insert(all.end(), corpus.heldout.begin(), corpus.heldout.end());
  // In path order (b.txt < sub/c.txt), byte 0 between documents, none after the last.
  const std::string expected = std::string("first document\n") + '\0' + "second" + '\0' + "third";
  EXPECT_EQ(std::string(all.begin(), all.end()), expected);
  EXPECT_EQ(corpus.heldout.size(), expected.size() / 5);
  data.documents = "joined";
  const Corpus joined = load_corpus(data, "", "d.ini");
  EXPECT_EQ(joined.train.size() + joined.heldout.size(), expected.size() - 2);
  // The embedded corpus is documents too: one NUL fewer than it has files.
  const Corpus embedded = load_corpus(text_data("text:embedded", "bytes"), "", "e.ini");
  const auto nuls = std::count(embedded.train.begin(), embedded.train.end(), 0) +
                    std::count(embedded.heldout.begin(), embedded.heldout.end(), 0);
  EXPECT_EQ(nuls, static_cast<int64_t>(embedded_documents().size()) - 1);
}

TEST(Corpus, AnEvalSourceIsTheHeldOutSplitWhole) {
  const auto folder = fresh_folder("eval_source");
  write(folder / "train.txt", "abcdefghij");
  write(folder / "test.txt", "XYZ");
  DataOptions data = text_data("text:" + (folder / "train.txt").string(), "bytes");
  data.eval_source = "text:" + (folder / "test.txt").string();
  const Corpus corpus = load_corpus(data, "", "e.ini");
  EXPECT_EQ(std::string(corpus.train.begin(), corpus.train.end()), "abcdefghij");
  EXPECT_EQ(std::string(corpus.heldout.begin(), corpus.heldout.end()), "XYZ");
  EXPECT_NE(corpus.identity.find(" eval=bytes=3 "), std::string::npos);
  data.eval_source = "text:" + (folder / "missing.txt").string();
  try {
    load_corpus(data, "", "e.ini");
    FAIL() << "a missing eval_source loaded";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("missing.txt' not found"), std::string::npos) << error.what();
  }
}

std::string run_id(const std::string& extra) {
  return parse_study("r.ini", "[data]\nsource = text:" + std::string(PEBENCH_SOURCE_DIR) + "/README.md\n" + extra, {})
      .runs.front()
      .run_id;
}

TEST(Study, TokenizerSettingsArePartOfTheRunIdBytesIsNot) {
  const std::string bytes = run_id("");
  EXPECT_EQ(run_id("tokenizer = bytes\n"), bytes);  // left out at its default: older stores keep their ids
  const std::set<std::string> ids = {bytes, run_id("tokenizer = bpe:512\n"), run_id("tokenizer = bpe:1024\n"),
                                     run_id("tokenizer = unigram:512\n"), run_id("eval_source = text:x.txt\n"),
                                     run_id("passkey_mix = 0.1\n"), run_id("[eval]\npasskey = true\n")};
  EXPECT_EQ(ids.size(), 7u);
  // Passkey depths and trials count only with the passkey on.
  EXPECT_EQ(run_id("[eval]\npasskey_trials = 3\n"), bytes);
  EXPECT_NE(run_id("[eval]\npasskey = true\npasskey_trials = 3\n"), run_id("[eval]\npasskey = true\n"));
  // data.documents counts for sources of several documents only: not for this one file,
  // but for a folder and for the embedded corpus.
  EXPECT_EQ(run_id("documents = joined\n"), bytes);
  for (const std::string& source : {"text:" + std::string(PEBENCH_SOURCE_DIR) + "/jobs", std::string("text:embedded")}) {
    auto id = [&](const std::string& extra) {
      return parse_study("r.ini", "[data]\nsource = " + source + "\n" + extra, {}).runs.front().run_id;
    };
    EXPECT_NE(id("documents = joined\n"), id(""));
    EXPECT_EQ(id("documents = eod\n"), id(""));
  }
  // bpe:N sets the vocabulary.
  auto run = parse_study("r.ini", "[data]\nsource = text:x\ntokenizer = bpe:1000\n", {}).runs.front();
  EXPECT_EQ(run.vocab_size(), 1000);
}

TEST(BitsPerByte, IsNatsPerTokenOverLn2TimesTokensPerByte) {
  // A hand example: loss 2 nats/token (ppl e^2) over 10 tokens holding 25 bytes:
  // 2 / ln 2 · 10 / 25 = 1.15416 bits per byte.
  StoredRun run;
  run.eval_tokens = {10, 10};
  run.extra["eval/bytes"] = {25, 10};
  const auto bpb = bits_per_byte(run, {std::exp(2.0), std::exp(2.0)});
  EXPECT_NEAR(bpb[0], 2 / std::log(2.0) * 10 / 25, 1e-12);
  EXPECT_NEAR(bpb[0], 1.154156, 1e-6);
  EXPECT_NEAR(bpb[1], 2 / std::log(2.0), 1e-12);  // one byte per token: log2(ppl)
  run.extra.clear();
  EXPECT_TRUE(std::isnan(bits_per_byte(run, {std::exp(2.0), 1.0})[0]));  // no bytes recorded: none
}

TEST(Passkey, TheNeedleSitsAtEveryDepthAndTheAnswerEndsTheWindow) {
  const Tokenizer bytes;
  std::vector<uint16_t> filler(5000);
  for (size_t i = 0; i < filler.size(); ++i) filler[i] = static_cast<uint16_t>('a' + i % 26);
  const int64_t length = 200;
  const auto depths = passkey_depths(5);
  EXPECT_EQ(depths, (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  const int64_t fixed = passkey_overhead(bytes);  // " the pass key is " + 5 + ". " + " what is the pass key? " + 5
  EXPECT_EQ(fixed, 17 + 5 + 2 + 23 + 5);
  const int64_t filler_length = length + 1 - fixed;
  int64_t previous_distance = length + 1;
  for (double depth : depths) {
    std::mt19937_64 generator(7);
    const PasskeyPrompt prompt = passkey_prompt(bytes, filler, length, depth, generator);
    ASSERT_EQ(static_cast<int64_t>(prompt.tokens.size()), length + 1);
    const std::string text(prompt.tokens.begin(), prompt.tokens.end());
    const int64_t needle = static_cast<int64_t>(std::llround(depth * static_cast<double>(filler_length)));
    EXPECT_EQ(text.substr(needle, 17), " the pass key is ") << depth;
    EXPECT_EQ(prompt.needle_digits, needle + 17);
    const std::string key = text.substr(prompt.needle_digits, 5);
    EXPECT_EQ(key.find_first_not_of("0123456789"), std::string::npos);
    EXPECT_EQ(text.substr(text.size() - 28), " what is the pass key? " + key);
    EXPECT_EQ(prompt.answer_start, length + 1 - 5);
    EXPECT_EQ(prompt.answer_length, 5);
    EXPECT_LT(prompt.distance(), previous_distance);  // deeper needles are nearer the question
    previous_distance = prompt.distance();
  }
  EXPECT_EQ(previous_distance, 5 + 2 + 23);  // depth 1: right before the question
  std::mt19937_64 generator(7);
  EXPECT_THROW(passkey_prompt(bytes, filler, fixed - 2, 0.5, generator), std::invalid_argument);
}

TEST(Passkey, ScoresTheAnswersDigitsUnderTeacherForcing) {
  const Tokenizer bytes;
  std::vector<uint16_t> filler(1000, 'x');
  std::mt19937_64 generator(3);
  const int64_t length = 80;
  const PasskeyPrompt prompt = passkey_prompt(bytes, filler, length, 0.5, generator);
  // A hand-made output: the right digit at 3 of the 5 answer positions, a wrong one at 2.
  auto logits = torch::zeros({1, length, 256});
  for (int64_t k = 0; k < 5; ++k) {
    const int64_t position = prompt.answer_start - 1 + k;  // predicts token answer_start + k
    const int64_t digit = prompt.tokens[prompt.answer_start + k];
    logits[0][position][k < 3 ? digit : (digit == '0' ? '1' : '0')] = 5.0;
  }
  EXPECT_EQ(passkey_matches(logits, {prompt}), 3);
  // Elsewhere the output does not count.
  logits[0][0]['q'] = 9.0;
  EXPECT_EQ(passkey_matches(logits, {prompt}), 3);
  // max distance: the farthest cell at >= 0.9.
  EXPECT_EQ(passkey_max_distance({1.0, 0.95, 0.5, 0.9}, {10, 20, 30, 15}), 20);
  EXPECT_EQ(passkey_max_distance({0.2, 0.5}, {10, 20}), 0);
}

}  // namespace
}  // namespace pebench
