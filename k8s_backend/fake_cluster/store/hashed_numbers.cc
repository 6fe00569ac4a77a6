#include "k8s_backend/fake_cluster/store/hashed_numbers.h"

#include <algorithm>

namespace portflow::fake {

void HashedNumbers::Insert(uint64_t hash, uint64_t number) {
  if (2 * (size_ + 1) > slots_.size()) Grow();
  size_t i = Home(hash);
  while (slots_[i].number != kEmpty) i = Next(i);
  slots_[i] = {hash, number};
  ++size_;
}

void HashedNumbers::Erase(uint64_t hash, uint64_t number) {
  if (slots_.empty()) return;
  size_t i = Home(hash);
  while (slots_[i].number != number) {
    if (slots_[i].number == kEmpty) return;
    i = Next(i);
  }
  // Backward shift: each later slot of the run whose home is not between
  // the hole and it moves into the hole, so no probe meets a gap early.
  for (size_t j = Next(i); slots_[j].number != kEmpty; j = Next(j)) {
    size_t home = Home(slots_[j].hash);
    bool reachable = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (reachable) continue;
    slots_[i] = slots_[j];
    i = j;
  }
  slots_[i] = Slot{};
  --size_;
}

void HashedNumbers::Grow() {
  std::vector<Slot> old(std::max<size_t>(16, 2 * slots_.size()));
  old.swap(slots_);
  size_ = 0;
  for (const Slot& s : old) {
    if (s.number != kEmpty) Insert(s.hash, s.number);
  }
}

}  // namespace portflow::fake
