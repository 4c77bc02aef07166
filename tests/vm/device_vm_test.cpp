// A real device (label vm): GRUB or U-Boot, a Debian kernel and
// flotilla-agent in QEMU without KVM, built by scripts/device-image, updated through staged
// rollouts by the real server over HTTPS with a test CA. The guest reaches
// the host's loopback at 10.0.2.2 (QEMU's user-mode network; nothing else).
// Each test boots a freshly built disk; power cuts are SIGKILLs of QEMU.
// UbootDeviceVmTest runs the same lifecycles with U-Boot as the firmware.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <random>
#include <regex>
#include <thread>

#include "artifacts/writer.hpp"
#include "cli/api_client.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/server_process.hpp"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const fs::path kSource = FLOTILLA_SOURCE_DIR;
std::string device_image() { return (kSource / "scripts/device-image").string(); }

using testing::count_of;

class DeviceVmTest : public ::testing::Test {
 protected:
  // Rootfs images of 2.0.0, built once: good, with a broken init, with a
  // failing health check.
  static inline fs::path images_;

  static void SetUpTestSuite() {
    images_ = fs::temp_directory_path() / ("flotilla-vm-images-" + std::to_string(::getpid()));
    for (const auto& [name, flags] : {std::pair{"good", ""}, std::pair{"broken", " --broken-init"},
                                      std::pair{"failing", " --failing-health-check"}}) {
      auto out = images_ / name;
      int code = testing::run_shell(device_image() + " rootfs --out '" + out.string() + "' --version 2.0.0" + flags +
                                        " > '" + images_.string() + "-" + name + ".log' 2>&1",
                                    300);
      ASSERT_EQ(code, 0) << testing::read_text(images_.string() + "-" + name + ".log");
    }
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(images_, ec);
  }

  // The device's boot firmware (scripts/device-image disk --bootloader).
  virtual std::string bootloader() const { return "grub"; }
  // More `device-image disk` options (--tpm).
  virtual std::string disk_flags() const { return ""; }
  // What the boot script prints when it boots slot B (the trial).
  virtual std::string booting_slot_b() const { return "flotilla-grub: booting slot B"; }

  testing::TempDir dir;
  testing::TrustSetup trust;
  std::unique_ptr<testing::ServerProcess> server;
  std::unique_ptr<cli::ApiClient> admin;
  int port = 0;
  pid_t qemu = -1;
  fs::path console_log;

  void SetUp() override {
    ASSERT_TRUE(fs::exists("/usr/bin/qemu-system-x86_64")) << "qemu-system-x86 is missing: run scripts/setup";
    testing::write_text(dir / "root.json", trust.root_json);
    // A test CA and a server certificate naming 10.0.2.2, the address the
    // guest knows the host by.
    ASSERT_EQ(testing::run_shell("cd '" + dir.path().string() +
                                 "' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
                                 "-out ca.pem -days 2 -subj /CN=flotilla-test-ca"
                                 " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key "
                                 "-out tls.csr -subj /CN=flotilla"
                                 " && printf 'subjectAltName=IP:10.0.2.2,IP:127.0.0.1\\n' > san.ext"
                                 " && openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out tls.pem "
                                 "-days 2 -extfile san.ext > /dev/null 2>&1"),
              0);
    port = testing::free_port();
    server = std::make_unique<testing::ServerProcess>(FLOTILLA_SERVER, dir / "data", (dir / "root.json").string());
    server->listen_on("https://127.0.0.1:" + std::to_string(port));
    server->start({"--tls-cert", (dir / "tls.pem").string(), "--tls-key", (dir / "tls.key").string(), "--public-url",
                   guest_url(), "--poll-interval", "5", "--scheduler-interval", "1"});
    admin = std::make_unique<cli::ApiClient>(server->url(), server->admin_token());
    admin->set_ca_file((dir / "ca.pem").string());
    auto token = admin->request("POST", "/api/v1/enrollment-tokens",
                                R"({"name": "factory", "device_types": ["qemu-x86"], "max_uses": 2, "expires_at": "2099-01-01T00:00:00Z"})");
    ASSERT_TRUE(token && token->status == 201) << (token ? token->body : token.error().describe());
    testing::write_text(dir / "enroll.token", token->json()["token"].get<std::string>());
    auto started = Clock::now();
    ASSERT_EQ(testing::run_shell(device_image() + " disk --out '" + (dir / "device").string() + "' --server " + guest_url() +
                                     " --ca-file '" + (dir / "ca.pem").string() + "' --trust-root '" +
                                     (dir / "root.json").string() + "' --enrollment-token-file '" +
                                     (dir / "enroll.token").string() + "' --device-type qemu-x86 --version 1.0.0 --serial QEMU-" +
                                     std::to_string(port) + " --bootloader " + bootloader() + disk_flags() + " > '" + (dir / "image.log").string() + "' 2>&1",
                                 300),
              0)
        << testing::read_text(dir / "image.log");
    std::cout << "[ vm ] disk image built in " << std::chrono::duration<double>(Clock::now() - started).count() << " s\n";
    console_log = dir / "console.log";
  }

  void TearDown() override {
    stop_vm();
    if (HasFailure()) std::cout << "[ vm ] console:\n" << console() << "\n[ vm ] server log:\n" << server->log() << "\n";
    // Each boot's time from the kernel's start to userspace, as the guest
    // measured it (GRUB reading the kernel adds about 4 s before that).
    std::smatch match;
    std::string text = console(), times;
    for (std::regex up(R"(kernel to here: ([0-9.]+)s)"); std::regex_search(text, match, up); text = match.suffix()) {
      times += " " + match[1].str();
    }
    std::cout << "[ vm ] boots, kernel to userspace (s):" << times << "\n";
    server->stop();
  }

  std::string guest_url() const { return "https://10.0.2.2:" + std::to_string(port); }
  std::string console() const { return testing::read_text(console_log); }

  // The device's power: `device-image run` and the QEMU it starts (again
  // after each guest reboot) share a process group of their own.
  void start_vm() {
    qemu = ::fork();
    if (qemu == 0) {
      ::setpgid(0, 0);
      ::execl("/bin/bash", "bash", device_image().c_str(), "run", (dir / "device").c_str(), "--console-log",
              console_log.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::setpgid(qemu, qemu);  // as the child does: whichever runs first
  }
  // Power off without warning: nothing in the guest gets to flush.
  void power_cut() {
    if (qemu <= 0) return;
    ::kill(-qemu, SIGKILL);
    ::waitpid(qemu, nullptr, 0);
    qemu = -1;
  }
  void stop_vm() { power_cut(); }

  // Waits until `text` occurs at least `times` times in the console, or
  // QEMU exits.
  bool wait_console(const std::string& text, int times, std::chrono::seconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (count_of(console(), text) >= times) return true;
      if (qemu > 0 && ::waitpid(qemu, nullptr, WNOHANG) == qemu) {
        qemu = -1;
        return false;
      }
      std::this_thread::sleep_for(200ms);
    }
    return false;
  }

  // Signs a bundle of `image`, uploads it and starts a one-wave rollout;
  // returns the rollout's deployment id.
  std::int64_t rollout(const fs::path& image, int retries) {
    auto manifest = testing::sample_manifest();
    manifest.name = "qemu-os";
    manifest.version = *common::Version::parse("2.0.0");
    manifest.security_version = 2;
    manifest.compatible = {"qemu-x86"};
    manifest.requires_.clear();
    artifacts::Payload raw{.name = "rootfs.img", .type = artifacts::PayloadType::kRawImage, .slot = "rootfs"};
    auto bundle = dir / "os.flb";
    auto written = artifacts::write_bundle({manifest, {{raw, image}}, artifacts::Compression::kZstd}, {&trust.release_key}, bundle);
    EXPECT_TRUE(written) << written.error().describe();
    auto uploaded = admin->upload("/api/v1/bundles", bundle);
    EXPECT_TRUE(uploaded && uploaded->status == 201) << (uploaded ? uploaded->body : uploaded.error().describe());
    auto created = admin->request("POST", "/api/v1/rollouts",
                                  R"({"name": "qemu-os-2.0.0", "bundle": {"name": "qemu-os", "version": "2.0.0"},
                                      "target": {"device_types": ["qemu-x86"]}, "waves": [{"name": "all", "size": "100%"}],
                                      "device_timeout": "30m", "device_retries": )" +
                                      std::to_string(retries) + "}");
    EXPECT_TRUE(created && created->status == 201) << (created ? created->body : created.error().describe());
    return created->json()["deployment_id"].get<std::int64_t>();
  }

  // The device's row of the deployment, or null before it has one.
  common::Json device_row(std::int64_t deployment) {
    auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment));
    if (!shown || shown->status != 200) return nullptr;
    auto devices = shown->json()["devices"];
    return devices.empty() ? common::Json(nullptr) : devices[0];
  }
  std::string wait_final_state(std::int64_t deployment, std::chrono::seconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto row = device_row(deployment);
      if (row.is_object()) {
        auto state = row["state"].get<std::string>();
        if (state == "succeeded" || state == "failed" || state == "rolled_back" || state == "timed_out") return state;
      }
      std::this_thread::sleep_for(2s);
    }
    return "none";
  }
  // What the compliance report says the device runs, from its signed inventory.
  std::string reported_version() {
    auto report = admin->request("GET", "/api/v1/compliance?format=json");
    if (!report || report->status != 200) return "";
    auto rows = report->json()["rows"];
    return rows.empty() || !rows[0]["installed_version"].is_string() ? "" : rows[0]["installed_version"].get<std::string>();
  }
  // Powers the factory device on, waits for its first boot, then rolls
  // out 2.0.0 from the suite's image `name`; returns the deployment id.
  std::int64_t boot_then_roll_out(const std::string& name, int retries) {
    start_vm();
    EXPECT_TRUE(wait_console("flotilla-device: up in slot a with rootfs 1.0.0", 1, 180s)) << "the factory image did not boot";
    return rollout(images_ / name / "rootfs.img", retries);
  }
  bool wait_reported_version(const std::string& version, std::chrono::seconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (reported_version() == version) return true;
      std::this_thread::sleep_for(1s);
    }
    return false;
  }

  // The update boots the new slot once, the agent commits, and the next
  // power-on boots it again.
  void expect_update_committed() {
    auto deployment = boot_then_roll_out("good", 0);
    ASSERT_EQ(wait_final_state(deployment, 300s), "succeeded");
    auto text = console();
    EXPECT_EQ(count_of(text, booting_slot_b()), 1) << "the new slot boots once, then is committed";
    EXPECT_NE(text.find("flotilla-device: up in slot b with rootfs 2.0.0"), std::string::npos);
    EXPECT_NE(text.find("rootfs 2.0.0 committed in slot b"), std::string::npos);
    EXPECT_EQ(device_row(deployment)["running_version"], "2.0.0");
    EXPECT_TRUE(wait_reported_version("2.0.0", 60s)) << "compliance says " << reported_version();
    // Committed: the next power-on boots the new slot again.
    power_cut();
    start_vm();
    EXPECT_TRUE(wait_console("flotilla-device: up in slot b with rootfs 2.0.0", 2, 180s));
  }
  // The new slot boots, its health check fails, the agent rolls back.
  void expect_failing_health_check_rolled_back() {
    auto deployment = boot_then_roll_out("failing", 0);
    ASSERT_EQ(wait_final_state(deployment, 300s), "rolled_back");
    // Reported before the reboot back: wait for the old slot to come up.
    EXPECT_TRUE(wait_console("flotilla-device: up in slot a with rootfs 1.0.0", 2, 180s));
    auto text = console();
    auto in_b = text.find("flotilla-device: up in slot b with rootfs 2.0.0");
    ASSERT_NE(in_b, std::string::npos) << "the new slot booted";
    EXPECT_NE(text.find("health check failed", in_b), std::string::npos);
    EXPECT_NE(text.find("flotilla-device: up in slot a with rootfs 1.0.0", in_b), std::string::npos) << "back on the old slot";
    EXPECT_EQ(device_row(deployment)["running_version"], "1.0.0");
    EXPECT_TRUE(wait_reported_version("1.0.0", 60s));
  }
  // SIGKILLs of QEMU at random instants of an update, the first
  // `planned` of the plan below (defined below).
  void expect_power_cuts_never_brick(std::size_t planned);
  // A slot whose init never comes up uses its one try; the boot firmware
  // alone falls back, and the agent reports what it runs.
  void expect_broken_image_rolled_back() {
    auto deployment = boot_then_roll_out("broken", 0);
    ASSERT_EQ(wait_final_state(deployment, 300s), "rolled_back");
    auto text = console();
    EXPECT_NE(text.find("flotilla-device: broken init of 2.0.0"), std::string::npos);
    EXPECT_GE(count_of(text, "flotilla-device: up in slot a with rootfs 1.0.0"), 2);
    EXPECT_EQ(text.find("up in slot b"), std::string::npos);
    EXPECT_EQ(device_row(deployment)["running_version"], "1.0.0");
    EXPECT_TRUE(wait_reported_version("1.0.0", 60s));
  }
};

// The same device with Debian's U-Boot for QEMU as its firmware: the
// shared boot.cmd behind the board's lines, its environment raw on the
// disk, written by the agent through fw_setenv.
class UbootDeviceVmTest : public DeviceVmTest {
 protected:
  std::string bootloader() const override { return "uboot"; }
  std::string booting_slot_b() const override { return "flotilla: booting slot B"; }
};

TEST_F(DeviceVmTest, UpdateBootsTheNewSlotOnceAndCommits) { expect_update_committed(); }

// A machine with a TPM 2.0 (swtpm behind QEMU's tpm-tis, the kernel's
// driver and resource manager, /dev/tpmrm0): the agent's key is made in
// the TPM at the first boot and signs every report and event of an
// update across reboots into the new slot.
class TpmDeviceVmTest : public DeviceVmTest {
 protected:
  std::string disk_flags() const override { return " --tpm"; }
};

TEST_F(TpmDeviceVmTest, AKeyInTheTpmTakesTheDeviceThroughAnUpdate) {
  expect_update_committed();
  EXPECT_NE(console().find("created the device key"), std::string::npos);
  auto devices = admin->request("GET", "/api/v1/devices")->json()["devices"];
  ASSERT_EQ(devices.size(), 1u) << devices.dump();  // one identity across slots and power cycles
  auto view = admin->request("GET", "/api/v1/devices/" + devices[0]["id"].get<std::string>())->json();
  auto key = signing::PublicKey::from_pem(view["public_key"].get<std::string>());
  ASSERT_TRUE(key) << view.dump();
  EXPECT_EQ(key->algorithm(), signing::Algorithm::kEcdsaP256);
}

TEST_F(DeviceVmTest, ABrokenImageFallsBackThroughGrubAlone) { expect_broken_image_rolled_back(); }

TEST_F(UbootDeviceVmTest, UpdateBootsTheNewSlotOnceAndCommits) { expect_update_committed(); }

TEST_F(UbootDeviceVmTest, ABrokenImageFallsBackThroughUbootAlone) { expect_broken_image_rolled_back(); }

TEST_F(DeviceVmTest, AFailingHealthCheckRollsBack) { expect_failing_health_check_rolled_back(); }

// SIGKILLs of QEMU while the slot is written, between writing and the
// reboot, and during the trial boot: after each the device boots a slot
// holding a whole image, and once power stays on the update completes.
// The server never records a success the device did not commit.
void DeviceVmTest::expect_power_cuts_never_brick(std::size_t planned) {
  std::uint32_t seed = static_cast<std::uint32_t>(std::random_device{}());
  std::cout << "[ vm ] power-cut seed " << seed << "\n";
  std::mt19937 random(seed);
  auto deployment = boot_then_roll_out("good", 10);
  // Where each cut falls: while the slot is written (the update is
  // interrupted, and the next start goes on from its resume point; the
  // marker starts both a fresh and a resumed download), just after the
  // trial was armed (it goes on), during
  // the trial boot before the commit (it falls back and is retried). The
  // delay after each phase's first line is random within the phase; a
  // write takes 5-7 s here (measured through the server's front), so its
  // cuts fall within the first 3 s of it.
  struct Phase {
    std::string marker;
    int max_delay_ms;
  };
  const Phase write{"INFO installing deployment", 3000}, armed{"INFO rebooting into slot b", 300},
      trial{booting_slot_b(), 4500};
  const std::vector<Phase> all = {write, trial, write, armed, trial, write, trial, armed, trial, write};
  const std::vector<Phase> plan(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(std::min(planned, all.size())));
  int cuts = 0;
  // Counted before each restart, so a phase that starts right at power-on
  // (the trial boot after a cut just after arming) is not missed.
  int before = count_of(console(), plan[0].marker);
  for (std::size_t i = 0; i < std::size(plan); ++i) {
    const auto& phase = plan[i];
    bool reached = false;
    for (auto deadline = Clock::now() + 240s; !reached && Clock::now() < deadline;) {
      reached = wait_console(phase.marker, before + 1, 5s);
      if (!reached && console().find("rootfs 2.0.0 committed") != std::string::npos) break;
    }
    if (!reached) break;  // committed already, or the device went quiet (checked below)
    int delay_ms = std::uniform_int_distribution<int>(0, phase.max_delay_ms)(random);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    power_cut();
    ++cuts;
    std::cout << "[ vm ] cut " << cuts << ": " << delay_ms << " ms after \"" << phase.marker << "\" #" << before + 1 << "\n";
    auto row = device_row(deployment);
    if (row.is_object() && row["state"] == "succeeded") {
      EXPECT_NE(console().find("rootfs 2.0.0 committed"), std::string::npos) << "a success the device never committed";
    }
    if (i + 1 < std::size(plan)) before = count_of(console(), plan[i + 1].marker);
    start_vm();
  }
  // Every boot that reached userspace did so on a slot holding a whole
  // image: the old one, or the new one once tried (a power-on cut before
  // userspace is followed by another; the last one must come up, below).
  auto text = console();
  EXPECT_EQ(count_of(text, "flotilla-device: up in slot"),
            count_of(text, "flotilla-device: up in slot a with rootfs 1.0.0") +
                count_of(text, "flotilla-device: up in slot b with rootfs 2.0.0"));
  std::cout << "[ vm ] " << cuts << " power cuts\n";
  EXPECT_GE(cuts, static_cast<int>(plan.size()) - 2) << "the update finished before the planned cuts";
  ASSERT_EQ(wait_final_state(deployment, 600s), "succeeded");
  EXPECT_NE(console().find("rootfs 2.0.0 committed in slot b"), std::string::npos);
  EXPECT_EQ(device_row(deployment)["running_version"], "2.0.0");
  EXPECT_TRUE(wait_reported_version("2.0.0", 60s));
}

TEST_F(DeviceVmTest, PowerCutsAtRandomInstantsNeverBrickTheDevice) { expect_power_cuts_never_brick(10); }

TEST_F(UbootDeviceVmTest, AFailingHealthCheckRollsBack) { expect_failing_health_check_rolled_back(); }

// Fewer cuts than on GRUB (the vm label's 10 minutes): the slot write,
// the arming and the trial boot each get cut, through U-Boot's own
// environment writes at every power-on.
TEST_F(UbootDeviceVmTest, PowerCutsAtRandomInstantsNeverBrickTheDevice) { expect_power_cuts_never_brick(6); }

}  // namespace
}  // namespace flotilla
