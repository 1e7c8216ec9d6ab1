// base_test.cc — byte coding, checksums and Status/Result.
#include <gtest/gtest.h>

#include <cerrno>

#include "base/assert.h"
#include "base/checksum.h"
#include "base/coding.h"
#include "base/status.h"

namespace raftkv {
namespace {

TEST(Coding, LittleEndianRoundTrip) {
    std::string buf;
    put_u8(&buf, 0xab);
    put_u32(&buf, 0x01020304);
    put_u64(&buf, 0x1122334455667788ull);
    ASSERT_EQ(buf.size(), 13u);
    EXPECT_EQ(static_cast<unsigned char>(buf[1]), 0x04);  // least significant byte first
    ByteReader in(buf);
    std::uint8_t a = 0;
    std::uint32_t b = 0;
    std::uint64_t c = 0;
    ASSERT_TRUE(in.get_u8(&a) && in.get_u32(&b) && in.get_u64(&c));
    EXPECT_EQ(a, 0xab);
    EXPECT_EQ(b, 0x01020304u);
    EXPECT_EQ(c, 0x1122334455667788ull);
    EXPECT_FALSE(in.get_u8(&a));
}

TEST(Coding, ShortReadConsumesNothing) {
    std::string buf = "abc";
    ByteReader in(buf);
    std::uint32_t v = 0;
    EXPECT_FALSE(in.get_u32(&v));
    EXPECT_EQ(in.remaining(), 3u);
}

TEST(Checksum, IncrementalEqualsOneShot) {
    const std::string data = "the quick brown fox jumps over the lazy dog";
    Checksummer c;
    c.update(std::string_view(data).substr(0, 10));
    c.update(std::string_view(data).substr(10));
    EXPECT_EQ(c.digest(), checksum(data));
    EXPECT_NE(checksum("a"), checksum("b"));
}

TEST(Status, ErrnoMapsDiskFull) {
    EXPECT_EQ(errno_status(ENOSPC, "write x").code(), Code::kDiskFull);
    EXPECT_EQ(errno_status(EFBIG, "write x").code(), Code::kDiskFull);
    EXPECT_EQ(errno_status(EIO, "write x").code(), Code::kIoError);
    EXPECT_EQ(errno_status(ENOSPC, "write x").to_string(),
              "disk full: write x: No space left on device");
}

// The message and its values reach the report (an earlier macro dropped them).
TEST(AssertDeathTest, ReportsConditionPlaceAndMessage) {
    const int commit = 7;
    EXPECT_DEATH(RAFTKV_ASSERT(commit < 5, "commit regressed: {} -> {}", commit, 5),
                 "assertion failed at .*base_test.cc:[0-9]+: commit < 5: commit regressed: 7 -> 5");
    EXPECT_DEATH(RAFTKV_ASSERT(commit < 5), "assertion failed at .*: commit < 5\n");
}

TEST(Result, HoldsValueOrError) {
    Result<int> ok = 7;
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, 7);
    Result<int> bad = Status::error(Code::kInvalid, "nope");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message(), "nope");
}

}  // namespace
}  // namespace raftkv
