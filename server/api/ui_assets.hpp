// The operator dashboard's files (server/ui/), compiled into the server
// so that a deployment is one binary and nothing is fetched from outside.
// The table is generated at build time by server/ui/embed.cmake.
#pragma once

#include <span>
#include <string_view>

namespace flotilla::server::api {

struct UiAsset {
  std::string_view path;  // relative to /ui/, e.g. "js/app.js"
  std::string_view body;
};

std::span<const UiAsset> ui_assets();

}  // namespace flotilla::server::api
