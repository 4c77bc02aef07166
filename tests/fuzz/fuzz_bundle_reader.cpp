// Fuzz target: the streaming bundle reader with a trusted root, a device
// context and sinks that hash what they receive.
#include <cstdint>
#include <cstring>

#include "artifacts/reader.hpp"
#include "tests/fuzz/fuzz_keys.hpp"

namespace {

class SpanSource final : public flotilla::artifacts::ByteSource {
 public:
  SpanSource(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  flotilla::common::Result<std::size_t> read(std::span<std::uint8_t> buffer) override {
    // Small, uneven reads exercise libarchive's buffering edges.
    std::size_t n = std::min({buffer.size(), size_ - offset_, std::size_t{4093}});
    std::memcpy(buffer.data(), data_ + offset_, n);
    offset_ += n;
    return n;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace flotilla;
  SpanSource source(data, size);
  artifacts::VerifyOptions options;
  options.root = &fuzz::fuzz_root();
  options.now = *common::parse_rfc3339("2030-01-01T00:00:00Z");
  options.device = artifacts::DeviceContext{"gw-x1", {{"rootfs", {*common::Version::parse("2.3.0"), 1}}}, false};
  artifacts::DiscardSinkFactory sinks;
  (void)artifacts::read_bundle(source, options, sinks);
  SpanSource again(data, size);
  (void)artifacts::inspect_bundle(again);
  return 0;
}
