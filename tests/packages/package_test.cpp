// The Debian packages of scripts/package, installed for real with dpkg into
// a throwaway root: an overlay over this machine's own / in a private mount
// namespace, so dpkg, the maintainer scripts and the installed programs run
// as they would on a Debian 12 machine, and the machine is left as it was.
// Needs root (mounts, chroot, dpkg); label packages.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <memory>
#include <fstream>
#include <sched.h>
#include <sstream>
#include <string>
#include <sys/mount.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "tests/support/fixtures.hpp"
#include "tests/support/server_process.hpp"

namespace fs = std::filesystem;
using flotilla::testing::count_of;
using flotilla::testing::read_text;
using flotilla::testing::TempDir;
using flotilla::testing::write_text;
using flotilla::testing::shell_quoted;

namespace {

constexpr const char* kOlderVersion = "0.0.9";
constexpr const char* kDataDir = "/var/lib/flotilla/server";
constexpr int kFleetSize = 12;

using Outcome = flotilla::testing::ShellOutput;

// A shell command with a deadline; stdout and stderr together.
Outcome capture(const std::string& command, int timeout_seconds = 180) {
  return flotilla::testing::capture_shell("timeout -k 5 " + std::to_string(timeout_seconds) + " sh -c " + shell_quoted(command) +
                                          " 2>&1");
}

// The packages of one version, built once per test process from the
// binaries of this build.
fs::path packages_of(const std::string& version, const fs::path& out) {
  if (!fs::exists(out)) {
    auto built = capture(std::string(FLOTILLA_SOURCE_DIR) + "/scripts/package --no-build --bin " + shell_quoted(FLOTILLA_BIN_DIR) +
                             " --version " + version + " --out " + shell_quoted(out.string()),
                         300);
    EXPECT_EQ(built.status, 0) << built.output;
  }
  return out;
}

class PackageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // scripts/test runs as root (scripts/setup installs with apt).
    ASSERT_EQ(::geteuid(), 0u) << "installing packages needs root (mounts, chroot, dpkg): run the packages label as root";
    // Everything mounted below vanishes with this process's namespace.
    ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << "unshare: " << std::strerror(errno);
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
    // One tmpfs holds the overlay's upper layer and its mount point, so a
    // single detach takes everything down, /dev's bind mount included.
    scratch_ = dir_->path() / "scratch";
    root_ = scratch_ / "root";
    fs::create_directories(scratch_);
    ASSERT_EQ(::mount("tmpfs", scratch_.c_str(), "tmpfs", 0, "size=2g,mode=0755"), 0) << std::strerror(errno);
    mounted_ = true;
    for (const char* dir : {"upper", "work", "root", "packages"}) fs::create_directories(scratch_ / dir);
    const std::string options = "lowerdir=/,upperdir=" + (scratch_ / "upper").string() + ",workdir=" + (scratch_ / "work").string();
    ASSERT_EQ(::mount("overlay", root_.c_str(), "overlay", 0, options.c_str()), 0)
        << "cannot mount an overlay over / (" << std::strerror(errno) << "): no throwaway root to install into";
    ASSERT_EQ(::mount("proc", (root_ / "proc").c_str(), "proc", 0, nullptr), 0) << std::strerror(errno);
    ASSERT_EQ(::mount("/dev", (root_ / "dev").c_str(), nullptr, MS_BIND | MS_REC, nullptr), 0) << std::strerror(errno);
    for (const char* dir : {"tmp", "run"}) {
      ASSERT_EQ(::mount("tmpfs", (root_ / dir).c_str(), "tmpfs", 0, "mode=1777"), 0) << dir << ": " << std::strerror(errno);
    }
    fs::create_directories(root_ / "run/lock");
  }

  void TearDown() override {
    for (const auto& pid_file : background_) (void)capture("kill -TERM $(cat " + shell_quoted((root_ / pid_file).string()) + ") 2>/dev/null; sleep 0.5");
    // Never delete through a mount still in place (it holds /dev).
    if (mounted_ && ::umount2(scratch_.c_str(), MNT_DETACH) != 0) (void)dir_.release();
  }

  // A shell command run as root inside the installed system.
  Outcome in_root(const std::string& command, int timeout_seconds = 180) {
    return capture("chroot " + shell_quoted(root_.string()) + " /bin/sh -c " + shell_quoted("cd /tmp && " + command), timeout_seconds);
  }
  // The same as the server's system user, as its service runs it.
  Outcome as_server_user(const std::string& command, int timeout_seconds = 180) {
    return in_root("setpriv --reuid=flotilla --regid=flotilla --init-groups " + command, timeout_seconds);
  }

  void install(const fs::path& packages) {
    fs::create_directories(root_ / "tmp/debs");
    for (const auto& entry : fs::directory_iterator(packages)) fs::copy_file(entry.path(), root_ / "tmp/debs" / entry.path().filename(), fs::copy_options::overwrite_existing);
    auto installed = in_root("dpkg -i /tmp/debs/*.deb && rm -rf /tmp/debs", 300);
    ASSERT_EQ(installed.status, 0) << installed.output;
  }

  // The service's own command line (ExecStart of the installed unit), as
  // its user, on a free loopback port; returns the URL it prints.
  std::string start_server(const std::string& name) {
    auto unit = read_text(root_ / "lib/systemd/system/flotilla-server.service");
    auto at = unit.find("\nExecStart=");
    EXPECT_NE(at, std::string::npos) << unit;
    auto line = unit.substr(at + 11, unit.find('\n', at + 1) - at - 11);
    const std::string out = "/tmp/" + name;
    auto started = in_root("setpriv --reuid=flotilla --regid=flotilla --init-groups " + line +
                           " --listen http://127.0.0.1:0 --scheduler-interval 1 > " + out + ".url 2> " + out +
                           ".log & echo $! > " + out + ".pid");
    EXPECT_EQ(started.status, 0) << started.output;
    background_.push_back("tmp/" + name + ".pid");
    for (int i = 0; i < 300; ++i) {
      if (fs::exists(root_ / ("tmp/" + name + ".url")) && fs::file_size(root_ / ("tmp/" + name + ".url")) > 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::istringstream url_file(read_text(root_ / ("tmp/" + name + ".url")));
    std::string url;
    std::getline(url_file, url);
    EXPECT_FALSE(url.empty()) << "the installed server did not start: " << read_text(root_ / ("tmp/" + name + ".log"));
    return url;
  }
  // SIGTERM, as systemctl stop sends it; the server drains and exits 0.
  void stop(const std::string& name) {
    auto stopped = capture("pid=$(cat " + shell_quoted((root_ / ("tmp/" + name + ".pid")).string()) +
                           ") && kill -TERM $pid && while kill -0 $pid 2>/dev/null; do sleep 0.1; done");
    EXPECT_EQ(stopped.status, 0) << stopped.output;
    std::erase(background_, "tmp/" + name + ".pid");
  }

  // The installed command line against `url`, with the admin token.
  Outcome cli(const std::string& url, const std::string& arguments) {
    return in_root("flotilla --server " + url + " --token-file " + std::string(kDataDir) + "/admin.token " + arguments);
  }

  // Processes named `name` whose root is the throwaway root: the other
  // tests on this machine run servers of their own.
  int processes_in_root(const std::string& name) const {
    int n = 0;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      std::error_code ec;
      if (read_text(entry.path() / "comm") != name + "\n") continue;
      if (fs::read_symlink(entry.path() / "root", ec) == root_ && !ec) ++n;
    }
    return n;
  }

  std::unique_ptr<TempDir> dir_ = std::make_unique<TempDir>();
  fs::path scratch_, root_;
  bool mounted_ = false;
  std::vector<std::string> background_;  // pid files under the root
};

TEST_F(PackageTest, LintianFindsNoErrorAndTheUnitsVerify) {
  const auto packages = packages_of("0.1.0", scratch_ / "packages/current");
  auto lintian = capture("lintian --fail-on error --tag-display-limit 0 " + shell_quoted(packages.string()) + "/*.deb", 300);
  EXPECT_EQ(lintian.status, 0) << lintian.output;
  install(packages);
  auto verified = in_root("systemd-analyze verify /lib/systemd/system/flotilla-server.service /lib/systemd/system/flotilla-agent.service");
  EXPECT_EQ(verified.status, 0) << verified.output;
  EXPECT_EQ(verified.output.find("flotilla"), std::string::npos) << verified.output;
  for (const char* page : {"flotilla", "flotilla-server", "flotilla-agent", "flotilla-fleet-sim"}) {
    auto man = in_root(std::string("MANWIDTH=100 man -P cat ") + page + " 2>&1");
    EXPECT_EQ(man.status, 0) << page << ": " << man.output;
    EXPECT_NE(man.output.find("OPTIONS"), std::string::npos) << page << " lacks its options:\n" << man.output.substr(0, 2000);
    if (std::string(page) != "flotilla-fleet-sim") {  // the only one without subcommands
      EXPECT_NE(man.output.find("COMMANDS"), std::string::npos) << page << " lacks its commands:\n" << man.output.substr(0, 2000);
    }
  }
}

TEST_F(PackageTest, AnInstalledServerIsBackedUpWhileAFleetPollsAndRestored) {
  install(packages_of("0.1.0", scratch_ / "packages/current"));
  // What the package made and nothing it started.
  EXPECT_EQ(in_root("getent passwd flotilla | cut -d: -f6").output, std::string(kDataDir) + "\n");
  EXPECT_EQ(in_root(std::string("stat -c '%U %a' ") + kDataDir).output, "flotilla 750\n");
  EXPECT_EQ(processes_in_root("flotilla-server") + processes_in_root("flotilla-agent"), 0) << "installing started a service";

  auto made = in_root(
      "flotilla keygen --out root && flotilla keygen --out release --alg ecdsa-p256 && "
      "flotilla root init --root-key root.pub --release-key release.pub --sign root.key -o root.json && chmod 0644 root.json && "
      "head -c 65536 /dev/urandom > rootfs.img && "
      "flotilla bundle create --key release.key --name gw-os --kind os --component rootfs --version 2.4.0 --security-version 2 "
      "--compatible gw-x1 --raw-image rootfs=rootfs.img -o gw-os.flb");
  ASSERT_EQ(made.status, 0) << made.output;
  auto initialised = as_server_user(std::string("flotilla-server init --data ") + kDataDir + " --root /tmp/root.json");
  ASSERT_EQ(initialised.status, 0) << initialised.output;
  const auto url = start_server("server");
  ASSERT_FALSE(url.empty());

  ASSERT_EQ(cli(url, "bundles upload gw-os.flb").status, 0);
  auto enrollment = cli(url, "--json enrollment-tokens create --name line-1 --device-type gw-x1 --max-uses 100 --expires 2099-01-01T00:00:00Z"
                             " | sed -n 's/.*\"token\": *\"\\([^\"]*\\)\".*/\\1/p' > fleet.token && test -s fleet.token");
  ASSERT_EQ(enrollment.status, 0) << enrollment.output;
  auto fleet = in_root("flotilla-fleet-sim --server " + url + " --enrollment-token-file fleet.token --trust-root root.json --devices " +
                       std::to_string(kFleetSize) +
                       " --types gw-x1 --initial rootfs=2.3.0 --poll-interval 1s --duration 60s --slot-size 1 --threads 2 --dir fleet"
                       " > fleet.out 2> fleet.log & echo $! > fleet.pid");
  ASSERT_EQ(fleet.status, 0) << fleet.output;
  background_.push_back("tmp/fleet.pid");
  std::string devices;
  for (int i = 0; i < 300 && count_of(devices, "\"status\": \"accepted\"") < kFleetSize; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    devices = cli(url, "--json devices list --status accepted").output;
  }
  ASSERT_EQ(count_of(devices, "\"status\": \"accepted\""), kFleetSize) << devices << read_text(root_ / "tmp/fleet.log");
  write_text(root_ / "tmp/rollout.json",
             R"({"name": "gw-os-2.4.0", "bundle": {"name": "gw-os", "version": "2.4.0"}, "target": {"device_types": ["gw-x1"]},)"
             R"( "waves": [{"name": "all", "size": "100%"}]})");
  auto rollout = cli(url, "rollouts create rollout.json");
  ASSERT_EQ(rollout.status, 0) << rollout.output;

  // The backup, taken as the operator would while the fleet polls.
  auto backup = as_server_user(std::string("flotilla-server backup --data ") + kDataDir + " --out /tmp/fleet.backup --with-bundles");
  ASSERT_EQ(backup.status, 0) << backup.output;
  EXPECT_NE(backup.output.find(std::to_string(kFleetSize) + " devices, 1 bundles (files included)"), std::string::npos) << backup.output;
  const auto before = cli(url, "--json devices list").output;
  stop("server");

  // Restored in place, as docs/operations.md says: the old directory moved
  // aside, an empty one made for the server's user. A backup holds token
  // hashes, never admin.token's secret: the operator keeps using theirs.
  auto restored = in_root(std::string("mv ") + kDataDir + " " + kDataDir + ".old && install -d -o flotilla -g flotilla -m 0750 " +
                          kDataDir + " && setpriv --reuid=flotilla --regid=flotilla --init-groups flotilla-server restore --from /tmp/fleet.backup --data " +
                          kDataDir + " && cp -p " + kDataDir + ".old/admin.token " + kDataDir + "/");
  ASSERT_EQ(restored.status, 0) << restored.output;
  const auto restored_url = start_server("restored");
  ASSERT_FALSE(restored_url.empty());
  auto after = cli(restored_url, "--json devices list").output;
  EXPECT_EQ(count_of(after, "\"status\": \"accepted\""), kFleetSize) << after;
  for (std::size_t at = before.find("\"id\": \""); at != std::string::npos; at = before.find("\"id\": \"", at + 1)) {
    const auto id = before.substr(at, before.find('"', at + 7) + 1 - at);
    EXPECT_NE(after.find(id), std::string::npos) << id << " is not in the restored fleet";
  }
  auto rollouts = cli(restored_url, "--json rollouts list").output;
  EXPECT_NE(rollouts.find("gw-os-2.4.0"), std::string::npos) << rollouts;
  auto audit = cli(restored_url, "audit export -o audit.jsonl && flotilla audit verify --file audit.jsonl && cat audit.jsonl");
  EXPECT_EQ(audit.status, 0) << audit.output;
  EXPECT_NE(audit.output.find("store.backup"), std::string::npos);
  EXPECT_NE(audit.output.find("store.restore"), std::string::npos);
}

// The units under a real systemd: the installed root booted as a container
// (systemd-nspawn, private network), the server's service started by
// systemd as its user in its sandbox with its nginx front, the agent's
// service enrolling through it, both stopped cleanly by systemctl, and
// the agent's exit code 77 rebooting the machine.
TEST_F(PackageTest, TheServicesRunUnderSystemdInTheirSandboxes) {
  ASSERT_EQ(capture("command -v systemd-nspawn").status, 0) << "systemd-nspawn is missing (package systemd-container): run scripts/setup";
  install(packages_of("0.1.0", scratch_ / "packages/current"));
  auto prepared = in_root(
      std::string("setpriv --reuid=flotilla --regid=flotilla --init-groups flotilla-server init --data ") + kDataDir +
      " && cd /root && flotilla keygen --out root && flotilla keygen --out release --alg ecdsa-p256"
      " && flotilla root init --root-key root.pub --release-key release.pub --sign root.key -o /etc/flotilla/root.json"
      " && systemctl enable flotilla-server"
      // What this throwaway system would otherwise start and wait for.
      " && for unit in nginx postgresql systemd-networkd-wait-online systemd-timesyncd apt-daily.timer apt-daily-upgrade.timer"
      "    man-db.timer e2scrub_all.timer fstrim.timer dpkg-db-backup.timer getty@tty1 console-getty; do"
      "    systemctl mask $unit >/dev/null 2>&1 || true; done"
      " && od -An -N16 -tx1 /dev/urandom | tr -d ' \\n' > /etc/machine-id && echo >> /etc/machine-id");
  ASSERT_EQ(prepared.status, 0) << prepared.output;
  for (const char* dir : {"proc", "dev", "tmp", "run"}) (void)::umount2((root_ / dir).c_str(), MNT_DETACH);

  const auto log = scratch_ / "nspawn.log";
  // Its exit status is kept: 133 means the container asked for a reboot.
  const auto exit_status = scratch_ / "nspawn.status";
  auto booted = capture("(systemd-nspawn -q --register=no --link-journal=no --keep-unit --private-network --console=passive -D " +
                        shell_quoted(root_.string()) + " --boot > " + shell_quoted(log.string()) + " 2>&1 & echo $! > " +
                        shell_quoted((scratch_ / "nspawn.pid").string()) + "; wait $!; echo $? > " + shell_quoted(exit_status.string()) +
                        ") > /dev/null 2>&1 &");
  ASSERT_EQ(booted.status, 0) << booted.output;
  for (int i = 0; i < 50 && !fs::exists(scratch_ / "nspawn.pid"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto nspawn = read_text(scratch_ / "nspawn.pid");
  struct Stop {
    std::string pid;
    ~Stop() { (void)capture("kill " + pid + " 2>/dev/null; sleep 2; kill -9 " + pid + " 2>/dev/null; true"); }
  } stop_container{nspawn.substr(0, nspawn.find('\n'))};
  // Commands inside the container, through its init's namespaces.
  std::string leader;
  auto inside = [&](const std::string& command, int timeout_seconds = 120) {
    return capture("nsenter -t " + leader + " -a -- /bin/sh -c " + shell_quoted(command), timeout_seconds);
  };
  std::string state;
  for (int i = 0; i < 240 && state != "running" && state != "degraded"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    if (leader.empty()) {
      leader = capture("pgrep -P " + stop_container.pid + " | head -1").output;
      if (!leader.empty()) leader.pop_back();
      continue;
    }
    state = inside("systemctl is-system-running 2>/dev/null").output;
    if (!state.empty()) state.pop_back();
  }
  ASSERT_TRUE(state == "running" || state == "degraded")
      << "systemd did not finish booting in the container (state '" << state << "'):\n"
      << read_text(log) << inside("systemctl list-jobs --no-pager; systemctl --failed --no-pager").output;
  auto server = inside("systemctl is-active flotilla-server; systemctl show flotilla-server -p User -p CapabilityBoundingSet"
                       " -p ProtectSystem -p NoNewPrivileges; ps -eo user=,comm= | grep -E 'flotilla|nginx'");
  EXPECT_NE(server.output.find("active\n"), std::string::npos) << server.output << inside("journalctl -u flotilla-server --no-pager").output;
  EXPECT_NE(server.output.find("User=flotilla"), std::string::npos) << server.output;
  EXPECT_NE(server.output.find("CapabilityBoundingSet=cap_net_bind_service\n"), std::string::npos) << server.output;
  EXPECT_NE(server.output.find("ProtectSystem=strict"), std::string::npos) << server.output;
  EXPECT_NE(server.output.find("flotilla nginx"), std::string::npos) << "the front runs as the server's user: " << server.output;
  EXPECT_EQ(server.output.find("root     nginx"), std::string::npos) << server.output;
  auto health = inside("curl -sS --retry 20 --retry-connrefused --retry-delay 1 http://127.0.0.1:8080/healthz");
  EXPECT_NE(health.output.find("\"status\":\"ok\""), std::string::npos) << health.output;

  // The agent's service, configured as a device maker would: the packaged
  // agent.json pointed at this server, slots as files in its state.
  auto configured = inside(
      std::string("cd /root && flotilla --server http://127.0.0.1:8080 --token-file ") + kDataDir + "/admin.token --json "
      "enrollment-tokens create --name line-1 --device-type gw-x1 --max-uses 1 --expires 2099-01-01T00:00:00Z"
      " | sed -n 's/.*\"token\": *\"\\([^\"]*\\)\".*/\\1/p' > /etc/flotilla/enroll.token && test -s /etc/flotilla/enroll.token"
      " && sed -i 's#\"url\": \"https://updates.example.com\", \"ca_file\": \"/etc/flotilla/ca.pem\"#\"url\": \"http://127.0.0.1:8080\"#'"
      " /etc/flotilla/agent.json && grep -q 127.0.0.1:8080 /etc/flotilla/agent.json"
      " && mkdir -p /var/lib/flotilla/agent/slots && truncate -s 1M /var/lib/flotilla/agent/slots/rootfs-a.img"
      " /var/lib/flotilla/agent/slots/rootfs-b.img && systemctl start flotilla-agent");
  ASSERT_EQ(configured.status, 0) << configured.output;
  std::string devices;
  for (int i = 0; i < 60 && devices.find("gw-x1") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    devices = inside(std::string("flotilla --server http://127.0.0.1:8080 --token-file ") + kDataDir + "/admin.token devices list").output;
  }
  EXPECT_NE(devices.find("gw-x1"), std::string::npos)
      << "the agent's service did not enroll: " << devices << inside("journalctl -u flotilla-agent --no-pager | tail -30").output;
  auto agent = inside("systemctl is-active flotilla-agent; grep CapBnd /proc/$(systemctl show -p MainPID --value flotilla-agent)/status");
  EXPECT_NE(agent.output.find("active\n"), std::string::npos) << agent.output;
  // CAP_SYS_MODULE (bit 16) is dropped from the agent's bounding set.
  auto bounding = agent.output.substr(agent.output.find("CapBnd:") == std::string::npos ? 0 : agent.output.find("CapBnd:") + 7);
  EXPECT_EQ(std::stoull(bounding, nullptr, 16) & (1ULL << 16), 0u) << agent.output;

  auto stopped = inside("systemctl stop flotilla-agent flotilla-server && journalctl -u flotilla-server --no-pager | tail -5");
  EXPECT_EQ(stopped.status, 0) << stopped.output;
  EXPECT_NE(stopped.output.find("INFO stopped"), std::string::npos) << "the server drains on systemctl stop: " << stopped.output;

  // The reboot on exit code 77: an update installed by hand waits for its
  // trial boot, so the service's `run` exits 77 at once and its unit has
  // systemd reboot the machine (a container that reboots ends
  // systemd-nspawn with 133).
  auto armed = inside(
      "cd /root && head -c 65536 /dev/urandom > rootfs.img && flotilla bundle create --key release.key --name gw-os --kind os"
      " --component rootfs --version 2.4.0 --security-version 2 --compatible gw-x1 --raw-image rootfs=rootfs.img -o gw-os.flb"
      " && flotilla-agent install gw-os.flb --config /etc/flotilla/agent.json");
  ASSERT_EQ(armed.status, 0) << armed.output;
  (void)inside("systemctl start --no-block flotilla-agent");
  for (int i = 0; i < 120 && !fs::exists(exit_status); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(read_text(exit_status), "133\n") << "the agent's exit 77 did not reboot the machine:\n" << read_text(log);
}

TEST_F(PackageTest, AnUpgradeKeepsTheDataAndTheOperatorsSettings) {
  install(packages_of(kOlderVersion, scratch_ / "packages/older"));
  auto initialised = as_server_user(std::string("flotilla-server init --data ") + kDataDir);
  ASSERT_EQ(initialised.status, 0) << initialised.output;
  // The operator's edit of the conffile.
  write_text(root_ / "etc/flotilla/server.json",
             R"({"data": "/var/lib/flotilla/server", "listen": "http://127.0.0.1:8080", "front": "nginx", "threads": 2, "poll_interval": 300})"
             "\n");
  const auto url = start_server("older");
  ASSERT_FALSE(url.empty());
  auto token = cli(url, "tokens create --name release-ci --role publisher");
  ASSERT_EQ(token.status, 0) << token.output;
  stop("older");

  install(packages_of("0.1.0", scratch_ / "packages/current"));
  EXPECT_EQ(in_root("dpkg-query -W -f '${Version}' flotilla-server").output, "0.1.0");
  EXPECT_NE(read_text(root_ / "etc/flotilla/server.json").find("\"poll_interval\": 300"), std::string::npos)
      << "the upgrade replaced the operator's settings";
  const auto upgraded = start_server("upgraded");
  ASSERT_FALSE(upgraded.empty());
  auto tokens = cli(upgraded, "--json tokens list");
  EXPECT_NE(tokens.output.find("release-ci"), std::string::npos) << tokens.output;
  auto audit = cli(upgraded, "audit export -o audit.jsonl && flotilla audit verify --file audit.jsonl");
  EXPECT_EQ(audit.status, 0) << audit.output;
}

TEST_F(PackageTest, RemoveKeepsTheFleetAndPurgeRemovesOnlyWhatThePackagesMade) {
  install(packages_of("0.1.0", scratch_ / "packages/current"));
  auto initialised = as_server_user(std::string("flotilla-server init --data ") + kDataDir);
  ASSERT_EQ(initialised.status, 0) << initialised.output;

  auto removed = in_root("dpkg -r flotilla-server flotilla-agent flotilla");
  ASSERT_EQ(removed.status, 0) << removed.output;
  EXPECT_FALSE(fs::exists(root_ / "usr/bin/flotilla-server"));
  EXPECT_TRUE(fs::exists(root_ / "etc/flotilla/server.json")) << "remove (not purge) keeps the settings";
  EXPECT_TRUE(fs::exists(root_ / "var/lib/flotilla/server/flotilla.db"));

  auto purged = in_root("dpkg -P flotilla-server flotilla-agent flotilla");
  ASSERT_EQ(purged.status, 0) << purged.output;
  EXPECT_FALSE(fs::exists(root_ / "etc/flotilla")) << "purge leaves the settings";
  EXPECT_TRUE(fs::exists(root_ / "var/lib/flotilla/server/flotilla.db")) << "purge deleted the fleet";
  EXPECT_TRUE(fs::exists(root_ / "var/lib/flotilla/server/report.key"));
  EXPECT_NE(purged.output.find("was kept"), std::string::npos) << "purge must say where the data it kept is: " << purged.output;

  // Without data of the operator's, purge leaves nothing of the packages.
  install(packages_of("0.1.0", scratch_ / "packages/current"));
  ASSERT_EQ(in_root(std::string("rm -rf ") + kDataDir).status, 0);
  ASSERT_EQ(in_root("dpkg -P flotilla-server flotilla-agent flotilla").status, 0);
  EXPECT_FALSE(fs::exists(root_ / "var/lib/flotilla"));
  EXPECT_FALSE(fs::exists(root_ / "lib/systemd/system/flotilla-server.service"));
  EXPECT_FALSE(fs::exists(root_ / "usr/share/man/man1/flotilla.1.gz"));
}

}  // namespace
