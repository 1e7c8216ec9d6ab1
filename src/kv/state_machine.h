// state_machine.h — the replicated state machine: the key space and the
// commands that read and change it.
//
// Every replica applies the same committed commands in log order and must
// reach the same state and write the same replies, so apply() is a pure
// function of the state and its arguments: no clock, no randomness, no
// iteration order that depends on history (key_table.h). Commands and their
// Redis semantics: commands.h and docs/command_format.md. Snapshot image:
// docs/kv_snapshot_format.md. Knows nothing of Raft or the network.
//
// Client sessions (sessions.h) make retried writes apply once: the server
// passes each entry's log index and leader timestamp to apply(), so that
// SESSION REGISTER can name a session by its index and sessions expire by
// log time, the same way on every replica.
//
// Key expiry (docs/expiry.md) is decided by log time too: a key's deadline
// is an absolute log time in ms (a relative TTL becomes one at apply, from
// the entry's time), and a key whose deadline is before the time a command
// runs at does not exist for it (at the deadline itself it still does, as in
// Redis). Writes run at the log time, so
// every replica expires the same keys at the same index; a write that meets
// an expired key deletes it first. Reads run at a time the caller gives (the
// leader's clock, never below the log time) and change nothing. The leader
// reclaims expired keys by proposing RAFTKV.EXPIRE (expire_due()), in
// deadline order.
//
// Besides the key space it keeps the replicated table of server addresses
// (RAFTKV.ADDRESS), which no key command sees: DBSIZE, KEYS, SCAN and `data`
// show keys only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "kv/commands.h"
#include "kv/key_table.h"
#include "kv/sessions.h"
#include "resp/reply_writer.h"

namespace raftkv::kv {

// The newest snapshot image format version this build writes (an image
// without deadlines is written as version 3); it also reads every earlier
// version (docs/kv_snapshot_format.md).
inline constexpr std::uint8_t kSnapshotVersion = 4;

// One server's addresses, as RAFTKV.ADDRESS recorded them.
struct ServerAddress {
    std::string host;             // a host name or IP literal (commands.h, is_valid_address_host)
    std::uint16_t port = 0;       // client port
    std::uint16_t peer_port = 0;  // peer (raft) port
    bool operator==(const ServerAddress&) const = default;
};

// Not thread-safe; owned by the server loop, which applies committed entries
// and runs reads on the same thread.
// Where a logged command sits in the log: what apply() needs besides argv.
struct EntryInfo {
    std::uint64_t index = 0;  // its log index; > every index applied before
    // The leader's clock when it proposed the entry (ms since the Unix epoch),
    // nullopt for a version 1 payload (command_codec.h).
    std::optional<std::uint64_t> time_ms;
};

class StateMachine {
public:
    // `limits` must be the same on every replica (sessions.h).
    explicit StateMachine(SessionLimits limits = {});

    // Applies a command that passed check(); deterministic. Appends exactly
    // one RESP reply to `out`. First the log time advances to entry.time_ms
    // if that is later (it never goes back) and the sessions idle for longer
    // than the timeout are dropped; then the command runs. A read command is
    // run as by read(); a command that is not a kv command or fails check()
    // (possible only for a log written by another version) gets its error
    // reply and changes nothing else. Requires entry.index > last_index().
    void apply(const EntryInfo& entry, std::span<const std::string> args, resp::ReplyWriter& out);
    // apply() at index last_index() + 1 without a time; for tests and for
    // logs of version 1 payloads replayed without their indexes.
    void apply(std::span<const std::string> args, resp::ReplyWriter& out);
    // Runs a read command that passed check(); never changes state. Appends
    // exactly one reply. Requires args[0] to name a kRead command. Keys are
    // expired as of max(now_ms, log_time_ms()); the first form reads at the
    // log time.
    void read(std::span<const std::string> args, resp::ReplyWriter& out) const;
    void read(std::span<const std::string> args, std::uint64_t now_ms,
              resp::ReplyWriter& out) const;

    // Keys held, expired ones not yet deleted included (INFO, snapshots).
    std::size_t key_count() const { return table_.size(); }
    // Keys with a deadline, and the earliest deadline (nullopt: none). The
    // leader proposes RAFTKV.EXPIRE once its clock passes it.
    std::size_t volatile_key_count() const { return deadlines_.size(); }
    std::optional<std::uint64_t> next_deadline_ms() const;
    // The sum of key and value sizes, for INFO.
    std::uint64_t data_bytes() const { return data_bytes_; }
    // The replicated address table, by node id (RAFTKV.ADDRESS). The
    // reference is valid for the life of the state machine; its contents
    // change when an entry is applied or a snapshot restored.
    const std::map<std::uint64_t, ServerAddress>& addresses() const { return addresses_; }
    // The index of the last command applied, 0 if none (entries that are not
    // commands never reach the state machine).
    std::uint64_t last_index() const { return index_; }
    // The log time: the largest entry timestamp applied so far, 0 if none.
    std::uint64_t log_time_ms() const { return log_time_ms_; }
    const SessionTable& sessions() const { return sessions_; }

    // A self-checking image of the whole key space, in key_table.h order, so
    // equal states give equal images (docs/kv_snapshot_format.md).
    std::string snapshot() const;
    // Replaces the state with the one in `image`. Any bad image (truncated,
    // wrong magic or version, checksum mismatch, bad lengths, duplicate keys,
    // trailing bytes) gives kCorruption with a message naming the problem and
    // its byte offset, and leaves the state unchanged.
    Status restore(std::string_view image);

    // Same keys with the same values, the same addresses, sessions and log
    // time (last_index() may differ); for tests.
    bool operator==(const StateMachine& other) const;

private:
    void run_write(const CommandInfo& info, std::span<const std::string> args,
                   resp::ReplyWriter& out);
    void run_read(const CommandInfo& info, std::span<const std::string> args, std::uint64_t now_ms,
                  resp::ReplyWriter& out) const;

    void set(std::span<const std::string> args, resp::ReplyWriter& out);
    void del(std::span<const std::string> args, resp::ReplyWriter& out);
    void mset(std::span<const std::string> args, resp::ReplyWriter& out);
    void incr_by(const CommandInfo& info, std::span<const std::string> args,
                 resp::ReplyWriter& out);
    void append(std::span<const std::string> args, resp::ReplyWriter& out);
    void getdel(std::span<const std::string> args, resp::ReplyWriter& out);
    void flushall(resp::ReplyWriter& out);
    void address(std::span<const std::string> args, resp::ReplyWriter& out);
    void session(std::span<const std::string> args, resp::ReplyWriter& out);
    // state_machine_expiry.cc
    void setex(const CommandInfo& info, std::span<const std::string> args, resp::ReplyWriter& out);
    void getex(std::span<const std::string> args, resp::ReplyWriter& out);
    void expire(const CommandInfo& info, std::span<const std::string> args, resp::ReplyWriter& out);
    void persist(std::span<const std::string> args, resp::ReplyWriter& out);
    void expire_due(std::span<const std::string> args, resp::ReplyWriter& out);
    void ttl(const CommandInfo& info, std::span<const std::string> args, std::uint64_t now_ms,
             resp::ReplyWriter& out) const;
    // Finds, checks and runs one command (apply() after the log time moved).
    void run_command(std::span<const std::string> args, resp::ReplyWriter& out);

    void keys(std::span<const std::string> args, std::uint64_t now_ms,
              resp::ReplyWriter& out) const;
    void scan(std::span<const std::string> args, std::uint64_t now_ms,
              resp::ReplyWriter& out) const;
    void data(std::uint64_t now_ms, resp::ReplyWriter& out) const;

    // The entry of `key` if it exists at now_ms (not past its deadline).
    const KeyTable::Entry* find_live(std::string_view key, std::uint64_t now_ms) const;
    // For writes, at the log time: an expired entry is deleted first.
    KeyTable::Entry* find_live(std::string_view key);
    // Sets key to value, keeping data_bytes_ in step; the deadline is left
    // as it was (none for a new key).
    KeyTable::Entry* put(std::string_view key, std::string_view value);
    bool erase(std::string_view key);
    // Sets or (0) clears e's deadline, keeping deadlines_ in step.
    void set_deadline(KeyTable::Entry& e, std::uint64_t at_ms);
    // The deadline an expiry option gives at the log time; nullopt if a
    // relative one overflows (Redis's "invalid expire time").
    std::optional<std::uint64_t> deadline_of(const ExpireOption& expire) const;
    // Keys with a deadline at or before now_ms (not yet deleted).
    std::size_t expired_count(std::uint64_t now_ms) const;

    KeyTable table_;
    // Invariant: data_bytes_ == sum over entries of key.size() + value.size().
    std::uint64_t data_bytes_ = 0;
    // Invariant: at most kAddressCountMax entries, each valid as
    // parse_address_change() defines. Ordered, so snapshots are deterministic.
    std::map<std::uint64_t, ServerAddress> addresses_;
    // Invariant: every session id <= index_; every touched_ms <= log_time_ms_.
    // Both only grow (restore() may set them anew).
    std::uint64_t index_ = 0;
    std::uint64_t log_time_ms_ = 0;
    SessionTable sessions_;
    // Invariant: holds (e.expires_at_ms, e.key) for exactly the entries e of
    // table_ with a deadline. The views are of the entries' own keys, which
    // stay put until the entry is erased (key_table.h), and erase() takes
    // the view out first.
    std::set<std::pair<std::uint64_t, std::string_view>> deadlines_;
};

}  // namespace raftkv::kv
