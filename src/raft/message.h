// message.h — what raft cores send each other.
//
// One struct for every kind, as etcd-io/raft's raftpb.Message: the fields a
// kind does not use stay at their defaults. The core neither encodes nor
// sends messages; the caller does (Step 3's peer transport, or the
// simulation's network), and must deliver each field as it was.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "raft/log_storage.h"
#include "raft/raft_log.h"
#include "raft/types.h"

namespace raftkv::raft {

enum class MessageType : std::uint8_t {
    kPreVote = 1,          // §9.6: "would you vote for me in term `term`?"
    kPreVoteResponse = 2,  // granted carries the asked term; a refusal, the voter's
    kVote = 3,             // RequestVote (Figure 2)
    kVoteResponse = 4,
    kAppend = 5,            // AppendEntries with entries (or an empty probe)
    kAppendResponse = 6,    // also answers a finished snapshot (index = its index)
    kHeartbeat = 7,         // AppendEntries without entries; carries a read round
    kHeartbeatResponse = 8,
    kSnapshot = 9,           // one chunk of InstallSnapshot (§7)
    kSnapshotResponse = 10,  // "send me the snapshot from `offset` on"
    kTimeoutNow = 11,        // leadership transfer: start an election now (§3.10)
};

std::string_view message_type_name(MessageType type);

struct Message {
    MessageType type = MessageType::kHeartbeat;
    NodeId from;
    NodeId to;
    Term term;  // the sender's term (for kPreVote: the term it would campaign in)

    // kPreVote, kVote: the candidate's last log index and term.
    // kAppend: the index and term of the entry before `entries`.
    // kAppendResponse: accepted: the last index the append vouched for;
    //   rejected: the `index` of the rejected append.
    Index index;
    Term log_term;
    std::vector<Entry> entries;  // kAppend
    Index commit;                // kAppend, kHeartbeat, kSnapshot: the leader's commit
                                 // index (for a heartbeat, capped at the follower's match)

    bool reject = false;  // responses
    ConflictHint hint;    // kAppendResponse rejected: fast backtracking (§5.3)

    std::uint64_t read_round = 0;  // kHeartbeat and its response: ReadIndex round (§6.4)
    bool transfer = false;         // kPreVote, kVote: campaign of a leadership transfer,
                                   // which voters grant even while they have a leader

    // kSnapshot: the snapshot, the chunk's offset in its image and the chunk;
    // `done` on the last chunk. kSnapshotResponse: `offset` is where the
    // follower wants the next chunk from (0: start over).
    SnapshotMeta snapshot;
    std::uint64_t offset = 0;
    std::string data;
    bool done = false;

    bool operator==(const Message&) const = default;
};

// One line for traces: "2->3 append term=4 index=10 log_term=3 entries=[11,13] commit=9".
std::string to_string(const Message& m);

}  // namespace raftkv::raft
