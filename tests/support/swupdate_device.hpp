// Debian's swupdate as a DDI device for integration tests: a vendor's
// signed .swu images made at test time (openssl cms, cpio), and swupdate
// running its suricatta hawkBit client against the real server.
#pragma once

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

namespace flotilla::testing {

// Where an image installs its file on a device. Each device runs in a
// private mount namespace with its own directory bound here, so one image
// (one rollout) installs into every device's own directory.
inline constexpr const char* kSwuDeviceRoot = "/mnt";

// A vendor: a self-signed CMS signing certificate and the images it signs.
class SwuVendor {
 public:
  explicit SwuVendor(std::filesystem::path dir);
  const std::filesystem::path& certificate() const { return certificate_; }
  // An image writing `content` to kSwuDeviceRoot/`file`; with
  // `wrong_hash` its sw-description names another SHA-256 (swupdate
  // refuses to install it, after the download).
  std::filesystem::path make_image(const std::string& name, const std::string& version, const std::string& file,
                                   const std::string& content, bool wrong_hash = false) const;

 private:
  std::filesystem::path dir_;
  std::filesystem::path key_, certificate_;
};

class SwupdateDevice {
 public:
  // `token`: the device's target token, or the tenant's gateway token
  // (ddigw_...).
  SwupdateDevice(std::filesystem::path dir, std::string server_url, std::string controller_id, std::string token,
                 std::filesystem::path certificate);
  ~SwupdateDevice();
  SwupdateDevice(const SwupdateDevice&) = delete;
  SwupdateDevice& operator=(const SwupdateDevice&) = delete;

  // Starts swupdate in suricatta mode; `confirm` "2" reports the update
  // installed before this start as a success (-c 2), "3" as a failure.
  void start(const std::string& confirm = "");
  // SIGKILL to swupdate and its helpers: a power cut or reboot.
  void stop();
  // A file the device's images installed.
  std::filesystem::path installed(const std::string& file) const { return root_ / file; }
  std::string log() const;
  const std::string& controller_id() const { return controller_id_; }

 private:
  std::filesystem::path dir_, root_, certificate_;
  std::string server_url_, controller_id_, token_;
  pid_t pid_ = -1;
  int starts_ = 0;
};

// Whether swupdate, cpio and mount namespaces are available (root).
bool swupdate_available(std::string& why_not);

}  // namespace flotilla::testing
