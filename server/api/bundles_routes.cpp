// /api/v1/bundles: upload (streamed to disk, verified against the trust
// root before it is accepted), list, show, delete, download with Range.
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "artifacts/reader.hpp"
#include "server/api/app.hpp"
#include "server/api/range.hpp"
#include "server/api/reply.hpp"
#include "signing/digest.hpp"

namespace flotilla::server::api {
namespace {

// Passes bytes through while hashing all of them, so the file digest comes
// from the same single read that verifies the bundle.
class HashingSource final : public artifacts::ByteSource {
 public:
  explicit HashingSource(artifacts::ByteSource& inner) : inner_(inner) {}
  common::Result<std::size_t> read(std::span<std::uint8_t> buffer) override {
    auto n = inner_.read(buffer);
    if (n) hasher_.update(buffer.first(*n));
    return n;
  }
  // Reads what the verifier left (tar padding), then returns the digest.
  common::Result<std::string> finish() {
    std::vector<std::uint8_t> buffer(1 << 16);
    for (;;) {
      auto n = read(buffer);
      if (!n) return std::unexpected(n.error());
      if (*n == 0) return hasher_.finish_hex();
    }
  }

 private:
  artifacts::ByteSource& inner_;
  signing::Sha256 hasher_;
};

common::Json bundle_json(const BundleRecord& b) {
  return {{"file_sha256", b.file_sha256},
          {"bundle_id", b.bundle_id},
          {"name", b.name},
          {"kind", b.kind},
          {"component", b.component},
          {"version", b.version},
          {"security_version", b.security_version},
          {"size", b.size},
          {"manifest", common::Json::parse(b.manifest_json, nullptr, false)},
          {"signer_keyids", common::Json::parse(b.signer_keyids_json, nullptr, false)},
          {"uploaded_at", b.uploaded_at},
          {"uploaded_by", b.uploaded_by}};
}

void fsync_dir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

common::Status fsync_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return common::fail(common::Errc::kIo, "opening " + path.string() + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  int error = errno;
  ::close(fd);
  if (rc != 0) return common::fail(common::Errc::kIo, "syncing " + path.string() + ": " + std::strerror(error));
  return {};
}

// Moves a verified upload into the bundle directory. That directory may
// be on another filesystem (storage the servers share): then the file is
// copied next to its final name, synced, and renamed, so a reader never
// sees half a bundle under its digest.
common::Status move_into_place(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec == std::errc::cross_device_link) {
    auto part = to;
    part += ".part-" + std::to_string(::getpid());
    std::filesystem::copy_file(from, part, std::filesystem::copy_options::overwrite_existing, ec);
    if (!ec) {
      if (auto ok = fsync_file(part); !ok) {
        std::filesystem::remove(part, ec);
        return ok;
      }
      std::filesystem::rename(part, to, ec);
    }
    if (ec) std::filesystem::remove(part);
    std::filesystem::remove(from);
  }
  if (ec) return common::fail(common::Errc::kIo, "storing bundle in " + to.parent_path().string() + ": " + ec.message());
  fsync_dir(to.parent_path());
  return {};
}

}  // namespace

http::Response ServerApp::upload_bundle(http::Request& request, const Params&, const Caller& caller) {
  auto root = trust_root();
  if (!root) return problem(409, "no trust root is configured; upload one with PUT /api/v1/trust (flotilla trust upload)");
  if (request.body_size == 0) return problem(400, "the body must be the .flb bundle");

  auto file = artifacts::FileSource::open(request.body_file.string());
  if (!file) return problem_from(file.error());
  HashingSource source(**file);
  artifacts::VerifyOptions options;
  options.root = root.get();
  options.now = clock_();
  artifacts::DiscardSinkFactory discard;
  auto verified = artifacts::read_bundle(source, options, discard);
  if (!verified) {
    (void)store_.append_audit(caller.audit("bundle.upload", "bundle:?", "refused",
                               {{"reason", verified.error().describe()}, {"size", request.body_size}}));
    return problem(422, "the bundle was refused: " + verified.error().describe());
  }
  auto file_sha256 = source.finish();
  if (!file_sha256) return problem_from(file_sha256.error());

  auto existing = store_.find_bundle(*file_sha256);
  if (!existing) return problem_from(existing.error());
  if (*existing) return json_reply(200, bundle_json(**existing));

  const auto& m = verified->manifest;
  common::Json signers = common::Json::array();
  for (const auto& s : verified->envelope.signatures) {
    if (root->keys().contains(s.keyid)) signers.push_back(s.keyid);
  }
  BundleRecord record{.file_sha256 = *file_sha256,
                      .bundle_id = verified->bundle_id,
                      .name = m.name,
                      .kind = std::string(artifacts::kind_name(m.kind)),
                      .component = m.component,
                      .version = m.version.text(),
                      .security_version = m.security_version,
                      .size = static_cast<std::int64_t>(request.body_size),
                      .manifest_json = common::Json::parse(artifacts::serialize_manifest(m)).dump(),
                      .signer_keyids_json = signers.dump(),
                      .uploaded_at = common::format_rfc3339(clock_()),
                      .uploaded_by = caller.actor};
  // File first, then the row: a crash in between leaves an unreferenced
  // file, never a row without its file.
  if (auto ok = move_into_place(request.body_file, bundle_path(record.file_sha256)); !ok) return problem_from(ok.error());
  auto inserted = store_.insert_bundle(
      record, caller.audit("bundle.upload", "bundle:" + record.file_sha256, "ok",
               {{"name", m.name}, {"version", m.version.text()}, {"bundle_id", record.bundle_id}}));
  if (!inserted) return problem_from(inserted.error());
  return json_reply(*inserted ? 201 : 200, bundle_json(record));
}

http::Response ServerApp::list_bundles(http::Request&, const Params&, const Caller&) {
  auto bundles = store_.list_bundles();
  if (!bundles) return problem_from(bundles.error());
  common::Json out = common::Json::array();
  for (const auto& b : *bundles) {
    auto j = bundle_json(b);
    j.erase("manifest");
    out.push_back(std::move(j));
  }
  return json_reply(200, {{"bundles", out}});
}

http::Response ServerApp::show_bundle(http::Request&, const Params& params, const Caller&) {
  auto bundle = store_.find_bundle(params[0]);
  if (!bundle) return problem_from(bundle.error());
  if (!*bundle) return problem(404, "no bundle with that digest or id");
  return json_reply(200, bundle_json(**bundle));
}

http::Response ServerApp::delete_bundle(http::Request&, const Params& params, const Caller& caller) {
  auto bundle = store_.find_bundle(params[0]);
  if (!bundle) return problem_from(bundle.error());
  if (!*bundle) return problem(404, "no bundle with that digest or id");
  const auto& b = **bundle;
  auto used = store_.bundle_in_use(b.file_sha256);
  if (!used) return problem_from(used.error());
  if (*used) return problem(409, "the bundle is used by a deployment and cannot be deleted");
  auto ok = store_.delete_bundle(b.file_sha256, caller.audit("bundle.delete", "bundle:" + b.file_sha256, "ok",
                                                 {{"name", b.name}, {"version", b.version}}));
  if (!ok) return problem_from(ok.error());
  std::error_code ec;
  std::filesystem::remove(bundle_path(b.file_sha256), ec);
  return json_reply(200, {{"deleted", b.file_sha256}});
}

http::Response ServerApp::download_bundle(http::Request& request, const Params& params, const Caller&) {
  auto bundle = store_.find_bundle(params[0]);
  if (!bundle) return problem_from(bundle.error());
  if (!*bundle) return problem(404, "no bundle with that digest or id");
  return serve_bundle_file(request, **bundle);
}

http::Response ServerApp::serve_bundle_file(const http::Request& request, const BundleRecord& bundle) {
  return serve_stored_file(request, bundle.file_sha256 + ".flb", static_cast<std::uint64_t>(bundle.size),
                           "\"" + bundle.file_sha256 + "\"");
}

http::Response ServerApp::export_file_reply(const std::filesystem::path& file, std::string content_type) {
  if (export_redirect_.empty()) return temporary_file_reply(file, std::move(content_type));
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return problem(500, "the export could not be read back; see the server log");
  // nginx opens the file as soon as it reads this answer; a minute (the
  // default grace) is ample, and removing it after that does not cut a
  // slow transfer.
  handed_over_.remove_after(file, export_grace_);
  http::Response response;
  response.content_type = std::move(content_type);
  response.headers["X-Accel-Redirect"] = export_redirect_ + file.filename().string();
  return response;
}

http::Response ServerApp::serve_stored_file(const http::Request& request, const std::string& name, std::uint64_t size,
                                            const std::string& etag) {
  if (!accel_redirect_.empty()) {
    // nginx sends the file (sendfile, Range, If-Range) once we said yes.
    http::Response response;
    response.content_type = "application/octet-stream";
    response.headers["X-Accel-Redirect"] = accel_redirect_ + name;
    metrics_.add_bundle_bytes(size);
    return response;
  }
  auto decision = decide_range(request.header("Range"), request.header("If-Range"), etag, size);
  http::Response response;
  response.content_type = "application/octet-stream";
  response.headers["Accept-Ranges"] = "bytes";
  response.headers["ETag"] = etag;
  switch (decision.outcome) {
    case RangeOutcome::kUnsatisfiable: {
      auto refused = problem(416, "the range is outside the file");
      refused.headers["Content-Range"] = "bytes */" + std::to_string(size);
      return refused;
    }
    case RangeOutcome::kPartial:
      response.status = 206;
      response.headers["Content-Range"] = "bytes " + std::to_string(decision.range.offset) + "-" +
                                          std::to_string(decision.range.offset + decision.range.length - 1) + "/" +
                                          std::to_string(size);
      response.file = http::FileBody{bundle_dir_ / name, decision.range.offset, decision.range.length};
      break;
    case RangeOutcome::kWhole:
      response.file = http::FileBody{bundle_dir_ / name, 0, size};
      break;
  }
  if (request.method == "HEAD") {
    response.headers["Content-Length"] = std::to_string(response.file->length);
    response.file.reset();
  }
  return response;
}

}  // namespace flotilla::server::api
