// node_snapshot.cc — InstallSnapshot (§7): the leader sends the caller's
// latest snapshot in chunks to a follower whose entries are compacted away
// (the send's state is in its Progress), and the follower assembles the
// chunks and installs the image, or keeps its log when it already holds the
// snapshot's last entry.
//
// Does not take snapshots or compact the log: the caller does, through its
// LogStorage, and advance() notices (node.cc).
#include <algorithm>
#include <cstdint>
#include <string>

#include "base/assert.h"
#include "raft/node.h"

namespace raftkv::raft {

void Node::handle_snapshot(const Message& m) {
    const SnapshotMeta& meta = m.snapshot;
    if (meta.index <= log_.committed()) {
        // Stale, or we caught up meanwhile: tell the leader where we are.
        incoming_snapshot_.reset();
        send_after_persist(
            Message{.type = MessageType::kAppendResponse, .to = m.from, .index = log_.committed()});
        return;
    }
    const bool same = incoming_snapshot_ && incoming_snapshot_->meta.index == meta.index &&
                      incoming_snapshot_->meta.term == meta.term;
    if (m.offset == 0 && !(same && !incoming_snapshot_->data.empty())) {
        incoming_snapshot_ = IncomingSnapshot{.meta = meta, .data = m.data};
    } else if (same && m.offset == incoming_snapshot_->data.size()) {
        incoming_snapshot_->data += m.data;
    } else {
        // A chunk we cannot use (we lost one before it, or we restarted and
        // forgot the start), or a duplicate of one we have: ask for what
        // follows what we hold, or for the beginning.
        const std::uint64_t want = same ? incoming_snapshot_->data.size() : 0;
        if (!same) incoming_snapshot_.reset();
        send_after_persist(
            Message{.type = MessageType::kSnapshotResponse, .to = m.from, .offset = want});
        return;
    }
    if (!m.done) {
        send_after_persist(Message{.type = MessageType::kSnapshotResponse,
                                   .to = m.from,
                                   .offset = incoming_snapshot_->data.size()});
        return;
    }
    IncomingSnapshot snap = std::move(*incoming_snapshot_);
    incoming_snapshot_.reset();
    if (log_.match_term(snap.meta.index, snap.meta.term)) {
        // We have the entry the snapshot ends at: the log after it is the
        // leader's too (Log Matching). Commit instead of discarding the log.
        log_.commit_to(snap.meta.index);
    } else {
        log_.restore(snap.meta);
        handed_ = snap.meta.index;
        persisted_ = Index(0);  // until the caller reports the snapshot persisted
        apply_handed_ = snap.meta.index;
        configs_.restore(snap.meta.index, snap.meta.membership);
        apply_membership();
        pending_snapshot_ = Snapshot{.meta = snap.meta, .data = std::move(snap.data)};
    }
    // Vouch for the snapshot's last entry only: after the fast-forward our
    // log may go on with entries the leader never sent.
    send_after_persist(
        Message{.type = MessageType::kAppendResponse, .to = m.from, .index = snap.meta.index});
}

void Node::handle_snapshot_response(const Message& m) {
    Progress& pr = tracker_.progress(m.from);
    if (pr.state() != ProgressState::kSnapshot) return;
    if (pr.maybe_snapshot_acked(m.offset)) send_snapshot_chunk(m.from);
}

void Node::send_snapshot_chunk(NodeId to) {
    Progress& pr = tracker_.progress(to);
    const SnapshotMeta current = storage_->snapshot_meta();
    const std::uint64_t size = storage_->snapshot_bytes();
    if (current != pr.snapshot_send().meta || size != pr.snapshot_send().bytes) {
        // The caller took a newer snapshot meanwhile: send that one.
        pr.become_snapshot(current, size);
    }
    const SnapshotSend& s = pr.snapshot_send();
    std::string chunk = storage_->snapshot_chunk(s.offset, options_.snapshot_chunk_bytes);
    const bool done = s.offset + chunk.size() == size;
    pr.on_snapshot_chunk_sent();
    send(Message{.type = MessageType::kSnapshot,
                 .to = to,
                 .commit = log_.committed(),
                 .snapshot = s.meta,
                 .offset = s.offset,
                 .data = std::move(chunk),
                 .done = done});
}

void Node::on_snapshot_persisted(Index index) {
    log_.stable_snapshot_to(index);
    log_.applied_to(index);
    persisted_ = std::max(persisted_, index);
}

}  // namespace raftkv::raft
