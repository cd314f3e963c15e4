// A folder of this test process's own, removed when the process ends. ctest runs every
// test as a process of its own, two at a time in CI, and two tests writing one temp file
// let one read it empty ("corpus is empty", 2026-12-01); files named per test but not per
// process were left in /tmp by every run of the suite (stores, corpora, checkpoints).
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

namespace pebench {

inline const std::filesystem::path& scratch_folder() {
  struct Folder {
    std::filesystem::path path;
    explicit Folder(std::filesystem::path where) : path(std::move(where)) {
      std::filesystem::remove_all(path);
      std::filesystem::create_directories(path);
    }
    ~Folder() {
      std::error_code ignored;  // a test that left a file open must not turn exit into a crash
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Folder folder(std::filesystem::temp_directory_path() / ("pebench-test-" + std::to_string(::getpid())));
  return folder.path;
}

// NAME in the scratch folder, nothing there yet.
inline std::string scratch_path(const std::string& name) {
  const auto path = scratch_folder() / name;
  std::filesystem::remove_all(path);
  return path.string();
}

}  // namespace pebench
