// sessions.h — client sessions: what the state machine remembers so that a
// retried write is applied once (Raft dissertation §6.3, "Implementing
// linearizable semantics").
//
// A client registers a session (SESSION REGISTER, a logged write whose log
// index becomes the session id), then numbers its writes 1, 2, 3, ... and
// wraps each as SESSION RUN <id> <seq> <command...>. For each session the
// table keeps the highest sequence number applied and that command's reply,
// so a retry of the last write gets the saved reply instead of running again.
// Only the last reply is kept: a client has at most one write of a session
// outstanding at a time.
//
// Sessions expire deterministically: the state machine keeps a log time, the
// largest leader timestamp of any applied entry, and drops a session not used
// for more than `timeout_ms` of log time; and when the table is full a new
// session evicts the least recently used one. Both depend only on the applied
// entries, so every replica drops the same sessions at the same index. Does
// not run commands (state_machine.h). Snapshot section:
// docs/kv_snapshot_format.md; commands: docs/command_format.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/coding.h"
#include "base/status.h"

namespace raftkv::kv {

// One hour of log time, as the dissertation suggests for sessions.
inline constexpr std::uint64_t kSessionTimeoutMsDefault = 60ull * 60 * 1000;
// Enough for many clients; at ~100 bytes per session plus the saved replies.
inline constexpr std::size_t kSessionsMaxDefault = 100'000;

// Every replica of a cluster must use the same limits, or their states
// diverge: they are fixed at construction, not read from a clock or a flag
// that may differ between servers.
struct SessionLimits {
    std::uint64_t timeout_ms = kSessionTimeoutMsDefault;
    std::size_t sessions_max = kSessionsMaxDefault;  // >= 1
};

struct Session {
    std::uint64_t id = 0;          // the log index of its SESSION REGISTER; > 0
    std::uint64_t last_seq = 0;    // the highest sequence applied; 0 before the first RUN
    std::uint64_t touched_ms = 0;  // log time when a REGISTER or RUN last named it
    std::string reply;             // the RESP reply to last_seq; empty iff last_seq == 0
    bool operator==(const Session&) const = default;
};

// Not thread-safe; owned by the StateMachine.
class SessionTable {
public:
    explicit SessionTable(SessionLimits limits = {});
    SessionTable(SessionTable&&) = default;
    SessionTable& operator=(SessionTable&&) = default;

    const SessionLimits& limits() const { return limits_; }
    std::size_t size() const { return lru_.size(); }
    // The sum of the saved replies' sizes, for INFO.
    std::uint64_t reply_bytes() const { return reply_bytes_; }

    // nullptr if there is no session `id`. Valid until it is dropped.
    Session* find(std::uint64_t id);
    // Adds session `id`, used at `now_ms`. When the table is full the least
    // recently used session is dropped first. Requires: `id` > 0 and not
    // present; `now_ms` no earlier than any session's touched_ms.
    Session& add(std::uint64_t id, std::uint64_t now_ms);
    // Marks `s` used at `now_ms` (same requirement on `now_ms`).
    void touch(Session& s, std::uint64_t now_ms);
    // Records that `seq` ran with `reply`. Requires seq > s.last_seq and a
    // non-empty reply.
    void set_reply(Session& s, std::uint64_t seq, std::string reply);
    // Drops every session last used more than timeout_ms before `now_ms`.
    // Returns how many.
    std::size_t expire(std::uint64_t now_ms);

    // Calls f(const Session&) from the least to the most recently used: the
    // order snapshots keep, so that eviction after a restore is the same.
    template <typename F>
    void for_each(F&& f) const {
        for (const Session& s : lru_) f(s);
    }

    // Appends the section of a snapshot image (docs/kv_snapshot_format.md).
    void encode(std::string* image) const;
    // Reads the section from `in`, a cursor into `body` (for offsets), into
    // this table, which must be empty. Session ids must be <= `index_last`
    // and touch times <= `log_time_ms`. kCorruption names the problem.
    Status decode(std::string_view body, ByteReader& in, std::uint64_t index_last,
                  std::uint64_t log_time_ms);

    // Same sessions, in the same order.
    bool operator==(const SessionTable& other) const { return lru_ == other.lru_; }

private:
    void drop_front();

    SessionLimits limits_;
    // Least recently used first. Invariants: touched_ms never decreases from
    // front to back; lru_.size() <= limits_.sessions_max; by_id_ indexes
    // every element (lookup only: its order never reaches output).
    std::list<Session> lru_;
    std::unordered_map<std::uint64_t, std::list<Session>::iterator> by_id_;
    std::uint64_t reply_bytes_ = 0;  // Invariant: the sum of reply.size().
};

}  // namespace raftkv::kv
