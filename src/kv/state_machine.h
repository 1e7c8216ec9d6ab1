// state_machine.h — the replicated state machine: the key space and the
// commands that read and change it.
//
// Every replica applies the same committed commands in log order and must
// reach the same state and write the same replies, so apply() is a pure
// function of the state and its arguments: no clock, no randomness, no
// iteration order that depends on history (key_table.h). Commands and their
// Redis semantics: commands.h and docs/command_format.md. Snapshot image:
// docs/kv_snapshot_format.md. Knows nothing of Raft or the network; client
// sessions (deduplicating retried writes) are not here yet.
//
// Besides the key space it keeps the replicated table of server addresses
// (RAFTKV.ADDRESS), which no key command sees: DBSIZE, KEYS, SCAN and `data`
// show keys only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "kv/commands.h"
#include "kv/key_table.h"
#include "resp/reply_writer.h"

namespace raftkv::kv {

// The snapshot image format version this build writes; it also reads every
// earlier version (docs/kv_snapshot_format.md).
inline constexpr std::uint8_t kSnapshotVersion = 2;

// One server's addresses, as RAFTKV.ADDRESS recorded them.
struct ServerAddress {
    std::string host;             // a host name or IP literal (commands.h, is_valid_address_host)
    std::uint16_t port = 0;       // client port
    std::uint16_t peer_port = 0;  // peer (raft) port
    bool operator==(const ServerAddress&) const = default;
};

// Not thread-safe; owned by the server loop, which applies committed entries
// and runs reads on the same thread.
class StateMachine {
public:
    // Applies a command that passed check(); deterministic. Appends exactly
    // one RESP reply to `out`. A read command is run as by read(); a command
    // that is not a kv command or fails check() (possible only for a log
    // written by another version) gets its error reply and changes nothing.
    void apply(std::span<const std::string> args, resp::ReplyWriter& out);
    // Runs a read command that passed check(); never changes state. Appends
    // exactly one reply. Requires args[0] to name a kRead command.
    void read(std::span<const std::string> args, resp::ReplyWriter& out) const;

    std::size_t key_count() const { return table_.size(); }
    // The sum of key and value sizes, for INFO.
    std::uint64_t data_bytes() const { return data_bytes_; }
    // The replicated address table, by node id (RAFTKV.ADDRESS). The
    // reference is valid for the life of the state machine; its contents
    // change when an entry is applied or a snapshot restored.
    const std::map<std::uint64_t, ServerAddress>& addresses() const { return addresses_; }

    // A self-checking image of the whole key space, in key_table.h order, so
    // equal states give equal images (docs/kv_snapshot_format.md).
    std::string snapshot() const;
    // Replaces the state with the one in `image`. Any bad image (truncated,
    // wrong magic or version, checksum mismatch, bad lengths, duplicate keys,
    // trailing bytes) gives kCorruption with a message naming the problem and
    // its byte offset, and leaves the state unchanged.
    Status restore(std::string_view image);

    // Same keys with the same values, and the same addresses; for tests.
    bool operator==(const StateMachine& other) const;

private:
    void run_write(const CommandInfo& info, std::span<const std::string> args,
                   resp::ReplyWriter& out);
    void run_read(const CommandInfo& info, std::span<const std::string> args,
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

    void keys(std::span<const std::string> args, resp::ReplyWriter& out) const;
    void scan(std::span<const std::string> args, resp::ReplyWriter& out) const;
    void data(resp::ReplyWriter& out) const;

    // Sets key to value, keeping data_bytes_ in step.
    void put(std::string_view key, std::string_view value);
    bool erase(std::string_view key);

    KeyTable table_;
    // Invariant: data_bytes_ == sum over entries of key.size() + value.size().
    std::uint64_t data_bytes_ = 0;
    // Invariant: at most kAddressCountMax entries, each valid as
    // parse_address_change() defines. Ordered, so snapshots are deterministic.
    std::map<std::uint64_t, ServerAddress> addresses_;
};

}  // namespace raftkv::kv
