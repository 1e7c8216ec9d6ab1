// state_machine_expiry_test.cc — key expiry in the state machine
// (state_machine.h, docs/expiry.md): deadlines from the log time, every
// expiry command's replies as Redis 7.2's command pages give them (SET
// EX/PX/EXAT/PXAT/KEEPTTL, SETEX, PSETEX, GETEX, EXPIRE and friends with
// NX/XX/GT/LT, TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST), expired keys
// hidden from every read and deleted by writes, active expiry, snapshots.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kv/state_machine.h"
#include "test_util.h"

namespace raftkv::kv {
namespace {

using testing::Args;

constexpr std::uint64_t kT0 = 1'700'000'000'000;  // a log time, ms

// A state machine whose entries carry times: apply(t, args) logs a command
// the leader stamped at t; read(t, args) reads at time t.
class Clocked {
public:
    std::string apply(std::uint64_t t, const Args& args) {
        std::string out;
        resp::ReplyWriter w(&out);
        sm_.apply(EntryInfo{.index = ++index_, .time_ms = t}, args, w);
        return out;
    }
    std::string read(std::uint64_t t, const Args& args) {
        std::string out;
        resp::ReplyWriter w(&out);
        const CommandInfo* info = find_command(args[0]);
        RAFTKV_ASSERT(info != nullptr && info->cls == CommandClass::kRead);
        if (check(*info, args, w)) sm_.read(args, t, w);
        return out;
    }
    StateMachine& sm() { return sm_; }

private:
    StateMachine sm_;
    std::uint64_t index_ = 0;
};

std::string integer(std::int64_t n) { return ":" + std::to_string(n) + "\r\n"; }
std::string bulk(const std::string& s) {
    return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}
const std::string kOk = "+OK\r\n";
const std::string kNil = "$-1\r\n";

TEST(Expiry, SetWithARelativeTtlExpiresByLogTime) {
    Clocked c;
    EXPECT_EQ(c.apply(kT0, {"set", "k", "v", "PX", "100"}), kOk);
    EXPECT_EQ(c.read(kT0 + 99, {"get", "k"}), bulk("v"));
    EXPECT_EQ(c.read(kT0 + 99, {"pttl", "k"}), integer(1));
    // As Redis: at the deadline itself the key is still there, then gone.
    EXPECT_EQ(c.read(kT0 + 100, {"pttl", "k"}), integer(0));
    EXPECT_EQ(c.read(kT0 + 101, {"get", "k"}), kNil);
    EXPECT_EQ(c.read(kT0 + 101, {"exists", "k"}), integer(0));
    EXPECT_EQ(c.read(kT0 + 101, {"ttl", "k"}), integer(-2));
    // Reading at an earlier time than the log's never resurrects it: reads
    // run at max(their time, the log time).
    c.apply(kT0 + 200, {"set", "other", "x"});
    EXPECT_EQ(c.read(kT0, {"get", "k"}), kNil);
}

TEST(Expiry, TtlRepliesAsRedis) {
    Clocked c;
    c.apply(kT0, {"set", "k", "v", "EX", "10"});
    c.apply(kT0, {"set", "p", "v"});
    EXPECT_EQ(c.read(kT0, {"ttl", "k"}), integer(10));
    EXPECT_EQ(c.read(kT0 + 1499, {"ttl", "k"}), integer(9)) << "rounded to the nearest second";
    EXPECT_EQ(c.read(kT0 + 1501, {"ttl", "k"}), integer(8));
    EXPECT_EQ(c.read(kT0, {"pttl", "k"}), integer(10000));
    EXPECT_EQ(c.read(kT0, {"pexpiretime", "k"}), integer(kT0 + 10000));
    EXPECT_EQ(c.read(kT0, {"expiretime", "k"}), integer((kT0 + 10000) / 1000));
    for (const char* cmd : {"ttl", "pttl", "expiretime", "pexpiretime"}) {
        EXPECT_EQ(c.read(kT0, {cmd, "p"}), integer(-1)) << cmd;
        EXPECT_EQ(c.read(kT0, {cmd, "missing"}), integer(-2)) << cmd;
    }
}

TEST(Expiry, SetOptions) {
    Clocked c;
    c.apply(kT0, {"set", "k", "v", "EX", "10"});
    // KEEPTTL keeps it; a plain SET clears it.
    EXPECT_EQ(c.apply(kT0, {"set", "k", "w", "KEEPTTL"}), kOk);
    EXPECT_EQ(c.read(kT0, {"pttl", "k"}), integer(10000));
    EXPECT_EQ(c.apply(kT0, {"set", "k", "x"}), kOk);
    EXPECT_EQ(c.read(kT0, {"pttl", "k"}), integer(-1));
    // EXAT and PXAT are absolute; one in the past sets and expires at once.
    EXPECT_EQ(c.apply(kT0, {"set", "a", "v", "PXAT", std::to_string(kT0 + 5)}), kOk);
    EXPECT_EQ(c.read(kT0, {"pttl", "a"}), integer(5));
    EXPECT_EQ(c.apply(kT0, {"set", "b", "v", "EXAT", std::to_string(kT0 / 1000 - 1)}), kOk);
    EXPECT_EQ(c.read(kT0, {"exists", "b"}), integer(0));
    // NX sees an expired key as absent; GET returns nil for it.
    EXPECT_EQ(c.apply(kT0 + 6, {"set", "a", "new", "NX", "GET"}), kNil);
    EXPECT_EQ(c.read(kT0 + 6, {"get", "a"}), bulk("new"));
    EXPECT_EQ(c.read(kT0 + 6, {"pttl", "a"}), integer(-1));
    // A deadline equal to the log time is past already: SET deletes at once.
    EXPECT_EQ(c.apply(kT0 + 6, {"set", "b", "v", "PXAT", std::to_string(kT0 + 6)}), kOk);
    EXPECT_EQ(c.read(kT0 + 6, {"exists", "b"}), integer(0));
    // A relative time that overflows from the log time is refused at apply.
    EXPECT_EQ(c.apply(kT0, {"set", "k", "v", "PX", "9223372036854775000"}),
              "-ERR invalid expire time in 'set' command\r\n");
}

TEST(Expiry, SetexPsetexAndGetex) {
    Clocked c;
    EXPECT_EQ(c.apply(kT0, {"setex", "k", "2", "v"}), kOk);
    EXPECT_EQ(c.read(kT0, {"pttl", "k"}), integer(2000));
    EXPECT_EQ(c.apply(kT0, {"psetex", "k", "20", "v"}), kOk);
    EXPECT_EQ(c.read(kT0, {"pttl", "k"}), integer(20));
    EXPECT_EQ(c.apply(kT0, {"getex", "k"}), bulk("v"));
    EXPECT_EQ(c.read(kT0, {"pttl", "k"}), integer(20)) << "GETEX alone keeps the TTL";
    EXPECT_EQ(c.apply(kT0, {"getex", "k", "PX", "500"}), bulk("v"));
    EXPECT_EQ(c.read(kT0, {"pttl", "k"}), integer(500));
    EXPECT_EQ(c.apply(kT0, {"getex", "k", "PERSIST"}), bulk("v"));
    EXPECT_EQ(c.read(kT0, {"pttl", "k"}), integer(-1));
    EXPECT_EQ(c.apply(kT0, {"getex", "k", "PXAT", "1"}), bulk("v")) << "a past time deletes";
    EXPECT_EQ(c.read(kT0, {"exists", "k"}), integer(0));
    EXPECT_EQ(c.apply(kT0, {"getex", "missing", "EX", "1"}), kNil);
    // Redis looks the key up before it checks the time.
    EXPECT_EQ(c.apply(kT0, {"getex", "missing", "EX", "0"}), kNil);
    c.apply(kT0, {"set", "k", "v"});
    EXPECT_EQ(c.apply(kT0, {"getex", "k", "EX", "0"}),
              "-ERR invalid expire time in 'getex' command\r\n");
}

TEST(Expiry, ExpireAndItsConditions) {
    Clocked c;
    c.apply(kT0, {"set", "k", "v"});
    EXPECT_EQ(c.apply(kT0, {"expire", "missing", "10"}), integer(0));
    EXPECT_EQ(c.apply(kT0, {"expire", "k", "10", "XX"}), integer(0)) << "XX: it has none";
    EXPECT_EQ(c.apply(kT0, {"expire", "k", "10", "GT"}), integer(0)) << "none counts as infinite";
    EXPECT_EQ(c.apply(kT0, {"expire", "k", "10", "LT"}), integer(1));
    EXPECT_EQ(c.apply(kT0, {"expire", "k", "20", "NX"}), integer(0));
    EXPECT_EQ(c.apply(kT0, {"pexpire", "k", "5000", "GT"}), integer(0));
    EXPECT_EQ(c.apply(kT0, {"pexpire", "k", "50000", "GT"}), integer(1));
    EXPECT_EQ(c.read(kT0, {"pttl", "k"}), integer(50000));
    EXPECT_EQ(c.apply(kT0, {"expireat", "k", std::to_string(kT0 / 1000 + 100)}), integer(1));
    EXPECT_EQ(c.read(kT0, {"pttl", "k"}), integer(100000));
    EXPECT_EQ(c.apply(kT0, {"pexpireat", "k", std::to_string(kT0 + 7), "LT"}), integer(1));
    EXPECT_EQ(c.read(kT0, {"pttl", "k"}), integer(7));
    EXPECT_EQ(c.apply(kT0, {"persist", "k"}), integer(1));
    EXPECT_EQ(c.apply(kT0, {"persist", "k"}), integer(0));
    EXPECT_EQ(c.apply(kT0, {"persist", "missing"}), integer(0));
    // A time not in the future deletes the key, and says 1.
    EXPECT_EQ(c.apply(kT0, {"expire", "k", "-1"}), integer(1));
    EXPECT_EQ(c.read(kT0, {"exists", "k"}), integer(0));
    EXPECT_EQ(c.apply(kT0, {"expire", "k", "10"}), integer(0));
}

TEST(Expiry, WritesKeepOrClearTheTtlAsRedis) {
    Clocked c;
    c.apply(kT0, {"set", "n", "1", "PX", "1000"});
    c.apply(kT0, {"incrby", "n", "2"});
    c.apply(kT0, {"append", "n", "0"});
    EXPECT_EQ(c.read(kT0, {"get", "n"}), bulk("30"));
    EXPECT_EQ(c.read(kT0, {"pttl", "n"}), integer(1000)) << "INCRBY and APPEND keep it";
    c.apply(kT0, {"mset", "n", "1"});
    EXPECT_EQ(c.read(kT0, {"pttl", "n"}), integer(-1)) << "MSET clears it";
    // A write that meets an expired key starts from nothing.
    c.apply(kT0, {"set", "e", "41", "PX", "10"});
    EXPECT_EQ(c.apply(kT0 + 11, {"incr", "e"}), integer(1));
    EXPECT_EQ(c.read(kT0 + 11, {"pttl", "e"}), integer(-1));
    c.apply(kT0 + 11, {"set", "g", "v", "PX", "10"});
    EXPECT_EQ(c.apply(kT0 + 22, {"getdel", "g"}), kNil);
    c.apply(kT0 + 22, {"set", "d", "v", "PX", "10"});
    EXPECT_EQ(c.apply(kT0 + 33, {"del", "d"}), integer(0));
}

TEST(Expiry, ReadsNeverShowAnExpiredKey) {
    Clocked c;
    c.apply(kT0, {"set", "live", "1"});
    c.apply(kT0, {"set", "dead", "2", "PX", "10"});
    const std::uint64_t t = kT0 + 11;
    EXPECT_EQ(c.read(t, {"dbsize"}), integer(1));
    EXPECT_EQ(c.read(t, {"keys", "*"}), "*1\r\n" + bulk("live"));
    EXPECT_EQ(c.read(t, {"scan", "0", "COUNT", "100"}),
              "*2\r\n" + bulk("0") + "*1\r\n" + bulk("live"));
    EXPECT_EQ(c.read(t, {"mget", "live", "dead"}), "*2\r\n" + bulk("1") + kNil);
    EXPECT_EQ(c.read(t, {"strlen", "dead"}), integer(0));
    EXPECT_EQ(c.read(t, {"data"}), bulk("{\"live\": \"1\"}"));
    EXPECT_EQ(c.read(kT0, {"dbsize"}), integer(2)) << "alive just before";
}

TEST(Expiry, ActiveExpiryDeletesInDeadlineOrderInBatches) {
    Clocked c;
    for (int i = 0; i < 5; ++i) {
        c.apply(kT0, {"set", "k" + std::to_string(i), "v", "PX", std::to_string(10 + i)});
    }
    c.apply(kT0, {"set", "later", "v", "PX", "1000"});
    EXPECT_EQ(c.sm().volatile_key_count(), 6u);
    EXPECT_EQ(c.sm().next_deadline_ms(), kT0 + 10);
    EXPECT_EQ(c.apply(kT0 + 11, {"raftkv.expire", "100"}), integer(1)) << "k1 is at its deadline";
    EXPECT_EQ(c.sm().key_count(), 5u);
    EXPECT_EQ(c.apply(kT0 + 100, {"raftkv.expire", "3"}), integer(3));
    EXPECT_EQ(c.sm().key_count(), 2u);
    EXPECT_EQ(c.sm().next_deadline_ms(), kT0 + 14);
    EXPECT_EQ(c.apply(kT0 + 100, {"raftkv.expire", "100"}), integer(1));
    EXPECT_EQ(c.apply(kT0 + 100, {"raftkv.expire", "100"}), integer(0)) << "`later` is not due";
    EXPECT_EQ(c.sm().next_deadline_ms(), kT0 + 1000);
    EXPECT_EQ(c.sm().key_count(), 1u);
}

// A snapshot keeps every deadline (and the index of them); a restored
// replica expires the same keys at the same times.
TEST(Expiry, SnapshotsKeepDeadlines) {
    Clocked c;
    c.apply(kT0, {"set", "a", "1", "PX", "100"});
    c.apply(kT0, {"set", "b", "2"});
    StateMachine copy;
    ASSERT_TRUE(copy.restore(c.sm().snapshot()).is_ok());
    EXPECT_TRUE(copy == c.sm());
    EXPECT_EQ(copy.volatile_key_count(), 1u);
    EXPECT_EQ(copy.next_deadline_ms(), kT0 + 100);
    std::string out;
    resp::ReplyWriter w(&out);
    copy.read(Args{"pttl", "a"}, kT0, w);
    EXPECT_EQ(out, integer(100));
    // Without any deadline the image is version 3, which the build before
    // expiry reads (a rolling upgrade); with one, version 4.
    EXPECT_EQ(c.sm().snapshot()[4], 4);
    StateMachine plain;
    std::string ignored;
    resp::ReplyWriter iw(&ignored);
    plain.apply(Args{"set", "b", "2"}, iw);
    EXPECT_EQ(plain.snapshot()[4], 3);
    // A deadline changes the image: equality sees it.
    c.apply(kT0, {"persist", "a"});
    EXPECT_FALSE(copy == c.sm());
}

}  // namespace
}  // namespace raftkv::kv
