#pragma once

#include <mutex>
#include <string>
#include <vector>

namespace portflow {

// Log files made ahead, and given again. Creating a file allocates an
// inode, which on some file systems costs 20 to 450 us (ext4 without a
// journal steps over every inode of the group deleted in the last minutes,
// one lookup each), on the path from one task's end to the next one's
// start. So:
// - The file of an attempt that ended having printed nothing (checked when
//   its process ends, and again when the file is given, then also that no
//   one else has it open: a process that left the attempt's group may
//   still write) is the next attempt's: renamed to its name (about 5 us),
//   never replacing a file. Such an attempt may leave no log file; readers go
//   through ReadLog, which tells what it read from a file given away
//   meanwhile.
// - Otherwise, after each spawn, while the child runs, an unnamed file
//   (O_TMPFILE) is made in the logs folder, and the next spawn there names
//   it (linkat: about 9 us), then opens it by that name, so that the task's
//   output names its real path (/proc/PID/fd/1, lsof).
// Either way the file is stamped: its times are the task's, not the moment
// it was made. A name already taken (a log left from before) is opened and
// emptied as before, the unnamed file kept for the next name. Where
// O_TMPFILE, the naming or the renaming fails otherwise (no /proc, a file
// system without it), that way is left from then on. The unnamed file
// costs one descriptor and vanishes with the process.
class LogFiles {
 public:
  LogFiles() = default;
  LogFiles(const LogFiles&) = delete;
  LogFiles& operator=(const LogFiles&) = delete;
  ~LogFiles();

  // A new, empty log file at `path` in `dir`, open for appending; -1 and
  // errno on failure (EEXIST: a file given back could not take its old
  // name again, and was left at `path`).
  int Open(const std::string& dir, const std::string& path);

  // The log file at `path`, of an attempt whose process ended: the next
  // Open in its folder may take it if it is empty.
  void Ended(const std::string& path);

  // Makes the next file ahead, in `dir` (after a spawn there), unless one
  // is there to give.
  void MakeSpare(const std::string& dir);

 private:
  void Drop();  // the file made ahead

  std::mutex mu_;
  std::string dir_;
  int spare_ = -1;
  bool made_ahead_ = true;          // false once making or naming one failed
  std::vector<std::string> given_;  // empty logs of ended attempts, in dir_
  bool giving_ = true;              // false once giving one failed or could not be judged
};

}  // namespace portflow
