// flotilla-agent as a device runs it, on file-backed slots with the file
// bootloader: install → trial boot → commit; health checks failing and a
// slot that never comes up roll back; bad bundles change nothing; a kill
// mid-install leaves nothing activated. Plus the config's validation and
// the boot-count semantics.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <fstream>
#include <thread>

#include "client/bootloader.hpp"
#include "client/config.hpp"
#include "common/json.hpp"
#include "tests/client/agent_fixture.hpp"
#include "tests/support/bootloader_config.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/tar_builder.hpp"

namespace flotilla {
namespace {

using testing::AgentTest;
using testing::read_text;
using testing::write_text;


TEST_F(AgentTest, InstallTrialBootCommit) {
  EXPECT_EQ(status()["booted_slot"], "a");
  auto installed = agent("install " + bundle("2.4.0", 8).string());
  ASSERT_EQ(installed.code, 0) << installed.err;
  EXPECT_NE(installed.out.find("into slot b; reboot to try it"), std::string::npos) << installed.out;
  EXPECT_EQ(testing::read_head(dir / "slot-b", 100018), "rootfs image 2.4.0" + std::string(100000, 'x'));
  auto trial = status();
  EXPECT_EQ(trial["update"]["state"], "rebooting");
  EXPECT_EQ(trial["components"]["rootfs"]["version"], "2.3.0");  // not before the commit
  // A second install waits until this one is settled.
  EXPECT_EQ(agent("install " + bundle("2.5.0", 8).string()).code, 1);
  // Committing before the reboot changes nothing.
  EXPECT_EQ(agent("commit").code, 1);
  EXPECT_EQ(status()["update"]["state"], "rebooting");

  EXPECT_EQ(agent("boot").out, "booted slot b\n");
  auto committed = agent("commit");
  ASSERT_EQ(committed.code, 0) << committed.err;
  auto after = status();
  EXPECT_EQ(after["booted_slot"], "b");
  EXPECT_EQ(after["update"]["state"], "committed");
  EXPECT_EQ(after["components"]["rootfs"]["version"], "2.4.0");
  EXPECT_EQ(after["components"]["rootfs"]["security_version"], 8);
  // Marked good: it keeps booting b.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(agent("boot").out, "booted slot b\n");
}

TEST_F(AgentTest, FailingHealthCheckRollsBack) {
  ASSERT_EQ(agent("install " + bundle("2.4.0", 8).string()).code, 0);
  ASSERT_EQ(agent("boot").out, "booted slot b\n");
  write_text(dir / "unhealthy", "");
  auto commit = agent("commit");
  EXPECT_EQ(commit.code, 1);
  EXPECT_NE(commit.err.find("health check failed"), std::string::npos) << commit.err;
  auto view = status();
  EXPECT_EQ(view["update"]["state"], "rolled_back");
  EXPECT_EQ(view["components"]["rootfs"]["version"], "2.3.0");
  EXPECT_EQ(view["components"]["rootfs"]["security_version"], 7);  // never advanced
  EXPECT_EQ(agent("boot").out, "booted slot a\n");  // back to the old slot
}

TEST_F(AgentTest, SlotThatNeverComesUpFallsBackThroughTheBootCounter) {
  ASSERT_EQ(agent("install " + bundle("2.4.0", 8).string()).code, 0);
  ASSERT_EQ(agent("boot").out, "booted slot b\n");  // the trial boot hangs: no commit
  ASSERT_EQ(agent("boot").out, "booted slot a\n");  // its one try is used up
  auto commit = agent("commit");
  EXPECT_EQ(commit.code, 1);
  EXPECT_NE(commit.err.find("slot b did not come up; running slot a with rootfs 2.3.0"), std::string::npos) << commit.err;
  EXPECT_EQ(status()["update"]["state"], "rolled_back");
  EXPECT_EQ(status()["components"]["rootfs"]["version"], "2.3.0");
}

TEST_F(AgentTest, BadBundlesChangeNothing) {
  testing::make_file_slot(dir / "slot-b", "old b");
  auto untouched = [&] {
    EXPECT_TRUE(read_text(dir / "slot-a") == slot_a_before);
    EXPECT_EQ(status()["components"]["rootfs"]["version"], "2.3.0");
    EXPECT_EQ(status()["booted_slot"], "a");
    EXPECT_EQ(agent("boot").out, "booted slot a\n");  // nothing armed
  };
  auto wrong_type = agent("install " + bundle("2.4.0", 8, "toaster").string());
  EXPECT_EQ(wrong_type.code, 1);
  EXPECT_NE(wrong_type.err.find("not compatible with device type"), std::string::npos) << wrong_type.err;
  untouched();
  EXPECT_EQ(agent("install " + bundle("2.4.0", 6).string()).code, 1);  // lower security version
  untouched();
  EXPECT_EQ(agent("install " + bundle("2.2.0", 7).string()).code, 1);  // a downgrade not allowed
  untouched();
  // One byte changed in transit.
  auto good = bundle("2.4.0", 8);
  std::string bytes = read_text(good);
  bytes[bytes.size() - 2000] ^= 1;
  write_text(dir / "tampered.flb", bytes);
  EXPECT_EQ(agent("install " + (dir / "tampered.flb").string()).code, 1);
  untouched();
  // Signed by a key the root does not trust.
  auto rogue_key = testing::make_key();
  auto m = testing::sample_manifest();
  write_text(dir / "image", "rogue");
  ASSERT_TRUE(artifacts::write_bundle({m, {{{.name = "image", .type = artifacts::PayloadType::kRawImage, .slot = "rootfs"},
                                            dir / "image"}}},
                                      {&rogue_key}, dir / "rogue.flb"));
  EXPECT_EQ(agent("install " + (dir / "rogue.flb").string()).code, 1);
  untouched();
  // Genuine, but an SWUpdate image for devices served over DDI.
  auto swu = testing::sample_manifest();
  swu.version = *common::Version::parse("2.4.0");
  swu.security_version = 8;
  write_text(dir / "app.swu", "an swu image");
  ASSERT_TRUE(artifacts::write_bundle({swu, {{{.name = "app.swu", .type = artifacts::PayloadType::kSwu}, dir / "app.swu"}}},
                                      {&trust.release_key}, dir / "swu.flb"));
  auto refused = agent("install " + (dir / "swu.flb").string());
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("SWUpdate images (payload type swu)"), std::string::npos) << refused.err;
  untouched();
  EXPECT_EQ(status()["update"]["state"], "failed");
  EXPECT_FALSE(status()["last_error"].is_null());
}

TEST_F(AgentTest, FilePayloadsAreRestoredOnRollback) {
  auto conf = dir / "etc" / "app.conf";
  std::filesystem::create_directories(conf.parent_path());
  write_text(conf, "original");
  ASSERT_EQ(read_text(conf), "original");
  ASSERT_EQ(agent("install " + bundle("2.4.0", 8, "gw-x1", conf.string()).string()).code, 0);
  EXPECT_EQ(read_text(conf), "config of 2.4.0");
  ASSERT_EQ(agent("rollback").code, 0);
  EXPECT_EQ(read_text(conf), "original");
  EXPECT_FALSE(std::filesystem::exists(conf.string() + ".flotilla-old"));
  EXPECT_EQ(agent("boot").out, "booted slot a\n");
  EXPECT_EQ(agent("rollback").code, 1);  // nothing left to roll back
}

// files_root: a bundle's absolute file paths land under the device's own
// tree (a staged image, a simulated device), and roll back there too.
TEST_F(AgentTest, FilePayloadsLandUnderFilesRoot) {
  config["files_root"] = (dir / "tree").string();
  write_config();
  ASSERT_EQ(agent("install " + bundle("2.4.0", 8, "gw-x1", "/etc/app.conf").string()).code, 0);
  EXPECT_EQ(read_text(dir / "tree" / "etc" / "app.conf"), "config of 2.4.0");
  EXPECT_FALSE(std::filesystem::exists("/etc/app.conf") && read_text("/etc/app.conf") == "config of 2.4.0");
  ASSERT_EQ(agent("rollback").code, 0);
  EXPECT_FALSE(std::filesystem::exists(dir / "tree" / "etc" / "app.conf"));
}

TEST_F(AgentTest, KilledMidInstallActivatesNothing) {
  // The bundle arrives through a pipe that stalls half-way; the agent is
  // killed there, as by a power cut.
  auto file = bundle("2.4.0", 8);
  std::string bytes = read_text(file);
  auto fifo = dir / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(FLOTILLA_AGENT, FLOTILLA_AGENT, "install", fifo.c_str(), "--config", (dir / "agent.json").c_str(), nullptr);
    ::_exit(127);
  }
  {
    std::ofstream writer(fifo, std::ios::binary);
    writer.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    writer.flush();
    ::usleep(300000);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  auto view = status();
  EXPECT_EQ(view["update"]["state"], "interrupted");  // not failed: nothing was wrong with the update
  EXPECT_NE(view["last_error"].get<std::string>().find("interrupted"), std::string::npos);
  EXPECT_EQ(agent("boot").out, "booted slot a\n");
  // And the next install goes through.
  ASSERT_EQ(agent("install " + file.string()).code, 0);
  EXPECT_EQ(agent("boot").out, "booted slot b\n");
  EXPECT_EQ(agent("commit").code, 0);
}

TEST_F(AgentTest, FileOnlyBundleCommitsAtOnce) {
  auto m = testing::sample_manifest();
  m.reboot_required = false;
  m.security_version = 9;
  auto dest = dir / "opt" / "tool.sh";
  write_text(dir / "tool.sh", "#!/bin/sh\n");
  ASSERT_TRUE(artifacts::write_bundle(
      {m, {{{.name = "tool.sh", .type = artifacts::PayloadType::kFile, .path = dest.string(), .mode = 0755}, dir / "tool.sh"}}},
      {&trust.release_key}, dir / "files.flb"));
  auto run = agent("install " + (dir / "files.flb").string());
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("installed and committed 2.4.0"), std::string::npos);
  EXPECT_EQ(read_text(dest), "#!/bin/sh\n");
  EXPECT_EQ(std::filesystem::status(dest).permissions() & std::filesystem::perms::all, static_cast<std::filesystem::perms>(0755));
  EXPECT_EQ(status()["components"]["rootfs"]["security_version"], 9);
  EXPECT_EQ(status()["booted_slot"], "a");
}

// A power cut right after each persisted state (FLOTILLA_AGENT_FAULT kills
// the agent with SIGKILL there), then a boot: the device always boots a
// slot holding a verified image, the agent resumes or reports failure,
// and nothing is half-installed.
TEST_F(AgentTest, PowerCutAfterEveryStateResumesSafely) {
  auto image = "rootfs image 2.4.0" + std::string(100000, 'x');
  auto bundle_file = bundle("2.4.0", 8);
  auto fresh = [&] {
    std::filesystem::remove_all(dir / "state");
    std::filesystem::remove(dir / "bootenv.json");
    testing::make_file_slot(dir / "slot-b", "");
  };
  auto crash = [](const std::string& state) { return "FLOTILLA_AGENT_FAULT=crash-after:" + state; };
  auto booted_slot_holds_verified_image = [&](const std::string& slot) {
    if (slot == "a") EXPECT_TRUE(read_text(dir / "slot-a") == slot_a_before);
    else EXPECT_EQ(testing::read_head(dir / "slot-b", image.size()), image);
  };

  // Cut while the bundle streams in, and in the middle of writing the
  // slot (an image of several write buffers): nothing was activated.
  auto m = testing::sample_manifest();
  m.security_version = 8;
  write_text(dir / "big.img", std::string(1 << 20, 'B'));
  ASSERT_TRUE(artifacts::write_bundle(
      {m, {{{.name = "big.img", .type = artifacts::PayloadType::kRawImage, .slot = "rootfs"}, dir / "big.img"}}},
      {&trust.release_key}, dir / "big.flb"));
  for (const char* point : {"downloading_installing", "writing_slot"}) {
    fresh();
    EXPECT_NE(agent("install " + (dir / "big.flb").string(), crash(point)).code, 0) << point;
    EXPECT_EQ(status()["update"]["state"], "interrupted") << point;  // not failed: taken again when offered
    EXPECT_EQ(agent("boot").out, "booted slot a\n") << point;
    booted_slot_holds_verified_image("a");
  }

  // Cut after the slot was written and verified, before the trial was
  // armed: the next start arms it, and the update goes through.
  fresh();
  EXPECT_NE(agent("install " + bundle_file.string(), crash("installed")).code, 0);
  EXPECT_EQ(status()["update"]["state"], "rebooting");
  EXPECT_EQ(agent("boot").out, "booted slot b\n");
  booted_slot_holds_verified_image("b");
  EXPECT_EQ(agent("commit").code, 0);

  // Cut after the trial was armed (the reboot itself).
  fresh();
  EXPECT_NE(agent("install " + bundle_file.string(), crash("rebooting")).code, 0);
  EXPECT_EQ(agent("boot").out, "booted slot b\n");
  EXPECT_EQ(agent("commit").code, 0);
  EXPECT_EQ(status()["components"]["rootfs"]["version"], "2.4.0");

  // Cut while the health checks run after the trial boot: a later start
  // checks again and commits.
  fresh();
  ASSERT_EQ(agent("install " + bundle_file.string()).code, 0);
  ASSERT_EQ(agent("boot").out, "booted slot b\n");
  EXPECT_NE(agent("commit", crash("verifying")).code, 0);
  EXPECT_EQ(status()["update"]["state"], "verifying");
  EXPECT_EQ(agent("commit").code, 0);
  EXPECT_EQ(status()["components"]["rootfs"]["security_version"], 8);

  // Cut right after the commit: it stands, and b keeps booting.
  fresh();
  ASSERT_EQ(agent("install " + bundle_file.string()).code, 0);
  ASSERT_EQ(agent("boot").out, "booted slot b\n");
  EXPECT_NE(agent("commit", crash("committed")).code, 0);
  EXPECT_EQ(status()["update"]["state"], "committed");
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(agent("boot").out, "booted slot b\n");
    status();  // each start renews the good slot's boot count
  }
  booted_slot_holds_verified_image("b");

  // Cut after a rollback was decided, before the reboot back.
  fresh();
  ASSERT_EQ(agent("install " + bundle_file.string()).code, 0);
  ASSERT_EQ(agent("boot").out, "booted slot b\n");
  write_text(dir / "unhealthy", "");
  EXPECT_NE(agent("commit", crash("rolled_back")).code, 0);
  std::filesystem::remove(dir / "unhealthy");
  EXPECT_EQ(status()["update"]["state"], "rolled_back");
  EXPECT_EQ(agent("boot").out, "booted slot a\n");
  booted_slot_holds_verified_image("a");
  EXPECT_EQ(status()["components"]["rootfs"]["version"], "2.3.0");
}

// The same lifecycle on each bootloader backend, the real tools included:
// fw_setenv/fw_printenv on a U-Boot environment file, grub-editenv on a
// grubenv file, and the example custom script.
class BootloaderLifecycleTest : public AgentTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    config["bootloader"] = testing::bootloader_config(GetParam(), dir.path());
    write_config();
  }
};

TEST_P(BootloaderLifecycleTest, InstallBootCommitThenFallbackAndRollback) {
  // Install, trial boot, commit.
  ASSERT_EQ(agent("install " + bundle("2.4.0", 8).string()).code, 0);
  EXPECT_EQ(agent("boot").out, "booted slot b\n");
  auto commit = agent("commit");
  ASSERT_EQ(commit.code, 0) << commit.err;
  EXPECT_EQ(status()["components"]["rootfs"]["version"], "2.4.0");
  EXPECT_EQ(agent("boot").out, "booted slot b\n");
  status();  // the start marks the running slot good again

  // The next update's slot never comes up: the boot counter falls back.
  ASSERT_EQ(agent("install " + bundle("2.5.0", 8).string()).code, 0);
  EXPECT_EQ(agent("boot").out, "booted slot a\n");  // the trial (it hangs)
  EXPECT_EQ(agent("boot").out, "booted slot b\n");  // back to the good slot
  commit = agent("commit");
  EXPECT_EQ(commit.code, 1);
  EXPECT_NE(commit.err.find("slot a did not come up; running slot b with rootfs 2.4.0"), std::string::npos) << commit.err;

  // And one whose health check fails after the trial boot.
  ASSERT_EQ(agent("install " + bundle("2.5.1", 8).string()).code, 0);
  EXPECT_EQ(agent("boot").out, "booted slot a\n");
  write_text(dir / "unhealthy", "");
  EXPECT_EQ(agent("commit").code, 1);
  std::filesystem::remove(dir / "unhealthy");
  EXPECT_EQ(agent("boot").out, "booted slot b\n");
  EXPECT_EQ(status()["components"]["rootfs"]["version"], "2.4.0");
  EXPECT_EQ(status()["update"]["state"], "rolled_back");
}

INSTANTIATE_TEST_SUITE_P(Backends, BootloaderLifecycleTest, ::testing::Values("file", "uboot", "grub", "custom"));

// Debian's own Mender update modules (unpacked by scripts/setup), run
// unchanged through the agent.
class UpdateModuleTest : public AgentTest {
 protected:
  std::filesystem::path modules = std::filesystem::path(FLOTILLA_SOURCE_DIR) / ".deps/mender/usr/share/mender/modules/v3";
  void SetUp() override {
    AgentTest::SetUp();
    ASSERT_TRUE(std::filesystem::exists(modules / "single-file")) << "run scripts/setup: it unpacks Debian's mender-client";
    config["modules_dir"] = modules.string();
    write_config();
  }
  // A bundle whose payloads all go to `module`: name -> content.
  std::filesystem::path module_bundle(const std::string& version, const std::string& module,
                                      const std::vector<std::pair<std::string, std::string>>& payloads) {
    auto m = testing::sample_manifest();
    m.name = "app";
    m.kind = artifacts::Kind::kFirmware;
    m.component = "app";
    m.requires_.clear();
    m.version = *common::Version::parse(version);
    m.reboot_required = false;
    std::vector<artifacts::PayloadInput> inputs;
    for (const auto& [name, content] : payloads) {
      write_text(dir / ("in-" + name), content);
      inputs.push_back({{.name = name, .type = artifacts::PayloadType::kModule, .module = module}, dir / ("in-" + name)});
    }
    auto out = dir / (module + "-" + version + ".flb");
    EXPECT_TRUE(artifacts::write_bundle({m, inputs}, {&trust.release_key}, out));
    return out;
  }
  std::filesystem::path single_file(const std::string& version) {
    return module_bundle(version, "single-file",
                         {{"dest_dir", (dir / "opt" / "app").string()}, {"filename", "app.bin"}, {"permissions", "0750"},
                          {"app.bin", "app " + version}});
  }
};

TEST_F(UpdateModuleTest, SingleFileInstallsCommitsAndRollsBackAfterAPowerCut) {
  auto run = agent("install " + single_file("1.0.0").string());
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("installed and committed 1.0.0"), std::string::npos);
  auto installed = dir / "opt" / "app" / "app.bin";
  EXPECT_EQ(read_text(installed), "app 1.0.0");
  EXPECT_EQ(std::filesystem::status(installed).permissions() & std::filesystem::perms::all,
            static_cast<std::filesystem::perms>(0750));
  EXPECT_EQ(status()["components"]["app"]["version"], "1.0.0");

  // 1.1.0 is installed by the module, then the power fails before the
  // commit: the next start has the module roll it back.
  EXPECT_NE(agent("install " + single_file("1.1.0").string(), "FLOTILLA_AGENT_FAULT=crash-after:module_installed").code, 0);
  EXPECT_EQ(read_text(installed), "app 1.1.0");  // the module did its work
  auto view = status();                          // the restart
  EXPECT_EQ(read_text(installed), "app 1.0.0");  // and undid it
  EXPECT_EQ(view["update"]["state"], "failed");
  EXPECT_EQ(view["components"]["app"]["version"], "1.0.0");
}

TEST_F(UpdateModuleTest, DirectoryModuleReplacesATreeAndFailuresChangeNothing) {
  auto tree = dir / "tree";
  std::filesystem::create_directories(tree / "sub");
  write_text(tree / "a.txt", "new a");
  write_text(tree / "sub" / "b.txt", "new b");
  ASSERT_EQ(testing::run_shell("tar -cf '" + (dir / "update.tar").string() + "' -C '" + tree.string() + "' ."), 0);
  auto dest = dir / "srv" / "www";
  std::filesystem::create_directories(dest);
  write_text(dest / "old.txt", "old");
  auto bundle_file = module_bundle("2.0.0", "directory", {{"dest_dir", dest.string()}, {"update.tar", read_text(dir / "update.tar")}});
  auto run = agent("install " + bundle_file.string());
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(read_text(dest / "sub" / "b.txt"), "new b");
  EXPECT_FALSE(std::filesystem::exists(dest / "old.txt"));

  // A module that is not installed, or an install the module refuses:
  // refused with the reason, nothing changed.
  auto missing = module_bundle("2.1.0", "no-such-module", {{"x", "y"}});
  run = agent("install " + missing.string());
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.err.find("update module no-such-module is not installed"), std::string::npos) << run.err;
  auto refused = module_bundle("2.2.0", "directory", {{"dest_dir", "/"}, {"update.tar", read_text(dir / "update.tar")}});
  run = agent("install " + refused.string());
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.err.find("ArtifactInstall"), std::string::npos) << run.err;
  EXPECT_EQ(read_text(dest / "a.txt"), "new a");
  EXPECT_EQ(status()["components"]["app"]["version"], "2.0.0");
}

// Hostile bundles (built byte by byte, as in the artifacts suite) through
// `flotilla-agent install`: each refused, and nothing activated — the
// running slot, the boot environment, the installed versions and the
// device's files stay as they were. (The inactive slot may hold bytes of
// a refused image: nothing boots it.)
TEST_F(AgentTest, HostileBundlesThroughInstallActivateNothing) {
  using testing::TarBuilder;
  std::vector<std::pair<std::string, std::string>> payloads = {{"image", std::string(3000, 'i')}};
  auto m = testing::sample_manifest();
  m.security_version = 8;
  std::string envelope = testing::sign_manifest(testing::manifest_text_for(m, payloads), trust.release_key);
  auto rogue = testing::make_key();
  std::string rogue_envelope = testing::sign_manifest(testing::manifest_text_for(m, payloads), rogue);
  auto honest = [&] {
    TarBuilder tar;
    tar.add("manifest.dsse.json", envelope);
    return tar;
  };
  std::vector<std::pair<std::string, std::string>> cases = {
      {"path climbing out", honest().add("payloads/../../etc/passwd", payloads[0].second).finish()},
      {"a symlink for the payload", honest().add("payloads/image", "", TarBuilder::Type::kSymlink, "/dev/mmcblk0").finish()},
      {"a size lie", honest().add("payloads/image", payloads[0].second, TarBuilder::Type::kRegular, "", 1 << 20).finish()},
      {"truncated mid-payload", honest().add("payloads/image", payloads[0].second).truncated(1800)},
      {"an extra entry", honest().add("payloads/image", payloads[0].second).add("payloads/extra", "x").finish()},
      {"changed bytes", honest().add("payloads/image", std::string(2999, 'i') + "j").finish()},
      {"an untrusted signer", [&] {
         TarBuilder tar;
         tar.add("manifest.dsse.json", rogue_envelope).add("payloads/image", payloads[0].second);
         return tar.finish();
       }()},
      {"not a bundle", std::string(4096, '\x7f')},
      {"empty", ""},
  };
  auto env_before = read_text(dir / "bootenv.json");
  status();  // creates the environment
  env_before = read_text(dir / "bootenv.json");
  for (const auto& [label, bytes] : cases) {
    write_text(dir / "hostile.flb", bytes);
    auto run = agent("install " + (dir / "hostile.flb").string());
    EXPECT_EQ(run.code, 1) << label;
    EXPECT_FALSE(run.err.empty()) << label;
    EXPECT_TRUE(read_text(dir / "slot-a") == slot_a_before) << label;
    EXPECT_EQ(read_text(dir / "bootenv.json"), env_before) << label;
    auto view = status();
    EXPECT_EQ(view["components"]["rootfs"]["version"], "2.3.0") << label;
    EXPECT_EQ(view["components"]["rootfs"]["security_version"], 7) << label;
    EXPECT_EQ(view["update"]["state"], "failed") << label;
  }
  EXPECT_FALSE(std::filesystem::exists("/etc/passwd.flotilla-old"));
  // The honest archive goes through.
  write_text(dir / "honest.flb", honest().add("payloads/image", payloads[0].second).finish());
  EXPECT_EQ(agent("install " + (dir / "honest.flb").string()).code, 0);
}

// A module that needs the device rebooted: the agent reboots, then lets
// ArtifactVerifyReboot decide between the commit and the rollback.
TEST_F(UpdateModuleTest, ModuleThatNeedsARebootCommitsOrRollsBackAfterIt) {
  auto own = dir / "own-modules";
  std::filesystem::create_directories(own);
  auto log = dir / "module.log";
  write_text(own / "firmware-flasher",
             "#!/bin/sh\n"
             "echo \"$1\" >> '" + log.string() + "'\n"
             "case \"$1\" in\n"
             "  ArtifactInstall) cp \"$2/files/fw.bin\" '" + (dir / "fw.pending").string() + "' ;;\n"
             "  NeedsArtifactReboot) echo Automatic ;;\n"
             "  SupportsRollback) echo Yes ;;\n"
             "  ArtifactVerifyReboot) test ! -e '" + (dir / "flash-broken").string() + "' ;;\n"
             "  ArtifactCommit) mv '" + (dir / "fw.pending").string() + "' '" + (dir / "fw.active").string() + "' ;;\n"
             "  ArtifactRollback) rm -f '" + (dir / "fw.pending").string() + "' ;;\n"
             "esac\n");
  std::filesystem::permissions(own / "firmware-flasher", std::filesystem::perms::owner_all);
  config["modules_dir"] = own.string();
  write_config();
  auto run = agent("install " + module_bundle("3.0.0", "firmware-flasher", {{"fw.bin", "firmware 3"}}).string());
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("through its update module; reboot"), std::string::npos) << run.out;
  EXPECT_EQ(status()["update"]["state"], "rebooting");
  EXPECT_EQ(agent("commit").code, 1);  // not rebooted yet
  ASSERT_EQ(agent("boot").out, "booted slot a\n");  // the same slot: a module update
  run = agent("commit");
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(read_text(dir / "fw.active"), "firmware 3");
  EXPECT_EQ(status()["components"]["app"]["version"], "3.0.0");

  // Next one: the flash did not take after the reboot.
  ASSERT_EQ(agent("install " + module_bundle("3.1.0", "firmware-flasher", {{"fw.bin", "firmware 3.1"}}).string()).code, 0);
  ASSERT_EQ(agent("boot").out, "booted slot a\n");
  write_text(dir / "flash-broken", "");
  run = agent("commit");
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.err.find("ArtifactVerifyReboot"), std::string::npos) << run.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "fw.pending"));  // the module rolled it back
  EXPECT_EQ(read_text(dir / "fw.active"), "firmware 3");
  EXPECT_EQ(status()["components"]["app"]["version"], "3.0.0");
  EXPECT_EQ(status()["update"]["state"], "rolled_back");
  EXPECT_NE(read_text(log).find("ArtifactVerifyReboot\nSupportsRollback\nArtifactRollback\nArtifactFailure\nCleanup"),
            std::string::npos)
      << read_text(log);
}

TEST_F(AgentTest, ConfigErrorsNameTheField) {
  auto expect_error = [&](common::Json c, const std::string& pointer) {
    auto parsed = client::parse_agent_config(c);
    ASSERT_FALSE(parsed) << pointer;
    EXPECT_NE(parsed.error().message().find(pointer), std::string::npos) << parsed.error().message();
  };
  auto c = config;
  c["colour"] = "red";
  expect_error(c, "/colour");
  c = config;
  c["health_checks"][0]["timeout"] = "soon";
  expect_error(c, "/health_checks/0/timeout");
  c = config;
  c["slots"]["rootfs"]["b"] = c["slots"]["rootfs"]["a"];
  expect_error(c, "/slots/rootfs/b");
  c = config;
  c["bootloader"]["type"] = "lilo";
  expect_error(c, "/bootloader/type");
  c = config;
  c["initial_versions"]["rootfs"]["version"] = "2.3";
  expect_error(c, "/initial_versions/rootfs/version");
  c = config;
  c["server"] = {{"url", "ftp://x"}};
  expect_error(c, "/server/url");
  c["server"] = {{"url", "http://updates.example.com"}};  // the token would cross the network in clear
  expect_error(c, "/server/url");
  c = config;
  c["device_key"] = {{"provider", "pkcs11"}};
  expect_error(c, "/device_key/provider");
  c["device_key"] = {{"provider", "tpm2"}, {"handle", "0x01000001"}};
  expect_error(c, "/device_key/handle");
  c["device_key"] = {{"provider", "tpm2"}, {"handle", "0x81000001"}, {"key_file", "/k.pem"}};
  expect_error(c, "/device_key/handle");
  c["device_key"] = {{"provider", "tpm2"}, {"handle", "0x81000001"}, {"create", true}};
  expect_error(c, "/device_key/create");
  c["device_key"] = {{"provider", "tpm2"}, {"tcti", ""}};
  expect_error(c, "/device_key/tcti");
  c["device_key"] = {{"provider", "file"}, {"tcti", "device:/dev/tpmrm0"}};
  expect_error(c, "/device_key");
  c["device_key"] = {{"provider", "tpm2"}, {"pin", "1234"}};
  expect_error(c, "/device_key/pin");
  c["device_key"] = {{"provider", "tpm2"}, {"handle", "0x81000001"}, {"tcti", "device:/dev/tpmrm0"}};
  EXPECT_TRUE(client::parse_agent_config(c));
  EXPECT_TRUE(client::parse_agent_config(config));
  // The shipped examples parse (their slots are a real device's, so only
  // the document is checked here).
  int examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(FLOTILLA_SOURCE_DIR) / "examples/device")) {
    if (entry.path().extension() != ".json") continue;
    ++examples;
    auto example = client::parse_agent_config(common::Json::parse(read_text(entry.path())));
    EXPECT_TRUE(example) << entry.path() << ": " << example.error().describe();
  }
  EXPECT_GE(examples, 2);
  // The binary says so too, and exits 1 without touching anything.
  write_text(dir / "agent.json", "{\"device\": ");
  EXPECT_EQ(agent("status").code, 1);
}

// The agent writes GRUB's environment block itself, in place: what it
// writes is what grub-editenv (and GRUB's load_env) read, variables it does
// not own are kept, and the file keeps its size and its disk blocks.
TEST(GrubEnvTest, WrittenInPlaceInGrubsOwnFormat) {
  testing::TempDir dir;
  auto env = dir / "grubenv";
  ASSERT_EQ(testing::run_shell("grub-editenv '" + env.string() + "' create && grub-editenv '" + env.string() +
                               "' set ORDER='A B' A_OK=1 A_TRY=1 B_OK=0 B_TRY=0 site=lab"),
            0);
  struct stat before {};
  ASSERT_EQ(::stat(env.c_str(), &before), 0);
  common::Json c = {{"device", {{"type", "t"}}}, {"state_dir", (dir / "s").string()}, {"trust_root", (dir / "r").string()},
                    {"bootloader", {{"type", "grub"}, {"path", env.string()}}}};
  auto config = client::parse_agent_config(c);
  ASSERT_TRUE(config) << config.error().describe();
  auto boot = client::open_bootloader(*config);
  ASSERT_TRUE(boot);
  ASSERT_TRUE((*boot)->mark_good("a"));
  ASSERT_TRUE((*boot)->try_once("b"));
  ASSERT_EQ(testing::run_shell("grub-editenv '" + env.string() + "' list > '" + (dir / "list").string() + "'"), 0);
  auto listed = read_text(dir / "list");
  for (const char* line : {"ORDER=B A\n", "B_OK=1\n", "B_TRY=0\n", "A_OK=1\n", "A_TRY=0\n", "site=lab\n"}) {
    EXPECT_NE(listed.find(line), std::string::npos) << line << " in\n" << listed;
  }
  struct stat after {};
  ASSERT_EQ(::stat(env.c_str(), &after), 0);
  EXPECT_EQ(after.st_size, 1024);
  EXPECT_EQ(after.st_ino, before.st_ino) << "rewritten as a new file";
  // A block that is not one (torn, foreign) is refused, not guessed at.
  write_text(env, std::string(1024, 'x'));
  EXPECT_FALSE((*boot)->try_once("b"));
}

TEST(FileBootloaderTest, BootCountSemantics) {
  testing::TempDir dir;
  client::FileBootloader boot(dir / "env.json");
  EXPECT_EQ(*boot.booted_slot(), "a");
  EXPECT_EQ(*boot.power_on(), "a");
  ASSERT_TRUE(boot.try_once("b"));
  EXPECT_EQ(*boot.power_on(), "b");  // the one try
  EXPECT_EQ(*boot.power_on(), "a");  // not marked good: back to a
  ASSERT_TRUE(boot.try_once("b"));
  EXPECT_EQ(*boot.power_on(), "b");
  ASSERT_TRUE(boot.mark_good("b"));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*boot.power_on(), "b");
  ASSERT_TRUE(boot.mark_bad("b"));
  EXPECT_EQ(*boot.power_on(), "a");
  EXPECT_FALSE(boot.try_once("c"));
  EXPECT_NE(*boot.boot_id(), "0");
}

}  // namespace
}  // namespace flotilla

namespace flotilla {
namespace {

// A cycle maps what polling needs, not the install pipeline's libarchive
// and what it links (docs/agent.md, "Footprint"): libarchive is loaded
// when a bundle is first read. Seen in a daemon resting in process (by
// default it rests in flotilla-agent-wait, which maps libc only:
// tests/client/agent_rest_test.cpp).
TEST_F(AgentTest, TheIdleDaemonDoesNotMapTheInstallPipelinesLibraries) {
  config["server"] = {{"url", "http://127.0.0.1:" + std::to_string(testing::free_port())}};  // nobody there: it waits
  write_config();
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execl(FLOTILLA_AGENT, FLOTILLA_AGENT, "run", "--rest-in-process", "--config", (dir / "agent.json").c_str(), nullptr);
    ::_exit(127);
  }
  // A second in: enrolment tried (and failed), the poll loop waiting.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  std::string maps = testing::read_text("/proc/" + std::to_string(pid) + "/maps");
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_NE(maps.find("libcurl"), std::string::npos) << "the agent's mappings could not be read:\n" << maps;
  for (const char* library : {"libarchive", "libxml2", "libicu", "liblzma", "libbz2"}) {
    EXPECT_EQ(maps.find(library), std::string::npos) << library << " is mapped in the idle agent";
  }
}

}  // namespace
}  // namespace flotilla
