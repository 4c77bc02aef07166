// Reading the rows of a stepped statement into values. Generic over the
// statement type: any type with `Result<bool> step()` works (SQLite's
// common::Statement, the server store's sql::Statement).
#pragma once

#include <optional>
#include <vector>

#include "common/error.hpp"

namespace flotilla::common {

// Steps `statement` to the end, turning each row into a value with `row`.
template <class Stmt, class RowFn>
auto collect(Stmt& statement, RowFn row) -> Result<std::vector<decltype(row(statement))>> {
  std::vector<decltype(row(statement))> out;
  for (;;) {
    auto more = statement.step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return out;
    out.push_back(row(statement));
  }
}

// Steps `statement` to the end, calling `each` with it at every row.
template <class Stmt, class EachFn>
Status for_each_row(Stmt& statement, EachFn each) {
  for (;;) {
    auto more = statement.step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return {};
    each(statement);
  }
}

// The first row as a value, or nullopt when there is none.
template <class Stmt, class RowFn>
auto first_row(Stmt& statement, RowFn row) -> Result<std::optional<decltype(row(statement))>> {
  auto more = statement.step();
  if (!more) return std::unexpected(more.error());
  if (!*more) return std::optional<decltype(row(statement))>{};
  return std::optional<decltype(row(statement))>{row(statement)};
}

}  // namespace flotilla::common
