#include "common/file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/support/fixtures.hpp"

namespace flotilla::common {
namespace {

using testing::TempDir;

mode_t mode_of(const std::filesystem::path& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

TEST(Files, AtomicWriteReplacesWholeFileWithMode) {
  TempDir dir;
  auto path = dir / "f";
  ASSERT_TRUE(write_file_atomic(path, "one", 0600));
  ASSERT_TRUE(write_file_atomic(path, "two", 0640));
  EXPECT_EQ(*read_file(path, 100), "two");
  EXPECT_EQ(mode_of(path), 0640u);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(Files, ExclusiveWriteRefusesToReplace) {
  TempDir dir;
  auto path = dir / "key";
  ASSERT_TRUE(write_file_exclusive(path, "secret", 0600));
  EXPECT_EQ(mode_of(path), 0600u);
  auto again = write_file_exclusive(path, "other", 0600);
  ASSERT_FALSE(again);
  EXPECT_TRUE(again.error().is(Errc::kIo));
  EXPECT_EQ(*read_file(path, 100), "secret");
  // Written aside and linked whole: no temporary file stays behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(Files, ReadRefusesOversizedAndMissing) {
  TempDir dir;
  testing::write_text(dir / "big", std::string(1000, 'x'));
  EXPECT_TRUE(read_file(dir / "big", 999).error().is(Errc::kTooLarge));
  auto missing = read_file(dir / "missing", 10);
  EXPECT_TRUE(missing.error().is(Errc::kIo));
  EXPECT_NE(missing.error().describe().find("missing"), std::string::npos);
}

}  // namespace
}  // namespace flotilla::common
