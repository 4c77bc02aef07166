#include "client/gateway.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "artifacts/reader.hpp"
#include "client/activation_window.hpp"
#include "common/decimal.hpp"
#include "common/encoding.hpp"
#include "common/file.hpp"
#include "common/log.hpp"
#include "signing/digest.hpp"

namespace flotilla::client {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kOutboxBatch = 100;
// A child's unchanged inventory is sent again this often (the server
// counts a child unheard from as stale like any device).
constexpr std::int64_t kInventoryRefreshSeconds = 12 * 3600;
constexpr std::int64_t kRefusedReportRetrySeconds = 3600;
constexpr auto kProgressInterval = std::chrono::seconds(2);
constexpr auto kBundleCacheTime = std::chrono::hours(24);

bool is_final(const std::string& stage) { return stage == "committed" || stage == "failed" || stage == "rolled_back"; }

// Writes a verified payload to DIR/<name> (a temporary name until the
// whole bundle verified).
class DirectorySinks final : public artifacts::SinkFactory {
 public:
  explicit DirectorySinks(fs::path dir) : dir_(std::move(dir)) {}
  common::Result<std::unique_ptr<artifacts::PayloadSink>> open(const artifacts::Manifest&,
                                                               const artifacts::Payload& payload) override {
    return std::unique_ptr<artifacts::PayloadSink>(new Sink(dir_ / payload.name));
  }

 private:
  class Sink final : public artifacts::PayloadSink {
   public:
    explicit Sink(fs::path path) : path_(std::move(path)), fd_(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) {}
    ~Sink() override {
      if (fd_ >= 0) ::close(fd_);
    }
    common::Status write(std::span<const std::uint8_t> bytes) override {
      if (fd_ < 0) return common::fail(common::Errc::kIo, "cannot create " + path_.string());
      std::size_t done = 0;
      while (done < bytes.size()) {
        auto n = ::write(fd_, bytes.data() + done, bytes.size() - done);
        if (n <= 0) return common::fail(common::Errc::kIo, "writing " + path_.string());
        done += static_cast<std::size_t>(n);
      }
      return {};
    }
    common::Status finish() override {
      if (fd_ < 0 || ::fsync(fd_) != 0) return common::fail(common::Errc::kIo, "syncing " + path_.string());
      return {};
    }
    common::Status commit() override { return {}; }
    void abort() override {
      std::error_code ec;
      fs::remove(path_, ec);
    }

   private:
    fs::path path_;
    int fd_;
  };
  fs::path dir_;
};

// An offer in a gateway's poll answer with every member the gateway reads
// of the type it reads it as (the answer comes from the network).
bool usable_child_offer(const common::Json& o) {
  if (!o.is_object() || !o.contains("device_id") || !o["device_id"].is_string() ||
      !common::is_sha256_hex(o["device_id"].get<std::string>()) || !o.contains("deployment_id") ||
      !o["deployment_id"].is_number_integer() || !o.contains("bundle") || !o["bundle"].is_object()) {
    return false;
  }
  if (o.contains("allow_downgrade") && !o["allow_downgrade"].is_boolean()) return false;
  const auto& b = o["bundle"];
  return b.contains("url") && b["url"].is_string() && b.contains("size") && b["size"].is_number_unsigned() &&
         b.contains("file_sha256") && b["file_sha256"].is_string() && common::is_sha256_hex(b["file_sha256"].get<std::string>()) &&
         (!b.contains("bundle_id") || b["bundle_id"].is_string()) &&
         (!b.contains("fallback_url") || b["fallback_url"].is_string());
}

// The component versions an inventory report carries.
common::Json components_json(const std::map<std::string, ComponentState>& versions) {
  common::Json out = common::Json::object();
  for (const auto& [name, c] : versions) out[name] = {{"version", c.version}, {"security_version", c.security_version}};
  return out;
}

}  // namespace

std::string child_device_id(const std::string& device_type, const std::string& child_id) {
  return signing::sha256_hex("flotilla-child:" + device_type + ":" + child_id);
}

common::Result<std::unique_ptr<Gateway>> Gateway::open(Agent& agent) {
  const auto& config = *agent.config().gateway;
  auto adapters = load_adapters(config.adapters_dir, config.step_timeout, agent.env());
  if (!adapters) return std::unexpected(adapters.error());
  if (adapters->empty()) {
    common::log(common::LogLevel::kWarn, "gateway: no adapters in " + config.adapters_dir.string() + ": no children to serve");
  }
  auto state = GatewayState::open(agent.config().state_dir);
  if (!state) return std::unexpected(state.error());
  return std::unique_ptr<Gateway>(new Gateway(agent, std::move(*state), std::move(*adapters)));
}

std::string Gateway::now_text() const { return common::format_rfc3339(agent_.env().now()); }

ChildAdapter* Gateway::adapter(const std::string& name) {
  for (auto& a : adapters_) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

void Gateway::before_poll(ServerLink& link) {
  (void)deliver(link);
  auto left = state_->pending_events(1);
  outbox_pending_at_poll_ = !left || !left->empty();
}

common::Status Gateway::deliver(ServerLink& link) {
  for (;;) {
    auto events = state_->pending_events(kOutboxBatch);
    if (!events) return std::unexpected(events.error());
    if (events->empty()) return {};
    for (const auto& e : *events) {
      common::Json body = {{"seq", e.seq}, {"state", e.state}, {"progress", e.progress},
                           {"message", e.message.substr(0, 1000)}, {"time", e.time}};
      if (e.running_version) body["running_version"] = *e.running_version;
      auto response = link.send_signed("POST", "/api/v1/device/children/" + e.device_id + "/deployments/" +
                                                   std::to_string(e.deployment_id) + "/events",
                                       body.dump());
      if (!response) return std::unexpected(response.error());  // offline: kept
      if (response->status == 401 || response->status >= 500) {
        return common::fail(common::Errc::kIo, "child event refused for now (HTTP " + std::to_string(response->status) + ")");
      }
      if (response->status != 200) {
        common::log(common::LogLevel::kWarn, "child " + e.device_id.substr(0, 12) + ": event " + std::to_string(e.seq) +
                                                 " refused for good (HTTP " + std::to_string(response->status) + ")");
      }
      if (auto ok = state_->drop_event(e.id); !ok) return ok;
    }
  }
}

common::Status Gateway::scan(ServerLink& link) {
  for (auto& adapter : adapters_) {
    auto children = adapter.list();
    if (!children) {
      common::log(common::LogLevel::kWarn, "gateway: " + children.error().describe());
      continue;
    }
    for (const auto& c : *children) {
      KnownChild known{child_device_id(c.device_type, c.id), c.id, c.device_type, adapter.name(), c.identity.dump()};
      if (auto ok = state_->remember_child(known); !ok) return ok;
      std::map<std::string, ComponentState> versions;
      auto read = adapter.versions(c.id, versions);
      if (read.outcome != StepOutcome::kDone) {
        common::log(common::LogLevel::kInfo, "gateway: " + read.detail);
        continue;
      }
      auto stored = state_->child(known.device_id);
      if (!stored || !*stored) continue;
      auto sent = report(link, **stored, versions);
      if (!sent) common::log(common::LogLevel::kWarn, "gateway: child " + c.id + ": " + sent.error().describe());
    }
  }
  return {};
}

common::Status Gateway::report(ServerLink& link, const KnownChild& child, const std::map<std::string, ComponentState>& versions) {
  common::Json content = {{"child_id", child.child_id}, {"device_type", child.device_type},
                          {"components", components_json(versions)}, {"health", {{"adapter", child.adapter}}}};
  auto identity = common::Json::parse(child.identity, nullptr, false);
  if (identity.is_object() && !identity.empty()) content["identity"] = identity;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(agent_.env().now().time_since_epoch()).count();
  if (child.sent && *child.sent == content.dump() && now - child.sent_at < kInventoryRefreshSeconds) return {};
  std::int64_t counter = child.counter + 1;
  for (int attempt = 0;; ++attempt) {
    // The counter is kept before it is used: it must only grow.
    if (auto ok = state_->set_counter(child.device_id, counter); !ok) return ok;
    common::Json body = content;
    body["counter"] = counter;
    body["timestamp"] = common::format_rfc3339(link.request_time());
    auto response = link.send_signed("PUT", "/api/v1/device/children/inventory", body.dump());
    if (!response) return std::unexpected(response.error());
    if (response->status == 200) break;
    auto refusal = common::Json::parse(response->body, nullptr, false);
    if (response->status == 409 && attempt == 0 && refusal.is_object() && refusal.contains("last_counter") &&
        refusal["last_counter"].is_number_integer()) {
      counter = refusal["last_counter"].get<std::int64_t>() + 1;  // the gateway's state was wiped or restored
      continue;
    }
    std::string why = refusal.is_object() && refusal.contains("detail") && refusal["detail"].is_string()
                          ? ": " + refusal["detail"].get<std::string>().substr(0, 300)
                          : "";
    if (response->status == 403 || response->status == 409) {
      // Refused for what only an operator changes (this gateway may not
      // speak for children, the child is another gateway's or orphaned):
      // asked again in an hour, not at every scan, which would write the
      // server's audit log full of the same refusal.
      (void)state_->set_inventory_sent(child.device_id, counter, content.dump(),
                                       now - kInventoryRefreshSeconds + kRefusedReportRetrySeconds);
    }
    return common::fail(common::Errc::kIo, "inventory refused (HTTP " + std::to_string(response->status) + ")" + why);
  }
  return state_->set_inventory_sent(child.device_id, counter, content.dump(), now);
}

common::Result<Gateway::Bundle> Gateway::fetch(ServerLink& link, const common::Json& offered) {
  std::string sha = offered.value("file_sha256", std::string());
  if (!common::is_sha256_hex(sha)) return common::fail(Errc::kBadOffer, "an offer without a bundle digest");
  fs::path cache = agent_.config().state_dir / "gateway" / "bundles";
  fs::path dir = cache / sha;
  auto read_manifest = [&]() -> common::Result<Bundle> {
    auto text = common::read_file((dir / "manifest.json").string(), 1 << 20);
    if (!text) return std::unexpected(text.error());
    auto manifest = artifacts::parse_manifest(common::as_bytes(*text));
    if (!manifest) return std::unexpected(manifest.error());
    return Bundle{dir, std::move(*manifest)};
  };
  // Unpacked only once verified, then renamed into place: there is
  // nothing else under this name.
  if (fs::exists(dir / "manifest.json")) return read_manifest();
  std::error_code ec;
  fs::create_directories(cache, ec);
  fs::path part = cache / (sha + ".part");
  std::uint64_t have = fs::exists(part) ? fs::file_size(part, ec) : 0;
  std::uint64_t size = offered.value("size", std::uint64_t{0});
  if (have > size) {
    fs::remove(part, ec);
    have = 0;
  }
  if (have < size) {
    // Downloaded to a file once for all the children it goes to, resumed
    // after a power cut from what is on disk.
    auto options = link.download_options(offered);
    options.start_offset = have;
    auto source = HttpSource::open(std::move(options), agent_.env());
    if (!source) return std::unexpected(source.error());
    std::ofstream out(part, std::ios::binary | std::ios::app);
    std::vector<std::uint8_t> buffer(256 * 1024);
    for (;;) {
      auto n = (*source)->read(buffer);
      if (!n) return common::fail(common::Errc::kIo, "downloading bundle " + sha.substr(0, 12) + ": " + n.error().describe());
      if (*n == 0) break;
      out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(*n));
      if (!out) return common::fail(common::Errc::kIo, "writing " + part.string());
    }
    out.close();
  }
  // Verified against this gateway's trust root before any child sees a
  // byte of it; a bundle that fails is thrown away, never retried from
  // the same bytes.
  auto root = agent_.current_root();
  if (!root) return std::unexpected(root.error());
  auto trusted = agent_.state().trusted_time();
  fs::path staging = cache / (sha + ".tmp");
  fs::remove_all(staging, ec);
  fs::create_directories(staging / "payloads", ec);
  auto file = artifacts::FileSource::open(part.string());
  if (!file) return std::unexpected(file.error());
  artifacts::VerifyOptions options{.root = &*root, .now = std::max(agent_.env().now(), trusted.value_or(common::TimePoint{}))};
  if (offered.contains("bundle_id") && offered["bundle_id"].is_string()) options.expected_bundle_id = offered["bundle_id"].get<std::string>();
  DirectorySinks sinks(staging / "payloads");
  auto verified = artifacts::read_bundle(**file, options, sinks);
  if (!verified) {
    fs::remove(part, ec);
    fs::remove_all(staging, ec);
    // Bytes kept across a power cut may be what is wrong, not the bundle:
    // a resumed download that fails is downloaded whole once more.
    if (have > 0) {
      return common::fail(common::Errc::kIo, "the resumed download of bundle " + sha.substr(0, 12) +
                                                 " does not verify (" + verified.error().describe() + "); downloading it whole");
    }
    return std::unexpected(verified.error().with_context("the bundle does not verify"));
  }
  if (auto ok = common::write_file_atomic(staging / "manifest.json", artifacts::serialize_manifest(verified->manifest), 0644); !ok) {
    return std::unexpected(ok.error());
  }
  fs::rename(staging, dir, ec);
  if (ec) return common::fail(common::Errc::kIo, "cannot keep " + dir.string() + ": " + ec.message());
  fs::remove(part, ec);
  common::log(common::LogLevel::kInfo, "gateway: bundle " + sha.substr(0, 12) + " (" + verified->manifest.name + " " +
                                           verified->manifest.version.text() + ") downloaded and verified for the children");
  return read_manifest();
}

void Gateway::update_child(const Offer& offer, const Bundle& bundle) {
  const auto& m = bundle.manifest;
  auto current = state_->update(offer.device_id);
  ChildUpdate u{offer.device_id, offer.deployment_id, offer.bundle.value("file_sha256", std::string()), m.component,
                m.version.text(), "", ""};
  if (current && *current && (*current)->deployment_id == offer.deployment_id) u.stage = (*current)->stage;
  auto advance = [&](const std::string& stage, const std::string& event, const std::string& message,
                     std::optional<std::string> running = std::nullopt) {
    u.stage = stage;
    u.message = message;
    if (auto ok = state_->advance(u, event, 0, running, now_text()); !ok) {
      common::log(common::LogLevel::kError, "gateway: " + ok.error().describe());
    }
    if (is_final(stage)) {
      std::error_code ec;
      fs::remove_all(agent_.config().state_dir / "gateway" / "work" / offer.device_id, ec);
    }
    std::string line = "gateway: child " + offer.device_id.substr(0, 12) + " deployment " + std::to_string(u.deployment_id) +
                       ": " + stage + (message.empty() ? "" : " (" + message + ")");
    common::log(stage == "failed" || stage == "rolled_back" ? common::LogLevel::kWarn : common::LogLevel::kInfo, line);
  };
  auto known = state_->child(offer.device_id);
  ChildAdapter* a = known && *known ? adapter((*known)->adapter) : nullptr;
  if (!a) {
    advance("failed", "failed", "no adapter of this gateway reaches the child");
    return;
  }
  const auto& child = (*known)->child_id;
  auto rollback = [&](const std::string& why) {
    auto undone = a->rollback(child);
    if (undone.outcome == StepOutcome::kDone) {
      advance("rolled_back", "rolled_back", why + "; rolled back");
    } else {
      advance("failed", "failed", why + "; " + undone.detail);
    }
  };
  // Whatever the stage, first what the child runs now: after a power cut
  // the step that was cut may have taken effect.
  std::map<std::string, ComponentState> versions;
  auto read = a->versions(child, versions);
  if (read.outcome == StepOutcome::kUnreachable) {
    if (u.stage.empty() || u.stage == "installing" || is_final(u.stage)) advance("interrupted", "interrupted", read.detail);
    return;
  }
  if (read.outcome != StepOutcome::kDone) {
    advance("failed", "failed", read.detail);
    return;
  }
  auto running = versions.find(m.component);
  if (running != versions.end() && running->second.version == m.version.text()) {
    advance("committed", "committed", "the child runs " + m.version.text(), m.version.text());
    note_updated(offer.device_id);
    return;
  }
  if (u.stage.empty() || u.stage == "interrupted" || u.stage == "installing" || is_final(u.stage)) {
    // The gateway checks what the child cannot: the bundle is for its
    // type, its requirements hold, and it is no downgrade below the
    // child's security version.
    artifacts::DeviceContext context{.device_type = (*known)->device_type, .allow_downgrade = offer.allow_downgrade};
    for (const auto& [name, c] : versions) {
      if (auto v = common::Version::parse(c.version)) context.installed.emplace(name, artifacts::InstalledComponent{*v, c.security_version});
    }
    if (auto ok = artifacts::check_device(m, context); !ok) {
      advance("failed", "failed", ok.error().describe());
      return;
    }
    fs::path work = agent_.config().state_dir / "gateway" / "work" / offer.device_id;
    std::error_code ec;
    fs::remove_all(work, ec);
    fs::create_directories(work, ec);
    fs::create_directory_symlink(bundle.dir / "payloads", work / "payloads", ec);
    fs::copy_file(bundle.dir / "manifest.json", work / "manifest.json", ec);
    if (ec) {
      advance("failed", "failed", "cannot lay out " + work.string() + ": " + ec.message());
      return;
    }
    advance("installing", "installing", "");
    {
      std::lock_guard lock(running_mutex_);
      running_[offer.device_id] = {u, 0};
    }
    auto installed = a->install(child, work);
    {
      std::lock_guard lock(running_mutex_);
      running_.erase(offer.device_id);
    }
    if (installed.outcome == StepOutcome::kUnreachable) return advance("interrupted", "interrupted", installed.detail);
    if (installed.outcome != StepOutcome::kDone) return advance("failed", "failed", installed.detail);
    advance("activating", "", "installed");
  }
  if (u.stage == "activating") {
    // Written, but switched only inside the rollout's window: the child
    // waits installed, and the next offer looks again.
    if (!activation_window_open(offer.activate_window, agent_.env().now())) {
      common::log(common::LogLevel::kInfo, "gateway: child " + child + " is installed and waits for its activation window");
      return;
    }
    advance("activating", "rebooting", "activating");
    auto activated = a->activate(child);
    if (activated.outcome == StepOutcome::kUnreachable) return;  // tried again at the next offer
    if (activated.outcome == StepOutcome::kFailed) return rollback(activated.detail);
    advance("verifying", "verifying", "");
  }
  // verifying: the child must now say it runs the new version.
  auto after = a->versions(child, versions);
  if (after.outcome == StepOutcome::kUnreachable) return;
  note_updated(offer.device_id);
  if (after.outcome != StepOutcome::kDone) return rollback(after.detail);
  running = versions.find(m.component);
  if (running == versions.end() || running->second.version != m.version.text()) {
    return rollback("the child runs " + (running == versions.end() ? std::string("no ") + m.component : running->second.version) +
                    " after activation, not " + m.version.text());
  }
  advance("committed", "committed", "the child runs " + m.version.text(), m.version.text());
}

void Gateway::note_updated(const std::string& device_id) {
  std::lock_guard lock(running_mutex_);  // children are updated on several threads
  updated_.insert(device_id);
}

void Gateway::note_progress() {
  std::lock_guard lock(running_mutex_);
  for (auto& [device_id, entry] : running_) {
    auto& [update, sent] = entry;
    auto text = common::read_file((agent_.config().state_dir / "gateway" / "work" / device_id / "progress").string(), 32);
    std::uint64_t value = 0;
    if (!text) continue;
    std::string digits = *text;
    while (!digits.empty() && (digits.back() == '\n' || digits.back() == ' ')) digits.pop_back();
    if (!common::parse_decimal(digits, value, 3) || value > 100) continue;
    int progress = static_cast<int>(value);
    if (progress < sent + 5 && progress != 100) continue;
    if (state_->queue_progress(update, progress, now_text())) sent = progress;
  }
}

common::Status Gateway::after_poll(const common::Json& answer, ServerLink& link) {
  const auto& config = *agent_.config().gateway;
  auto now = std::chrono::steady_clock::now();
  auto wall = std::chrono::duration_cast<std::chrono::seconds>(agent_.env().now().time_since_epoch()).count();
  auto last = state_->last_scan();
  if (!last) return std::unexpected(last.error());
  // A clock turned back scans at once rather than never.
  if (wall - *last >= config.scan_interval.count() || wall < *last) {
    if (auto ok = scan(link); !ok) return ok;
    if (auto ok = state_->set_last_scan(wall); !ok) return ok;
  }
  std::vector<Offer> offers;
  bool rescanned = false;
  if (answer.contains("children") && answer["children"].is_array()) {
    for (const auto& o : answer["children"]) {
      if (!usable_child_offer(o)) {
        common::log(common::LogLevel::kWarn, "gateway: the server offered a child an update without a usable bundle");
        continue;
      }
      Offer offer{o["device_id"].get<std::string>(), o["deployment_id"].get<std::int64_t>(), o["bundle"],
                  o.contains("allow_downgrade") && o["allow_downgrade"].get<bool>(),
                  o.contains("activate_window") ? o["activate_window"] : common::Json()};
      auto current = state_->update(offer.device_id);
      if (!current) return std::unexpected(current.error());
      if (*current && (*current)->deployment_id == offer.deployment_id && is_final((*current)->stage)) {
        // Offered again: either the final event is still on its way, or
        // the rollout retries a failed child (once the server has it).
        bool retry = (*current)->stage != "committed" && !outbox_pending_at_poll_;
        if (!retry) continue;
      }
      auto known = state_->child(offer.device_id);
      if (!known) return std::unexpected(known.error());
      if (!*known && !rescanned) {
        // A child this gateway has not listed yet (its state was wiped):
        // the adapters are asked once more.
        if (auto ok = scan(link); !ok) return ok;
        rescanned = true;
        known = state_->child(offer.device_id);
        if (!known) return std::unexpected(known.error());
      }
      if (!*known) {
        common::log(common::LogLevel::kWarn, "gateway: offered child " + offer.device_id.substr(0, 12) + " is not reached by any adapter");
        continue;
      }
      offers.push_back(std::move(offer));
    }
  }
  std::map<std::string, std::vector<const Offer*>> by_bundle;
  for (const auto& o : offers) by_bundle[o.bundle.value("file_sha256", std::string())].push_back(&o);
  for (const auto& [sha, group] : by_bundle) {
    auto bundle = fetch(link, group.front()->bundle);
    if (!bundle) {
      if (bundle.error().is(common::Errc::kIo)) {
        common::log(common::LogLevel::kWarn, "gateway: " + bundle.error().describe() + "; the children's updates continue at the next offer");
        continue;
      }
      // Not genuine, or not what was offered: no child gets any of it.
      for (const auto* o : group) {
        ChildUpdate u{o->device_id, o->deployment_id, sha, "", "", "failed", bundle.error().describe()};
        if (auto ok = state_->advance(u, "failed", 0, std::nullopt, now_text()); !ok) return ok;
      }
      common::log(common::LogLevel::kError, "gateway: " + bundle.error().describe() + "; passed to no child");
      continue;
    }
    // A bounded number of children at once; events (progress included)
    // go out while they work.
    std::atomic<std::size_t> next{0};
    std::atomic<int> done{0};
    int workers = std::min<int>(config.parallelism, static_cast<int>(group.size()));
    std::vector<std::thread> threads;
    for (int i = 0; i < workers; ++i) {
      threads.emplace_back([&] {
        for (std::size_t k; (k = next++) < group.size();) update_child(*group[k], *bundle);
        ++done;
      });
    }
    while (done < workers) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      auto tick = std::chrono::steady_clock::now();
      if (tick - now >= kProgressInterval) {
        note_progress();
        (void)deliver(link);
        now = tick;
      }
    }
    for (auto& t : threads) t.join();
    (void)deliver(link);
  }
  // Bundles no child was offered for a day leave the cache: kept between
  // a rollout's waves (nothing is offered while a wave soaks), gone once
  // the rollouts that used them are over. Offered ones are marked fresh.
  std::error_code ec;
  auto now_file = fs::file_time_type::clock::now();
  for (const auto& entry : fs::directory_iterator(agent_.config().state_dir / "gateway" / "bundles", ec)) {
    auto name = entry.path().filename().string();
    if (by_bundle.contains(name.substr(0, name.find('.')))) {
      fs::last_write_time(entry.path(), now_file, ec);
    } else if (now_file - fs::last_write_time(entry.path(), ec) > kBundleCacheTime) {
      fs::remove_all(entry.path(), ec);
    }
  }
  // What changed on the children is reported at once.
  for (const auto& device_id : updated_) {
    auto known = state_->child(device_id);
    if (!known || !*known) continue;
    ChildAdapter* a = adapter((*known)->adapter);
    std::map<std::string, ComponentState> versions;
    if (!a || a->versions((*known)->child_id, versions).outcome != StepOutcome::kDone) continue;
    if (auto ok = report(link, **known, versions); !ok) common::log(common::LogLevel::kWarn, "gateway: " + ok.error().describe());
  }
  updated_.clear();
  return deliver(link);
}

}  // namespace flotilla::client
