// node_test.cc — the raft core (raft/node.h) driven by hand: a few nodes
// whose messages a test delivers or drops one batch at a time, each
// persisting into its own MemoryLogStorage. Each test cites the rule it
// shows (§N: Raft paper; §dN: Ongaro's dissertation). Whole clusters under
// random faults are tests/sim's job; these pin single rules down.
#include "raft/node.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "raft/membership.h"

namespace raftkv::raft {
namespace {

struct Peer {
    MemoryLogStorage storage;
    HardState hard_state;
    std::unique_ptr<Node> node;
    std::vector<Entry> applied;
    std::vector<ReadState> reads;
    std::vector<std::string> failed_reads;
};

// Nodes 1..n with instant delivery of what the test lets through.
class Net {
public:
    explicit Net(int n, NodeOptions base = {}) : base_(base) {
        for (int i = 1; i <= n; ++i) members_.voters.insert(NodeId(i));
        for (int i = 1; i <= n; ++i) start(NodeId(i));
    }

    void start(NodeId id, bool fresh_member = true) {
        Peer& p = peers_[id];
        NodeOptions o = base_;
        o.id = id;
        o.seed = 42;
        if (fresh_member) o.initial_membership = members_;
        Index applied = p.storage.snapshot_meta().index;
        p.node = std::make_unique<Node>(o, &p.storage, p.hard_state, applied);
        p.applied.clear();
    }
    // Forget volatile state; keep what was persisted.
    void restart(NodeId id) { start(id); }

    Node& node(NodeId id) { return *peers_.at(id).node; }
    Node& node(int id) { return node(NodeId(id)); }
    Peer& peer(int id) { return peers_.at(NodeId(id)); }

    // Processes every Ready, delivering messages (unless dropped) until
    // quiet. Returns the number of messages delivered.
    int settle(int rounds_max = 1000) {
        int delivered = 0;
        for (int round = 0; round < rounds_max; ++round) {
            bool any = false;
            for (auto& [id, p] : peers_) {
                if (down_.contains(id) || !p.node->has_ready()) continue;
                any = true;
                Ready rd = p.node->ready();
                for (Message& m : rd.messages) queue_.push_back(std::move(m));
                if (rd.snapshot) p.storage.apply_snapshot(rd.snapshot->meta, rd.snapshot->data);
                if (!rd.entries.empty()) p.storage.append(rd.entries);
                if (rd.hard_state) p.hard_state = *rd.hard_state;
                for (Message& m : rd.messages_after_persist) queue_.push_back(std::move(m));
                for (const Entry& e : rd.committed_entries) p.applied.push_back(e);
                for (const ReadState& r : rd.read_states) p.reads.push_back(r);
                for (std::string& f : rd.failed_reads) p.failed_reads.push_back(f);
                p.node->advance(rd);
                p.node->check_invariants();
            }
            while (!queue_.empty()) {
                Message m = std::move(queue_.front());
                queue_.pop_front();
                if (down_.contains(m.to) || !peers_.contains(m.to)) continue;
                if (cut_.contains({m.from, m.to}) || (drop_ && drop_(m))) continue;
                ++sent_[m.type];
                ++delivered;
                any = true;
                peers_.at(m.to).node->step(m);
            }
            if (!any) return delivered;
        }
        ADD_FAILURE() << "no quiescence";
        return delivered;
    }

    void tick(NodeId id, int n = 1) {
        for (int i = 0; i < n; ++i) node(id).tick();
    }
    void tick_all(int n = 1) {
        for (int i = 0; i < n; ++i) {
            for (auto& [id, p] : peers_) {
                if (!down_.contains(id)) p.node->tick();
            }
            settle();
        }
    }
    // Ticks every node up until one leads.
    NodeId elect_any() {
        for (int i = 0; i < 200; ++i) {
            for (auto& [id, p] : peers_) {
                if (!down_.contains(id) && p.node->role() == Role::kLeader) return id;
            }
            tick_all(1);
        }
        ADD_FAILURE() << "no leader";
        return NodeId(0);
    }
    // Campaigns until node `id` leads: ticks only it past its timeout. The
    // others must not have heard from a leader recently (§d4.2.3).
    void elect(int id) {
        for (int i = 0; i < 100 && node(id).role() != Role::kLeader; ++i) {
            node(id).tick();
            settle();
        }
        ASSERT_EQ(node(id).role(), Role::kLeader) << "node " << id << " not elected";
    }
    void isolate(int id) {
        for (auto& [other, p] : peers_) {
            cut_.insert({NodeId(id), other});
            cut_.insert({other, NodeId(id)});
        }
    }
    void heal() { cut_.clear(); }
    void down(int id) { down_.insert(NodeId(id)); }
    void up(int id) {
        down_.erase(NodeId(id));
        restart(NodeId(id));
    }

    std::function<bool(const Message&)> drop_;
    std::map<MessageType, int> sent_;
    Membership members_;

private:
    NodeOptions base_;
    std::map<NodeId, Peer> peers_;
    std::deque<Message> queue_;
    std::set<std::pair<NodeId, NodeId>> cut_;
    std::set<NodeId> down_;
};

std::vector<std::string> commands(const Peer& p) {
    std::vector<std::string> out;
    for (const Entry& e : p.applied) {
        if (e.type == EntryType::kCommand) out.push_back(e.data);
    }
    return out;
}

TEST(Node, SingleNodeElectsItselfAndCommits) {
    Net net(1);
    net.elect(1);
    EXPECT_EQ(net.node(1).term(), Term(1));
    const Proposal p = net.node(1).propose("a");
    ASSERT_TRUE(p.ok());
    net.settle();
    EXPECT_EQ(net.node(1).log().committed(), p.index);
    EXPECT_EQ(commands(net.peer(1)), std::vector<std::string>{"a"});
}

TEST(Node, ASingleVoterLeadsAtOnceWhenToldToCampaign) {
    Net net(1);
    net.node(1).campaign_now();
    EXPECT_EQ(net.node(1).role(), Role::kLeader);
    EXPECT_TRUE(net.node(1).propose("a").ok());
}

// §5.2: a candidate with votes from a majority becomes leader; the others
// follow it in its term.
TEST(Node, InitialElection) {
    Net net(3);
    net.elect(1);
    EXPECT_EQ(net.node(2).leader(), NodeId(1));
    EXPECT_EQ(net.node(3).leader(), NodeId(1));
    EXPECT_EQ(net.node(2).term(), net.node(1).term());
    // §5.4.2: the new leader's no-op of its own term commits at once.
    EXPECT_EQ(net.node(1).log().committed(), Index(1));
}

TEST(Node, ReplicatesAndCommitsOnEveryNode) {
    Net net(3);
    net.elect(1);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(net.node(1).propose("v" + std::to_string(i)).ok());
    net.settle();
    net.tick_all(2);
    for (int id = 1; id <= 3; ++id) {
        EXPECT_EQ(commands(net.peer(id)).size(), 10u) << "node " << id;
        EXPECT_EQ(net.node(id).log().committed(), Index(11));
    }
}

// Batching: proposals made between two Readies travel in one append per
// follower; pipelining keeps several in flight.
TEST(Node, MessagesPerAgreementAreBounded) {
    Net net(3);
    net.elect(1);
    net.sent_.clear();
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(net.node(1).propose("x").ok());
    net.settle();
    // One append of 50 entries per follower, and one empty append per
    // follower that tells it the new commit index.
    EXPECT_EQ(net.sent_[MessageType::kAppend], 4);
    EXPECT_EQ(net.sent_[MessageType::kAppendResponse], 4);
    EXPECT_EQ(net.node(1).log().committed(), Index(51));
}

// Issue 10 item 6: followers learn a new commit index right after the
// leader does, not only with the next heartbeat (a tick later), so that a
// READONLY read on a follower, or a follower that leads next, sees it.
TEST(Node, FollowersLearnTheCommitIndexWithoutWaitingForAHeartbeat) {
    Net net(3);
    net.elect(1);
    ASSERT_TRUE(net.node(1).propose("x").ok());
    net.settle();  // no tick: no heartbeat
    EXPECT_EQ(net.node(1).log().committed(), Index(2));
    EXPECT_EQ(net.node(2).log().committed(), Index(2));
    EXPECT_EQ(net.node(3).log().committed(), Index(2));
    EXPECT_EQ(commands(net.peer(2)), std::vector<std::string>{"x"});
}

TEST(Node, NoCommitWithoutAMajority) {
    Net net(5);
    net.elect(1);
    net.down(3);
    net.down(4);
    net.down(5);
    ASSERT_TRUE(net.node(1).propose("lost?").ok());
    net.settle();
    EXPECT_EQ(net.node(1).log().committed(), Index(1));
    net.up(3);
    net.tick(NodeId(1), 1);
    net.settle();
    EXPECT_EQ(net.node(1).log().committed(), Index(2));
}

// §d9.6: a node back from a partition with its term unchanged (pre-vote
// did not raise it) does not depose the leader.
TEST(Node, PreVoteKeepsAPartitionedNodeFromDisruptingTheLeader) {
    Net net(3);
    net.elect(1);
    net.isolate(3);
    net.tick(NodeId(3), 100);  // many election timeouts alone
    net.settle();
    EXPECT_EQ(net.node(3).term(), Term(1));
    net.heal();
    net.tick_all(5);
    EXPECT_EQ(net.node(1).role(), Role::kLeader);
    EXPECT_EQ(net.node(1).term(), Term(1));
    EXPECT_EQ(net.node(3).leader(), NodeId(1));
}

// §d6.2: a leader that stops hearing from a majority steps down.
TEST(Node, CheckQuorumStepsDownACutOffLeader) {
    Net net(3);
    net.elect(1);
    net.isolate(1);
    net.tick(NodeId(1), 25);
    EXPECT_EQ(net.node(1).role(), Role::kFollower);
}

// §5.3: the leader finds the match point with a follower whose log
// diverges over many entries in a few round trips, not one per entry.
TEST(Node, FastBackupOverALongDivergentLog) {
    Net net(3);
    net.elect(1);
    net.isolate(1);
    for (int i = 0; i < 60; ++i) ASSERT_TRUE(net.node(1).propose("old").ok());
    net.settle();
    net.heal();
    net.down(1);
    const int leader = static_cast<int>(net.elect_any().value);
    ASSERT_NE(leader, 1);
    for (int i = 0; i < 60; ++i) ASSERT_TRUE(net.node(leader).propose("new").ok());
    net.settle();
    net.up(1);
    net.sent_.clear();
    net.tick(NodeId(leader), 1);
    net.settle();
    // Node 1 holds 60 entries of term 1 after index 1 that the leader does
    // not; the leader's hint skips them all at once.
    EXPECT_LE(net.sent_[MessageType::kAppendResponse], 6);
    net.tick(NodeId(leader), 1);
    net.settle();
    EXPECT_EQ(net.node(1).log().last_index(), net.node(leader).log().last_index());
    EXPECT_EQ(net.node(1).log().committed(), net.node(leader).log().committed());
    const auto cmds = commands(net.peer(1));
    EXPECT_EQ(std::count(cmds.begin(), cmds.end(), "old"), 0);
    EXPECT_EQ(std::count(cmds.begin(), cmds.end(), "new"), 60);
}

// §6.4: a read is served at the commit index after a heartbeat round, and
// one round serves every read asked before it.
TEST(Node, ReadIndexIsBatchedIntoOneRound) {
    Net net(3);
    net.elect(1);
    net.settle();
    net.sent_.clear();
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(net.node(1).read_index("r" + std::to_string(i)), Refusal::kOk);
    net.settle();
    EXPECT_EQ(net.sent_[MessageType::kHeartbeat], 2);
    ASSERT_EQ(net.peer(1).reads.size(), 10u);
    EXPECT_EQ(net.peer(1).reads[0].index, Index(1));
}

TEST(Node, ReadIndexFailsWhenLeadershipIsLost) {
    Net net(3);
    net.elect(1);
    net.settle();
    net.isolate(1);
    ASSERT_EQ(net.node(1).read_index("r"), Refusal::kOk);
    net.settle();
    net.tick(NodeId(1), 25);
    net.settle();
    EXPECT_TRUE(net.peer(1).reads.empty());
    EXPECT_EQ(net.peer(1).failed_reads, std::vector<std::string>{"r"});
}

// §d3.10: the target, once caught up, campaigns at once and wins.
TEST(Node, LeadershipTransferToALaggingNode) {
    Net net(3);
    net.elect(1);
    net.down(3);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.node(1).propose("x").ok());
    net.settle();
    net.up(3);
    ASSERT_EQ(net.node(1).transfer_leadership(NodeId(3)), Refusal::kOk);
    EXPECT_EQ(net.node(1).propose("refused").refusal, Refusal::kTransferring);
    net.settle();
    net.tick(NodeId(1), 1);  // a heartbeat answer resumes the paused probe
    net.settle();
    EXPECT_EQ(net.node(3).role(), Role::kLeader);
    EXPECT_EQ(net.node(1).leader(), NodeId(3));
}

TEST(Node, LeadershipTransferIsAbandonedAfterAnElectionTimeout) {
    Net net(3);
    net.elect(1);
    net.down(3);
    ASSERT_EQ(net.node(1).transfer_leadership(NodeId(3)), Refusal::kOk);
    net.tick(NodeId(1), 5);
    EXPECT_EQ(net.node(1).propose("x").refusal, Refusal::kTransferring);
    net.tick(NodeId(1), 10);
    EXPECT_TRUE(net.node(1).propose("x").ok());
}

// §d4.1-4.2: add a learner, let it catch up, promote it, then remove a voter.
TEST(Node, MembershipChangeOneAtATime) {
    Net net(3);
    net.elect(1);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.node(1).propose("x").ok());
    net.settle();
    Proposal add = net.node(1).change_membership(MembershipChange::kAddLearner, NodeId(4));
    ASSERT_TRUE(add.ok());
    EXPECT_EQ(net.node(1).change_membership(MembershipChange::kRemove, NodeId(2)).refusal,
              Refusal::kConfigChangePending);
    net.start(NodeId(4), /*fresh_member=*/false);
    net.settle();
    net.tick_all(3);
    EXPECT_EQ(net.node(4).log().committed(), net.node(1).log().committed());
    EXPECT_TRUE(net.node(4).membership().learners.contains(NodeId(4)));
    ASSERT_TRUE(net.node(1).change_membership(MembershipChange::kPromote, NodeId(4)).ok());
    net.settle();
    net.tick_all(2);
    EXPECT_TRUE(net.node(2).membership().voters.contains(NodeId(4)));
    ASSERT_TRUE(net.node(1).change_membership(MembershipChange::kRemove, NodeId(1)).ok());
    net.settle();
    net.tick_all(2);
    // §d4.2.2: the leader removed itself; it steps down once that commits.
    EXPECT_NE(net.node(1).role(), Role::kLeader);
    net.tick_all(40);
    bool led = false;
    for (int id = 2; id <= 4; ++id) led |= net.node(id).role() == Role::kLeader;
    EXPECT_TRUE(led);
}

TEST(Node, SnapshotCatchesUpALaggingFollowerInChunks) {
    NodeOptions o;
    o.snapshot_chunk_bytes = 4;
    Net net(3, o);
    net.elect(1);
    net.down(3);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(net.node(1).propose("x").ok());
    net.settle();
    // Leader and node 2 compact their logs under a snapshot.
    for (int id : {1, 2}) {
        Peer& p = net.peer(id);
        const Index at = net.node(id).log().applied();
        p.storage.compact({.index = at,
                           .term = *p.storage.term(at),
                           .membership = net.node(id).membership_at(at)},
                          "state-image-of-some-bytes");
    }
    net.up(3);
    net.sent_.clear();
    net.tick_all(3);
    EXPECT_GT(net.sent_[MessageType::kSnapshot], 3);
    EXPECT_EQ(net.peer(3).storage.snapshot_meta().index, Index(21));
    EXPECT_EQ(net.peer(3).storage.snapshot_chunk(0, 100), "state-image-of-some-bytes");
    EXPECT_EQ(net.node(3).log().committed(), Index(21));
    ASSERT_TRUE(net.node(1).propose("after").ok());
    net.settle();
    net.tick_all(1);
    EXPECT_EQ(commands(net.peer(3)), std::vector<std::string>{"after"});
}

TEST(Node, PersistenceAcrossRestartsOfEveryNode) {
    Net net(3);
    net.elect(1);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.node(1).propose("x").ok());
    net.settle();
    net.tick_all(1);
    const Term term = net.node(1).term();
    for (int id = 1; id <= 3; ++id) net.restart(NodeId(id));
    for (int id = 1; id <= 3; ++id) {
        EXPECT_EQ(net.node(id).term(), term);
        EXPECT_EQ(net.node(id).log().last_index(), Index(6));
    }
    net.tick_all(40);
    int leaders = 0;
    for (int id = 1; id <= 3; ++id) leaders += net.node(id).role() == Role::kLeader;
    EXPECT_EQ(leaders, 1);
}

TEST(Node, LeaseReadsSkipTheRoundWhileTheLeaseHolds) {
    NodeOptions o;
    o.lease_reads = true;
    Net net(3, o);
    net.tick_all(10);  // past the start-up promise
    net.elect(1);
    net.tick_all(1);  // a heartbeat round grants the lease
    net.sent_.clear();
    ASSERT_EQ(net.node(1).read_index("r"), Refusal::kOk);
    net.settle();
    EXPECT_EQ(net.sent_[MessageType::kHeartbeat], 0);
    EXPECT_EQ(net.peer(1).reads.size(), 1u);
}

// §d10.2.1: the leader sends before it writes, but counts its own copy only
// once the caller reports it persisted.
TEST(Node, LeaderCountsItsOwnEntryOnlyOncePersisted) {
    Net net(1);
    net.elect(1);
    Node& n = net.node(1);
    const Proposal p = n.propose("a");
    Ready rd = n.ready();
    ASSERT_EQ(rd.entries.size(), 1u);
    EXPECT_LT(n.log().committed(), p.index);
    EXPECT_TRUE(rd.committed_entries.empty());
    net.peer(1).storage.append(rd.entries);
    n.advance(rd);
    EXPECT_EQ(n.log().committed(), p.index);
    Ready next = n.ready();
    ASSERT_EQ(next.committed_entries.size(), 1u);
    EXPECT_EQ(next.committed_entries[0].data, "a");
}

// Ready.must_sync (etcd's MustSync): entries, a snapshot, a new term or a
// new vote must be synced before the Ready's messages_after_persist leave
// (§5.1, Figure 2 "Persistent state"); a Ready that only moves the commit
// index need not be, as a commit index lost in a crash is learned again.
TEST(Node, OnlyACommitIndexChangeNeedsNoSync) {
    Net net(1);
    Node& n = net.node(1);
    n.campaign_now();
    Ready elected = n.ready();
    ASSERT_TRUE(elected.hard_state.has_value());
    EXPECT_TRUE(elected.must_sync) << "term and vote of the election";
    net.peer(1).storage.append(elected.entries);
    n.advance(elected);

    Ready commit_only = n.ready();  // the no-op committed
    ASSERT_TRUE(commit_only.hard_state.has_value());
    EXPECT_TRUE(commit_only.entries.empty());
    EXPECT_EQ(commit_only.hard_state->commit, Index(1));
    EXPECT_FALSE(commit_only.must_sync);
    n.advance(commit_only);

    ASSERT_TRUE(n.propose("a").ok());
    Ready with_entry = n.ready();
    ASSERT_EQ(with_entry.entries.size(), 1u);
    EXPECT_FALSE(with_entry.hard_state.has_value());
    EXPECT_TRUE(with_entry.must_sync) << "an entry to persist";
}

// Figure 2, RequestVote: at most one vote per term, and it is persisted
// before the answer leaves.
TEST(Node, VotesOncePerTermAndPersistsTheVoteFirst) {
    NodeOptions o;
    o.pre_vote = false;
    Net net(3, o);
    Node& voter = net.node(3);
    voter.step(
        Message{.type = MessageType::kVote, .from = NodeId(1), .to = NodeId(3), .term = Term(5)});
    voter.step(
        Message{.type = MessageType::kVote, .from = NodeId(2), .to = NodeId(3), .term = Term(5)});
    Ready rd = voter.ready();
    EXPECT_TRUE(rd.messages.empty());
    ASSERT_EQ(rd.messages_after_persist.size(), 2u);
    EXPECT_FALSE(rd.messages_after_persist[0].reject);
    EXPECT_TRUE(rd.messages_after_persist[1].reject);
    ASSERT_TRUE(rd.hard_state.has_value());
    EXPECT_EQ(rd.hard_state->vote, NodeId(1));
    EXPECT_EQ(rd.hard_state->term, Term(5));
    EXPECT_TRUE(rd.must_sync);
}

// §5.4.1: no vote for a candidate whose log is behind.
TEST(Node, RefusesAVoteToACandidateWithAnOlderLog) {
    Net net(3);
    net.elect(1);
    ASSERT_TRUE(net.node(1).propose("x").ok());
    net.settle();
    Node& voter = net.node(2);
    net.tick_all(0);
    voter.step(Message{.type = MessageType::kVote,
                       .from = NodeId(3),
                       .to = NodeId(2),
                       .term = Term(9),
                       .index = Index(1),
                       .log_term = Term(1),
                       .transfer = true});
    Ready rd = voter.ready();
    ASSERT_EQ(rd.messages_after_persist.size(), 1u);
    EXPECT_TRUE(rd.messages_after_persist[0].reject);
    EXPECT_EQ(voter.term(), Term(9));
}

// §d4.2.3: a server removed while cut off keeps campaigning, but the others,
// hearing from their leader, ignore it; the leader's term does not move.
TEST(Node, ARemovedServerCannotDisruptTheCluster) {
    Net net(3);
    net.elect(1);
    net.isolate(3);
    ASSERT_TRUE(net.node(1).change_membership(MembershipChange::kRemove, NodeId(3)).ok());
    net.settle();
    net.tick_all(1);
    EXPECT_FALSE(net.node(1).membership().contains(NodeId(3)));
    net.heal();
    for (int i = 0; i < 60; ++i) {
        net.tick_all(1);
        ASSERT_EQ(net.node(1).role(), Role::kLeader);
    }
    EXPECT_EQ(net.node(1).term(), Term(1));
    EXPECT_EQ(net.node(2).term(), Term(1));
}

// A stale leader (cut off, then healed) learns the new term from the first
// answer and steps down, and its uncommitted entry is overwritten.
TEST(Node, AStaleLeaderRejoinsAsFollower) {
    Net net(3);
    net.elect(1);
    net.isolate(1);
    ASSERT_TRUE(net.node(1).propose("stale").ok());
    net.settle();
    net.down(1);
    const NodeId leader = net.elect_any();
    ASSERT_TRUE(net.node(leader).propose("fresh").ok());
    net.settle();
    net.heal();
    net.up(1);
    net.tick_all(3);
    EXPECT_EQ(net.node(1).leader(), leader);
    EXPECT_EQ(commands(net.peer(1)), std::vector<std::string>{"fresh"});
}

TEST(Node, ALostSnapshotChunkIsSentAgainAndDuplicatesAreHarmless) {
    NodeOptions o;
    o.snapshot_chunk_bytes = 3;
    Net net(3, o);
    net.elect(1);
    net.down(3);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.node(1).propose("x").ok());
    net.settle();
    Peer& p = net.peer(1);
    const Index at = net.node(1).log().applied();
    p.storage.compact(
        {.index = at, .term = *p.storage.term(at), .membership = net.node(1).membership_at(at)},
        "0123456789");
    net.up(3);
    int chunks = 0;
    net.drop_ = [&](const Message& m) {
        if (m.type != MessageType::kSnapshot) return false;
        ++chunks;
        return chunks == 2;  // lose the second chunk once
    };
    net.tick_all(12);
    net.drop_ = nullptr;
    EXPECT_EQ(net.peer(3).storage.snapshot_chunk(0, 100), "0123456789");
    EXPECT_EQ(net.node(3).log().committed(), at);
    // A duplicated chunk after the install changes nothing.
    net.node(3).step(Message{.type = MessageType::kSnapshot,
                             .from = NodeId(1),
                             .to = NodeId(3),
                             .term = net.node(1).term(),
                             .snapshot = p.storage.snapshot_meta(),
                             .offset = 3,
                             .data = "345"});
    net.settle();
    EXPECT_EQ(net.node(3).log().committed(), at);
}

// A follower restarted in the middle of a transfer forgot the chunks it had:
// it asks for the snapshot from the start.
TEST(Node, AFollowerRestartedMidSnapshotAsksForItFromTheStart) {
    NodeOptions o;
    o.snapshot_chunk_bytes = 2;
    Net net(3, o);
    net.elect(1);
    net.down(3);
    ASSERT_TRUE(net.node(1).propose("x").ok());
    net.settle();
    Peer& p = net.peer(1);
    const Index at = net.node(1).log().applied();
    p.storage.compact(
        {.index = at, .term = *p.storage.term(at), .membership = net.node(1).membership_at(at)},
        "abcdefgh");
    net.up(3);
    int chunks = 0;
    net.drop_ = [&](const Message& m) {
        if (m.type == MessageType::kSnapshot && ++chunks == 3) {
            net.restart(NodeId(3));  // after two chunks arrived
        }
        return false;
    };
    net.tick_all(15);
    net.drop_ = nullptr;
    EXPECT_EQ(net.peer(3).storage.snapshot_chunk(0, 100), "abcdefgh");
    EXPECT_EQ(net.node(3).log().committed(), at);
}

TEST(Node, DuplicatedAndReorderedAppendsAreHarmless) {
    Net net(3);
    net.elect(1);
    std::vector<Message> appends;
    net.drop_ = [&](const Message& m) {
        if (m.type == MessageType::kAppend && m.to == NodeId(2)) appends.push_back(m);
        return false;
    };
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(net.node(1).propose("p" + std::to_string(i)).ok());
        net.settle();
    }
    net.drop_ = nullptr;
    for (auto it = appends.rbegin(); it != appends.rend(); ++it) net.node(2).step(*it);
    net.settle();
    net.tick_all(1);
    EXPECT_EQ(commands(net.peer(2)), (std::vector<std::string>{"p0", "p1", "p2"}));
}

// §d6.4.1 with §d3.10: a leader that sent TimeoutNow may be replaced later
// by the target's election (the message or the votes can be delayed past
// the transfer's end), so it serves no lease read for the rest of its term.
TEST(Node, NoLeaseReadAfterATimeoutNowWasSent) {
    NodeOptions o;
    o.lease_reads = true;
    Net net(3, o);
    net.tick_all(10);
    net.elect(1);
    net.tick_all(1);
    std::vector<Message> held;
    net.drop_ = [&](const Message& m) {
        if (m.type != MessageType::kTimeoutNow) return false;
        held.push_back(m);
        return true;
    };
    ASSERT_EQ(net.node(1).transfer_leadership(NodeId(2)), Refusal::kOk);
    net.settle();
    ASSERT_EQ(held.size(), 1u);
    net.drop_ = nullptr;
    net.tick_all(12);  // transfer abandoned; heartbeat rounds go on
    ASSERT_EQ(net.node(1).role(), Role::kLeader);
    net.isolate(1);
    net.node(2).step(held[0]);  // the delayed TimeoutNow
    net.settle();
    ASSERT_EQ(net.node(2).role(), Role::kLeader);
    const Proposal w = net.node(2).propose("w");
    ASSERT_TRUE(w.ok());
    net.settle();
    ASSERT_GE(net.node(2).log().committed(), w.index);
    ASSERT_EQ(net.node(1).role(), Role::kLeader);
    ASSERT_EQ(net.node(1).read_index("r"), Refusal::kOk);
    net.settle();
    EXPECT_TRUE(net.peer(1).reads.empty()) << "a stale read was served under a lease";
}

// lease_after_start (docs/expiry.md): a server that just started has
// forgotten whom it heard from, so for an election timeout it ignores vote
// requests as check-quorum makes a follower ignore them while it hears from
// a leader; without the option it votes at once.
TEST(Node, LeaseAfterStartIgnoresVotesForAnElectionTimeout) {
    for (const bool guard : {false, true}) {
        SCOPED_TRACE(guard ? "lease_after_start" : "no guard");
        MemoryLogStorage st;
        NodeOptions o;
        o.id = NodeId(3);
        o.initial_membership.voters = {NodeId(1), NodeId(2), NodeId(3)};
        o.lease_after_start = guard;
        Node n(o, &st, HardState{.term = Term(1)}, Index(0));
        const Message vote{
            .type = MessageType::kVote, .from = NodeId(1), .to = NodeId(3), .term = Term(2)};
        n.step(vote);
        EXPECT_EQ(n.term(), guard ? Term(1) : Term(2));
        for (int i = 0; i < o.election_ticks; ++i) n.tick();
        if (!guard) continue;
        n.step(Message{.type = MessageType::kVote,
                       .from = NodeId(1),
                       .to = NodeId(3),
                       .term = Term(n.term().value + 1)});
        EXPECT_GT(n.term(), Term(1)) << "after an election timeout it takes the vote request";
    }
}

// A snapshot whose last entry the follower has only commits; the answer
// vouches for that entry, not for the follower's possibly divergent tail.
TEST(Node, ASnapshotTheFollowerHasVouchesOnlyForItsOwnEntries) {
    MemoryLogStorage st;
    std::vector<Entry> es;
    for (int i = 1; i <= 5; ++i) {
        es.push_back(Entry{.term = Term(1), .index = Index(i), .type = EntryType::kNoop});
    }
    st.append(es);
    NodeOptions o;
    o.id = NodeId(3);
    o.initial_membership.voters = {NodeId(1), NodeId(2), NodeId(3)};
    Node f(o, &st, HardState{.term = Term(1), .vote = NodeId(0), .commit = Index(2)}, Index(0));
    f.step(Message{
        .type = MessageType::kSnapshot,
        .from = NodeId(1),
        .to = NodeId(3),
        .term = Term(2),
        .commit = Index(3),
        .snapshot =
            SnapshotMeta{.index = Index(3), .term = Term(1), .membership = o.initial_membership},
        .data = "img",
        .done = true});
    Ready rd = f.ready();
    ASSERT_EQ(rd.messages_after_persist.size(), 1u);
    EXPECT_EQ(rd.messages_after_persist[0].index, Index(3));
    EXPECT_EQ(f.log().committed(), Index(3));
}

TEST(Node, ALateDuplicateOfTheFirstChunkKeepsWhatWasReassembled) {
    MemoryLogStorage st;
    NodeOptions o;
    o.id = NodeId(3);
    o.initial_membership.voters = {NodeId(1), NodeId(2), NodeId(3)};
    Node f(o, &st, HardState{}, Index(0));
    const SnapshotMeta meta{
        .index = Index(10), .term = Term(1), .membership = o.initial_membership};
    auto chunk = [&](std::uint64_t off, std::string d) {
        return Message{.type = MessageType::kSnapshot,
                       .from = NodeId(1),
                       .to = NodeId(3),
                       .term = Term(1),
                       .snapshot = meta,
                       .offset = off,
                       .data = std::move(d)};
    };
    f.step(chunk(0, "ab"));
    f.step(chunk(2, "cd"));
    f.step(chunk(0, "ab"));
    Ready rd = f.ready();
    ASSERT_EQ(rd.messages_after_persist.size(), 3u);
    EXPECT_EQ(rd.messages_after_persist[2].offset, 4u);
}

// Figure 2, RequestVote: a voter with a higher term answers with it, so the
// candidate adopts the term. (Found by the simulation, seed 2688: a voter
// with a stale log, an old configuration and a high term never wrote to the
// one candidate that could win, and dropped its requests.)
TEST(Node, AVoteRequestFromALowerTermIsAnsweredWithOurTerm) {
    NodeOptions o;
    o.pre_vote = false;
    Net net(3, o);
    Node& voter = net.node(2);
    voter.step(
        Message{.type = MessageType::kVote, .from = NodeId(3), .to = NodeId(2), .term = Term(7)});
    (void)voter.ready();
    voter.step(Message{.type = MessageType::kVote,
                       .from = NodeId(1),
                       .to = NodeId(2),
                       .term = Term(4),
                       .index = Index(9),
                       .log_term = Term(3)});
    Ready rd = voter.ready();
    ASSERT_EQ(rd.messages_after_persist.size(), 1u);
    const Message& answer = rd.messages_after_persist[0];
    EXPECT_EQ(answer.type, MessageType::kVoteResponse);
    EXPECT_TRUE(answer.reject);
    EXPECT_EQ(answer.term, Term(7));
    net.node(1).step(answer);
    EXPECT_EQ(net.node(1).term(), Term(7));
}

}  // namespace
}  // namespace raftkv::raft
