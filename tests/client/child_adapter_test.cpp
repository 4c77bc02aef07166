// The child adapter protocol (docs/gateway.md) with real shell-script
// adapters: every exit code, an adapter that hangs, one that prints
// garbage, and the checks on what list and versions print.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <thread>

#include "client/child_adapter.hpp"
#include "tests/support/fixtures.hpp"

namespace flotilla::client {
namespace {

using testing::read_text;
using testing::write_text;
namespace fs = std::filesystem;

class ChildAdapterTest : public ::testing::Test {
 protected:
  testing::TempDir dir;

  // An adapter whose body is `script` (POSIX sh; $1 is the step).
  ChildAdapter adapter(const std::string& script, std::chrono::seconds timeout = std::chrono::seconds(10)) {
    auto path = dir / "adapters" / "test-adapter";
    fs::create_directories(path.parent_path());
    write_text(path, "#!/bin/sh\n" + script + "\n");
    fs::permissions(path, fs::perms::owner_all);
    return ChildAdapter(path, timeout, system_env());
  }
};

TEST_F(ChildAdapterTest, EachExitCodeMeansWhatTheProtocolSays) {
  const std::pair<int, StepOutcome> cases[] = {{0, StepOutcome::kDone},        {1, StepOutcome::kFailed},
                                               {2, StepOutcome::kUnreachable}, {3, StepOutcome::kUnsupported},
                                               {4, StepOutcome::kFailed},      {127, StepOutcome::kFailed}};
  for (const auto& [code, outcome] : cases) {
    auto a = adapter("echo \"said $1 $2\"; exit " + std::to_string(code));
    for (const auto& result : {a.install("m-1", dir.path()), a.activate("m-1"), a.rollback("m-1")}) {
      EXPECT_EQ(result.outcome, outcome) << "exit " << code << ": " << result.detail;
    }
  }
  // A failure's first line of output travels in the detail (the event message).
  auto failing = adapter("echo 'flash write error at 0x0800'; echo second line; exit 1");
  auto result = failing.install("m-1", dir.path());
  EXPECT_NE(result.detail.find("flash write error at 0x0800"), std::string::npos) << result.detail;
  EXPECT_EQ(result.detail.find("second line"), std::string::npos) << result.detail;
  // An exit outside the protocol's says so.
  EXPECT_NE(adapter("exit 9").activate("m-1").detail.find("the protocol's exit codes are 0 to 3"), std::string::npos);
}

TEST_F(ChildAdapterTest, ArgumentsFollowTheProtocol) {
  auto a = adapter("echo \"$@\" >> \"" + (dir / "calls").string() + "\"; echo '{\"children\": []}'");
  (void)a.list();
  (void)a.install("m-1", dir / "work");
  (void)a.activate("m-1");
  (void)a.rollback("m-1");
  std::map<std::string, ComponentState> versions;
  (void)a.versions("m-1", versions);
  EXPECT_EQ(read_text(dir / "calls"), "list\ninstall m-1 " + (dir / "work").string() + "\nactivate m-1\nrollback m-1\nversions m-1\n");
}

TEST_F(ChildAdapterTest, AHangingAdapterIsKilledWithWhatItStartedAndCountsAsUnreachable) {
  auto pid_file = dir / "sleeper.pid";
  auto a = adapter("sleep 600 & echo $! > '" + pid_file.string() + "'; wait", std::chrono::seconds(1));
  auto started = std::chrono::steady_clock::now();
  auto result = a.install("m-1", dir.path());
  EXPECT_EQ(result.outcome, StepOutcome::kUnreachable) << result.detail;
  EXPECT_NE(result.detail.find("no answer within 1 s"), std::string::npos) << result.detail;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  // The sleep it started went with it (the adapter's process group).
  auto pid = std::stoi(read_text(pid_file));
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    gone = ::kill(pid, 0) != 0 || read_text(fs::path("/proc") / std::to_string(pid) / "stat").find(" Z ") != std::string::npos;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gone) << "process " << pid << " outlived the adapter";
}

TEST_F(ChildAdapterTest, GarbageWhereJsonIsOwedIsTheAdaptersFailure) {
  std::map<std::string, ComponentState> versions;
  auto garbage = adapter("echo 'Segmentation fault (core dumped)'; exit 0");
  auto read = garbage.versions("m-1", versions);
  EXPECT_EQ(read.outcome, StepOutcome::kFailed);
  EXPECT_NE(read.detail.find("stdout is not {\"components\""), std::string::npos) << read.detail;
  auto listed = garbage.list();
  ASSERT_FALSE(listed);
  EXPECT_NE(listed.error().message().find("stdout is not {\"children\""), std::string::npos) << listed.error().message();
  // A list step that fails is an error naming the adapter, not an empty list.
  auto refused = adapter("echo 'bus down'; exit 2").list();
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("test-adapter list"), std::string::npos) << refused.error().message();
  // A child that cannot be reached while its versions are read.
  EXPECT_EQ(adapter("exit 2").versions("m-1", versions).outcome, StepOutcome::kUnreachable);
}

TEST(ChildAdapterParse, ChildrenAreCheckedMemberByMember) {
  auto ok = parse_children(R"({"children": [{"id": "m-1", "device_type": "mcu-a", "identity": {"serial": "S1"}},
                                            {"id": "m-2", "device_type": "mcu-b"}]})",
                           "sim");
  ASSERT_TRUE(ok) << ok.error().describe();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[0].identity["serial"], "S1");
  EXPECT_EQ((*ok)[1].adapter, "sim");
  const std::pair<const char*, const char*> bad[] = {
      {R"({"children": {}})", "stdout is not"},
      {R"([1, 2])", "stdout is not"},
      {R"({"children": [{"id": "m 1", "device_type": "mcu-a"}]})", "/children/0/id"},
      {R"({"children": [{"id": "m-1"}]})", "/children/0 needs"},
      {R"({"children": [{"id": "m-1", "device_type": "../etc"}]})", "/children/0/device_type"},
      {R"({"children": [{"id": "m-1", "device_type": "a", "identity": {"serial": 5}}]})", "/children/0/identity"},
      {R"({"children": [{"id": "m-1", "device_type": "a"}], "children": []})", "stdout is not"},  // duplicate key
      {R"({"children": [[[[[[[[[[[]]]]]]]]]]]})", "stdout is not"},                            // too deep
  };
  for (const auto& [text, why] : bad) {
    auto parsed = parse_children(text, "sim");
    ASSERT_FALSE(parsed) << text;
    EXPECT_NE(parsed.error().message().find(why), std::string::npos) << text << ": " << parsed.error().message();
  }
}

TEST(ChildAdapterParse, VersionsAreSemVerWithSecurityVersions) {
  auto ok = parse_versions(R"({"components": {"firmware": {"version": "1.2.0", "security_version": 3}, "boot": {"version": "0.9.1"}}})");
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_EQ(ok->at("firmware").version, "1.2.0");
  EXPECT_EQ(ok->at("firmware").security_version, 3);
  EXPECT_EQ(ok->at("boot").security_version, 0);
  for (const char* text : {R"({"components": {"firmware": {"version": "v1"}}})",
                           R"({"components": {"firmware": {"version": "1.0.0", "security_version": -1}}})",
                           R"({"components": {"firm ware": {"version": "1.0.0"}}})",
                           R"({"components": {"firmware": "1.0.0"}})", R"({"components": []})", "", "null"}) {
    EXPECT_FALSE(parse_versions(text)) << text;
  }
}

TEST_F(ChildAdapterTest, OnlyExecutableFilesAreAdapters) {
  fs::create_directories(dir / "adapters");
  write_text(dir / "adapters" / "README", "not an adapter");
  write_text(dir / "adapters" / "b-adapter", "#!/bin/sh\n");
  write_text(dir / "adapters" / "a-adapter", "#!/bin/sh\n");
  fs::permissions(dir / "adapters" / "a-adapter", fs::perms::owner_all);
  fs::permissions(dir / "adapters" / "b-adapter", fs::perms::owner_all);
  fs::create_directories(dir / "adapters" / "subdir");
  auto found = load_adapters(dir / "adapters", std::chrono::seconds(5), system_env());
  ASSERT_TRUE(found) << found.error().describe();
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ((*found)[0].name(), "a-adapter");
  EXPECT_EQ((*found)[1].name(), "b-adapter");
  auto missing = load_adapters(dir / "nowhere", std::chrono::seconds(5), system_env());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("/gateway/adapters_dir"), std::string::npos);
}

}  // namespace
}  // namespace flotilla::client
