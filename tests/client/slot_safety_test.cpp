// Slot writes that cannot hurt the device: a slot path that is missing, of
// the wrong kind, the booted slot, in use, or too small is refused with its
// own error code before a byte is written, and the slot and the boot
// environment stay byte for byte as they were; with verify_after_write a
// slot that does not hold what was written never gets a trial boot.
// Block devices are real loop devices (the tests run as root, as CI does).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "artifacts/stream.hpp"
#include "client/agent.hpp"
#include "client/config.hpp"
#include "client/slot_device.hpp"
#include "signing/digest.hpp"
#include "tests/client/agent_fixture.hpp"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using client::Errc;
using client::OpenSlot;
using client::SlotKind;
using client::SlotTarget;
using testing::read_text;
using testing::write_text;

std::string run_capture(const std::string& command) {
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, pipe)) out += buffer;
    ::pclose(pipe);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// A loop device over a file of the test's, detached (and unmounted) at the end.
class LoopDevice {
 public:
  static std::unique_ptr<LoopDevice> attach(const fs::path& file) {
    auto device = run_capture("losetup --find --show '" + file.string() + "' 2>/dev/null");
    if (device.empty()) return nullptr;
    return std::unique_ptr<LoopDevice>(new LoopDevice(device));
  }
  ~LoopDevice() {
    if (!mountpoint_.empty()) unmount();
    testing::run_shell("losetup -d '" + device_.string() + "'");
  }
  const fs::path& path() const { return device_; }
  bool mount_ext4(const fs::path& where) {
    fs::create_directories(where);
    if (testing::run_shell("mkfs.ext4 -q -F '" + device_.string() + "' && mount '" + device_.string() + "' '" +
                           where.string() + "'") != 0) {
      return false;
    }
    mountpoint_ = where;
    return true;
  }
  void unmount() {
    testing::run_shell("umount '" + mountpoint_.string() + "'");
    mountpoint_.clear();
  }

 private:
  explicit LoopDevice(fs::path device) : device_(std::move(device)) {}
  fs::path device_;
  fs::path mountpoint_;
};

// Loop devices need root and /dev/loop-control; CI runs as root, and there
// a loop device that cannot be attached fails the test: only a developer
// running without root is told the test could not run here.
#define REQUIRE_LOOP(loop)                                                                 \
  if (!(loop)) {                                                                           \
    if (::geteuid() == 0) FAIL() << "no loop device could be attached (/dev/loop-control?)"; \
    GTEST_SKIP() << "not root: no loop device can be attached, so no block device to test";  \
  }

template <class T>
void expect_code(const common::Result<T>& result, Errc code, const std::string& label) {
  ASSERT_FALSE(result) << label << ": expected a refusal";
  EXPECT_TRUE(result.error().is(code)) << label << ": " << result.error().describe();
}

TEST(SlotDeviceTest, APathThatIsNotTheConfiguredKindIsRefusedAndNothingIsCreated) {
  testing::TempDir dir;
  testing::make_file_slot(dir / "booted", "running");
  auto open = [&](const fs::path& path, SlotKind kind) { return OpenSlot::open({"rootfs/b", path, kind}, dir / "booted", 10); };

  expect_code(open(dir / "mmcblk0p4x", SlotKind::kFile), Errc::kSlotMissing, "missing file slot");
  expect_code(open(dir / "mmcblk0p4x", SlotKind::kBlock), Errc::kSlotMissing, "missing block slot");
  EXPECT_FALSE(fs::exists(dir / "mmcblk0p4x")) << "a mistyped slot path must never be created";
  expect_code(open(dir / "no-such-dir" / "slot", SlotKind::kFile), Errc::kSlotMissing, "missing directory");

  fs::create_directory(dir / "a-directory");
  expect_code(open(dir / "a-directory", SlotKind::kFile), Errc::kSlotWrongKind, "directory as file");
  expect_code(open(dir / "a-directory", SlotKind::kBlock), Errc::kSlotWrongKind, "directory as block");
  expect_code(open("/dev/null", SlotKind::kBlock), Errc::kSlotWrongKind, "character device as block");
  expect_code(open("/dev/null", SlotKind::kFile), Errc::kSlotWrongKind, "character device as file");

  testing::make_file_slot(dir / "regular", "keep me");
  auto before = read_text(dir / "regular");
  auto refused = open(dir / "regular", SlotKind::kBlock);
  expect_code(refused, Errc::kSlotWrongKind, "file where a block device was configured");
  EXPECT_NE(refused.error().message().find("is a regular file, but the config says it is a block slot"), std::string::npos)
      << refused.error().message();
  EXPECT_TRUE(read_text(dir / "regular") == before);

  // Opening a fifo for writing would block until a reader came: refused
  // before it is opened.
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  expect_code(open(dir / "fifo", SlotKind::kFile), Errc::kSlotWrongKind, "fifo");
}

TEST(SlotDeviceTest, TheBootedSlotIsRefusedUnderAnyName) {
  testing::TempDir dir;
  testing::make_file_slot(dir / "slot-a", "running system");
  auto before = read_text(dir / "slot-a");
  fs::create_symlink(dir / "slot-a", dir / "by-label-b");
  fs::create_hard_link(dir / "slot-a", dir / "hard-b");
  for (const auto* name : {"by-label-b", "hard-b"}) {
    auto refused = OpenSlot::open({"rootfs/b", dir / name, SlotKind::kFile}, dir / "slot-a", 10);
    expect_code(refused, Errc::kSlotIsBooted, name);
    EXPECT_NE(refused.error().message().find("rootfs/b"), std::string::npos) << refused.error().message();
  }
  EXPECT_TRUE(read_text(dir / "slot-a") == before);
  EXPECT_TRUE(client::same_slot(dir / "slot-a", dir / "hard-b"));
}

TEST(SlotDeviceTest, AnImageLargerThanTheSlotIsRefused) {
  testing::TempDir dir;
  testing::make_file_slot(dir / "slot-a", "");
  testing::make_file_slot(dir / "slot-b", "old", 4096);
  SlotTarget b{"rootfs/b", dir / "slot-b", SlotKind::kFile};
  auto refused = OpenSlot::open(b, dir / "slot-a", 4097);
  expect_code(refused, Errc::kSlotTooSmall, "one byte too many");
  EXPECT_NE(refused.error().message().find("(4097 bytes) does not fit"), std::string::npos) << refused.error().message();
  auto fits = OpenSlot::open(b, dir / "slot-a", 4096);
  ASSERT_TRUE(fits) << fits.error().describe();
  EXPECT_EQ(fits->capacity(), 4096u);
  EXPECT_EQ(fs::file_size(dir / "slot-b"), 4096u);  // opened in place: not truncated
  EXPECT_EQ(testing::read_head(dir / "slot-b", 3), "old");
}

TEST(SlotDeviceTest, ReadBackComparesWhatTheMediumHolds) {
  testing::TempDir dir;
  std::string image(300000, 'i');
  testing::make_file_slot(dir / "slot-b", image);
  SlotTarget b{"rootfs/b", dir / "slot-b", SlotKind::kFile};
  auto digest = signing::sha256_hex(image);
  EXPECT_TRUE(client::verify_slot_readback(b, image.size(), digest));
  // A byte the medium did not keep.
  int fd = ::open((dir / "slot-b").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "j", 1, 123456), 1);
  ::close(fd);
  expect_code(client::verify_slot_readback(b, image.size(), digest), Errc::kSlotReadbackMismatch, "flipped byte");
  // A slot that ends before the image does.
  expect_code(client::verify_slot_readback(b, testing::kTestSlotBytes + 1, digest), Errc::kSlotReadbackMismatch, "short");
}

TEST(SlotDeviceTest, BlockDevicesHeldMountedOrBackingALoopAreRefused) {
  testing::TempDir dir;
  testing::make_file_slot(dir / "disk-b.img", "", 8 << 20);
  testing::make_file_slot(dir / "slot-a", "");
  auto loop = LoopDevice::attach(dir / "disk-b.img");
  REQUIRE_LOOP(loop);
  SlotTarget b{"rootfs/b", loop->path(), SlotKind::kBlock};

  expect_code(OpenSlot::open({"rootfs/b", loop->path(), SlotKind::kFile}, dir / "slot-a", 10), Errc::kSlotWrongKind,
              "block device configured as a file slot");
  auto fits = OpenSlot::open(b, dir / "slot-a", 8 << 20);
  ASSERT_TRUE(fits) << fits.error().describe();
  EXPECT_EQ(fits->capacity(), std::uint64_t{8} << 20);
  fits->close();
  expect_code(OpenSlot::open(b, dir / "slot-a", (8 << 20) + 1), Errc::kSlotTooSmall, "larger than the device");

  // The file behind the loop device is in use as a file slot too.
  expect_code(OpenSlot::open({"rootfs/b", dir / "disk-b.img", SlotKind::kFile}, dir / "slot-a", 10), Errc::kSlotInUse,
              "file backing a loop device");

  // Another program holds the device exclusively.
  int holder = ::open(loop->path().c_str(), O_RDONLY | O_EXCL);
  ASSERT_GE(holder, 0);
  expect_code(OpenSlot::open(b, dir / "slot-a", 10), Errc::kSlotInUse, "held with O_EXCL");
  ::close(holder);

  // Mounted.
  ASSERT_TRUE(loop->mount_ext4(dir / "mnt"));
  expect_code(OpenSlot::open(b, dir / "slot-a", 10), Errc::kSlotInUse, "mounted");
  loop->unmount();

  // Written through the checked descriptor and read back from the device
  // with O_DIRECT.
  std::string image(3 * 1024 * 1024 + 17, 'q');
  auto slot = OpenSlot::open(b, dir / "slot-a", image.size());
  ASSERT_TRUE(slot) << slot.error().describe();
  ASSERT_EQ(::write(slot->fd(), image.data(), image.size()), static_cast<ssize_t>(image.size()));
  ASSERT_EQ(::fsync(slot->fd()), 0);
  slot->close();
  EXPECT_TRUE(client::verify_slot_readback(b, image.size(), signing::sha256_hex(image)));
  image[image.size() - 1] = 'r';
  expect_code(client::verify_slot_readback(b, image.size(), signing::sha256_hex(image)), Errc::kSlotReadbackMismatch,
              "other bytes");
}

// The same rules through the agent a device runs.
class SlotSafetyTest : public testing::AgentTest {
 protected:
  // What must not change when an install is refused.
  struct Snapshot {
    std::string slot_a, slot_b, bootenv;
    bool bootenv_exists;
  };
  Snapshot snapshot() {
    return {read_text(dir / "slot-a"), read_text(dir / "slot-b"), read_text(dir / "bootenv.json"),
            fs::exists(dir / "bootenv.json")};
  }
  void expect_unchanged(const Snapshot& before, const std::string& label) {
    auto now = snapshot();
    EXPECT_TRUE(now.slot_a == before.slot_a) << label << ": slot a changed";
    EXPECT_TRUE(now.slot_b == before.slot_b) << label << ": slot b changed";
    EXPECT_EQ(now.bootenv_exists, before.bootenv_exists) << label;
    EXPECT_EQ(now.bootenv, before.bootenv) << label << ": the boot environment changed";
  }
};

TEST_F(SlotSafetyTest, ConfigMistakesAreRefusedAtLoadWithThePathAndNothingIsCreated) {
  auto bundle_file = bundle("2.4.0", 8);
  fs::create_directory(dir / "a-directory");
  fs::create_symlink(dir / "slot-a", dir / "alias-of-a");
  struct Case {
    std::string label;
    common::Json b;
    std::string kind;
    std::string expected;
  };
  std::vector<Case> cases = {
      {"mistyped path", (dir / "slot-bx").string(), "file", "does not exist"},
      {"directory", (dir / "a-directory").string(), "file", "is a directory"},
      {"character device", "/dev/null", "file", "is a character device"},
      {"file where a block device was configured", (dir / "slot-b").string(), "block", "is a regular file"},
      {"the booted slot under another name", (dir / "alias-of-a").string(), "file", "names the same file as a"},
  };
  for (const auto& c : cases) {
    auto before = snapshot();
    config["slots"]["rootfs"]["b"] = c.b;
    config["slots"]["rootfs"]["kind"] = c.kind;
    write_config();
    auto run = agent("install " + bundle_file.string());
    EXPECT_EQ(run.code, 1) << c.label;
    EXPECT_NE(run.err.find("/slots/rootfs/"), std::string::npos) << c.label << ": " << run.err;
    EXPECT_NE(run.err.find(c.expected), std::string::npos) << c.label << ": " << run.err;
    expect_unchanged(before, c.label);
    EXPECT_FALSE(fs::exists(dir / "slot-bx")) << c.label;
    EXPECT_FALSE(fs::exists(dir / "state")) << c.label << ": the agent started";
  }
  config["slots"]["rootfs"]["kind"] = "disk";
  write_config();
  EXPECT_EQ(agent("status").code, 1);
  EXPECT_NE(read_text(dir / "err").find("/slots/rootfs/kind: must be block or file"), std::string::npos) << read_text(dir / "err");
}

TEST_F(SlotSafetyTest, AnImageLargerThanTheSlotIsRefusedBeforeAByteIsWritten) {
  testing::make_file_slot(dir / "slot-b", "old b", 50000);  // the image is ~100 KB
  ASSERT_EQ(agent("status").code, 0);                     // the boot environment exists
  auto before = snapshot();
  auto run = agent("install " + bundle("2.4.0", 8).string());
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.err.find("does not fit slot rootfs/b"), std::string::npos) << run.err;
  expect_unchanged(before, "too small");
  EXPECT_EQ(status()["update"]["state"], "failed");
  EXPECT_EQ(agent("boot").out, "booted slot a\n");  // nothing armed
}

TEST_F(SlotSafetyTest, ReadBackKeepsAWriteTheMediumLostFromBeingBooted) {
  ASSERT_EQ(agent("status").code, 0);
  auto bundle_file = bundle("2.4.0", 8);
  config["slots"]["verify_after_write"] = true;
  write_config();
  auto before = snapshot();
  auto run = agent("install " + bundle_file.string(), "FLOTILLA_AGENT_FAULT=lose-slot-write");
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.err.find("does not hold what was written"), std::string::npos) << run.err;
  EXPECT_EQ(read_text(dir / "bootenv.json"), before.bootenv) << "a trial boot was armed for a slot that lost a write";
  EXPECT_EQ(status()["update"]["state"], "failed");
  EXPECT_EQ(agent("boot").out, "booted slot a\n");

  // Without read-back the same loss goes unnoticed: the check is what catches it.
  config["slots"]["verify_after_write"] = false;
  write_config();
  EXPECT_EQ(agent("install " + bundle_file.string(), "FLOTILLA_AGENT_FAULT=lose-slot-write").code, 0);
  EXPECT_EQ(agent("rollback").code, 0);
  EXPECT_EQ(agent("boot").out, "booted slot a\n");

  // A medium that keeps its writes passes read-back, and the update goes through.
  config["slots"]["verify_after_write"] = true;
  write_config();
  run = agent("install " + bundle_file.string());
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(agent("boot").out, "booted slot b\n");
  EXPECT_EQ(agent("commit").code, 0);
}

// The install checks again what config load checked: a slot that vanished
// or was replaced since, or an agent given its config some other way.
TEST_F(SlotSafetyTest, TheInstallChecksTheSlotAgainWhateverTheConfigLoadSaw) {
  auto bundle_file = bundle("2.4.0", 8);
  auto install = [&](common::Json c) -> common::Status {
    auto parsed = client::parse_agent_config(c);
    if (!parsed) return std::unexpected(parsed.error());
    auto agent = client::Agent::open(std::move(*parsed));
    if (!agent) return std::unexpected(agent.error());
    auto source = artifacts::FileSource::open(bundle_file.string());
    if (!source) return std::unexpected(source.error());
    auto done = (*agent)->install(**source, std::nullopt, false);
    if (!done) return std::unexpected(done.error());
    return {};
  };
  auto expect_refused = [&](common::Json c, Errc code, const std::string& label) {
    auto before = snapshot();
    auto refused = install(c);
    ASSERT_FALSE(refused) << label;
    EXPECT_TRUE(refused.error().is(code)) << label << ": " << refused.error().describe();
    EXPECT_NE(refused.error().describe().find("rootfs/b"), std::string::npos) << refused.error().describe();
    expect_unchanged(before, label);
  };
  ASSERT_EQ(agent("status").code, 0);

  fs::remove(dir / "slot-b");
  expect_refused(config, Errc::kSlotMissing, "slot removed");
  EXPECT_FALSE(fs::exists(dir / "slot-b"));

  fs::create_symlink(dir / "slot-a", dir / "slot-b");
  expect_refused(config, Errc::kSlotIsBooted, "slot replaced by the booted one");
  fs::remove(dir / "slot-b");
  testing::make_file_slot(dir / "slot-b", "");
  EXPECT_TRUE(install(config));
}

TEST_F(SlotSafetyTest, BlockSlotsAreWrittenInPlaceAndAMountedOneIsRefused) {
  testing::make_file_slot(dir / "disk-a.img", "factory image", 1 << 20);
  testing::make_file_slot(dir / "disk-b.img", "", 1 << 20);
  auto a = LoopDevice::attach(dir / "disk-a.img");
  REQUIRE_LOOP(a);
  auto b = LoopDevice::attach(dir / "disk-b.img");
  REQUIRE_LOOP(b);
  config["slots"] = {{"verify_after_write", true},
                     {"rootfs", {{"a", a->path().string()}, {"b", b->path().string()}, {"kind", "block"}}}};
  write_config();
  ASSERT_EQ(agent("status").code, 0) << read_text(dir / "err");
  auto bundle_file = bundle("2.4.0", 8);

  ASSERT_TRUE(b->mount_ext4(dir / "mnt"));
  auto env_before = read_text(dir / "bootenv.json");
  auto run = agent("install " + bundle_file.string());
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.err.find("is in use"), std::string::npos) << run.err;
  EXPECT_EQ(read_text(dir / "bootenv.json"), env_before);
  b->unmount();

  run = agent("install " + bundle_file.string());
  ASSERT_EQ(run.code, 0) << run.err;
  auto image = read_text(dir / "image");
  EXPECT_EQ(testing::read_head(dir / "disk-b.img", image.size()), image);
  EXPECT_EQ(fs::file_size(dir / "disk-b.img"), 1u << 20);
  EXPECT_EQ(testing::read_head(dir / "disk-a.img", 13), "factory image");
  EXPECT_EQ(agent("boot").out, "booted slot b\n");
  EXPECT_EQ(agent("commit").code, 0);
}

}  // namespace
}  // namespace flotilla
