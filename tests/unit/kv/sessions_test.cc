// sessions_test.cc — exactly-once writes: SESSION REGISTER / RUN in the state
// machine, expiry by log time, the LRU bound, and sessions in snapshots.
#include "kv/sessions.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "base/checksum.h"
#include "base/coding.h"
#include "kv/state_machine.h"
#include "test_util.h"

namespace raftkv::kv {
namespace {

using testing::Args;

constexpr std::uint64_t kHourMs = 60ull * 60 * 1000;
constexpr std::uint64_t kT0 = 1'700'000'000'000;  // some wall-clock time, ms

// Applies `args` as the server does with a logged entry at `index` stamped `time_ms`.
std::string at(StateMachine& sm, std::uint64_t index, std::optional<std::uint64_t> time_ms,
               const Args& args) {
    std::string out;
    resp::ReplyWriter w(&out);
    sm.apply(EntryInfo{.index = index, .time_ms = time_ms}, args, w);
    return out;
}

std::string integer(std::int64_t v) { return fmt::format(":{}\r\n", v); }
std::string expired(std::uint64_t id) {
    return fmt::format(
        "-ERR SESSIONEXPIRED session {} is unknown or has expired; register a new session (a "
        "write retried in the old one may or may not have been applied)\r\n",
        id);
}
Args run(std::uint64_t id, std::uint64_t seq, Args command) {
    Args a = {"SESSION", "RUN", std::to_string(id), std::to_string(seq)};
    a.insert(a.end(), command.begin(), command.end());
    return a;
}

TEST(Sessions, RegisterRepliesWithItsIndex) {
    StateMachine sm;
    EXPECT_EQ(at(sm, 7, kT0, {"session", "register"}), integer(7));
    EXPECT_EQ(at(sm, 9, kT0, {"SESSION", "Register"}), integer(9));
    EXPECT_EQ(sm.sessions().size(), 2u);
    EXPECT_EQ(sm.key_count(), 0u) << "sessions are not keys";
    EXPECT_EQ(sm.last_index(), 9u);
}

TEST(Sessions, RetryOfTheLastWriteIsNotAppliedAgain) {
    StateMachine sm;
    ASSERT_EQ(at(sm, 1, kT0, {"session", "register"}), integer(1));
    EXPECT_EQ(at(sm, 2, kT0, run(1, 1, {"incr", "n"})), integer(1));
    EXPECT_EQ(at(sm, 3, kT0, run(1, 1, {"incr", "n"})), integer(1)) << "the saved reply";
    EXPECT_EQ(at(sm, 4, kT0, {"get", "n"}), "$1\r\n1\r\n") << "applied once";
    EXPECT_EQ(at(sm, 5, kT0, run(1, 2, {"incr", "n"})), integer(2));
    EXPECT_EQ(at(sm, 6, kT0, run(1, 1, {"incr", "n"})),
              "-ERR session 1 sequence 1 already superseded by 2\r\n");
    EXPECT_EQ(at(sm, 7, kT0, run(1, 2, {"incr", "n"})), integer(2));
    EXPECT_EQ(at(sm, 8, kT0, run(1, 5, {"incr", "n"})), integer(3)) << "gaps are allowed";
    EXPECT_EQ(at(sm, 9, kT0, {"get", "n"}), "$1\r\n3\r\n");
    EXPECT_EQ(at(sm, 10, kT0, run(99, 1, {"incr", "n"})), expired(99));
    EXPECT_EQ(at(sm, 11, kT0, {"get", "n"}), "$1\r\n3\r\n");
}

TEST(Sessions, EachSessionHasItsOwnSequence) {
    StateMachine sm;
    at(sm, 1, kT0, {"session", "register"});
    at(sm, 2, kT0, {"session", "register"});
    EXPECT_EQ(at(sm, 3, kT0, run(1, 1, {"append", "s", "a"})), integer(1));
    EXPECT_EQ(at(sm, 4, kT0, run(2, 1, {"append", "s", "b"})), integer(2));
    EXPECT_EQ(at(sm, 5, kT0, run(2, 1, {"append", "s", "b"})), integer(2));
    EXPECT_EQ(at(sm, 6, kT0, run(1, 1, {"append", "s", "a"})), integer(1));
    EXPECT_EQ(at(sm, 7, kT0, {"get", "s"}), "$2\r\nab\r\n");
}

TEST(Sessions, ErrorsAndReadsAreSavedLikeAnyReply) {
    StateMachine sm;
    at(sm, 1, kT0, {"session", "register"});
    at(sm, 2, kT0, {"set", "s", "text"});
    const std::string not_int = "-ERR value is not an integer or out of range\r\n";
    EXPECT_EQ(at(sm, 3, kT0, run(1, 1, {"incr", "s"})), not_int);
    at(sm, 4, kT0, {"set", "s", "41"});
    EXPECT_EQ(at(sm, 5, kT0, run(1, 1, {"incr", "s"})), not_int) << "the saved error, not a rerun";
    EXPECT_EQ(at(sm, 6, kT0, run(1, 2, {"get", "s"})), "$2\r\n41\r\n");
    at(sm, 7, kT0, {"set", "s", "changed"});
    EXPECT_EQ(at(sm, 8, kT0, run(1, 2, {"get", "s"})), "$2\r\n41\r\n");
    EXPECT_EQ(at(sm, 9, kT0, run(1, 3, {"getdel", "s"})), "$7\r\nchanged\r\n");
    EXPECT_EQ(at(sm, 10, kT0, run(1, 3, {"getdel", "s"})), "$7\r\nchanged\r\n");
    EXPECT_EQ(sm.sessions().reply_bytes(), std::string("$7\r\nchanged\r\n").size());
}

TEST(Sessions, CheckRejectsBadSessionCommands) {
    struct Case {
        std::string_view name;
        Args args;
        std::string want;  // "" when the command passes
    };
    const std::string kIds =
        "-ERR SESSION RUN session id and sequence must be positive integers\r\n";
    const Case cases[] = {
        {"register", {"session", "register"}, ""},
        {"run", {"session", "run", "3", "1", "set", "k", "v"}, ""},
        {"run a read", {"session", "run", "3", "1", "GET", "k"}, ""},
        {"no subcommand", {"session"}, "-ERR wrong number of arguments for 'session' command\r\n"},
        {"register extra",
         {"session", "register", "x"},
         "-ERR wrong number of arguments for 'session|register' command\r\n"},
        {"unknown subcommand",
         {"session", "open"},
         "-ERR unknown subcommand 'open'. Try SESSION REGISTER or SESSION RUN.\r\n"},
        {"run without command",
         {"session", "run", "3", "1"},
         "-ERR wrong number of arguments for 'session|run' command\r\n"},
        {"id 0", {"session", "run", "0", "1", "get", "k"}, kIds},
        {"seq 0", {"session", "run", "1", "0", "get", "k"}, kIds},
        {"seq negative", {"session", "run", "1", "-1", "get", "k"}, kIds},
        {"id text", {"session", "run", "x", "1", "get", "k"}, kIds},
        {"unknown command",
         {"session", "run", "1", "1", "hset", "k"},
         "-ERR unknown command 'hset' in SESSION RUN\r\n"},
        {"nested",
         {"session", "run", "1", "1", "session", "register"},
         "-ERR SESSION RUN cannot run SESSION\r\n"},
        {"inner arity",
         {"session", "run", "1", "1", "incr"},
         "-ERR wrong number of arguments for 'incr' command\r\n"},
        {"inner syntax",
         {"session", "run", "1", "1", "set", "k", "v", "nx", "xx"},
         "-ERR syntax error\r\n"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        std::string out;
        resp::ReplyWriter w(&out);
        EXPECT_EQ(check(*find_command(c.args[0]), c.args, w), c.want.empty());
        EXPECT_EQ(out, c.want);
        StateMachine sm;  // apply() refuses the same way and changes nothing
        if (!c.want.empty()) {
            EXPECT_EQ(at(sm, 1, kT0, c.args), c.want);
            EXPECT_EQ(sm.sessions().size(), 0u);
        }
    }
}

TEST(Sessions, ExpireByLogTime) {
    StateMachine sm;
    at(sm, 1, kT0, {"session", "register"});
    at(sm, 2, kT0 + 10, {"session", "register"});
    EXPECT_EQ(at(sm, 3, kT0 + kHourMs, run(1, 1, {"incr", "n"})), integer(1))
        << "idle for exactly the timeout: still there";
    // Session 2 was last used at kT0 + 10; at kT0 + 10 + kHourMs + 1 it is gone.
    EXPECT_EQ(at(sm, 4, kT0 + 10 + kHourMs + 1, run(2, 1, {"incr", "n"})), expired(2));
    EXPECT_EQ(sm.sessions().size(), 1u);
    // A stamp from a leader with a slower clock does not move log time back.
    EXPECT_EQ(at(sm, 5, kT0, run(1, 2, {"incr", "n"})), integer(2));
    EXPECT_EQ(sm.log_time_ms(), kT0 + 10 + kHourMs + 1);
    // Entries without a time (version 1 payloads) do not move it either.
    EXPECT_EQ(at(sm, 6, std::nullopt, {"get", "n"}), "$1\r\n2\r\n");
    EXPECT_EQ(sm.log_time_ms(), kT0 + 10 + kHourMs + 1);
    // Any entry advancing the time expires sessions, not only session commands.
    at(sm, 7, kT0 + 3 * kHourMs, {"set", "x", "y"});
    EXPECT_EQ(sm.sessions().size(), 0u);
    EXPECT_EQ(at(sm, 8, kT0 + 3 * kHourMs, run(1, 3, {"incr", "n"})), expired(1));
}

TEST(Sessions, TimeoutIsAConstructionLimit) {
    StateMachine sm(SessionLimits{.timeout_ms = 100, .sessions_max = 10});
    at(sm, 1, 1000, {"session", "register"});
    at(sm, 2, 1100, {"get", "k"});
    EXPECT_EQ(sm.sessions().size(), 1u);
    at(sm, 3, 1101, {"get", "k"});
    EXPECT_EQ(sm.sessions().size(), 0u);
}

TEST(Sessions, FullTableEvictsTheLeastRecentlyUsed) {
    StateMachine sm(SessionLimits{.timeout_ms = kHourMs, .sessions_max = 3});
    for (std::uint64_t i = 1; i <= 3; ++i) at(sm, i, kT0, {"session", "register"});
    at(sm, 4, kT0 + 1, run(1, 1, {"incr", "n"}));  // 1 becomes the most recent
    EXPECT_EQ(at(sm, 5, kT0 + 2, {"session", "register"}), integer(5));  // evicts 2
    EXPECT_EQ(sm.sessions().size(), 3u);
    EXPECT_EQ(at(sm, 6, kT0 + 2, run(2, 1, {"incr", "n"})), expired(2));
    EXPECT_EQ(at(sm, 7, kT0 + 2, run(3, 1, {"incr", "n"})), integer(2));
    EXPECT_EQ(at(sm, 8, kT0 + 2, run(1, 1, {"incr", "n"})), integer(1));
    EXPECT_EQ(at(sm, 9, kT0 + 3, {"session", "register"}), integer(9));  // evicts 5
    EXPECT_EQ(at(sm, 10, kT0 + 3, run(5, 1, {"incr", "n"})), expired(5));
}

// Random session traffic with clock skew on two replicas and through a
// snapshot restore midway: same replies, same images.
TEST(Sessions, ReplicasAndRestoredCopiesAgree) {
    const std::uint64_t seed = testing::test_seed(0x5e55);
    SCOPED_TRACE(testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    const SessionLimits limits{.timeout_ms = 50, .sessions_max = 8};
    StateMachine a(limits);
    StateMachine b(limits);
    StateMachine c(limits);
    std::uint64_t time = kT0;
    std::vector<std::uint64_t> ids;
    for (std::uint64_t index = 1; index <= 3000; ++index) {
        time = time + rng() % 8 - 3;  // a leader's clock may be behind the last one's
        Args args;
        if (ids.empty() || rng() % 10 == 0) {
            args = {"session", "register"};
            ids.push_back(index);
        } else {
            const std::uint64_t id = ids[rng() % ids.size()];
            args = run(id, 1 + rng() % 6, {"incrby", "k" + std::to_string(rng() % 3), "2"});
        }
        const std::optional<std::uint64_t> stamp =
            rng() % 20 == 0 ? std::nullopt : std::optional<std::uint64_t>(time);
        const std::string reply = at(a, index, stamp, args);
        ASSERT_EQ(at(b, index, stamp, args), reply) << "index " << index;
        if (index == 1500) {
            ASSERT_TRUE(c.restore(a.snapshot()).is_ok());
            ASSERT_TRUE(c == a);
        }
        if (index > 1500) {
            ASSERT_EQ(at(c, index, stamp, args), reply) << "index " << index;
        }
    }
    EXPECT_EQ(a.snapshot(), b.snapshot());
    EXPECT_EQ(a.snapshot(), c.snapshot());
    EXPECT_LE(a.sessions().size(), 8u);
}

TEST(Sessions, SnapshotKeepsSessionsRepliesAndOrder) {
    StateMachine sm(SessionLimits{.timeout_ms = kHourMs, .sessions_max = 2});
    at(sm, 1, kT0, {"session", "register"});
    at(sm, 2, kT0, {"session", "register"});
    at(sm, 3, kT0 + 5, run(1, 4, {"set", "k", "v", "get"}));
    const std::string image = sm.snapshot();
    StateMachine restored(SessionLimits{.timeout_ms = kHourMs, .sessions_max = 2});
    ASSERT_TRUE(restored.restore(image).is_ok());
    EXPECT_TRUE(restored == sm);
    EXPECT_EQ(restored.last_index(), 3u);
    EXPECT_EQ(restored.log_time_ms(), kT0 + 5);
    EXPECT_EQ(restored.snapshot(), image);
    EXPECT_EQ(at(restored, 4, kT0 + 6, run(1, 4, {"set", "k", "v", "get"})), "$-1\r\n")
        << "the saved reply survives the snapshot";
    // Session 2 is the least recently used in the restored copy too.
    at(restored, 5, kT0 + 7, {"session", "register"});
    EXPECT_EQ(at(restored, 6, kT0 + 7, run(2, 1, {"get", "k"})), expired(2));
    for (std::size_t n = 0; n < image.size(); ++n) {
        StateMachine target;
        ASSERT_FALSE(target.restore(std::string_view(image).substr(0, n)).is_ok()) << n;
    }
}

// Builds a version 3 image with no keys or addresses and the given session
// section bytes after index and log time.
std::string image_with_sessions(std::uint64_t index, std::uint64_t log_time,
                                std::string_view sessions) {
    std::string b = "RKVS";
    put_u8(&b, 3);
    put_u64(&b, 0);
    put_u32(&b, 0);
    put_u64(&b, index);
    put_u64(&b, log_time);
    b.append(sessions);
    put_u64(&b, checksum(b));
    return b;
}

std::string session_record(std::uint64_t id, std::uint64_t seq, std::uint64_t touched,
                           std::string_view reply) {
    std::string s;
    put_u64(&s, id);
    put_u64(&s, seq);
    put_u64(&s, touched);
    put_u32(&s, static_cast<std::uint32_t>(reply.size()));
    s.append(reply);
    return s;
}

TEST(Sessions, RestoreRejectsBadSessions) {
    const auto section = [](std::vector<std::string> records) {
        std::string s;
        put_u32(&s, static_cast<std::uint32_t>(records.size()));
        for (const std::string& r : records) s += r;
        return s;
    };
    struct BadCase {
        std::string_view name;
        std::string image;
        std::string_view want;
    };
    std::string huge_count;
    put_u32(&huge_count, 200'000);
    const BadCase cases[] = {
        {"no session count", image_with_sessions(5, 10, ""), "session count at offset 33"},
        {"over the limit", image_with_sessions(5, 10, huge_count), "exceeds this server's limit"},
        {"id after index", image_with_sessions(5, 10, section({session_record(6, 0, 1, "")})),
         "(id 6): id is 0 or after the last index"},
        {"id 0", image_with_sessions(5, 10, section({session_record(0, 0, 1, "")})), "id is 0"},
        {"duplicate",
         image_with_sessions(5, 10,
                             section({session_record(1, 0, 1, ""), session_record(1, 0, 1, "")})),
         "duplicate id"},
        {"reply without seq",
         image_with_sessions(5, 10, section({session_record(1, 0, 1, ":1\r\n")})),
         "a reply without a sequence"},
        {"seq without reply", image_with_sessions(5, 10, section({session_record(1, 3, 1, "")})),
         "a reply without a sequence"},
        {"from the future", image_with_sessions(5, 10, section({session_record(1, 0, 11, "")})),
         "used after the log time"},
        {"out of order",
         image_with_sessions(5, 10,
                             section({session_record(1, 0, 4, ""), session_record(2, 0, 3, "")})),
         "out of order"},
        {"cut count", image_with_sessions(5, 10, section({"x"})), "cannot fit"},
        {"cut reply",
         image_with_sessions(5, 10, section({session_record(1, 1, 1, ":1\r\n").substr(0, 30)})),
         "session 0 of 1 at offset 37 runs past the end"},
    };
    for (const BadCase& c : cases) {
        SCOPED_TRACE(c.name);
        StateMachine sm;
        at(sm, 1, kT0, {"session", "register"});
        Status s = sm.restore(c.image);
        ASSERT_FALSE(s.is_ok());
        EXPECT_EQ(s.code(), Code::kCorruption);
        EXPECT_NE(s.message().find(c.want), std::string::npos) << s.message();
        EXPECT_EQ(sm.sessions().size(), 1u) << "state unchanged";
        EXPECT_EQ(sm.last_index(), 1u);
    }
    StateMachine ok;
    ASSERT_TRUE(ok.restore(image_with_sessions(5, 10,
                                               section({session_record(2, 0, 3, ""),
                                                        session_record(5, 7, 3, ":1\r\n")})))
                    .is_ok());
    EXPECT_EQ(ok.sessions().size(), 2u);
}

}  // namespace
}  // namespace raftkv::kv
