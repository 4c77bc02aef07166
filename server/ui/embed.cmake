# Writes OUTPUT: a C++ table of the dashboard's files under SOURCE_DIR
# (FILES, ';'-separated paths relative to it) as raw string literals.
# Run at build time (cmake -P) so an edited file rebuilds the table.
set(delimiter "flotilla_ui")
set(body "// Generated from server/ui by embed.cmake; do not edit.\n#include \"server/api/ui_assets.hpp\"\n\nnamespace flotilla::server::api {\nnamespace {\n\nconstexpr UiAsset kAssets[] = {\n")
foreach(file IN LISTS FILES)
  file(READ "${SOURCE_DIR}/${file}" content)
  string(FIND "${content}" ")${delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} contains the literal delimiter )${delimiter}\"")
  endif()
  string(APPEND body "    {\"${file}\", R\"${delimiter}(${content})${delimiter}\"},\n")
endforeach()
string(APPEND body "};\n\n}  // namespace\n\nstd::span<const UiAsset> ui_assets() { return kAssets; }\n\n}  // namespace flotilla::server::api\n")
file(WRITE "${OUTPUT}.tmp" "${body}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
