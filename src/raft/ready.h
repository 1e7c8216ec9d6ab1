// ready.h — what the raft core hands its caller to do, and in which order:
// Ready, and the Snapshot and ReadState values it carries.
//
// This is the one place the ordering contract is written (STYLE.md section
// 2); the server loop and the simulation follow it with numbered comments.
// Does not say how the caller persists or sends anything: that is
// server/raft_disk.h and tests/sim/cluster.cc. Modeled on etcd-io/raft
// rawnode.go (its synchronous form, plus messages that may leave before the
// disk write). §N cites the Raft paper, §dN Ongaro's dissertation.
//
// Using it (one thread; the server loop or the simulation):
//   Node node(options, &storage, hard_state, applied);
//   loop:
//     feed it: node.tick() every tick; node.step(m) for each message;
//              node.propose(...), node.read_index(...), ...
//     if (node.has_ready()) {
//       Ready rd = node.ready();
//       1. send rd.messages (now: in parallel with the disk write, §d10.2.1);
//       2. persist, in this order, rd.snapshot, rd.entries (they overwrite the
//          log from their first index on), rd.hard_state; then sync if
//          rd.must_sync (a Ready whose only durable change is the commit
//          index need not be synced: a lost commit index is learned again
//          from the leader, etcd's MustSync);
//       3. send rd.messages_after_persist (they promise what step 2 wrote);
//       4. load rd.snapshot into the state machine, then apply
//          rd.committed_entries in order;
//       5. serve rd.read_states (each needs applied >= its index: it is);
//          fail the reads in rd.failed_reads (leadership was lost);
//       6. node.advance(rd);
//     }
// Each Ready must be advanced before the next ready() call.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "raft/log_storage.h"
#include "raft/message.h"
#include "raft/types.h"

namespace raftkv::raft {

struct Snapshot {
    SnapshotMeta meta;
    std::string data;
    bool operator==(const Snapshot&) const = default;
};

// A read the leader has confirmed (§6.4): its state was current at `index`.
struct ReadState {
    Index index;
    std::string context;
    bool operator==(const ReadState&) const = default;
};

struct Ready {
    std::optional<HardState> hard_state;  // changed since the last Ready
    std::vector<Entry> entries;           // to persist
    std::optional<Snapshot> snapshot;     // received from the leader: persist and load
    std::vector<Message> messages;        // send at once
    std::vector<Message> messages_after_persist;
    std::vector<Entry> committed_entries;   // to apply, after persisting this Ready
    std::vector<ReadState> read_states;     // confirmed and applied: answer them
    std::vector<std::string> failed_reads;  // contexts of reads that cannot be confirmed
    // Step 2 must end with a sync: the Ready carries entries, a snapshot, or
    // a new term or vote (§5.1: term and vote are durable before any message
    // that depends on them leaves). False when the hard state changed only
    // in its commit index, which may be written and synced later.
    bool must_sync = false;

    bool empty() const {
        return !hard_state && entries.empty() && !snapshot && messages.empty() &&
               messages_after_persist.empty() && committed_entries.empty() && read_states.empty() &&
               failed_reads.empty();
    }
};

}  // namespace raftkv::raft
