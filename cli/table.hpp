// Aligned text tables for people (`--json` gives machines the raw data).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace flotilla::cli {

void print_table(std::ostream& out, const std::vector<std::string>& headers,
                 const std::vector<std::vector<std::string>>& rows);

}  // namespace flotilla::cli
