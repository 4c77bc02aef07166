// A fixed number of connections to one database, handed out one caller at
// a time. SQLite gets one (it has one writer, and the file is opened in
// exclusive mode); PostgreSQL as many as the server has worker threads,
// so polls run in parallel.
//
// Thread-safe. A lost connection is replaced on the next acquire; while
// the database is unreachable, the lease holds a connection whose every
// statement fails with the connection error (kUnavailable), so callers
// handle one kind of error.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "server/store/sql.hpp"

namespace flotilla::server::sql {

class ConnectionPool {
 public:
  using Factory = std::function<common::Result<std::unique_ptr<Connection>>()>;

  // Opens the first connection now (its error is the pool's error), the
  // others when first needed.
  static common::Result<std::unique_ptr<ConnectionPool>> open(Factory factory, std::size_t size);

  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(std::exchange(other.pool_, nullptr)), slot_(other.slot_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() const { return *pool_->slots_[slot_]; }
    Connection* operator->() const { return pool_->slots_[slot_].get(); }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::size_t slot) : pool_(pool), slot_(slot) {}
    ConnectionPool* pool_;
    std::size_t slot_;
  };

  // Waits for a free connection.
  Lease acquire();
  Engine engine() const { return engine_; }

 private:
  ConnectionPool(Factory factory, std::size_t size) : factory_(std::move(factory)), slots_(size), busy_(size, false) {}
  void release(std::size_t slot);
  // Opens (or reopens) the connection in `slot`; outside the mutex.
  void connect(std::size_t slot);

  Factory factory_;
  Engine engine_ = Engine::kSqlite;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> slots_;
  std::vector<bool> busy_;
};

}  // namespace flotilla::server::sql
