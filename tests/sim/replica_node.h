// replica_node.h — one simulated server of a ReplicaCluster (replica_cluster.h):
// its SimDisk, which survives crashes, and the volatile rest: the
// server::Replica and the ports it is given (replica_ports.h), implemented
// over the simulation; and the clients' operations and attempts. Private to
// replica_cluster.cc and replica_clients.cc.
//
// The disk runs one job at a time, in order: a job's writes reach the
// SimDisk (its page cache) when the job starts, its sync (if it must sync)
// when it completes, a drawn latency later; the completion then runs as an
// event of its own, never inside the call that handed the job over.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "server/replica.h"
#include "sim/replica_cluster.h"

namespace raftkv::sim {

struct ReplicaCluster::Node final : server::DiskPort,
                                    server::Outbox,
                                    server::ClientPort,
                                    server::HostPort {
    Node(ReplicaCluster* c, raft::NodeId node_id)
        : cluster(c),
          id(node_id),
          disk(std::make_unique<SimDisk>(DiskOptions{.node = node_id, .trace = {}})) {}

    // One job for the disk: a PersistJob, or a snapshot the replica took.
    struct DiskJob {
        bool is_snapshot = false;
        server::PersistJob job;
        raft::SnapshotMeta meta;  // is_snapshot, or job.snapshot's
        std::string image;        // is_snapshot, or job.snapshot's data (copied)
        Done done;
        bool started = false;
        Status write_status;
        SimTime done_at = 0;
    };
    // A reply the replica finished, for the clients to take after the event.
    struct Finished {
        server::ReplyTarget to;
        std::string bytes;
    };

    // ---- DiskPort ----
    void persist(server::PersistJob job, Done done) override;
    void save_snapshot(raft::SnapshotMeta meta, std::string image, Done done) override;
    std::uint64_t bytes_on_disk() const override { return 0; }
    // Starts the job at the head if it has not started.
    void start_disk_job();
    // Completes the job at the head (due now).
    void complete_disk_job();

    // ---- Outbox ----
    void send(const raft::Message& m) override;
    void set_peers(std::vector<server::NodeAddress> peers) override { peers_ = std::move(peers); }

    // ---- ClientPort ----
    bool is_connected(std::uint64_t conn) const override { return conns.contains(conn); }
    std::string* reply_buffer(server::ReplyTarget to) override;
    void finish(server::ReplyTarget to) override;
    void pause_requests(std::uint64_t) override {}
    void resume_requests(std::uint64_t) override {}
    bool run_connection_command(server::ReplyTarget, std::string_view,
                                std::vector<std::string>&) override {
        return false;
    }

    // ---- HostPort ----
    void post_pump() override { pump_posted = true; }
    void retry_persist_after(std::chrono::milliseconds delay) override;
    void send_join_request(server::JoinRequest request) override;
    void stop(Status why) override { stopped = std::move(why); }
    void check_shutdown_done() override {}
    server::HostInfo host_info() const override { return server::HostInfo{}; }

    server::Now now() const;
    // Drops everything volatile (a crash).
    void drop_volatile();

    ReplicaCluster* cluster;
    raft::NodeId id;
    std::unique_ptr<SimDisk> disk;
    std::uint64_t incarnation = 0;
    // A server added by add_joiner: it starts with --join this.
    std::optional<server::JoinTarget> join;

    // Volatile: replica is null while down.
    std::unique_ptr<server::Replica> replica;
    bool pump_posted = false;
    std::optional<SimTime> retry_persist_at;
    std::optional<Status> stopped;
    std::deque<DiskJob> disk_jobs;
    std::set<std::uint64_t> conns;  // open client connections
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> writing;
    std::vector<Finished> replies;
    std::vector<server::NodeAddress> peers_;
    // What the checks saw last: applied through `observed`; the core's log
    // handed to the safety checker through fed_last, after a snapshot at
    // fed_snap; the terms it saw above the commit index (they may change).
    raft::Index observed;
    raft::Index fed_last;
    raft::Index fed_snap;
    std::map<raft::Index, raft::Term> fed_terms;
};

// One attempt of a client operation: a command sent to one server.
struct ReplicaCluster::Attempt {
    enum class Verdict : std::uint8_t {
        kInTransit,   // not yet at a server
        kPending,     // at a server, unanswered
        kNotApplied,  // an error that promises the command was not applied
        kAnswered,    // a reply from applying it
        kUnknown,     // -UNCERTAIN, a timeout, or lost with its server
    };
    ClientOpId op = 0;
    std::string tag;  // empty for reads
    std::vector<std::string> args;
    NodeId at;
    std::uint64_t conn = 0;
    std::uint64_t slot = 0;
    Verdict verdict = Verdict::kInTransit;
    std::string reply;  // the error text, for reports
};

struct ReplicaCluster::ClientOp {
    ClientOpId id = 0;
    Operation rec;
    std::optional<std::string> ifeq;  // SET ... IFEQ: the value required
    bool done = false;
    SimTime deadline = 0;
    int redirects = 0;
    Attempt* attempt = nullptr;  // the current one
    // Sessions (ReplicaClusterOptions::sessions): a write of a session
    // client; the attempt in flight is its SESSION REGISTER; the SESSION RUN
    // every attempt sends once registered; some attempt may have been
    // applied (so the operation can no longer fail, only end unknown); when
    // the attempt in flight is given up on and sent again.
    bool session = false;
    bool registering = false;
    std::vector<std::string> run_args;
    bool maybe_applied = false;
    SimTime attempt_deadline = 0;
};

}  // namespace raftkv::sim
