// Starts the real flotilla-server binary on a free loopback port with a
// fresh data directory, for integration tests; stops it with SIGTERM (or
// SIGKILL for crash tests). Every wait has a deadline.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

#include "tests/support/postgres.hpp"

namespace flotilla::testing {

// With FLOTILLA_TEST_STORE=postgres in the environment (the postgres runs
// of the integration suites), each server gets a PostgreSQL database of
// its own instead of DATA/flotilla.db.
class ServerProcess {
 public:
  // `binary` is the flotilla-server path; `data` is initialised if empty.
  // A `store` URL given is used as it is (several servers sharing one
  // database): a data directory holding only the fleet's report key
  // joins it without `init`.
  ServerProcess(std::string binary, std::filesystem::path data, std::string root_json_path = "",
                std::string store = "");
  ~ServerProcess();

  // `extra_args` are appended to `serve` (e.g. TLS flags).
  void start(const std::vector<std::string>& extra_args = {});
  // SIGTERM, then waits; returns the exit status (-1 on timeout or signal).
  int stop();
  // SIGKILL: a power cut for the server.
  void kill9();

  const std::string& url() const { return url_; }
  // Later starts listen on the port this one got (clients keep their URL).
  void keep_port() { listen_ = url_; }
  // Listen on this URL (e.g. https://127.0.0.1:PORT, when the public URL
  // must name the port before the server starts).
  void listen_on(std::string url) { listen_ = std::move(url); }
  std::string admin_token() const;
  const std::filesystem::path& data() const { return data_; }
  pid_t pid() const { return pid_; }
  // What --store names: a postgres:// URL, or DATA/flotilla.db.
  std::string store_location() const;
  // The PostgreSQL database this server made for itself, or null.
  const PostgresDatabase* database() const { return database_.get(); }
  std::string log() const;

 private:
  std::string binary_;
  std::filesystem::path data_;
  std::unique_ptr<PostgresDatabase> database_;
  std::string store_;  // empty: DATA/flotilla.db
  pid_t pid_ = -1;
  std::string url_;
  std::string listen_ = "http://127.0.0.1:0";
};

// Runs a shell command with a timeout; returns its exit code (or -1).
int run_shell(const std::string& command, int timeout_seconds = 60);

// Runs a shell command; its exit code (-1 if it did not exit) and stdout.
struct ShellOutput {
  int status = -1;
  std::string output;
};
ShellOutput capture_shell(const std::string& command);
// `text` as one word for sh, in single quotes.
std::string shell_quoted(const std::string& text);

}  // namespace flotilla::testing
