// Seeded fuzzer over a real store (issue: hostile input, class 1). Each mutation copies
// the store, changes it (random bytes, a zeroed block, a truncation, bytes copied from
// elsewhere in the file), and hands it to every reader pebench has, in a child process:
// read_store, compare in all four formats, inspect, the HTML report, merge (of the store alone) and export.
// The child exits 0 (read fine) or 2 (refused with a StoreError or ExportError); a
// signal, any other exception, or a child still running after 10 s is a failure,
// printed with the mutation that caused it so that it can be replayed.
//
//   pebench_store_fuzz STORE WORK_DIR SEED COUNT
//
// Links results/ only: no LibTorch to load, so 400 mutations take seconds, not minutes.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "results/compare.h"
#include "results/export.h"
#include "results/merge.h"
#include "results/report.h"
#include "results/store.h"

namespace fs = std::filesystem;
using namespace pebench;

namespace {

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// One mutation of `bytes`, described for the failure report.
std::string mutate(std::vector<char>& bytes, std::mt19937_64& random) {
  auto position = [&] { return std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(random); };
  const int kind = std::uniform_int_distribution<int>(0, 9)(random);
  if (kind <= 5) {  // a few random bytes: the common damage
    const int count = std::uniform_int_distribution<int>(1, 8)(random);
    std::string what = "bytes";
    for (int i = 0; i < count; ++i) {
      const size_t at = position();
      bytes[at] = static_cast<char>(random());
      what += " " + std::to_string(at);
    }
    return what;
  }
  if (kind <= 7) {  // a zeroed block (a lost disk page)
    const size_t at = position(), length = std::min<size_t>(bytes.size() - at, 1 + random() % 512);
    std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.begin() + static_cast<std::ptrdiff_t>(at + length), 0);
    return "zero " + std::to_string(at) + "+" + std::to_string(length);
  }
  if (kind == 8) {  // truncated
    const size_t length = position();
    bytes.resize(length);
    return "truncate " + std::to_string(length);
  }
  // A block copied over another: plausible structures in the wrong place.
  const size_t from = position(), to = position();
  const size_t length = std::min<size_t>({bytes.size() - from, bytes.size() - to, size_t{1} + random() % 64});
  std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(from), length, bytes.begin() + static_cast<std::ptrdiff_t>(to));
  return "copy " + std::to_string(from) + "->" + std::to_string(to) + "+" + std::to_string(length);
}

// Every reader on `path`, in a child: exits 0 (read) or 2 (refused with one message).
[[noreturn]] void read_everything(const std::string& path, const fs::path& scratch) {
  alarm(10);  // a hang ends as SIGALRM, reported as a failure
  try {
    const StoreContents contents = read_store(path);
    for (const char* format : {"table", "csv", "json", "markdown"}) {
      CompareOptions options;
      options.format = format;
      (void)compare_stores({contents}, options);
    }
    (void)inspect_table(contents);
    ReportOptions report;
    report.store_paths = {path};
    (void)html_report({contents}, report);
    merge_stores({path}, (scratch / "merged.h5").string());
    export_all(path, (scratch / "exported").string());
  } catch (const std::exception& error) {
    // A refusal (StoreError, ExportError) exits 2; anything else is a failure.
    const bool refused = dynamic_cast<const StoreError*>(&error) || dynamic_cast<const ExportError*>(&error);
    if (!refused) std::cerr << "unexpected " << typeid(error).name() << ": " << error.what() << "\n";
    else if (std::getenv("PEBENCH_FUZZ_VERBOSE")) std::cerr << error.what() << "\n";
    _exit(refused ? 2 : 1);
  }
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: pebench_store_fuzz STORE WORK_DIR SEED COUNT\n";
    return 2;
  }
  const std::string good = argv[1];
  const fs::path work = argv[2];
  const uint64_t seed = std::stoull(argv[3]);
  const int count = std::stoi(argv[4]);
  const std::vector<char> original = read_bytes(good);
  if (original.empty()) {
    std::cerr << "pebench_store_fuzz: cannot read " << good << "\n";
    return 2;
  }
  std::mt19937_64 random(seed);
  int failures = 0, refused = 0;
  for (int i = 0; i < count; ++i) {
    std::vector<char> bytes = original;
    const std::string what = mutate(bytes, random);
    const fs::path scratch = work / ("m" + std::to_string(i));
    fs::create_directories(scratch);
    const std::string path = (scratch / "store.h5").string();
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::cout.flush();
    const pid_t child = fork();
    if (child == 0) read_everything(path, scratch);
    int status = 0;
    waitpid(child, &status, 0);
    const bool clean = WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 2);
    if (!clean) {
      ++failures;
      std::cout << "FAIL mutation " << i << " (seed " << seed << "): " << what << ": "
                << (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status)) : "exit " + std::to_string(WEXITSTATUS(status)))
                << "\n";
    } else {
      refused += WEXITSTATUS(status) == 2;
      fs::remove_all(scratch);
    }
  }
  std::cout << "pebench_store_fuzz: seed " << seed << ", " << count << " mutations: " << count - failures - refused
            << " read, " << refused << " refused with one message, " << failures << " crashed or hung" << std::endl;
  return failures ? 1 : 0;
}
