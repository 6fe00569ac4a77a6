#include "local_backend/log_files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <utility>

namespace portflow {
namespace {

// Whether no other descriptor, in this process or another, has the file of
// `fd` open (1), as a write lease is granted only then; 0 when one has,
// -1 when it cannot be told (no leases on some file systems, or with
// fs.leases-enable=0). The lease is let go at once; one broken meanwhile
// (someone opening the file) signals SIGURG, ignored by default, not
// SIGIO, whose default would end portflow.
int OpenOnlyHere(int fd) {
  if (::fcntl(fd, F_SETSIG, SIGURG) != 0) return -1;
  if (::fcntl(fd, F_SETLEASE, F_WRLCK) != 0) return errno == EAGAIN || errno == EBUSY ? 0 : -1;
  ::fcntl(fd, F_SETLEASE, F_UNLCK);
  return 1;
}

}  // namespace

LogFiles::~LogFiles() { Drop(); }

int LogFiles::Open(const std::string& dir, const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  if (dir != dir_) {  // another run's folder: what is held is that one's
    Drop();
    given_.clear();
    dir_ = dir;
  }
  while (!given_.empty()) {
    std::string old = std::move(given_.back());
    given_.pop_back();
    if (::renameat2(AT_FDCWD, old.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
      int error = errno;
      if (error == EEXIST) given_.push_back(std::move(old));  // for the next name
      if (error == EINVAL || error == ENOSYS) given_.clear(), giving_ = false;
      break;
    }
    int given = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    int alone = given >= 0 ? OpenOnlyHere(given) : -1;
    struct stat st {};
    if (alone == 1 && ::fstat(given, &st) == 0 && st.st_size == 0) {
      ::futimens(given, nullptr);
      return given;
    }
    // Still open elsewhere (a process that left the attempt's group
    // holds it), or written since its attempt ended (a note): it stays
    // that attempt's. Where that cannot be told, none is given again.
    if (given >= 0) ::close(given);
    if (alone < 0) given_.clear(), giving_ = false;
    if (::renameat2(AT_FDCWD, path.c_str(), AT_FDCWD, old.c_str(), RENAME_NOREPLACE) != 0) {
      // Its old name taken meanwhile: left where it is, not emptied.
      given_.clear();
      giving_ = false;
      errno = EEXIST;
      return -1;
    }
  }
  if (spare_ >= 0) {
    std::string self = "/proc/self/fd/" + std::to_string(spare_);
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0) {
      int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
      if (fd >= 0) {
        Drop();
      } else {
        fd = std::exchange(spare_, -1);  // (renamed or removed since) the unnamed one
      }
      ::futimens(fd, nullptr);
      return fd;
    }
    if (errno != EEXIST) {
      Drop();
      made_ahead_ = false;
    }
  }
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
}

void LogFiles::Ended(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || st.st_size != 0) return;
  std::lock_guard<std::mutex> l(mu_);
  if (giving_ && path.compare(0, path.rfind('/'), dir_) == 0 && given_.size() < 64)
    given_.push_back(path);
}

void LogFiles::MakeSpare(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  if (!made_ahead_ || dir != dir_ || spare_ >= 0 || !given_.empty()) return;
  spare_ = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
  if (spare_ < 0) made_ahead_ = false;
}

void LogFiles::Drop() {
  if (spare_ >= 0) ::close(spare_);
  spare_ = -1;
}

}  // namespace portflow
