// progress_test.cc — the leader's view of one follower: each transition and
// each answer to an ack or rejection, by tables that cite the rule they test.
#include "raft/progress.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>

namespace raftkv::raft {

namespace {

// A follower in `state` with the given match and next, built only through
// the public transitions the way a leader would reach that state.
SnapshotMeta snapshot_at(std::uint64_t index) {
    return SnapshotMeta{.index = Index(index), .term = Term(1), .membership = {}};
}

Progress make_progress(ProgressState state, std::uint64_t match, std::uint64_t next,
                       InflightsLimits limits = {}) {
    Progress p(Index(match + 1), limits);
    if (match > 0) {
        EXPECT_TRUE(p.maybe_update(Index(match)));
    }
    switch (state) {
        case ProgressState::kProbe:
            break;
        case ProgressState::kReplicate:
            p.become_replicate();
            if (next > match + 1) p.update_on_entries_send(next - match - 1, 0);
            break;
        case ProgressState::kSnapshot:
            p.become_snapshot(snapshot_at(next - 1), 100);
            break;
    }
    EXPECT_EQ(p.match(), Index(match));
    EXPECT_EQ(p.next(), Index(next));
    return p;
}

TEST(Progress, NewLeaderProbesFromItsLastIndexPlusOne) {
    // §5.3, Figure 2: nextIndex starts at leader last log index + 1, matchIndex at 0.
    Progress p(Index(11));
    EXPECT_EQ(p.state(), ProgressState::kProbe);
    EXPECT_EQ(p.match(), Index(0));
    EXPECT_EQ(p.next(), Index(11));
    EXPECT_FALSE(p.is_paused());
    EXPECT_FALSE(p.is_recent_active());
}

TEST(Progress, BecomeProbe) {
    struct Case {
        std::string_view name;
        ProgressState from;
        std::uint64_t match, next;
        std::uint64_t want_next;
    };
    const Case cases[] = {
        {"from replicate restarts after match", ProgressState::kReplicate, 5, 9, 6},
        {"from probe restarts after match", ProgressState::kProbe, 5, 6, 6},
        {"from snapshot continues past the snapshot", ProgressState::kSnapshot, 3, 11, 11},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Progress p = make_progress(c.from, c.match, c.next);
        p.become_probe();
        EXPECT_EQ(p.state(), ProgressState::kProbe);
        EXPECT_EQ(p.match(), Index(c.match));
        EXPECT_EQ(p.next(), Index(c.want_next));
        EXPECT_EQ(p.pending_snapshot(), Index(0));
        EXPECT_EQ(p.inflights().count(), 0u);
        EXPECT_FALSE(p.is_paused());
    }
}

TEST(Progress, BecomeProbeAfterSnapshotBeyondItUsesMatch) {
    Progress p = make_progress(ProgressState::kSnapshot, 3, 11);
    // The follower acked past the snapshot (it got newer entries meanwhile).
    EXPECT_TRUE(p.maybe_update(Index(15)));
    p.become_probe();
    EXPECT_EQ(p.next(), Index(16));
}

TEST(Progress, BecomeReplicateAndSnapshot) {
    Progress p = make_progress(ProgressState::kProbe, 4, 5);
    p.become_replicate();
    EXPECT_EQ(p.state(), ProgressState::kReplicate);
    EXPECT_EQ(p.next(), Index(5));
    p.become_snapshot(snapshot_at(20), 100);
    EXPECT_EQ(p.state(), ProgressState::kSnapshot);
    EXPECT_EQ(p.pending_snapshot(), Index(20));
    EXPECT_EQ(p.next(), Index(21));
    EXPECT_TRUE(p.is_paused());  // nothing but the snapshot until it is done
}

TEST(Progress, ProbeSendsOneAppendAtATime) {
    // Dissertation §3.5 / etcd: while probing, one append is outstanding; its
    // answer or a heartbeat response lets the next one go.
    struct Case {
        std::string_view name;
        std::size_t entry_count;
    };
    const Case cases[] = {{"with entries", 3}, {"empty probe", 0}};
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Progress p = make_progress(ProgressState::kProbe, 2, 3);
        p.update_on_entries_send(c.entry_count, 100);
        EXPECT_TRUE(p.is_probe_sent());
        EXPECT_TRUE(p.is_paused());
        EXPECT_EQ(p.next(), Index(3));  // no optimism while probing
        p.on_heartbeat_response();
        EXPECT_FALSE(p.is_paused());
        EXPECT_TRUE(p.is_recent_active());
        p.update_on_entries_send(c.entry_count, 100);
        EXPECT_TRUE(p.is_paused());
        EXPECT_FALSE(p.maybe_update(Index(2)));  // a stale ack does not unpause
        EXPECT_TRUE(p.is_paused());
        EXPECT_TRUE(p.maybe_update(Index(4)));
        EXPECT_FALSE(p.is_paused());
    }
}

TEST(Progress, ReplicatePipelinesUntilTheWindowIsFull) {
    // Dissertation §10.2.2: next runs ahead of match; the window bounds it.
    Progress p = make_progress(ProgressState::kReplicate, 5, 6, {.appends_max = 2, .bytes_max = 0});
    p.update_on_entries_send(3, 30);
    EXPECT_EQ(p.next(), Index(9));
    EXPECT_FALSE(p.is_paused());
    p.update_on_entries_send(1, 10);
    EXPECT_EQ(p.next(), Index(10));
    EXPECT_TRUE(p.is_paused());
    EXPECT_TRUE(p.maybe_update(Index(8)));  // acks the first message
    EXPECT_EQ(p.match(), Index(8));
    EXPECT_EQ(p.next(), Index(10));
    EXPECT_EQ(p.inflights().count(), 1u);
    EXPECT_FALSE(p.is_paused());
}

TEST(Progress, HeartbeatResponseFreesOneSlotOfAFullWindow) {
    Progress p = make_progress(ProgressState::kReplicate, 0, 1, {.appends_max = 2, .bytes_max = 0});
    p.update_on_entries_send(1, 1);
    p.update_on_entries_send(1, 1);
    ASSERT_TRUE(p.is_paused());
    p.on_heartbeat_response();
    EXPECT_FALSE(p.is_paused());
    EXPECT_EQ(p.inflights().count(), 1u);
}

TEST(Progress, MaybeUpdate) {
    // §5.3: on success, update matchIndex and nextIndex. Acks may arrive late,
    // twice, or out of order; match never decreases and next stays above it.
    struct Case {
        std::string_view name;
        ProgressState state;
        std::uint64_t match, next;
        std::uint64_t ack;
        bool want_updated;
        std::uint64_t want_match, want_next;
    };
    const Case cases[] = {
        {"stale ack below match", ProgressState::kReplicate, 5, 10, 3, false, 5, 10},
        {"duplicate ack of match", ProgressState::kReplicate, 5, 10, 5, false, 5, 10},
        {"ack inside the pipeline", ProgressState::kReplicate, 5, 10, 7, true, 7, 10},
        {"ack of everything sent", ProgressState::kReplicate, 5, 10, 9, true, 9, 10},
        {"ack beyond next moves next", ProgressState::kReplicate, 5, 10, 12, true, 12, 13},
        {"probe ack moves next past it", ProgressState::kProbe, 2, 3, 6, true, 6, 7},
        {"stale probe ack", ProgressState::kProbe, 2, 3, 1, false, 2, 3},
        {"ack during a snapshot", ProgressState::kSnapshot, 2, 11, 4, true, 4, 11},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Progress p = make_progress(c.state, c.match, c.next);
        EXPECT_EQ(p.maybe_update(Index(c.ack)), c.want_updated);
        EXPECT_EQ(p.match(), Index(c.want_match));
        EXPECT_EQ(p.next(), Index(c.want_next));
        EXPECT_EQ(p.state(), c.state);  // the caller changes state, not maybe_update
    }
}

TEST(Progress, MaybeDecrTo) {
    // §5.3: after a rejection, decrement nextIndex and retry; with the
    // follower's hint, by more than one (fast backtracking, dissertation §3.5).
    struct Case {
        std::string_view name;
        ProgressState state;
        std::uint64_t match, next;
        std::uint64_t rejected, hint;
        bool want_decr;
        std::uint64_t want_next;
    };
    const Case cases[] = {
        // kReplicate: any rejection above match breaks the pipeline.
        {"replicate: stale rejection at match", ProgressState::kReplicate, 5, 10, 5, 5, false, 10},
        {"replicate: stale rejection below match", ProgressState::kReplicate, 5, 10, 4, 4, false,
         10},
        {"replicate: rejection restarts after match", ProgressState::kReplicate, 5, 10, 8, 8, true,
         6},
        // kProbe: only the rejection of the outstanding probe (next - 1) counts.
        {"probe: rejection of an older probe", ProgressState::kProbe, 0, 10, 5, 5, false, 10},
        {"probe: rejection of an append past next", ProgressState::kProbe, 0, 10, 12, 5, false, 10},
        {"probe: hint at the rejected index backs off by one", ProgressState::kProbe, 0, 10, 9, 9,
         true, 9},
        {"probe: short follower log jumps to its end", ProgressState::kProbe, 0, 10, 9, 3, true, 4},
        {"probe: hint of zero goes back to the start", ProgressState::kProbe, 0, 10, 9, 0, true, 1},
        {"probe: never at or below match", ProgressState::kProbe, 4, 10, 9, 1, true, 5},
        {"probe: hint above the rejection is ignored", ProgressState::kProbe, 0, 10, 9, 50, true,
         9},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Progress p(Index(c.next));
        if (c.match > 0) p.maybe_update(Index(c.match));
        if (c.state == ProgressState::kReplicate) {
            p.become_replicate();
            p.update_on_entries_send(c.next - c.match - 1, 0);
        } else {
            // A probe is outstanding; decrementing clears it.
            p.update_on_entries_send(0, 0);
        }
        ASSERT_EQ(p.match(), Index(c.match));
        ASSERT_EQ(p.next(), Index(c.next));
        EXPECT_EQ(p.maybe_decr_to(Index(c.rejected), Index(c.hint)), c.want_decr);
        EXPECT_EQ(p.next(), Index(c.want_next));
        EXPECT_EQ(p.match(), Index(c.match));
        if (c.want_decr && c.state == ProgressState::kProbe) {
            EXPECT_FALSE(p.is_paused());
        }
    }
}

TEST(Progress, RejectionInReplicateThenProbeKeepsNext) {
    Progress p = make_progress(ProgressState::kReplicate, 5, 10);
    ASSERT_TRUE(p.maybe_decr_to(Index(7), Index(7)));
    p.become_probe();
    EXPECT_EQ(p.next(), Index(6));
    EXPECT_EQ(p.inflights().count(), 0u);
}

TEST(Progress, RecentActiveIsSetAndClearedByTheLeader) {
    Progress p(Index(1));
    p.set_recent_active(true);
    EXPECT_TRUE(p.is_recent_active());
    p.become_replicate();  // transitions do not touch it
    EXPECT_TRUE(p.is_recent_active());
    p.set_recent_active(false);
    EXPECT_FALSE(p.is_recent_active());
}

TEST(Progress, ToString) {
    Progress p = make_progress(ProgressState::kReplicate, 5, 9);
    EXPECT_EQ(p.to_string(), "replicate match=5 next=9 inflight=1 inactive");
    p.become_snapshot(snapshot_at(20), 100);
    p.set_recent_active(true);
    EXPECT_EQ(p.to_string(), "snapshot match=5 next=21 pending_snapshot=20");
}

TEST(Progress, SnapshotSendStartsAtZeroAndEndsWithTheState) {
    Progress p = make_progress(ProgressState::kReplicate, 5, 9);
    p.become_snapshot(snapshot_at(20), 100);
    EXPECT_EQ(p.snapshot_send().meta, snapshot_at(20));
    EXPECT_EQ(p.snapshot_send().bytes, 100u);
    EXPECT_EQ(p.snapshot_send().offset, 0u);
    EXPECT_EQ(p.snapshot_send().idle_ticks, 0);
    // The follower installed it: the send is gone with the state.
    EXPECT_TRUE(p.maybe_update(Index(20)));
    p.become_probe();
    EXPECT_EQ(p.pending_snapshot(), Index(0));
    EXPECT_EQ(p.next(), Index(21));
}

TEST(Progress, SnapshotAcks) {
    // §7: the follower answers each chunk with the offset it wants next.
    struct Case {
        std::string_view name;
        std::uint64_t offset_before;
        std::uint64_t ack;
        bool want_moved;
        std::uint64_t want_offset;
    };
    const Case cases[] = {
        {"the next chunk is asked for", 0, 40, true, 40},
        {"a duplicate of the answer in flight", 40, 40, false, 40},
        {"a restarted follower asks from the start", 40, 0, true, 0},
        {"the end of the image", 40, 100, true, 100},
        {"an offset past the image is capped", 40, 150, true, 100},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Progress p = make_progress(ProgressState::kSnapshot, 3, 11);
        if (c.offset_before > 0) {
            ASSERT_TRUE(p.maybe_snapshot_acked(c.offset_before));
        }
        EXPECT_EQ(p.maybe_snapshot_acked(c.ack), c.want_moved);
        EXPECT_EQ(p.snapshot_send().offset, c.want_offset);
        EXPECT_EQ(p.state(), ProgressState::kSnapshot);  // acks never end the send
    }
}

TEST(Progress, SnapshotSendIdleTicks) {
    // A lost chunk (or answer) is sent again after idle_ticks_max ticks
    // without one leaving; each chunk sent restarts the count.
    Progress p = make_progress(ProgressState::kSnapshot, 3, 11);
    EXPECT_FALSE(p.tick_snapshot_send(3));
    EXPECT_FALSE(p.tick_snapshot_send(3));
    EXPECT_TRUE(p.tick_snapshot_send(3));
    p.on_snapshot_chunk_sent();
    EXPECT_EQ(p.snapshot_send().idle_ticks, 0);
    EXPECT_FALSE(p.tick_snapshot_send(3));
}

TEST(Progress, ReplacedImageRestartsTheSend) {
    Progress p = make_progress(ProgressState::kSnapshot, 3, 11);
    ASSERT_TRUE(p.maybe_snapshot_acked(60));
    p.become_snapshot(snapshot_at(30), 200);
    EXPECT_EQ(p.snapshot_send().meta, snapshot_at(30));
    EXPECT_EQ(p.snapshot_send().offset, 0u);
    EXPECT_EQ(p.next(), Index(31));
}

TEST(ProgressDeathTest, SnapshotSendOnlyInSnapshotState) {
    Progress p = make_progress(ProgressState::kReplicate, 5, 9);
    EXPECT_DEATH(p.snapshot_send(), "no snapshot send in state replicate");
    EXPECT_DEATH(p.maybe_snapshot_acked(10), "snapshot ack in state replicate");
    EXPECT_DEATH(p.tick_snapshot_send(3), "snapshot send ticked in state replicate");
}

TEST(ProgressDeathTest, SnapshotMustBePastMatch) {
    Progress p = make_progress(ProgressState::kProbe, 5, 6);
    EXPECT_DEATH(p.become_snapshot(snapshot_at(5), 100), "meta.index > match_");
}

TEST(ProgressDeathTest, NoAppendsWhilePaused) {
    Progress p = make_progress(ProgressState::kSnapshot, 0, 4);
    EXPECT_DEATH(p.update_on_entries_send(1, 1), "is_paused");
}

}  // namespace
}  // namespace raftkv::raft
