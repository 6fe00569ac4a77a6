// A set of numbers found by a hash of what each names: the store's index of
// its live events by namespace and name. Open addressing with linear probing
// in one array, so that an insert or an erase reads about one cache line
// where a node-based map read three or four, each a miss on a big store:
// the event index was 8% of the fake cluster's time at 150,000 pods
// (bench/README.md, "Fake cluster: scheduling at scale", 2026-12-08).
// Equal hashes are told apart by the caller's `same`, which sees only the
// numbers whose hash matches.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace portflow::fake {

class HashedNumbers {
 public:
  // The number filed under `hash` for which `same(number)` holds.
  template <class Same>
  std::optional<uint64_t> Find(uint64_t hash, Same same) const {
    if (slots_.empty()) return std::nullopt;
    for (size_t i = Home(hash); slots_[i].number != kEmpty; i = Next(i)) {
      if (slots_[i].hash == hash && same(slots_[i].number)) return slots_[i].number;
    }
    return std::nullopt;
  }
  // Files `number` under `hash` (the caller has found no equal one).
  void Insert(uint64_t hash, uint64_t number);
  // Takes out `number`, filed under `hash`; nothing when it is not there.
  void Erase(uint64_t hash, uint64_t number);
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = UINT64_MAX;
  struct Slot {
    uint64_t hash = 0;
    uint64_t number = kEmpty;
  };
  size_t Home(uint64_t hash) const { return hash & (slots_.size() - 1); }
  size_t Next(size_t i) const { return (i + 1) & (slots_.size() - 1); }
  void Grow();

  std::vector<Slot> slots_;  // a power of two, at most half full
  size_t size_ = 0;
};

}  // namespace portflow::fake
