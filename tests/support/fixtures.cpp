#include "tests/support/fixtures.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include <algorithm>
#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/encoding.hpp"
#include "signing/digest.hpp"

namespace flotilla::testing {

TempDir::TempDir() {
  std::random_device random;
  auto base = std::filesystem::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate = base / ("flotilla-test-" + std::to_string(random()));
    if (std::filesystem::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

// `op` (connect or bind) of a fresh TCP socket with 127.0.0.1:port.
template <class Op>
bool on_loopback_port(int port, Op op) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = op(fd, reinterpret_cast<const sockaddr*>(&addr), static_cast<socklen_t>(sizeof addr)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

bool accepts_connections(int port) { return on_loopback_port(port, ::connect); }
bool port_is_free(int port) { return on_loopback_port(port, ::bind); }

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t length = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  ::close(fd);
  return ntohs(addr.sin_port);
}

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

void make_file_slot(const std::filesystem::path& path, const std::string& content, std::uintmax_t capacity) {
  write_text(path, content);
  std::filesystem::resize_file(path, capacity);
}

std::string read_head(const std::filesystem::path& path, std::size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string head(bytes, '\0');
  in.read(head.data(), static_cast<std::streamsize>(bytes));
  head.resize(static_cast<std::size_t>(in.gcount()));
  return head;
}

signing::PrivateKey make_key(signing::Algorithm algorithm) {
  auto key = signing::PrivateKey::generate(algorithm);
  if (!key) throw std::runtime_error(key.error().describe());
  return *key;
}

common::Bytes ecdsa_twin(const common::Bytes& der_signature) {
  const unsigned char* p = der_signature.data();
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_signature.size())), &ECDSA_SIG_free);
  if (!sig) throw std::runtime_error("not a DER ECDSA signature");
  BIGNUM* n = nullptr;
  BN_hex2bn(&n, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
  BIGNUM* s = BN_new();
  BN_sub(s, n, ECDSA_SIG_get0_s(sig.get()));
  BN_free(n);
  ECDSA_SIG_set0(sig.get(), BN_dup(ECDSA_SIG_get0_r(sig.get())), s);
  unsigned char* der = nullptr;
  int length = i2d_ECDSA_SIG(sig.get(), &der);
  common::Bytes twin(der, der + length);
  OPENSSL_free(der);
  return twin;
}

std::string sign_root_payload(const std::string& payload,
                              const std::vector<const signing::PrivateKey*>& signers) {
  auto envelope = signing::sign_envelope(signing::kRootType, common::as_bytes(payload), signers);
  if (!envelope) throw std::runtime_error(envelope.error().describe());
  return signing::serialize_envelope(*envelope);
}

signing::RootSpec root_spec(const RootParts& parts) {
  signing::RootSpec spec;
  spec.version = parts.version;
  spec.expires = parts.expires;
  for (auto* k : parts.root_keys) spec.root_keys.push_back(k->public_key());
  for (auto* k : parts.release_keys) spec.release_keys.push_back(k->public_key());
  spec.root_threshold = parts.root_threshold;
  spec.release_threshold = parts.release_threshold;
  return spec;
}

std::string make_root_json(const RootParts& parts,
                           const std::vector<const signing::PrivateKey*>& signers) {
  return sign_root_payload(signing::root_payload(root_spec(parts)), signers);
}

namespace {
signing::TrustRoot load_root(const std::string& json) {
  auto root = signing::TrustRoot::from_json(json);
  if (!root) throw std::runtime_error(root.error().describe());
  return *root;
}
}  // namespace

TrustSetup::TrustSetup()
    : root_json(make_root_json({.root_keys = {&root_key}, .release_keys = {&release_key}}, {&root_key})),
      root(load_root(root_json)) {}

artifacts::Manifest sample_manifest() {
  artifacts::Manifest m;
  m.name = "gw-os";
  m.kind = artifacts::Kind::kOs;
  m.component = "rootfs";
  m.version = *common::Version::parse("2.4.0");
  m.security_version = 7;
  m.compatible = {"gw-x1", "gw-x2"};
  m.requires_.push_back({"rootfs", *common::VersionRange::parse(">=2.3.0 <3.0.0")});
  m.created = *common::parse_rfc3339("2026-11-24T19:00:00Z");
  return m;
}

std::pair<int, int> count_flash_outcomes(const common::Json& deployment) {
  int succeeded = 0, failed = 0;
  for (const auto& d : deployment["devices"]) {
    if (d["state"] == "succeeded") ++succeeded;
    if (d["state"] == "failed") {
      ++failed;
      EXPECT_NE(d["message"].get<std::string>().find("flash write error"), std::string::npos) << d.dump();
    }
  }
  return {succeeded, failed};
}

artifacts::Manifest child_firmware_manifest(const std::string& name, const std::string& version, const std::string& device_type,
                                            std::int64_t security_version) {
  auto m = sample_manifest();
  m.name = name;
  m.kind = artifacts::Kind::kFirmware;
  m.component = "firmware";
  m.version = *common::Version::parse(version);
  m.security_version = security_version;
  m.compatible = {device_type};
  m.requires_.clear();
  m.reboot_required = false;
  return m;
}

std::string manifest_text_for(artifacts::Manifest manifest,
                              const std::vector<std::pair<std::string, std::string>>& payloads) {
  manifest.payloads.clear();
  for (const auto& [name, content] : payloads) {
    artifacts::Payload p;
    p.name = name;
    p.type = artifacts::PayloadType::kRawImage;
    p.slot = "rootfs";
    p.size = content.size();
    p.sha256 = signing::sha256_hex(content);
    manifest.payloads.push_back(p);
  }
  return artifacts::serialize_manifest(manifest);
}

std::string sign_manifest(const std::string& manifest_text, const signing::PrivateKey& key,
                          std::string_view payload_type) {
  auto envelope = signing::sign_envelope(payload_type, common::as_bytes(manifest_text), {&key});
  if (!envelope) throw std::runtime_error(envelope.error().describe());
  return signing::serialize_envelope(*envelope);
}

common::Result<std::size_t> MemorySource::read(std::span<std::uint8_t> buffer) {
  std::size_t n = std::min({buffer.size(), chunk_, data_.size() - offset_});
  std::memcpy(buffer.data(), data_.data() + offset_, n);
  offset_ += n;
  return n;
}

namespace {
class RecordingSink final : public artifacts::PayloadSink {
 public:
  explicit RecordingSink(std::shared_ptr<SinkRecord> record) : record_(std::move(record)) {}
  common::Status write(std::span<const std::uint8_t> bytes) override {
    record_->bytes.append(common::as_text(bytes));
    return {};
  }
  common::Status finish() override {
    record_->finished = true;
    return {};
  }
  common::Status commit() override {
    record_->committed = true;
    return {};
  }
  void abort() override { record_->aborted = true; }

 private:
  std::shared_ptr<SinkRecord> record_;
};
}  // namespace

common::Result<std::unique_ptr<artifacts::PayloadSink>> RecordingSinkFactory::open(
    const artifacts::Manifest&, const artifacts::Payload& payload) {
  auto record = std::make_shared<SinkRecord>();
  record->payload = payload.name;
  records_.push_back(record);
  return std::make_unique<RecordingSink>(record);
}

std::size_t RecordingSinkFactory::bytes_written() const {
  std::size_t total = 0;
  for (const auto& r : records_) total += r->bytes.size();
  return total;
}

bool RecordingSinkFactory::any_committed() const {
  for (const auto& r : records_) {
    if (r->committed) return true;
  }
  return false;
}

}  // namespace flotilla::testing
