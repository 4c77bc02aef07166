// Error codes of flotilla::policy. Every refusal of a policy document
// carries one (PolicyError::code), so tests and tools can tell which rule
// fired without matching messages.
#pragma once

#include "common/error.hpp"

namespace flotilla::policy {

enum class Errc {
  kNotObject = 1,  // a value that must be an object is not
  kUnknownKey,     // a key the schema does not know (a typo?)
  kMissing,        // a required member is absent, or one another member needs
  kWrongType,      // a member of the wrong JSON type
  kTooLong,        // a string over its length limit
  kOutOfRange,     // a number or a count outside its range
  kBadValue,       // a value that is not one of those allowed (a duration, a device type, a day)
  kBadName,        // a name outside [A-Za-z0-9._-]
  kDuplicate,      // listed twice, or already covered by an earlier entry
  kInconsistent,   // members that contradict each other (wave sizes going down, a deadline before the start)
};

}  // namespace flotilla::policy

template <>
struct flotilla::common::ErrorDomain<flotilla::policy::Errc> {
  static constexpr std::string_view kName = "policy";
};
