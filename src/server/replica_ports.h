// replica_ports.h — the small interfaces through which a Replica (replica.h)
// reaches the world: its disk, its outbox of peer messages, the clients it
// answers, and the host process around it; and the value types they carry.
//
// Nothing here does I/O: the server (server.cc) implements these over the
// event loop, the disk thread (raft_disk.h) and the sockets; a test or the
// simulation implements them over fakes. No asio and no net/ header may be
// included here, so that the replica stays deterministic.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "raft/node.h"
#include "raft/types.h"
#include "resp/reply_parser.h"
#include "server/config.h"
#include "storage/snapshot_image.h"

namespace raftkv::server {

// The time, given by the caller with every input that needs it (the replica
// reads no clock).
struct Now {
    // A steady clock, for deadlines. Only grows.
    std::chrono::milliseconds steady{0};
    // The wall clock since the Unix epoch: stamped into proposed commands
    // (log time, for session expiry).
    std::chrono::milliseconds wall{0};
};

// Where a reply goes: a client (connection) and the slot its request got.
struct ReplyTarget {
    std::uint64_t client = 0;
    std::uint64_t slot = 0;
    bool operator==(const ReplyTarget&) const = default;
};

// What one Ready asks to persist. Written in member order.
struct PersistJob {
    // Received from the leader: written to its file and synced, then the
    // WAL is emptied so that the log restarts after snapshot->meta.index.
    // Must be newer than every snapshot on disk (asserted).
    std::optional<raft::Snapshot> snapshot;
    // Appended. Consecutive; when entries[0].index is at or below the WAL's
    // last index, the WAL is first cut from there (a follower overwriting a
    // conflicting suffix). Entries at or below the snapshot index are
    // skipped (the snapshot covers them).
    std::vector<raft::Entry> entries;
    // Appended to the WAL as a hard state record after the entries.
    std::optional<raft::HardState> hard_state;
    // raft::Ready::must_sync: end with one WAL sync, covering the entries
    // and the hard state. False only for a job whose one change is the
    // commit index: its record reaches the disk with the next sync.
    bool must_sync = true;
};

// The outcome of a job, handed to its completion on the loop thread.
struct PersistResult {
    // ok: everything the job asked is durable. Otherwise what failed, with
    // the file (and offset where known); see RaftDisk for which failures
    // stop the disk.
    Status status;
    // Set when the job wrote a snapshot and succeeded: the durable image, to
    // give to RaftStorage::apply_snapshot or RaftStorage::compact. The
    // server's is its file, opened on the disk thread so that a later job
    // that supersedes the file (and removes it) cannot take it away before
    // the loop uses it; the simulation's is held in memory.
    std::unique_ptr<storage::SnapshotImage> snapshot_image;
    // A persist job that found the disk full, handed back to be retried.
    std::optional<PersistJob> job;
};

// The replica's disk: the real one is RaftDisk (its failure rules are
// there), the simulated one SimDisk. Completions run later, one at a time,
// in the order the jobs were handed over, with the time they ran at.
class DiskPort {
public:
    using Done = std::function<void(PersistResult, Now)>;
    virtual ~DiskPort() = default;
    virtual void persist(PersistJob job, Done done) = 0;
    // A snapshot the replica took at meta.index (RaftDisk::save_snapshot).
    virtual void save_snapshot(raft::SnapshotMeta meta, std::string image, Done done) = 0;
    // The log's size on disk, for INFO.
    virtual std::uint64_t bytes_on_disk() const = 0;
};

// Peer messages out. Delivery is best effort (the raft core retries).
class Outbox {
public:
    virtual ~Outbox() = default;
    virtual void send(const raft::Message& m) = 0;
    // These are the peers now: every server to keep a connection to (this
    // server excluded), in id order.
    virtual void set_peers(std::vector<NodeAddress> peers) = 0;
};

// The clients the replica answers.
class ClientPort {
public:
    virtual ~ClientPort() = default;
    virtual bool is_connected(std::uint64_t client) const = 0;
    // The buffer to write the reply for `to` into, or null when its client
    // is gone. Write the whole reply, then finish(to), with no other
    // target's reply_buffer or finish in between.
    virtual std::string* reply_buffer(ReplyTarget to) = 0;
    virtual void finish(ReplyTarget to) = 0;
    // While paused, a client sends no new request: the replica holds one of
    // its reads until its earlier write is decided (flow control).
    virtual void pause_requests(std::uint64_t client) = 0;
    virtual void resume_requests(std::uint64_t client) = 0;
    // Runs a command about the connection itself (PING, HELLO, CLIENT,
    // QUIT, ...) and answers it; false if `name` is not one of them.
    virtual bool run_connection_command(ReplyTarget to, std::string_view name,
                                        std::vector<std::string>& args) = 0;
};

// "Send RAFT ADDNODE ... to HOST:PORT", following -MOVED redirects; the
// reply (or the transport's error) comes back through Replica::on_join_reply
// with `seq`. The host may drop a request it cannot finish (at shutdown):
// the replica gives up on it after kJoinRequestTimeout.
struct JoinRequest {
    std::uint64_t seq = 0;
    std::string host;
    std::uint16_t port = 0;
    std::vector<std::string> args;
};

// What INFO shows about the process, which the replica does not know.
struct HostInfo {
    std::int64_t process_id = 0;
    std::int64_t uptime_seconds = 0;
    std::size_t connected_clients = 0;
    std::uint64_t clients_max = 0;
    std::string data_dir;
    std::uint64_t connections_received = 0;
    std::uint64_t connections_rejected = 0;
};

// The process around the replica: its loop, and its life.
class HostPort {
public:
    virtual ~HostPort() = default;
    // Call Replica::pump once the inputs of this loop round are in (so that
    // they go out in one Ready: batching, one fsync).
    virtual void post_pump() = 0;
    // Call Replica::retry_persist after `delay`.
    virtual void retry_persist_after(std::chrono::milliseconds delay) = 0;
    virtual void send_join_request(JoinRequest request) = 0;
    // The replica cannot go on (its disk failed, or it could not join):
    // stop serving and exit with `why`.
    virtual void stop(Status why) = 0;
    // Work the shutdown may wait for finished (Replica::is_idle may be true).
    virtual void check_shutdown_done() = 0;
    virtual HostInfo host_info() const = 0;
};

}  // namespace raftkv::server
