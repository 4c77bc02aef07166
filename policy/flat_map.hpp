// A small sorted map in one vector: a device has a handful of labels and
// components, and the scheduler holds a million devices in memory, where
// std::map's per-node overhead alone would cost ~80 MB.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string_view>
#include <utility>
#include <vector>

namespace flotilla::policy {

template <class Key, class Value>
class FlatMap {
 public:
  using value_type = std::pair<Key, Value>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  FlatMap() = default;
  FlatMap(std::initializer_list<value_type> items) {
    for (const auto& item : items) emplace(item.first, item.second);
  }

  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  iterator begin() { return items_.begin(); }
  iterator end() { return items_.end(); }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

  template <class K>
  const_iterator find(const K& key) const {
    auto it = lower(key);
    return it != items_.end() && it->first == key ? it : items_.end();
  }
  template <class K>
  iterator find(const K& key) {
    auto it = std::lower_bound(items_.begin(), items_.end(), key,
                               [](const value_type& item, const K& k) { return item.first < k; });
    return it != items_.end() && it->first == key ? it : items_.end();
  }
  template <class K>
  bool contains(const K& key) const { return find(key) != end(); }

  // Keeps an existing value, as std::map::emplace does.
  std::pair<iterator, bool> emplace(Key key, Value value) {
    auto it = std::lower_bound(items_.begin(), items_.end(), key,
                               [](const value_type& item, const Key& k) { return item.first < k; });
    if (it != items_.end() && it->first == key) return {it, false};
    return {items_.insert(it, value_type(std::move(key), std::move(value))), true};
  }
  Value& operator[](const Key& key) {
    auto it = find(key);
    if (it != items_.end()) return it->second;
    return emplace(key, Value{}).first->second;
  }

 private:
  template <class K>
  const_iterator lower(const K& key) const {
    return std::lower_bound(items_.begin(), items_.end(), key,
                            [](const value_type& item, const K& k) { return item.first < k; });
  }
  std::vector<value_type> items_;
};

}  // namespace flotilla::policy
