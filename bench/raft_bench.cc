// raft_bench.cc — committed entries per second through an in-memory cluster
// of three raft::Node cores (issue 3, "Benchmark").
//
// Measures the consensus core alone: each Ready's messages go straight to the
// other cores' step(), each node "persists" into its own MemoryLogStorage, and
// applying an entry only counts it. No disk, no network, no encoding, and no
// clock: time does not pass while measuring, so no heartbeat or election
// happens then. Not a test: the simulation (tests/sim) checks correctness.
// How to build and run it: bench/README.md.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "raft/log_storage.h"
#include "raft/message.h"
#include "raft/node.h"
#include "raft/types.h"

namespace raftkv::raft {
namespace {

constexpr std::uint64_t kNodeCount = 3;
// Each node compacts its storage once this many applied entries pile up,
// keeping kCompactKeepEntries of them, so that a long run holds a bounded log
// and no follower a batch behind needs a snapshot.
constexpr std::uint64_t kCompactEveryEntries = 16384;
constexpr std::uint64_t kCompactKeepEntries = 1024;
// Ready cycles one settle() may take, and ticks an election may take: a
// cluster that needs more is stuck (a bug in the core), not slow.
constexpr int kSettleRoundsMax = 10000;
constexpr int kElectionTicksMax = 1000;

// One server: its core, what it persisted, and how many commands it applied.
struct Server {
    MemoryLogStorage storage;
    std::unique_ptr<Node> node;
    std::uint64_t applied_commands = 0;
};

// Three voters, driven by hand: the caller proposes on the leader, then
// settle() runs Ready cycles and delivers messages until nothing is left to
// do. Not thread-safe.
class Cluster {
public:
    Cluster() {
        Membership membership;
        for (std::uint64_t id = 1; id <= kNodeCount; ++id) membership.voters.insert(NodeId(id));
        for (std::uint64_t id = 1; id <= kNodeCount; ++id) {
            auto s = std::make_unique<Server>();
            const NodeOptions options{
                .id = NodeId(id), .seed = 42, .initial_membership = membership};
            s->node = std::make_unique<Node>(options, &s->storage, HardState{}, Index(0));
            servers_.push_back(std::move(s));
        }
    }

    // Ticks every node until one is leader, then settles (the leader's no-op
    // entry commits). False if that did not happen within the bounds.
    bool elect() {
        for (int t = 0; t < kElectionTicksMax && leader() == nullptr; ++t) {
            for (auto& s : servers_) s->node->tick();
            if (!settle()) return false;
        }
        return leader() != nullptr && settle();
    }

    Node* leader() {
        for (auto& s : servers_) {
            if (s->node->role() == Role::kLeader) return s->node.get();
        }
        return nullptr;
    }

    const Server& server(NodeId id) const { return *servers_[id.value - 1]; }

    // Runs a Ready cycle on every node that has one, then delivers every
    // message they sent, until no node has a Ready and no message is in
    // flight. False if that takes more than kSettleRoundsMax rounds.
    bool settle() {
        for (int round = 0; round < kSettleRoundsMax; ++round) {
            bool busy = false;
            for (auto& s : servers_) {
                if (!s->node->has_ready()) continue;
                handle_ready(*s);
                busy = true;
            }
            while (!in_flight_.empty()) {
                const Message m = std::move(in_flight_.front());
                in_flight_.pop_front();
                servers_[m.to.value - 1]->node->step(m);
                busy = true;
            }
            if (!busy) return true;
        }
        return false;
    }

    void check_invariants() const {
        for (const auto& s : servers_) s->node->check_invariants();
    }

private:
    // The contract at the top of node.h, steps 1-6, with a perfect disk and
    // network.
    void handle_ready(Server& s) {
        Ready rd = s.node->ready();
        // 1. Send at once (the leader's appends leave before its own write).
        for (Message& m : rd.messages) in_flight_.push_back(std::move(m));
        // 2. Persist: the snapshot, then the entries. The hard state would be
        //    written here too; nothing restarts in this benchmark.
        if (rd.snapshot) s.storage.apply_snapshot(rd.snapshot->meta, rd.snapshot->data);
        s.storage.append(rd.entries);
        // 3. Send what promises step 2.
        for (Message& m : rd.messages_after_persist) in_flight_.push_back(std::move(m));
        // 4. Apply, by counting.
        for (const Entry& e : rd.committed_entries) {
            if (e.type == EntryType::kCommand) ++s.applied_commands;
        }
        // 5. No reads are asked here. 6. Hand the Ready back.
        s.node->advance(rd);
        maybe_compact(s);
    }

    // Log compaction, as the server will trigger it after a snapshot.
    static void maybe_compact(Server& s) {
        const Index applied = s.node->log().applied();
        const Index first = s.storage.first_index();
        if (applied.value < first.value + kCompactEveryEntries) return;
        const Index to(applied.value - kCompactKeepEntries);
        s.storage.compact(SnapshotMeta{
            .index = to, .term = *s.storage.term(to), .membership = s.node->membership_at(to)});
    }

    std::vector<std::unique_ptr<Server>> servers_;  // servers_[i] has id i + 1
    std::deque<Message> in_flight_;
};

// Proposes `batch` entries of `payload_bytes` each on the leader, then
// settles the cluster (every entry commits and the leader applies it), per
// iteration. Reports committed entries (and their payload bytes) per second.
void run_commits(benchmark::State& state, std::size_t batch, std::size_t payload_bytes) {
    Cluster cluster;
    if (!cluster.elect()) {
        state.SkipWithError("no leader elected: the core is stuck");
        return;
    }
    Node* leader = cluster.leader();
    const Server& leader_server = cluster.server(leader->id());
    const std::uint64_t applied_before = leader_server.applied_commands;
    const std::string payload(payload_bytes, 'x');
    for (auto _ : state) {
        for (std::size_t i = 0; i < batch; ++i) {
            const Proposal p = leader->propose(payload);
            if (!p.ok()) {
                state.SkipWithError("proposal refused: leadership was lost");
                break;
            }
        }
        if (!cluster.settle()) {
            state.SkipWithError("the cluster did not settle: the core is stuck");
            break;
        }
    }
    const std::uint64_t committed = leader_server.applied_commands - applied_before;
    const std::uint64_t proposed = static_cast<std::uint64_t>(state.iterations()) * batch;
    if (!state.error_occurred() && committed != proposed) {
        const std::string msg = "committed " + std::to_string(committed) + " of " +
                                std::to_string(proposed) + " proposed entries";
        state.SkipWithError(msg.c_str());
    }
    cluster.check_invariants();
    state.SetItemsProcessed(static_cast<std::int64_t>(committed));
    state.SetBytesProcessed(static_cast<std::int64_t>(committed * payload_bytes));
}

// Without batching: one proposal, committed and applied, before the next.
void BM_CommitUnbatched(benchmark::State& state) {
    run_commits(state, 1, static_cast<std::size_t>(state.range(0)));
}
BENCHMARK(BM_CommitUnbatched)->ArgName("payload_bytes")->Arg(16)->Arg(1024);

// With batching: `batch` proposals between Ready cycles, which the leader
// sends as one append per follower (NodeOptions::append_entries_max = 256).
void BM_CommitBatched(benchmark::State& state) {
    run_commits(state, static_cast<std::size_t>(state.range(0)),
                static_cast<std::size_t>(state.range(1)));
}
BENCHMARK(BM_CommitBatched)
    ->ArgNames({"batch", "payload_bytes"})
    ->ArgsProduct({{64, 256}, {16, 1024}});

}  // namespace
}  // namespace raftkv::raft
