#include "common/time_zone.hpp"

#include <algorithm>
#include <charconv>

#include "common/encoding.hpp"
#include "common/file.hpp"

namespace flotilla::common {

namespace {

constexpr std::size_t kMaxTzifBytes = 1 << 20;

struct Reader {
  std::span<const std::uint8_t> bytes;
  std::size_t at = 0;
  bool take(std::size_t n) {
    if (bytes.size() - at < n) return false;
    at += n;
    return true;
  }
  std::int64_t be(std::size_t offset, int width) const {
    std::uint64_t v = 0;
    for (int i = 0; i < width; ++i) v = v << 8 | bytes[offset + static_cast<std::size_t>(i)];
    if (width == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
    return static_cast<std::int64_t>(v);
  }
};

// "[+-]hh[:mm[:ss]]" (hours up to 167, as RFC 8536 allows).
std::optional<std::int32_t> parse_hms(std::string_view& s) {
  int sign = 1;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    sign = s[0] == '-' ? -1 : 1;
    s.remove_prefix(1);
  }
  std::int32_t total = 0;
  for (int part = 0; part < 3; ++part) {
    if (part > 0) {
      if (s.empty() || s[0] != ':') break;
      s.remove_prefix(1);
    }
    int value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end == s.data() || value < 0 || value > (part == 0 ? 167 : 59)) return std::nullopt;
    s.remove_prefix(static_cast<std::size_t>(end - s.data()));
    total += value * (part == 0 ? 3600 : part == 1 ? 60 : 1);
  }
  return sign * total;
}

bool skip_name(std::string_view& s) {
  if (!s.empty() && s[0] == '<') {
    auto close = s.find('>');
    if (close == std::string_view::npos) return false;
    s.remove_prefix(close + 1);
    return true;
  }
  std::size_t n = 0;
  while (n < s.size() && ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z'))) ++n;
  if (n < 3) return false;
  s.remove_prefix(n);
  return true;
}

// The UTC instant of a rule's transition in `year`, given the offset in
// force before it.
std::int64_t transition_in(int year, const Zone::Rule::When& w, std::int32_t offset_before) {
  using namespace std::chrono;
  const auto ym = std::chrono::year(year) / std::chrono::month(w.month);
  sys_days day = w.week == 5 ? sys_days(ym / weekday_last(weekday(w.weekday)))
                             : sys_days(ym / weekday(w.weekday)[w.week]);
  return day.time_since_epoch().count() * 86400 + w.time - offset_before;
}

}  // namespace

std::optional<Zone::Rule> Zone::parse_rule(std::string_view s) {
  Rule rule;
  if (!skip_name(s)) return std::nullopt;
  auto std_west = parse_hms(s);
  if (!std_west) return std::nullopt;
  rule.std_offset = rule.dst_offset = -*std_west;  // POSIX counts west of UTC
  if (s.empty()) return rule;
  if (!skip_name(s)) return std::nullopt;
  rule.has_dst = true;
  rule.dst_offset = rule.std_offset + 3600;
  if (!s.empty() && s[0] != ',') {
    auto dst_west = parse_hms(s);
    if (!dst_west) return std::nullopt;
    rule.dst_offset = -*dst_west;
  }
  for (Rule::When* when : {&rule.start, &rule.end}) {
    // Only the Mm.w.d form: it is what every current zone uses.
    if (s.size() < 2 || s[0] != ',' || s[1] != 'M') return std::nullopt;
    s.remove_prefix(2);
    unsigned fields[3] = {};
    for (int i = 0; i < 3; ++i) {
      if (i > 0) {
        if (s.empty() || s[0] != '.') return std::nullopt;
        s.remove_prefix(1);
      }
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), fields[i]);
      if (ec != std::errc() || end == s.data()) return std::nullopt;
      s.remove_prefix(static_cast<std::size_t>(end - s.data()));
    }
    if (fields[0] < 1 || fields[0] > 12 || fields[1] < 1 || fields[1] > 5 || fields[2] > 6) return std::nullopt;
    *when = {fields[0], fields[1], fields[2], 7200};
    if (!s.empty() && s[0] == '/') {
      s.remove_prefix(1);
      auto time = parse_hms(s);
      if (!time) return std::nullopt;
      when->time = *time;
    }
  }
  if (!s.empty()) return std::nullopt;
  return rule;
}

Result<Zone> Zone::parse(std::span<const std::uint8_t> bytes) {
  auto bad = [](const char* what) { return fail(Errc::kBadEncoding, std::string("not a TZif file: ") + what); };
  Reader r{bytes};
  Zone zone;
  // Version 1 block first; with version 2+, skip it for the 64-bit one.
  for (int pass = 0; pass < 2; ++pass) {
    std::size_t header = r.at;
    if (!r.take(44) || std::string_view(reinterpret_cast<const char*>(bytes.data() + header), 4) != "TZif") return bad("header");
    char version = static_cast<char>(bytes[header + 4]);
    auto count = [&](int i) { return static_cast<std::size_t>(r.be(header + 20 + static_cast<std::size_t>(i) * 4, 4)); };
    std::size_t isutcnt = count(0), isstdcnt = count(1), leapcnt = count(2), timecnt = count(3), typecnt = count(4),
                charcnt = count(5);
    // RFC 8536 §3.1: isutcnt and isstdcnt are 0 or typecnt. Bounding every
    // count keeps the block size below overflow.
    if (typecnt == 0 || typecnt > 256 || timecnt > 100000 || leapcnt > 1000 || charcnt > 1000 ||
        (isutcnt != 0 && isutcnt != typecnt) || (isstdcnt != 0 && isstdcnt != typecnt)) {
      return bad("counts");
    }
    int width = pass == 0 ? 4 : 8;
    std::size_t times = r.at, indices = times + timecnt * static_cast<std::size_t>(width), types = indices + timecnt;
    std::size_t block = timecnt * static_cast<std::size_t>(width) + timecnt + typecnt * 6 + charcnt +
                        leapcnt * static_cast<std::size_t>(width + 4) + isstdcnt + isutcnt;
    if (!r.take(block)) return bad("truncated");
    if (pass == 0 && version >= '2') continue;
    zone.transitions_.clear();
    zone.offset_after_.clear();
    for (std::size_t i = 0; i < typecnt; ++i) {
      if (i == 0) zone.initial_offset_ = static_cast<std::int32_t>(r.be(types, 4));
    }
    for (std::size_t i = 0; i < timecnt; ++i) {
      std::size_t type = bytes[indices + i];
      if (type >= typecnt) return bad("type index");
      zone.transitions_.push_back(r.be(times + i * static_cast<std::size_t>(width), width));
      zone.offset_after_.push_back(static_cast<std::int32_t>(r.be(types + type * 6, 4)));
    }
    if (!std::is_sorted(zone.transitions_.begin(), zone.transitions_.end())) return bad("transition order");
    if (version >= '2' && r.at < bytes.size() && bytes[r.at] == '\n') {
      auto end = std::find(bytes.begin() + static_cast<std::ptrdiff_t>(r.at) + 1, bytes.end(), '\n');
      if (end == bytes.end()) return bad("footer");
      std::string_view footer(reinterpret_cast<const char*>(bytes.data() + r.at + 1),
                              static_cast<std::size_t>(end - bytes.begin()) - r.at - 1);
      if (!footer.empty()) zone.rule_ = parse_rule(footer);
    }
    break;
  }
  return zone;
}

std::chrono::seconds Zone::offset_at(TimePoint t) const {
  std::int64_t s = t.time_since_epoch().count();
  // Before the first transition: type 0 (RFC 8536 §3.2). Between
  // transitions: the table. After the last: the footer's rule.
  if (!transitions_.empty() && s < transitions_.front()) return std::chrono::seconds(initial_offset_);
  if (!transitions_.empty() && (s < transitions_.back() || !rule_)) {
    auto it = std::upper_bound(transitions_.begin(), transitions_.end(), s);
    return std::chrono::seconds(offset_after_[static_cast<std::size_t>(it - transitions_.begin() - 1)]);
  }
  if (!rule_) return std::chrono::seconds(initial_offset_);
  const Rule& rule = *rule_;
  if (!rule.has_dst) return std::chrono::seconds(rule.std_offset);
  auto year = static_cast<int>(std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(t)).year());
  std::int64_t start = transition_in(year, rule.start, rule.std_offset);
  std::int64_t end = transition_in(year, rule.end, rule.dst_offset);
  bool dst = start < end ? (s >= start && s < end) : !(s >= end && s < start);  // the south's summer spans new year
  return std::chrono::seconds(dst ? rule.dst_offset : rule.std_offset);
}

Result<std::chrono::seconds> TimeZoneDb::offset(std::string_view name, TimePoint t) {
  if (name.empty() || name.size() > 64 || name.front() == '/' || name.find("..") != std::string_view::npos) {
    return fail(Errc::kBadField, "not a time zone name");
  }
  std::lock_guard lock(mutex_);
  auto it = zones_.find(name);
  if (it == zones_.end()) {
    auto bytes = read_file(root_ / std::string(name), kMaxTzifBytes);
    if (!bytes) return fail(Errc::kNotFound, "unknown time zone " + std::string(name));
    auto zone = Zone::parse(as_bytes(*bytes));
    if (!zone) return std::unexpected(zone.error().with_context(std::string(name)));
    it = zones_.emplace(std::string(name), std::move(*zone)).first;
  }
  return it->second.offset_at(t);
}

}  // namespace flotilla::common
