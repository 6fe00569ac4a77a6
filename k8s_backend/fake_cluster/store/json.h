// The fake cluster's JSON type: nlohmann::basic_json with its objects'
// members in one vector, sorted by key.
//
// nlohmann::json keeps an object in a std::map: a node, and an allocation,
// per member. Every write to the store copies the object it changes (stored
// objects are shared and immutable), so the copies and their frees were
// half of the fake cluster's CPU. Here an object is one allocation: a copy
// of a finished pod takes 111 allocations and 6.0 KB instead of 165 and
// 8.6 KB, in 3.1 us instead of 7.5. Members stay in key order, so an object
// compares, iterates and serialises exactly as with std::map (a reordered
// but equal spec is still equal).
//
// The one difference to mind: an insert or erase moves the object's other
// members, so a reference to a member (`json& meta = obj["metadata"]`) must
// not be kept across an insert into, or erase from, the same object (a
// member's own members are elsewhere and do not move). AddressSanitizer
// builds move the members to a new block on every such change, so that a
// reference kept across one is caught as a use after free.
//
// The interface is what nlohmann::basic_json asks of its ObjectType (the
// subset of std::map that nlohmann::ordered_map also provides).
#pragma once

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace portflow::fake {

template <class Key, class T, class IgnoredLess = std::less<>, class IgnoredAllocator = void>
class SortedMap : public std::vector<std::pair<Key, T>> {
 public:
  using Container = std::vector<std::pair<Key, T>>;
  using key_type = Key;
  using mapped_type = T;
  using key_compare = std::less<>;
  using value_type = typename Container::value_type;
  using iterator = typename Container::iterator;
  using const_iterator = typename Container::const_iterator;
  using size_type = typename Container::size_type;

  SortedMap() = default;
  template <class It>
  SortedMap(It first, It last) {
    for (; first != last; ++first) emplace(first->first, T(first->second));
  }
  SortedMap(std::initializer_list<value_type> init) : SortedMap(init.begin(), init.end()) {}

  template <class K>
  iterator find(const K& key) {
    std::string_view k(key);
    // Most objects are small: comparing lengths first skips most keys.
    if (this->size() <= 16) {
      return std::find_if(this->begin(), this->end(),
                          [k](const value_type& member) { return member.first == k; });
    }
    auto it = LowerBound(k);
    return it != this->end() && it->first == k ? it : this->end();
  }
  template <class K>
  const_iterator find(const K& key) const {
    return const_cast<SortedMap*>(this)->find(key);
  }
  template <class K>
  size_type count(const K& key) const {
    return find(key) == this->end() ? 0 : 1;
  }

  template <class K, class... Args>
  std::pair<iterator, bool> emplace(K&& key, Args&&... value) {
    std::string_view k(key);
    auto it = LowerBound(k);
    if (it != this->end() && it->first == k) return {it, false};
#ifdef __SANITIZE_ADDRESS__
    // Every insert moves the members to a new block, so that AddressSanitizer
    // catches a reference to a member kept across an insert (a move without
    // the new block would go unnoticed).
    Container moved;
    moved.reserve(this->size() + 1);
    size_t at = it - this->begin();
    std::move(this->begin(), it, std::back_inserter(moved));
    moved.emplace_back(std::piecewise_construct, std::forward_as_tuple(std::forward<K>(key)),
                       std::forward_as_tuple(std::forward<Args>(value)...));
    std::move(it, this->end(), std::back_inserter(moved));
    this->swap(moved);
    return {this->begin() + at, true};
#else
    return {Container::emplace(it, std::piecewise_construct,
                               std::forward_as_tuple(std::forward<K>(key)),
                               std::forward_as_tuple(std::forward<Args>(value)...)),
            true};
#endif
  }
  std::pair<iterator, bool> insert(const value_type& member) {
    return emplace(member.first, T(member.second));
  }
  std::pair<iterator, bool> insert(value_type&& member) {
    return emplace(std::move(member.first), std::move(member.second));
  }
  template <class It>
  void insert(It first, It last) {
    for (; first != last; ++first) insert(*first);
  }

  template <class K>
  T& operator[](K&& key) {
    return emplace(std::forward<K>(key), T{}).first->second;
  }
  template <class K>
  T& at(const K& key) {
    auto it = find(key);
    if (it == this->end()) throw std::out_of_range("key not found");
    return it->second;
  }
  template <class K>
  const T& at(const K& key) const {
    return const_cast<SortedMap*>(this)->at(key);
  }
  template <class K>
  const T& operator[](const K& key) const {
    return at(key);
  }

  template <class K, class = std::enable_if_t<!std::is_convertible_v<K, const_iterator>>>
  size_type erase(const K& key) {
    auto it = find(key);
    if (it == this->end()) return 0;
    erase(it);
    return 1;
  }
  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  iterator erase(const_iterator first, const_iterator last) {
#ifdef __SANITIZE_ADDRESS__
    // As for an insert: a new block, so that a reference kept across is caught.
    Container kept;
    kept.reserve(this->size() - (last - first));
    size_t at = first - this->cbegin();
    for (auto it = this->begin(); it != this->end(); ++it) {
      if (it < first || it >= last) kept.push_back(std::move(*it));
    }
    this->swap(kept);
    return this->begin() + at;
#else
    return Container::erase(first, last);
#endif
  }

 private:
  iterator LowerBound(std::string_view key) {
    return std::lower_bound(
        this->begin(), this->end(), key,
        [](const value_type& member, std::string_view k) { return member.first < k; });
  }
};

// What the fake cluster stores and serves. It converts to and from
// nlohmann::json (a copy) where it meets code outside the fake.
using json = nlohmann::basic_json<SortedMap>;

// v.dump(), the same bytes (and the same exception for a string that is not
// UTF-8), about three times as fast: runs of plain characters are copied
// whole, where dump() decodes each byte. What the fake cluster sends (watch
// events, GETs, lists) goes through it; a tenth of the served cluster's CPU
// was dump() (bench/README.md).
std::string Serialize(const json& v);

}  // namespace portflow::fake
