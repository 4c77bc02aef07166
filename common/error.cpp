#include "common/error.hpp"

namespace flotilla::common {

std::string Error::describe() const { return context_ + message_; }

Error Error::with_context(std::string_view context) const& {
  Error copy = *this;
  return std::move(copy).with_context(context);
}

Error Error::with_context(std::string_view context) && {
  context_.insert(0, std::string(context) + ": ");
  return std::move(*this);
}

}  // namespace flotilla::common
