// Field gateways (docs/gateway.md): a gateway's agent speaks for child
// devices that cannot speak for themselves (an MCU on a serial bus, a
// PLC). Each child is a device of its own on the server; its gateway
// enrolls it, signs its inventory and events with the gateway's key, and
// is offered its updates in the gateway's own poll.
//
// Threats handled here: a gateway speaking for children it was not
// trusted with (only devices allowed children, by enrollment token or
// operator, may); a gateway taking over another gateway's child (refused
// and audited: an operator moves children, nothing re-parents them
// silently); a gateway reporting for a child of another gateway or an
// orphaned one (404 / 409); replays (the child's own counter, the event
// seq). What the server cannot check is whether the child really runs
// what its gateway says: the compliance evidence says
// "gateway-signed (gateway <id>)", not "device-signed".
#include "artifacts/manifest.hpp"
#include "common/encoding.hpp"
#include "server/api/app.hpp"
#include "server/api/device_reports.hpp"
#include "server/api/reply.hpp"
#include "server/errors.hpp"
#include "signing/digest.hpp"

namespace flotilla::server::api {
namespace {

// At most this many children's offers go out in one poll answer; the
// rest follow at the next poll.
constexpr std::size_t kMaxChildOffers = 256;

// A child's device id: stable for its device type and the id its adapter
// gives it (a serial number), whichever gateway reports it — so a child
// that appears behind another gateway is recognised, not enrolled twice.
std::string child_device_id(const std::string& device_type, const std::string& child_id) {
  return signing::sha256_hex("flotilla-child:" + device_type + ":" + child_id);
}

}  // namespace

std::optional<http::Response> ServerApp::check_gateway(const http::Request& request, const DeviceRecord& device) {
  if (!device.gateway) {
    return problem(403, "this device may not speak for children: enroll it with an enrollment token created with "
                        "--gateway, or have an operator allow it (flotilla devices gateway ID --allow)");
  }
  return check_device_signature(request, device);
}

common::Result<common::Json> ServerApp::child_offers(const DeviceRecord& gateway, common::TimePoint now) {
  auto children = store_.children_with_offers(gateway.id);
  if (!children) return std::unexpected(children.error());
  auto now_text = common::format_rfc3339(now);
  common::Json list = common::Json::array();
  for (const auto& [child, read] : *children) {
    if (list.size() >= kMaxChildOffers) break;
    auto offer = store_.take_offer(child.id, now_text, std::optional<std::optional<Offer>>(read));
    if (!offer) return std::unexpected(offer.error());
    if (!*offer) continue;
    auto entry = offer_json(**offer, child, now);
    entry["device_id"] = child.id;
    entry["child_id"] = child.child_id.value_or("");
    entry["device_type"] = child.device_type;
    list.push_back(std::move(entry));
  }
  return list;
}

http::Response ServerApp::device_child_inventory(http::Request& request, const Params&, const Caller& caller) {
  const auto& gateway = *caller.device;
  if (auto refused = check_gateway(request, gateway)) return *refused;
  common::Json doc;
  auto body = json_body(request, doc);
  if (!body) return body.error();
  if (auto ok = body->only_keys({"child_id", "device_type", "identity", "counter", "timestamp", "components", "booted_slot",
                                 "agent_version", "utc_offset", "tamper", "health"});
      !ok) {
    return problem_from(ok.error());
  }
  auto child_id = body->string("child_id", 128);
  if (!child_id) return problem_from(child_id.error());
  if (!artifacts::is_safe_name(*child_id, 128)) {
    return problem(400, "invalid child id", {{"/child_id", "must match [A-Za-z0-9._-]{1,128}"}});
  }
  auto device_type = body->string("device_type", 64);
  if (!device_type) return problem_from(device_type.error());
  if (!artifacts::is_safe_name(*device_type, 64)) {
    return problem(400, "invalid device type", {{"/device_type", "must match [A-Za-z0-9._-]{1,64}"}});
  }
  common::Json identity = {{"child_id", *child_id}};
  if (body->has("identity")) {
    auto given = body->object("identity");
    if (!given) return problem_from(given.error());
    if (auto bad = check_identity(*given, true)) return *bad;
    identity = given->json();
  }
  auto report = inventory_report_of(request, *body, doc);
  if (!report) return report.error();

  auto now = clock_();
  auto now_text = common::format_rfc3339(now);
  DeviceRecord claimed{.id = child_device_id(*device_type, *child_id), .device_type = *device_type,
                       .identity_json = identity.dump(), .parent = gateway.id, .child_id = *child_id};
  auto child = store_.enroll_child(claimed, now_text,
                                   {"device:" + gateway.id, "device.enroll", "device:" + claimed.id, "ok",
                                    {{"device_type", *device_type}, {"identity", identity}, {"child_id", *child_id},
                                     {"gateway", gateway.id}, {"status", "accepted"}}});
  if (!child) return problem_from(child.error());
  if (child->protocol != "child") return problem(409, "device " + child->id + " is not a child device");
  if (child->parent != gateway.id) {
    // Never re-parented by a report: the child may have been moved by
    // hand, or the report may be forged. An operator decides.
    (void)store_.append_audit({"device:" + gateway.id, "device.child_claimed", "device:" + child->id, "refused",
                               {{"gateway", gateway.id}, {"parent", child->parent.value_or("")}}});
    return problem(409, "child " + *child_id + " belongs to gateway " + child->parent.value_or("?") +
                            "; an operator moves it (flotilla devices move " + child->id + " --gateway " + gateway.id + ")");
  }
  if (child->orphaned) {
    return problem(409, "child " + *child_id + " is orphaned (its gateway was decommissioned or rejected); an operator "
                        "moves it (flotilla devices move " + child->id + " --gateway " + gateway.id + ")");
  }
  if (child->status != "accepted") return problem(403, "child " + *child_id + " is " + child->status);
  if (auto ok = store_.record_inventory(child->id, *report, now_text); !ok) {
    if (ok.error().is(Errc::kReplay)) return counter_refused(child->id, ok.error().message());
    return problem_from(ok.error());
  }
  // The gateway reached the child: that is the child's contact.
  if (auto ok = note_contact(*child); !ok) return problem_from(ok.error());
  return json_reply(200, {{"accepted", true}, {"device_id", child->id}, {"counter", report->counter}, {"digest", report->digest}});
}

http::Response ServerApp::device_child_event(http::Request& request, const Params& params, const Caller& caller) {
  const auto& gateway = *caller.device;
  if (!common::is_sha256_hex(params[0])) return problem(404, "no such child of this gateway");
  auto deployment_id = parse_positive(params[1]);
  if (!deployment_id) return problem(400, "a deployment id is a positive integer");
  if (auto refused = check_gateway(request, gateway)) return *refused;
  auto child = store_.find_device(params[0]);
  if (!child) return problem_from(child.error());
  // Another gateway's child and no child at all get the same answer.
  if (!*child || (*child)->parent != gateway.id || (*child)->status != "accepted") {
    return problem(404, "no such child of this gateway");
  }
  if ((*child)->orphaned) return problem(409, "this child is orphaned: an operator moves it before its gateway reports for it");
  auto event = deployment_event_of(request);
  if (!event) return event.error();
  auto recorded = store_.record_event(*deployment_id, (*child)->id, *event, common::format_rfc3339(clock_()));
  if (!recorded) {
    if (recorded.error().is(Errc::kBadTransition)) return problem(409, recorded.error().message());
    return problem_from(recorded.error());
  }
  if (auto ok = note_contact(**child); !ok) return problem_from(ok.error());
  return json_reply(200, {{"seq", event->seq}, {"duplicate", !*recorded}});
}

http::Response ServerApp::set_device_gateway(http::Request& request, const Params& params, const Caller& caller) {
  common::Json doc;
  auto body = json_body(request, doc);
  if (!body) return body.error();
  if (auto ok = body->only_keys({"allowed"}); !ok) return problem_from(ok.error());
  if (!doc.contains("allowed") || !doc["allowed"].is_boolean()) {
    return problem(400, "invalid body", {{"/allowed", "must be true or false"}});
  }
  bool allowed = doc["allowed"].get<bool>();
  auto ok = store_.set_device_gateway(params[0], allowed,
                                      caller.audit("device.gateway", "device:" + params[0], "ok", {{"allowed", allowed}}));
  if (!ok) return problem_from(ok.error());
  return json_reply(200, {{"id", params[0]}, {"gateway", allowed}});
}

http::Response ServerApp::move_child_device(http::Request& request, const Params& params, const Caller& caller) {
  common::Json doc;
  auto body = json_body(request, doc);
  if (!body) return body.error();
  if (auto ok = body->only_keys({"gateway"}); !ok) return problem_from(ok.error());
  auto target = body->string("gateway", 64);
  if (!target) return problem_from(target.error());
  if (!common::is_sha256_hex(*target)) return problem(400, "invalid gateway", {{"/gateway", "must be a device id (64 hex digits)"}});
  auto child = store_.find_device(params[0]);
  if (!child) return problem_from(child.error());
  if (!*child || (*child)->protocol != "child") return problem(404, "no child device " + params[0]);
  auto ok = store_.move_child(params[0], *target,
                              caller.audit("device.move", "device:" + params[0], "ok",
                                           {{"from", (*child)->parent.value_or("")}, {"to", *target},
                                            {"was_orphaned", (*child)->orphaned}}));
  if (!ok) return problem_from(ok.error());
  return json_reply(200, {{"id", params[0]}, {"parent", *target}, {"orphaned", false}});
}

}  // namespace flotilla::server::api
