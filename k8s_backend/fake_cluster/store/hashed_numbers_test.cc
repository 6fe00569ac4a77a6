#include "k8s_backend/fake_cluster/store/hashed_numbers.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

namespace portflow::fake {
namespace {

// Whether `number` is filed under `hash`.
bool Has(const HashedNumbers& index, uint64_t hash, uint64_t number) {
  return index.Find(hash, [&](uint64_t n) { return n == number; }) == number;
}

TEST(HashedNumbers, FindsWhatIsFiledAndNothingTakenOut) {
  HashedNumbers index;
  EXPECT_FALSE(index.Find(7, [](uint64_t) { return true; }).has_value());
  index.Insert(7, 1);
  index.Insert(7, 2);  // the same hash: told apart by `same`
  index.Insert(8, 3);
  EXPECT_TRUE(Has(index, 7, 1));
  EXPECT_TRUE(Has(index, 7, 2));
  EXPECT_FALSE(Has(index, 8, 1));
  index.Erase(7, 1);
  EXPECT_FALSE(Has(index, 7, 1));
  EXPECT_TRUE(Has(index, 7, 2));
  EXPECT_TRUE(Has(index, 8, 3));
  index.Erase(7, 9);  // not there: nothing
  EXPECT_EQ(index.size(), 2u);
}

// Inserts and erases in a seeded random order, with many hashes shared and
// runs that wrap past the table's end (hashes of all ones at the bottom,
// whose home is the last slot whatever the size), checked
// against a plain map after every step.
TEST(HashedNumbers, AgreesWithAMapThroughRandomInsertsAndErases) {
  std::mt19937_64 random(16);
  HashedNumbers index;
  std::multimap<uint64_t, uint64_t> model;  // hash -> number
  std::vector<std::pair<uint64_t, uint64_t>> live;
  uint64_t next = 0;
  for (int step = 0; step < 20000; ++step) {
    bool insert = live.empty() || random() % 3 != 0 || live.size() < 50;
    if (insert && live.size() < 3000) {
      uint64_t hash = random() % 4 == 0 ? ~uint64_t{0} - random() % 3 : random() % 5000;
      index.Insert(hash, next);
      model.emplace(hash, next);
      live.emplace_back(hash, next++);
    } else {
      size_t at = random() % live.size();
      auto [hash, number] = live[at];
      index.Erase(hash, number);
      for (auto it = model.find(hash); it != model.end(); ++it) {
        if (it->second == number) {
          model.erase(it);
          break;
        }
      }
      live[at] = live.back();
      live.pop_back();
      ASSERT_FALSE(Has(index, hash, number)) << "step " << step;
    }
    ASSERT_EQ(index.size(), model.size());
    if (step % 97 == 0) {
      for (auto [hash, number] : live) ASSERT_TRUE(Has(index, hash, number)) << "step " << step;
    }
  }
  for (auto [hash, number] : live) EXPECT_TRUE(Has(index, hash, number));
}

}  // namespace
}  // namespace portflow::fake
