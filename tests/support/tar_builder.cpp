#include "tests/support/tar_builder.hpp"

#include <cstdio>
#include <cstring>

namespace flotilla::testing {
namespace {

void put_octal(char* field, std::size_t width, unsigned long long value) {
  std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1), value);
}

std::string pax_record(const std::string& key, const std::string& value) {
  std::string body = " " + key + "=" + value + "\n";
  std::size_t length = body.size() + 1;
  while (std::to_string(length).size() + body.size() != length) ++length;
  return std::to_string(length) + body;
}

}  // namespace

void TarBuilder::header(const std::string& name, std::size_t size, Type type, const std::string& link) {
  char block[512] = {};
  std::memcpy(block, name.data(), std::min<std::size_t>(name.size(), 100));
  put_octal(block + 100, 8, 0644);
  put_octal(block + 108, 8, 0);
  put_octal(block + 116, 8, 0);
  put_octal(block + 124, 12, size);
  put_octal(block + 136, 12, 1700000000);
  block[156] = static_cast<char>(type);
  std::memcpy(block + 157, link.data(), std::min<std::size_t>(link.size(), 100));
  std::memcpy(block + 257, "ustar", 6);
  std::memcpy(block + 263, "00", 2);
  std::memset(block + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : block) sum += c;
  std::snprintf(block + 148, 8, "%06o", sum);
  block[155] = ' ';
  data_.append(block, sizeof block);
}

TarBuilder& TarBuilder::add(const std::string& name, const std::string& content, Type type,
                            const std::string& link_target, long long declared_size) {
  if (name.size() > 100) {
    // A pax extended header carries names that do not fit ustar's field.
    std::string pax = pax_record("path", name);
    header("PaxHeader", pax.size(), static_cast<Type>('x'), "");
    data_ += pax;
    data_.append((512 - pax.size() % 512) % 512, '\0');
  }
  std::size_t size = declared_size >= 0 ? static_cast<std::size_t>(declared_size) : content.size();
  header(name, size, type, link_target);
  data_ += content;
  data_.append((512 - content.size() % 512) % 512, '\0');
  return *this;
}

std::string TarBuilder::finish() const { return data_ + std::string(1024, '\0'); }

}  // namespace flotilla::testing
