// Operator side: compliance baselines (DESIGN.md §9), validated by policy/
// with every JSON-pointer error at once.
#include "policy/baseline.hpp"
#include "server/api/app.hpp"
#include "server/api/reply.hpp"

namespace flotilla::server::api {
namespace {

common::Json baseline_json(const BaselineRecord& b) {
  return {{"name", b.name},
          {"document", common::Json::parse(b.document, nullptr, false)},
          {"updated_by", b.updated_by},
          {"updated_at", b.updated_at}};
}

}  // namespace

http::Response ServerApp::put_baseline(http::Request& request, const Params& params, const Caller& caller) {
  common::Json doc;
  auto body = json_body(request, doc);
  if (!body) return body.error();
  auto parsed = policy::parse_baseline(doc);
  if (!parsed) {
    std::vector<FieldError> errors;
    for (const auto& e : parsed.error()) errors.push_back({e.pointer, e.message});
    return problem(422, "the baseline is invalid", errors);
  }
  if (parsed->name != params[0]) {
    return problem(422, "the name in the path and in the document differ", {{"/name", "must be " + params[0].substr(0, 64)}});
  }
  BaselineRecord record{parsed->name, doc.dump(), caller.actor, common::format_rfc3339(clock_())};
  auto created = store_.put_baseline(record, caller.audit("baseline.put", "baseline:" + record.name, "ok",
                                              {{"rules", parsed->rules.size()}}));
  if (!created) return problem_from(created.error());
  return json_reply(*created ? 201 : 200, baseline_json(record));
}

http::Response ServerApp::list_baselines(http::Request&, const Params&, const Caller&) {
  auto baselines = store_.list_baselines();
  if (!baselines) return problem_from(baselines.error());
  common::Json out = common::Json::array();
  for (const auto& b : *baselines) out.push_back(baseline_json(b));
  return json_reply(200, {{"baselines", out}});
}

http::Response ServerApp::show_baseline(http::Request&, const Params& params, const Caller&) {
  auto baseline = store_.find_baseline(params[0]);
  if (!baseline) return problem_from(baseline.error());
  if (!*baseline) return problem(404, "no such baseline");
  return json_reply(200, baseline_json(**baseline));
}

http::Response ServerApp::delete_baseline(http::Request&, const Params& params, const Caller& caller) {
  auto ok = store_.delete_baseline(params[0], caller.audit("baseline.delete", "baseline:" + params[0].substr(0, 128)));
  if (!ok) return problem_from(ok.error());
  return json_reply(200, {{"deleted", params[0]}});
}

}  // namespace flotilla::server::api
