// Files written safely against what a hostile folder may hold: a temporary file is never
// followed through a symlink someone left at its name, a final target is renamed over only
// when it is a regular file (or absent), and a device or FIFO the user names (-o /dev/null)
// is written into, never replaced. Used by every writer of a `.partial`.
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
  if (kind == TargetKind::special || (kind == TargetKind::other && unlink(path.c_str()) != 0))
    throw FileError("'" + path + "' exists and is not a file pebench may replace");
  if (kind == TargetKind::regular) unlink(path.c_str());
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

}  // namespace pebench
