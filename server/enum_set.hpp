// A set of values of a small enum, usable in constexpr tables (the "from"
// side of the state tables in deployment_state.hpp and rollout_state.hpp).
#pragma once

#include <cstdint>
#include <initializer_list>

namespace flotilla::server {

template <class Enum>
class EnumSet {
 public:
  constexpr EnumSet(std::initializer_list<Enum> values) {
    for (auto v : values) bits_ |= bit(v);
  }
  constexpr bool contains(Enum v) const { return (bits_ & bit(v)) != 0; }

 private:
  static constexpr std::uint32_t bit(Enum v) { return std::uint32_t{1} << static_cast<unsigned>(v); }
  std::uint32_t bits_ = 0;
};

}  // namespace flotilla::server
