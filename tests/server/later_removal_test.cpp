// Files removed a while after they were handed over (reports nginx sends):
// not before their time, each at it, and the rest when the owner goes.
#include "server/api/later_removal.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "tests/support/fixtures.hpp"

namespace flotilla::server::api {
namespace {

using namespace std::chrono_literals;

TEST(LaterRemoval, RemovesEachFileAtItsTimeAndTheRestWhenDestroyed) {
  testing::TempDir dir;
  for (const char* name : {"soon", "later", "never-due"}) testing::write_text(dir / name, name);
  {
    LaterRemoval removal;
    removal.remove_after(dir / "later", 400ms);
    removal.remove_after(dir / "soon", 100ms);
    removal.remove_after(dir / "never-due", 1h);
    EXPECT_TRUE(std::filesystem::exists(dir / "soon"));  // not before its time
    for (int i = 0; i < 100 && std::filesystem::exists(dir / "soon"); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(std::filesystem::exists(dir / "soon"));
    EXPECT_TRUE(std::filesystem::exists(dir / "later"));
    for (int i = 0; i < 100 && std::filesystem::exists(dir / "later"); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(std::filesystem::exists(dir / "later"));
    EXPECT_EQ(removal.pending(), 1u);
  }
  // A server that stops leaves no report behind.
  EXPECT_FALSE(std::filesystem::exists(dir / "never-due"));
}

}  // namespace
}  // namespace flotilla::server::api
