#include "server/store/sql_pool.hpp"

namespace flotilla::server::sql {
namespace {

// Stands in for a connection that could not be opened: every statement
// fails with the reason, and the pool tries again on the next acquire.
class Unreachable final : public Connection {
 public:
  Unreachable(Engine engine, common::Error error) : engine_(engine), error_(std::move(error)) {}
  Engine engine() const override { return engine_; }
  common::Result<Statement> prepare(std::string_view) override { return std::unexpected(error_); }
  common::Status exec(std::string_view) override { return std::unexpected(error_); }
  std::int64_t changes() const override { return 0; }
  common::Status begin_write() override { return std::unexpected(error_); }
  common::Status begin_read() override { return std::unexpected(error_); }
  common::Status commit() override { return std::unexpected(error_); }
  void rollback() override {}
  bool broken() const override { return true; }
  std::string json_text_member(std::string_view, std::string_view) const override { return "NULL"; }
  std::string_view string_agg() const override { return "NULL"; }

 private:
  Engine engine_;
  common::Error error_;
};

}  // namespace

common::Result<std::unique_ptr<ConnectionPool>> ConnectionPool::open(Factory factory, std::size_t size) {
  auto first = factory();
  if (!first) return std::unexpected(first.error());
  std::unique_ptr<ConnectionPool> pool(new ConnectionPool(std::move(factory), std::max<std::size_t>(size, 1)));
  pool->engine_ = (*first)->engine();
  pool->slots_[0] = std::move(*first);
  return pool;
}

ConnectionPool::Lease ConnectionPool::acquire() {
  std::size_t slot = 0;
  {
    std::unique_lock lock(mutex_);
    // Prefer an open connection; an unopened slot only when none is free.
    auto free_slot = [&]() -> std::optional<std::size_t> {
      std::optional<std::size_t> unopened;
      for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (busy_[i]) continue;
        if (slots_[i] && !slots_[i]->broken()) return i;
        if (!unopened) unopened = i;
      }
      return unopened;
    };
    std::optional<std::size_t> found;
    freed_.wait(lock, [&] { return (found = free_slot()).has_value(); });
    slot = *found;
    busy_[slot] = true;
  }
  if (!slots_[slot] || slots_[slot]->broken()) connect(slot);
  return Lease(this, slot);
}

void ConnectionPool::connect(std::size_t slot) {
  auto opened = factory_();
  if (opened) {
    slots_[slot] = std::move(*opened);
  } else {
    slots_[slot] = std::make_unique<Unreachable>(engine_, opened.error());
  }
}

void ConnectionPool::release(std::size_t slot) {
  {
    std::lock_guard lock(mutex_);
    busy_[slot] = false;
  }
  freed_.notify_one();
}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->release(slot_);
}

}  // namespace flotilla::server::sql
