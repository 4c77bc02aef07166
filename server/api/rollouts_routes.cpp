// Operator side: staged rollouts under a policy (DESIGN.md §7). The
// handlers validate and record operator decisions; the scheduler
// (server/scheduler/) does the rest and is woken after each change.
#include <algorithm>

#include "policy/engine.hpp"
#include "server/api/app.hpp"
#include "server/api/reply.hpp"
#include "server/scheduler/rollout_plan.hpp"

namespace flotilla::server::api {
namespace {

// Dry-run lists are cut here; the counts stay exact.
constexpr std::size_t kMaxListedDevices = 1000;

common::Json rollout_json(const RolloutRecord& r, bool with_details) {
  common::Json out = {{"id", r.id},
                      {"name", r.name},
                      {"state", rollout_state_name(r.state)},
                      {"reason", r.reason},
                      {"bundle", r.bundle},
                      {"deployment_id", r.deployment_id},
                      {"created_by", r.created_by},
                      {"created_at", r.created_at},
                      {"updated_at", r.updated_at}};
  out["rollback_bundle"] = r.rollback_bundle ? common::Json(*r.rollback_bundle) : common::Json(nullptr);
  out["rollback_deployment_id"] = r.rollback_deployment_id ? common::Json(*r.rollback_deployment_id) : common::Json(nullptr);
  auto status = common::Json::parse(r.status_json, nullptr, false);
  out["status"] = status.is_object() ? status : common::Json::object();
  if (with_details) out["policy"] = common::Json::parse(r.policy_json, nullptr, false);
  return out;
}

std::vector<FieldError> field_errors(const policy::PolicyErrors& errors) {
  std::vector<FieldError> out;
  for (const auto& e : errors) out.push_back({e.pointer, e.message});
  return out;
}

}  // namespace

// The policy in the body, checked against what the server holds: the
// bundles must exist and suit every targeted device type.
std::expected<ServerApp::CheckedRollout, http::Response> ServerApp::check_rollout(http::Request& request) {
  common::Json doc;
  auto body = json_body(request, doc);
  if (!body) return std::unexpected(body.error());
  auto parsed = policy::parse_rollout_policy(doc);
  if (!parsed) return std::unexpected(problem(422, "the rollout policy is invalid", field_errors(parsed.error())));
  auto bundles = store_.list_bundles();
  if (!bundles) return std::unexpected(problem_from(bundles.error()));
  auto find = [&](const policy::BundleRef& ref) -> const BundleRecord* {
    for (const auto& b : *bundles) {
      if (b.name == ref.name && b.version == ref.version.text()) return &b;
    }
    return nullptr;
  };
  std::vector<FieldError> errors;
  const BundleRecord* bundle = find(parsed->bundle);
  if (!bundle) errors.push_back({"/bundle", "no uploaded bundle " + parsed->bundle.name + " " + parsed->bundle.version.text()});
  std::optional<LoadedRollout> loaded;
  if (bundle) {
    auto facts = load_rollout(*parsed, *bundle);
    if (!facts) return std::unexpected(problem_from(facts.error()));
    loaded = std::move(*facts);
    auto manifest = common::Json::parse(bundle->manifest_json, nullptr, false);
    const auto& compatible = manifest["compatible"];
    for (std::size_t i = 0; i < parsed->target.device_types.size(); ++i) {
      const auto& type = parsed->target.device_types[i];
      if (std::find(compatible.begin(), compatible.end(), type) == compatible.end()) {
        errors.push_back({common::pointer_join("/target/device_types", i), "the bundle is not compatible with " + type});
      }
    }
  }
  std::optional<std::string> rollback;
  if (parsed->rollback_bundle) {
    const BundleRecord* back = find(*parsed->rollback_bundle);
    if (!back) {
      errors.push_back({"/on_abort/rollback_bundle", "no uploaded bundle " + parsed->rollback_bundle->name + " " +
                                                         parsed->rollback_bundle->version.text()});
    } else if (bundle && back->component != bundle->component) {
      errors.push_back({"/on_abort/rollback_bundle", "updates " + back->component + ", not " + bundle->component});
    } else {
      rollback = back->file_sha256;
    }
  }
  // A zone the server has no rules for would never open its windows.
  for (std::size_t i = 0; i < parsed->schedule.windows.size(); ++i) {
    const auto& tz = parsed->schedule.windows[i].tz;
    if (tz.kind == policy::TimeZone::Kind::kIana && !system_zones()(tz.name, clock_())) {
      errors.push_back({common::pointer_join(common::pointer_join("/schedule/windows", i), "tz"),
                        "unknown time zone " + tz.name + " (not in this server's tzdata)"});
    }
  }
  if (!errors.empty()) return std::unexpected(problem(422, "the rollout cannot run on this server", errors));
  return CheckedRollout{std::move(*loaded), *bundle, rollback, doc.dump()};
}

http::Response ServerApp::create_rollout(http::Request& request, const Params&, const Caller& caller) {
  auto checked = check_rollout(request);
  if (!checked) return checked.error();
  const auto& policy = checked->loaded.policy;
  std::string now = common::format_rfc3339(clock_());
  RolloutRecord rollout{.name = policy.name, .policy_json = checked->document, .bundle = checked->bundle.file_sha256,
                        .rollback_bundle = checked->rollback_bundle, .reason = "waiting for the scheduler",
                        .created_by = caller.actor, .created_at = now, .updated_at = now};
  DeploymentRecord deployment{.bundle = checked->bundle.file_sha256, .component = checked->bundle.component,
                              .allow_downgrade = policy.allow_downgrade, .created_by = caller.actor, .created_at = now};
  if (policy.deadline) deployment.deadline = common::format_rfc3339(*policy.deadline);
  auto id = store_.create_rollout(rollout, deployment,
                                  caller.audit("rollout.create", "bundle:" + checked->bundle.file_sha256, "ok",
                                   {{"name", policy.name}, {"version", checked->bundle.version}}));
  if (!id) return problem_from(id.error());
  if (rollouts_changed_) rollouts_changed_();
  auto stored = store_.find_rollout(*id);
  if (!stored || !*stored) return problem(500, "the rollout was created but cannot be read back; see the server log");
  return json_reply(201, rollout_json(**stored, true));
}

http::Response ServerApp::dry_run_rollout(http::Request& request, const Params&, const Caller&) {
  auto checked = check_rollout(request);
  if (!checked) return checked.error();
  // Buckets depend on the rollout id: the dry run uses the id the next
  // create will get, so its waves are the ones that create would make
  // unless another rollout is created first.
  auto next_id = store_.next_rollout_id();
  if (!next_id) return problem_from(next_id.error());
  RolloutRecord probe{.id = *next_id};
  auto snapshot = load_snapshot(store_, probe, checked->loaded);
  if (!snapshot) return problem_from(snapshot.error());
  auto evaluation = policy::evaluate(checked->loaded.policy, *snapshot, clock_());
  const auto& waves = checked->loaded.policy.waves;
  common::Json wave_list = common::Json::array();
  for (const auto& wave : waves) wave_list.push_back({{"name", wave.name}, {"count", 0}, {"devices", common::Json::array()}});
  common::Json skipped = common::Json::array(), blocked = common::Json::array();
  std::int64_t skipped_count = 0, blocked_count = 0, outside = 0, unplaced = 0;
  for (const auto& p : evaluation.placements) {
    auto add = [&](common::Json& list, std::int64_t& count) {
      if (static_cast<std::size_t>(++count) <= kMaxListedDevices) list.push_back({{"id", std::string(p.device_id)}, {"reason", p.reason}});
    };
    if (p.membership == policy::Membership::kOutside) {
      ++outside;
    } else if (p.membership == policy::Membership::kSkipped) {
      add(skipped, skipped_count);
    } else if (p.membership == policy::Membership::kBlocked) {
      add(blocked, blocked_count);
    } else if (!p.wave) {
      ++unplaced;
    } else {
      auto& w = wave_list[static_cast<std::size_t>(*p.wave)];
      w["count"] = w["count"].get<std::int64_t>() + 1;
      if (w["devices"].size() < kMaxListedDevices) w["devices"].push_back(std::string(p.device_id));
    }
  }
  return json_reply(200, {{"rollout_id", *next_id}, {"bundle", checked->bundle.file_sha256}, {"waves", wave_list},
                          {"skipped", skipped}, {"skipped_count", skipped_count}, {"blocked", blocked},
                          {"blocked_count", blocked_count}, {"outside_target", outside}, {"unplaced", unplaced},
                          {"would_offer_now", evaluation.offer.size()}, {"held_by", evaluation.held_by}});
}

http::Response ServerApp::list_rollouts(http::Request&, const Params&, const Caller&) {
  auto rollouts = store_.list_rollouts({}, 1000);
  if (!rollouts) return problem_from(rollouts.error());
  common::Json out = common::Json::array();
  for (const auto& r : *rollouts) out.push_back(rollout_json(r, false));
  return json_reply(200, {{"rollouts", out}});
}

std::expected<RolloutRecord, http::Response> ServerApp::rollout_of(const Params& params) {
  auto id = parse_positive(params[0]);
  if (!id) return std::unexpected(problem(400, "a rollout id is a positive integer"));
  auto rollout = store_.find_rollout(*id);
  if (!rollout) return std::unexpected(problem_from(rollout.error()));
  if (!*rollout) return std::unexpected(problem(404, "no such rollout"));
  return **rollout;
}

http::Response ServerApp::show_rollout(http::Request&, const Params& params, const Caller&) {
  auto rollout = rollout_of(params);
  if (!rollout) return rollout.error();
  return json_reply(200, rollout_json(*rollout, true));
}

http::Response ServerApp::change_rollout(const Params& params, const Caller& caller, RolloutTransition transition,
                                         const std::string& action) {
  auto rollout = rollout_of(params);
  if (!rollout) return rollout.error();
  transition.rollout_id = rollout->id;
  auto ok = store_.transition_rollout(transition, caller.audit(action, "rollout:" + std::to_string(rollout->id), "ok",
                                                   {{"cause", "operator"}}));
  if (!ok) return problem_from(ok.error());
  if (rollouts_changed_) rollouts_changed_();
  auto stored = store_.find_rollout(rollout->id);
  if (!stored || !*stored) return problem(500, "the rollout changed but cannot be read back; see the server log");
  return json_reply(200, rollout_json(**stored, false));
}

http::Response ServerApp::pause_rollout(http::Request&, const Params& params, const Caller& caller) {
  return change_rollout(params, caller, {.event = RolloutEvent::kPause, .reason = "paused by " + caller.actor,
                                         .withdraw_unfetched = true},
                        "rollout.pause");
}

http::Response ServerApp::resume_rollout(http::Request&, const Params& params, const Caller& caller) {
  return change_rollout(params, caller, {.event = RolloutEvent::kResume, .reason = "resumed by " + caller.actor,
                                         .acknowledge_failures = true},
                        "rollout.resume");
}

http::Response ServerApp::abort_rollout(http::Request& request, const Params& params, const Caller& caller) {
  bool rollback = false;
  if (!request.body.empty()) {
    common::Json doc;
    auto body = json_body(request, doc);
    if (!body) return body.error();
    if (auto ok = body->only_keys({"rollback"}); !ok) return problem_from(ok.error());
    if (body->has("rollback")) {
      if (!doc["rollback"].is_boolean()) return problem(400, "invalid flag", {{"/rollback", "must be true or false"}});
      rollback = doc["rollback"].get<bool>();
    }
  }
  RolloutTransition t{.event = RolloutEvent::kAbort, .reason = "aborted by " + caller.actor, .withdraw_unfetched = true};
  if (rollback) {
    auto rollout = rollout_of(params);
    if (!rollout) return rollout.error();
    if (!rollout->rollback_bundle) {
      return problem(422, "the policy names no rollback bundle", {{"/rollback", "needs on_abort.rollback_bundle in the policy"}});
    }
    auto original = store_.find_deployment(rollout->deployment_id);
    if (!original || !*original) return problem(500, "the rollout's deployment cannot be read; see the server log");
    t.rollback = DeploymentRecord{.bundle = *rollout->rollback_bundle, .component = (*original)->component,
                                  .allow_downgrade = true, .created_by = caller.actor,
                                  .created_at = common::format_rfc3339(clock_())};
  }
  return change_rollout(params, caller, t, rollback ? "rollout.abort_and_rollback" : "rollout.abort");
}

http::Response ServerApp::approve_rollout(http::Request& request, const Params& params, const Caller& caller) {
  auto rollout = rollout_of(params);
  if (!rollout) return rollout.error();
  if (rollout->state == RolloutState::kCompleted || rollout->state == RolloutState::kAborted) {
    return problem(409, "rollout " + std::to_string(rollout->id) + " is " + std::string(rollout_state_name(rollout->state)));
  }
  auto cached = cached_rollout(rollout->id);
  if (!cached) return problem(500, "the stored policy cannot be read; see the server log");
  const policy::RolloutPolicy* policy = &cached->policy;
  // Which wave: the one named in the body, else the one the gate waits on.
  std::optional<int> wave;
  if (!request.body.empty()) {
    common::Json doc;
    auto body = json_body(request, doc);
    if (!body) return body.error();
    if (auto ok = body->only_keys({"wave"}); !ok) return problem_from(ok.error());
    if (body->has("wave")) {
      auto name = body->string("wave", 64);
      if (!name) return problem_from(name.error());
      for (std::size_t k = 0; k < policy->waves.size(); ++k) {
        if (policy->waves[k].name == *name) wave = static_cast<int>(k);
      }
      if (!wave) return problem(422, "no such wave", {{"/wave", "names no wave of this rollout"}});
    }
  }
  if (!wave) {
    auto status = common::Json::parse(rollout->status_json, nullptr, false);
    if (status.value("waiting_for", "") != "approval" || !status.contains("waiting_wave")) {
      return problem(409, "no wave waits for approval; name one with {\"wave\": NAME} to approve it in advance");
    }
    wave = status["waiting_wave"].get<int>();
  }
  if (!policy->waves[static_cast<std::size_t>(*wave)].manual_approval) {
    return problem(422, "wave " + policy->waves[static_cast<std::size_t>(*wave)].name + " needs no approval");
  }
  auto ok = store_.approve_wave(rollout->id, *wave,
                                caller.audit("rollout.approve", "rollout:" + std::to_string(rollout->id), "ok",
                                 {{"wave", policy->waves[static_cast<std::size_t>(*wave)].name}, {"cause", "operator"}}));
  if (!ok) return problem_from(ok.error());
  if (rollouts_changed_) rollouts_changed_();
  return json_reply(200, {{"rollout_id", rollout->id}, {"approved_wave", policy->waves[static_cast<std::size_t>(*wave)].name}});
}

std::shared_ptr<const ServerApp::CachedRollout> ServerApp::cached_rollout(std::int64_t id) {
  {
    std::lock_guard lock(rollout_cache_mutex_);
    if (auto it = rollout_cache_.find(id); it != rollout_cache_.end()) return it->second;
  }
  auto rollout = store_.find_rollout(id);
  if (!rollout || !*rollout) return nullptr;
  auto document = common::parse_json_strict((*rollout)->policy_json);
  if (!document) return nullptr;
  auto policy = policy::parse_rollout_policy(*document);
  if (!policy) return nullptr;
  auto cached = std::make_shared<const CachedRollout>(CachedRollout{(*rollout)->deployment_id, std::move(*policy)});
  std::lock_guard lock(rollout_cache_mutex_);
  return rollout_cache_.emplace(id, cached).first->second;
}

common::Json ServerApp::activate_window(const DeploymentRecord& deployment, const DeviceRecord& device, common::TimePoint now) {
  if (!deployment.rollout_id) return nullptr;
  auto rollout = cached_rollout(*deployment.rollout_id);
  // Only the update itself waits for windows; a rollback after an abort
  // is not held back.
  if (!rollout || rollout->deployment_id != deployment.id) return nullptr;
  const auto& p = rollout->policy;
  if (p.schedule.applies_to != policy::Schedule::AppliesTo::kActivate || !policy::windows_in_force(p, now)) return nullptr;
  std::optional<std::chrono::minutes> offset;
  if (device.utc_offset) offset = policy::parse_utc_offset(*device.utc_offset);
  auto next = policy::next_window(p.schedule.windows, now, offset, system_zones());
  common::Json window = {{"start", nullptr}, {"end", nullptr}};
  if (next) window = {{"start", common::format_rfc3339(next->start)}, {"end", common::format_rfc3339(next->end)}};
  // Past the deadline (with enforce_after_deadline) windows stop applying.
  if (p.enforce_after_deadline && p.deadline) window["until"] = common::format_rfc3339(*p.deadline);
  return window;
}

}  // namespace flotilla::server::api
