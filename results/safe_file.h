// Files written safely against what a hostile folder may hold: a temporary file is never
// followed through a symlink someone left at its name, a final target is renamed over only
// when it is a regular file (or absent), and a device or FIFO the user names (-o /dev/null)
// is written into, never replaced. Used by every writer of a `.partial`.
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace pebench {

struct FileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class TargetKind { absent, regular, special, other };  // special: device, FIFO, socket

inline TargetKind target_kind(const std::string& path) {
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0) return TargetKind::absent;
  if (S_ISREG(info.st_mode)) return TargetKind::regular;
  if (S_ISCHR(info.st_mode) || S_ISBLK(info.st_mode) || S_ISFIFO(info.st_mode) || S_ISSOCK(info.st_mode))
    return TargetKind::special;
  return TargetKind::other;  // a symlink or a folder
}

// Makes `path` a new, empty regular file of this process: whatever was there (a stale
// partial, or a symlink someone left) is unlinked, never followed, and the file is created
// with O_EXCL | O_NOFOLLOW, so a link made in between makes this fail rather than write through it.
inline void create_exclusively(const std::string& path) {
  const TargetKind kind = target_kind(path);
  // A file or a symlink is unlinked (the link itself, not what it names); a folder fails to.
  if (kind == TargetKind::special || (kind != TargetKind::absent && unlink(path.c_str()) != 0))
    throw FileError("'" + path + "' exists and is not a file pebench may replace");
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0) throw FileError("cannot create '" + path + "': " + std::strerror(errno));
  close(fd);
}

// Where a whole-file write to `target` goes first: `target.partial`, made exclusively; ""
// when the target is a device or FIFO, which is written directly. A symlink or folder at
// the target is refused (rename would replace the link, not what it points to).
inline std::string partial_for(const std::string& target) {
  const TargetKind kind = target_kind(target);
  if (kind == TargetKind::special) return "";
  if (kind == TargetKind::other)
    throw FileError("'" + target + "' is a symlink or a folder; name a regular file (or a device) to write");
  const std::string partial = target + ".partial";
  create_exclusively(partial);
  return partial;
}

// Writes `bytes` as the whole of `target`: into `target.partial` (partial_for), checked at
// every write, fsync and close, then renamed over it; a device or FIFO is written into
// directly. On any failure (a full disk: ENOSPC) the partial is removed and FileError
// says why, in one line: nothing half-written is left under either name.
inline void write_file_safely(const std::string& target, const std::string& bytes, bool executable = false) {
  const std::string partial = partial_for(target);
  const std::string written = partial.empty() ? target : partial;
  auto failed = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    if (!partial.empty()) unlink(partial.c_str());
    return FileError("cannot " + what + " '" + target + "': " + reason);
  };
  const int fd = open(written.c_str(), O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw failed("open");
  auto abandon = [&](const std::string& what) {  // the reason first: close may change errno
    const FileError error = failed(what);
    close(fd);
    return error;
  };
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t wrote = write(fd, bytes.data() + done, bytes.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote == 0) errno = ENOSPC;
    if (wrote <= 0) throw abandon("write");
    done += static_cast<size_t>(wrote);
  }
  struct stat info {};
  if (executable && !partial.empty() && (fstat(fd, &info) != 0 || fchmod(fd, info.st_mode | S_IXUSR | S_IXGRP) != 0))
    throw abandon("chmod");
  // fsync: a crash after the rename must not leave the new name with no data (ext4, xfs).
  if (!partial.empty() && fsync(fd) != 0) throw abandon("write");
  if (close(fd) != 0) throw failed("write");
  if (!partial.empty() && rename(partial.c_str(), target.c_str()) != 0) throw failed("rename onto");
}

// The text of a small input file (a study, a template): only a regular file, only up to
// `limit` bytes, so a folder, a FIFO (which would block) or /dev/zero (which never ends)
// is refused with a reason instead of hanging or filling memory.
inline std::string read_small_file(const std::string& path, size_t limit) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) throw FileError("not found or not readable");
  if (S_ISDIR(info.st_mode)) throw FileError("is a folder, not a file");
  if (!S_ISREG(info.st_mode)) throw FileError("is not a regular file (a FIFO, device or socket)");
  if (static_cast<size_t>(info.st_size) > limit)
    throw FileError("holds " + std::to_string(info.st_size) + " bytes; at most " + std::to_string(limit) + " are read");
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw FileError("not readable: " + std::string(std::strerror(errno)));
  std::string text;
  char buffer[65536];
  ssize_t got = 0;
  while ((got = read(fd, buffer, sizeof(buffer))) > 0 && text.size() <= limit) text.append(buffer, static_cast<size_t>(got));
  close(fd);
  if (got < 0) throw FileError("not readable: " + std::string(std::strerror(errno)));
  if (text.size() > limit) throw FileError("grew past " + std::to_string(limit) + " bytes while read");
  return text;
}

}  // namespace pebench
