#include "tests/support/swupdate_device.hpp"

#include <csignal>
#include <fcntl.h>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "signing/digest.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/server_process.hpp"

namespace flotilla::testing {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSwupdate = "/usr/bin/swupdate";
// The hardware both the images and the devices name (-H board:revision).
constexpr const char* kBoard = "sw-x1";

void run_or_throw(const std::string& command) {
  if (run_shell("(" + command + ") > /dev/null 2>&1", 60) != 0) throw std::runtime_error("failed: " + command);
}

}  // namespace

bool swupdate_available(std::string& why_not) {
  if (!fs::exists(kSwupdate) || !fs::exists("/usr/bin/cpio")) {
    why_not = "swupdate or cpio is missing: scripts/setup installs them";
    return false;
  }
  if (::geteuid() != 0) {
    why_not = "the swupdate devices run in mount namespaces of their own, which needs root";
    return false;
  }
  return true;
}

SwuVendor::SwuVendor(fs::path dir) : dir_(std::move(dir)), key_(dir_ / "vendor.key"), certificate_(dir_ / "vendor.crt") {
  fs::create_directories(dir_);
  // swupdate checks the signer's purpose: S/MIME signing (emailProtection).
  run_or_throw("openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=vendor -keyout " + shell_quoted(key_.string()) +
               " -out " + shell_quoted(certificate_.string()) +
               " -addext keyUsage=digitalSignature -addext extendedKeyUsage=emailProtection");
}

fs::path SwuVendor::make_image(const std::string& name, const std::string& version, const std::string& file,
                               const std::string& content, bool wrong_hash) const {
  fs::path work = dir_ / (name + "-" + version);
  fs::create_directories(work);
  write_text(work / "payload.bin", content);
  std::string digest = signing::sha256_hex(wrong_hash ? content + "!" : content);
  // Debian's swupdate parses JSON descriptions (not libconfig ones) and
  // requires hardware compatibility.
  write_text(work / "sw-description",
             "{\"software\": {\"version\": \"" + version + "\", \"hardware-compatibility\": [\"1.0\"], \"files\": [{"
             "\"filename\": \"payload.bin\", \"path\": \"" + std::string(kSwuDeviceRoot) + "/" + file +
             "\", \"sha256\": \"" + digest + "\"}]}}\n");
  std::string in = shell_quoted(work.string());
  run_or_throw("cd " + in + " && openssl cms -sign -in sw-description -out sw-description.sig -signer " +
               shell_quoted(certificate_.string()) + " -inkey " + shell_quoted(key_.string()) +
               " -outform DER -nosmimecap -binary");
  fs::path image = dir_ / (name + "-" + version + ".swu");
  run_or_throw("cd " + in + " && printf 'sw-description\\nsw-description.sig\\npayload.bin\\n' | cpio -o -H crc > " +
               shell_quoted(image.string()));
  return image;
}

SwupdateDevice::SwupdateDevice(fs::path dir, std::string server_url, std::string controller_id, std::string token,
                               fs::path certificate)
    : dir_(std::move(dir)), root_(dir_ / "root"), certificate_(std::move(certificate)), server_url_(std::move(server_url)),
      controller_id_(std::move(controller_id)), token_(std::move(token)) {
  fs::create_directories(root_);
  fs::create_directories(dir_ / "tmp");
}

SwupdateDevice::~SwupdateDevice() { stop(); }

void SwupdateDevice::start(const std::string& confirm) {
  stop();
  // A gateway token (hawkBit's, one per tenant) goes with -g.
  std::string token_flag = token_.starts_with("ddigw_") ? " -g " : " -k ";
  std::string suricatta = "-t default -u " + server_url_ + " -i " + controller_id_ + token_flag + token_ + " -r 10 -w 1";
  if (!confirm.empty()) suricatta += " -c " + confirm;
  // Its own mount namespace: this device's directory at kSwuDeviceRoot.
  std::string script = "mount --bind " + shell_quoted(root_.string()) + " " + kSwuDeviceRoot + " && exec " + kSwupdate +
                       " -v -H " + kBoard + ":1.0 -k " + shell_quoted(certificate_.string()) + " -u " +
                       shell_quoted(suricatta);
  fs::path log = dir_ / "swupdate.log";
  ++starts_;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::setpgid(0, 0);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    // swupdate keeps its sockets and the description it parses in TMPDIR.
    ::setenv("TMPDIR", (dir_ / "tmp").c_str(), 1);
    ::execl("/usr/bin/unshare", "unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);
}

void SwupdateDevice::stop() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  // The helpers it forked die with the group; give the kernel a moment to
  // release their sockets in TMPDIR before the next start binds them.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_ / "tmp", ec)) fs::remove_all(entry.path(), ec);
  pid_ = -1;
}

std::string SwupdateDevice::log() const { return read_text(dir_ / "swupdate.log"); }

}  // namespace flotilla::testing
