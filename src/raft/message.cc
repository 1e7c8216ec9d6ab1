// message.cc — see message.h.
#include "raft/message.h"

#include <fmt/format.h>

namespace raftkv::raft {

std::string_view message_type_name(MessageType type) {
    switch (type) {
        case MessageType::kPreVote: return "pre-vote";
        case MessageType::kPreVoteResponse: return "pre-vote-response";
        case MessageType::kVote: return "vote";
        case MessageType::kVoteResponse: return "vote-response";
        case MessageType::kAppend: return "append";
        case MessageType::kAppendResponse: return "append-response";
        case MessageType::kHeartbeat: return "heartbeat";
        case MessageType::kHeartbeatResponse: return "heartbeat-response";
        case MessageType::kSnapshot: return "snapshot";
        case MessageType::kSnapshotResponse: return "snapshot-response";
        case MessageType::kTimeoutNow: return "timeout-now";
    }
    return "unknown";
}

std::string to_string(const Message& m) {
    std::string s = fmt::format("{}->{} {} term={}", m.from.value, m.to.value,
                                message_type_name(m.type), m.term.value);
    switch (m.type) {
        case MessageType::kPreVote:
        case MessageType::kVote:
            s += fmt::format(" last={}/{}{}", m.index.value, m.log_term.value,
                             m.transfer ? " transfer" : "");
            break;
        case MessageType::kAppend:
            s += fmt::format(" prev={}/{} commit={}", m.index.value, m.log_term.value,
                             m.commit.value);
            if (!m.entries.empty()) {
                s += fmt::format(" entries=[{},{}]", m.entries.front().index.value,
                                 m.entries.back().index.value);
            }
            break;
        case MessageType::kAppendResponse:
            s += fmt::format(" index={}", m.index.value);
            if (m.reject) s += fmt::format(" hint={}/{}", m.hint.index.value, m.hint.term.value);
            break;
        case MessageType::kHeartbeat:
            s += fmt::format(" commit={} round={}", m.commit.value, m.read_round);
            break;
        case MessageType::kHeartbeatResponse:
            s += fmt::format(" round={}", m.read_round);
            break;
        case MessageType::kSnapshot:
            s += fmt::format(" snapshot={}/{} offset={} bytes={}{}", m.snapshot.index.value,
                             m.snapshot.term.value, m.offset, m.data.size(), m.done ? " done" : "");
            break;
        case MessageType::kSnapshotResponse:
            s += fmt::format(" offset={}", m.offset);
            break;
        case MessageType::kPreVoteResponse:
        case MessageType::kVoteResponse:
        case MessageType::kTimeoutNow:
            break;
    }
    if (m.reject) s += " reject";
    return s;
}

}  // namespace raftkv::raft
