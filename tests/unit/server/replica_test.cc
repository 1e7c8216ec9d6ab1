// replica_test.cc — the Replica (server/replica.h) driven with fake ports
// and a fake clock: no sockets, no threads, no sleeping. A small cluster of
// replicas exchanges its messages through a fake network that can cut links.
#include "server/replica.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "raft/message_codec.h"

namespace raftkv::server {
namespace {

using raft::NodeId;
using namespace std::chrono_literals;

constexpr int kTickMs = 50;

// Acknowledges persist jobs when told to, in order.
class FakeDisk final : public DiskPort {
public:
    void persist(PersistJob job, Done done) override {
        jobs_.push_back({std::move(job), std::move(done)});
    }
    void save_snapshot(raft::SnapshotMeta, std::string, Done done) override {
        // The tests never pass snapshot_log_bytes: a snapshot fails, harmlessly.
        done(PersistResult{.status = Status::error(Code::kIoError, "no snapshots in this test")},
             Now{});
    }
    std::uint64_t bytes_on_disk() const override { return 0; }

    bool has_jobs() const { return !jobs_.empty(); }
    std::size_t job_count() const { return jobs_.size(); }
    // Every job queued so far becomes durable.
    void sync_all(Now now) {
        std::deque<Job> jobs = std::move(jobs_);
        jobs_.clear();
        for (Job& j : jobs) j.done(PersistResult{.status = Status::ok()}, now);
    }
    // The next job finds the disk full and is handed back.
    void fail_next_disk_full(Now now) {
        Job j = std::move(jobs_.front());
        jobs_.pop_front();
        j.done(PersistResult{.status = Status::error(Code::kDiskFull, "no space left on device"),
                             .job = std::move(j.job)},
               now);
    }

private:
    struct Job {
        PersistJob job;
        Done done;
    };
    std::deque<Job> jobs_;
};

struct Network;

class FakeOutbox final : public Outbox {
public:
    FakeOutbox(Network* net, NodeId self) : net_(net), self_(self) {}
    void send(const raft::Message& m) override;
    void set_peers(std::vector<NodeAddress> peers) override { peers_ = std::move(peers); }

    std::vector<NodeAddress> peers_;

private:
    Network* net_;
    NodeId self_;
};

// Clients by id; a reply is recorded when its slot is finished.
class FakeClients final : public ClientPort {
public:
    bool is_connected(std::uint64_t client) const override { return !gone.contains(client); }
    std::string* reply_buffer(ReplyTarget to) override {
        if (!is_connected(to.client)) return nullptr;
        return &writing_[{to.client, to.slot}];
    }
    void finish(ReplyTarget to) override {
        auto it = writing_.find({to.client, to.slot});
        replies[{to.client, to.slot}] = it->second;
        writing_.erase(it);
    }
    void pause_requests(std::uint64_t client) override { paused.insert(client); }
    void resume_requests(std::uint64_t client) override { paused.erase(client); }
    bool run_connection_command(ReplyTarget, std::string_view, std::vector<std::string>&) override {
        return false;
    }

    // The reply to `to`, or "" while there is none.
    std::string reply(ReplyTarget to) const {
        auto it = replies.find({to.client, to.slot});
        return it == replies.end() ? "" : it->second;
    }

    std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> replies;
    std::set<std::uint64_t> paused;
    std::set<std::uint64_t> gone;

private:
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> writing_;
};

class FakeHost final : public HostPort {
public:
    void post_pump() override { is_pump_posted = true; }
    void retry_persist_after(std::chrono::milliseconds delay) override { retry_after = delay; }
    void send_join_request(JoinRequest request) override {
        join_requests.push_back(std::move(request));
    }
    void stop(Status why) override { stopped = std::move(why); }
    void check_shutdown_done() override {}
    HostInfo host_info() const override { return HostInfo{}; }

    bool is_pump_posted = false;
    std::optional<std::chrono::milliseconds> retry_after;
    std::vector<JoinRequest> join_requests;
    std::optional<Status> stopped;
};

NodeAddress address(std::uint64_t id) {
    return NodeAddress{NodeId(id), "127.0.0.1", static_cast<std::uint16_t>(7000 + id),
                       static_cast<std::uint16_t>(17000 + id)};
}

// One server: a replica and its fakes.
struct Member {
    Member(Network* net, ReplicaOptions options, raft::Membership founding)
        : outbox(net, options.self.id) {
        ReplicaState initial{.state = kv::StateMachine(),
                             .storage = std::make_unique<RaftStorage>(),
                             .hard_state = raft::HardState{},
                             .applied = raft::Index(0),
                             .founding = std::move(founding)};
        replica = std::make_unique<Replica>(
            std::move(options), std::move(initial),
            ReplicaPorts{.disk = &disk, .outbox = &outbox, .clients = &clients, .host = &host});
    }
    FakeDisk disk;
    FakeOutbox outbox;
    FakeClients clients;
    FakeHost host;
    std::unique_ptr<Replica> replica;
};

struct Network {
    struct Envelope {
        NodeId from;
        NodeId to;
        std::string payload;
    };
    std::deque<Envelope> in_flight;
    std::set<std::pair<NodeId, NodeId>> cut;  // (from, to) pairs that drop messages
};

void FakeOutbox::send(const raft::Message& m) {
    net_->in_flight.push_back({self_, m.to, raft::encode_message(m)});
}

// A cluster of replicas on a fake clock; every disk syncs at once unless
// a test holds it.
class Cluster {
public:
    explicit Cluster(int size, std::optional<JoinTarget> join = std::nullopt) {
        raft::Membership founding;
        std::vector<NodeAddress> addresses;
        for (int i = 1; i <= size; ++i) {
            founding.voters.insert(NodeId(i));
            addresses.push_back(address(i));
        }
        for (int i = 1; i <= size; ++i) {
            ReplicaOptions options{.self = address(i),
                                   .cluster = addresses,
                                   .join = join,
                                   .tick_ms = kTickMs,
                                   .seed = static_cast<std::uint64_t>(i)};
            members_.emplace(i, std::make_unique<Member>(&net_, std::move(options),
                                                         join ? raft::Membership{} : founding));
        }
        for (auto& [id, m] : members_) m->replica->start(now_of(id));
        settle();
    }

    // Starts a fresh server `id` that asks `target` to add it (--join).
    void add_joiner(int id, JoinTarget target) {
        ReplicaOptions options{.self = address(id),
                               .cluster = {address(id)},
                               .join = std::move(target),
                               .tick_ms = kTickMs,
                               .seed = static_cast<std::uint64_t>(id)};
        auto [it, inserted] = members_.emplace(
            id, std::make_unique<Member>(&net_, std::move(options), raft::Membership{}));
        ASSERT_TRUE(inserted);
        it->second->replica->start(now_of(id));
        settle();
    }

    Member& operator[](int id) { return *members_.at(id); }
    Replica& replica(int id) { return *members_.at(id)->replica; }
    Now now() const { return now_; }
    // Server `id`'s clock: the cluster's, its wall clock off by set_skew's.
    Now now_of(int id) const {
        Now n = now_;
        if (auto it = skew_.find(id); it != skew_.end()) n.wall += it->second;
        return n;
    }
    void set_skew(int id, std::chrono::milliseconds skew) { skew_[id] = skew; }
    // Moves the clocks on without a tick (no timer of the replicas runs).
    void advance_clock(std::chrono::milliseconds d) {
        now_.steady += d;
        now_.wall += d;
    }

    // Runs pumps, syncs and deliveries until nothing moves.
    void settle() {
        for (bool moved = true; moved;) {
            moved = false;
            for (auto& [id, m] : members_) {
                if (m->host.is_pump_posted) {
                    m->host.is_pump_posted = false;
                    m->replica->pump(now_of(id));
                    moved = true;
                }
                if (m->disk.has_jobs() && !held_disks_.contains(id)) {
                    m->disk.sync_all(now_of(id));
                    moved = true;
                }
            }
            std::deque<Network::Envelope> batch = std::move(net_.in_flight);
            net_.in_flight.clear();
            for (Network::Envelope& e : batch) {
                moved = true;
                if (net_.cut.contains({e.from, e.to})) continue;
                members_.at(static_cast<int>(e.to.value))
                    ->replica->on_peer_message(e.from, e.payload);
            }
        }
    }

    void tick(int ticks = 1) {
        for (int i = 0; i < ticks; ++i) {
            now_.steady += std::chrono::milliseconds(kTickMs);
            now_.wall += std::chrono::milliseconds(kTickMs);
            for (auto& [id, m] : members_) m->replica->tick(now_of(id));
            settle();
        }
    }

    // Ticks until some replica leads; returns its id.
    int elect() {
        for (int i = 0; i < 200; ++i) {
            for (auto& [id, m] : members_) {
                if (m->replica->node().role() == raft::Role::kLeader) return id;
            }
            tick();
        }
        ADD_FAILURE() << "no leader after 200 ticks";
        return 0;
    }

    // Drops every message between `id` and the others, both ways.
    void isolate(int id) {
        for (auto& [other, m] : members_) {
            if (other == id) continue;
            net_.cut.insert({NodeId(id), NodeId(other)});
            net_.cut.insert({NodeId(other), NodeId(id)});
        }
    }
    void cut(int from, int to) {
        net_.cut.insert({NodeId(from), NodeId(to)});
        net_.cut.insert({NodeId(to), NodeId(from)});
    }
    void heal() { net_.cut.clear(); }
    void drop_one_way(int from, int to) { net_.cut.insert({NodeId(from), NodeId(to)}); }
    void hold_disk(int id) { held_disks_.insert(id); }
    void release_disk(int id) {
        held_disks_.erase(id);
        settle();
    }

    // Sends one request from `client` on `node`; returns where its reply goes.
    ReplyTarget request(int node, std::uint64_t client, std::vector<std::string> args) {
        const ReplyTarget to{.client = client, .slot = next_slot_[client]++};
        replica(node).on_request(to, args, now_of(node));
        settle();
        return to;
    }

private:
    Network net_;
    std::map<int, std::unique_ptr<Member>> members_;
    std::set<int> held_disks_;
    std::map<std::uint64_t, std::uint64_t> next_slot_;
    Now now_{.steady = 1000s, .wall = 1'700'000'000'000ms};
    std::map<int, std::chrono::milliseconds> skew_;
};

TEST(Replica, SingleNodeProposesPersistsAppliesAndAnswers) {
    Cluster c(1);
    ASSERT_EQ(c.elect(), 1);
    c.hold_disk(1);
    const ReplyTarget set = c.request(1, 7, {"SET", "k", "v"});
    // Proposed, not yet durable: no answer.
    EXPECT_EQ(c[1].clients.reply(set), "");
    EXPECT_EQ(c.replica(1).pending_write_count(), 1u);
    c.release_disk(1);
    EXPECT_EQ(c[1].clients.reply(set), "+OK\r\n");
    EXPECT_EQ(c.replica(1).pending_write_count(), 0u);
    const ReplyTarget get = c.request(1, 7, {"GET", "k"});
    EXPECT_EQ(c[1].clients.reply(get), "$1\r\nv\r\n");
}

// Issue 11, item 7: RAFTKV.* entries are proposed by servers only. A client
// that sends one, alone, through SESSION RUN or in any case, is refused and
// nothing reaches the log: the address table stays as the servers wrote it.
TEST(Replica, ClientsCannotSendInternalCommands) {
    Cluster c(3);
    const int leader = c.elect();
    ASSERT_GT(leader, 0);
    const auto addresses = c.replica(leader).state().addresses();
    const std::uint64_t applied = c.replica(leader).state().last_index();
    const std::vector<std::vector<std::string>> attempts = {
        {"RAFTKV.ADDRESS", "2", "10.9.9.9", "7002", "17002"},
        {"raftkv.address", "2", "remove"},
        {"RaftKV.Expire", "10"},
        {"RAFTKV.CLOCK"},
    };
    for (const std::vector<std::string>& args : attempts) {
        SCOPED_TRACE(args[0]);
        const ReplyTarget to = c.request(leader, 7, args);
        EXPECT_EQ(c[leader].clients.reply(to),
                  "-ERR '" + args[0] +
                      "' is internal to raftkv: only its servers propose it, clients cannot "
                      "send it\r\n");
    }
    const ReplyTarget wrapped =
        c.request(leader, 7, {"SESSION", "RUN", "1", "1", "RAFTKV.ADDRESS", "2", "remove"});
    EXPECT_EQ(c[leader].clients.reply(wrapped),
              "-ERR 'RAFTKV.ADDRESS' is internal to raftkv: only its servers propose it, clients "
              "cannot send it\r\n");
    EXPECT_EQ(c.replica(leader).state().last_index(), applied) << "nothing was logged";
    EXPECT_EQ(c.replica(leader).state().addresses(), addresses);
    const int follower = leader == 1 ? 2 : 1;
    const ReplyTarget on_follower = c.request(follower, 7, {"RAFTKV.ADDRESS", "2", "remove"});
    EXPECT_EQ(c[follower].clients.reply(on_follower).substr(0, 22), "-ERR 'RAFTKV.ADDRESS' ")
        << "refused, not redirected to the leader";
}

TEST(Replica, ReadWaitsForTheSameClientsEarlierWrite) {
    Cluster c(1);
    ASSERT_EQ(c.elect(), 1);
    c.request(1, 7, {"SET", "k", "old"});
    c.hold_disk(1);
    const ReplyTarget set = c.request(1, 7, {"SET", "k", "new"});
    const ReplyTarget get = c.request(1, 7, {"GET", "k"});
    // The GET waits for the SET before it, and the client sends nothing more.
    EXPECT_EQ(c[1].clients.reply(get), "");
    EXPECT_TRUE(c[1].clients.paused.contains(7));
    // Another client's read does not wait: it sees what was applied.
    const ReplyTarget other = c.request(1, 8, {"GET", "k"});
    EXPECT_EQ(c[1].clients.reply(other), "$3\r\nold\r\n");
    c.release_disk(1);
    EXPECT_EQ(c[1].clients.reply(set), "+OK\r\n");
    EXPECT_EQ(c[1].clients.reply(get), "$3\r\nnew\r\n");
    EXPECT_FALSE(c[1].clients.paused.contains(7));
}

// raft/ready.h, must_sync: a Ready whose only change is the commit index
// is handed to the disk without a sync and without waiting for it. A
// follower that holds an entry learns its commit while its disk is busy,
// and applies it at once (READONLY reads see it).
TEST(Replica, CommitOnlyReadyIsAppliedWithoutWaitingForTheDisk) {
    Cluster c(3);
    const int leader = c.elect();
    const int follower = leader == 1 ? 2 : 1;
    const int other = 6 - leader - follower;
    // The follower gets the entry and persists it, but its acknowledgement
    // is lost and the third server is cut off: nothing commits yet.
    c.isolate(other);
    c.drop_one_way(follower, leader);
    const ReplyTarget set = c.request(leader, 7, {"SET", "k", "v"});
    EXPECT_EQ(c[leader].clients.reply(set), "");
    const raft::Index index = c.replica(leader).node().log().last_index();
    ASSERT_EQ(c.replica(follower).node().log().last_index(), index);
    ASSERT_LT(c.replica(follower).node().log().committed(), index);

    // The third server is back and acknowledges; the leader commits and
    // tells the follower, whose disk is now busy.
    c.hold_disk(follower);
    c.heal();
    c.drop_one_way(follower, leader);
    c.tick(2);
    EXPECT_EQ(c[leader].clients.reply(set), "+OK\r\n");
    EXPECT_GE(c.replica(follower).node().log().committed(), index);
    EXPECT_GE(c.replica(follower).node().log().applied(), index);
    EXPECT_TRUE(c[follower].disk.has_jobs()) << "the commit index record waits for a sync";
    c.request(follower, 8, {"READONLY"});
    const ReplyTarget get = c.request(follower, 8, {"GET", "k"});
    EXPECT_EQ(c[follower].clients.reply(get), "$1\r\nv\r\n");
}

// docs/expiry.md: a leader read runs at the leader's clock, but not past
// the time of an entry the leader proposed before and has not applied:
// that entry may change the key. Here PERSIST (stamped before the
// deadline) is in flight when a GET arrives after the deadline; the GET
// must see the key, or the PERSIST's :1 and the later GET contradict it.
TEST(Replica, ALeaderReadDoesNotRunPastItsOwnUnappliedWrites) {
    Cluster c(1);
    ASSERT_EQ(c.elect(), 1);
    c.request(1, 7, {"SET", "k", "v", "PX", "100"});
    c.advance_clock(50ms);
    c.hold_disk(1);
    const ReplyTarget persist = c.request(1, 7, {"PERSIST", "k"});
    c.advance_clock(150ms);  // past the deadline by the clock
    const ReplyTarget get = c.request(1, 8, {"GET", "k"});
    EXPECT_EQ(c[1].clients.reply(get), "$1\r\nv\r\n");
    c.release_disk(1);
    EXPECT_EQ(c[1].clients.reply(persist), ":1\r\n");
    const ReplyTarget again = c.request(1, 8, {"GET", "k"});
    EXPECT_EQ(c[1].clients.reply(again), "$1\r\nv\r\n");
}

// docs/expiry.md: a leadership transfer first logs the leader's clock, so
// a target whose clock is behind does not see alive a key the old leader's
// reads saw expired.
TEST(Replica, ATransferCarriesTheLeadersClockToItsTarget) {
    Cluster c(3);
    const int leader = c.elect();
    const int target = leader == 1 ? 2 : 1;
    c.set_skew(target, -300ms);
    c.request(leader, 7, {"SET", "k", "v", "PX", "1000"});
    c.advance_clock(1100ms);
    EXPECT_EQ(c[leader].clients.reply(c.request(leader, 8, {"GET", "k"})), "$-1\r\n");
    const ReplyTarget transfer =
        c.request(leader, 9, {"RAFT", "TRANSFER-LEADER", std::to_string(target)});
    EXPECT_EQ(c[leader].clients.reply(transfer), "+OK\r\n");
    ASSERT_EQ(c.replica(target).node().role(), raft::Role::kLeader);
    EXPECT_EQ(c[target].clients.reply(c.request(target, 8, {"GET", "k"})), "$-1\r\n")
        << "the target's clock is 200 ms before the deadline, its log time past it";
}

TEST(Replica, FollowerRedirectsToTheLeader) {
    Cluster c(3);
    const int leader = c.elect();
    const int follower = leader == 1 ? 2 : 1;
    const ReplyTarget to = c.request(follower, 7, {"SET", "k", "v"});
    EXPECT_EQ(c[follower].clients.reply(to),
              fmt::format("-MOVED 0 127.0.0.1:{}\r\n", 7000 + leader));
}

TEST(Replica, WriteWhoseIndexAnotherTermTookIsAnsweredTryAgain) {
    Cluster c(3);
    const int old_leader = c.elect();
    c.isolate(old_leader);
    const ReplyTarget set = c.request(old_leader, 7, {"SET", "k", "lost"});
    EXPECT_EQ(c[old_leader].clients.reply(set), "");
    // The others elect a leader of a later term, whose first entry takes the
    // SET's index.
    int new_leader = 0;
    for (int i = 0; i < 200 && new_leader == 0; ++i) {
        c.tick();
        for (int id = 1; id <= 3; ++id) {
            if (id != old_leader && c.replica(id).node().role() == raft::Role::kLeader) {
                new_leader = id;
            }
        }
    }
    ASSERT_NE(new_leader, 0);
    c.heal();
    c.tick(5);
    EXPECT_EQ(c.replica(old_leader).node().leader(), NodeId(new_leader));
    EXPECT_EQ(c[old_leader].clients.reply(set),
              "-TRYAGAIN the write was not applied: the leader changed before it committed\r\n");
    const ReplyTarget get = c.request(new_leader, 8, {"GET", "k"});
    c.tick();
    EXPECT_EQ(c[new_leader].clients.reply(get), "$-1\r\n");
}

TEST(Replica, DiskFullRefusesWritesAndRetriesTheJob) {
    Cluster c(1);
    ASSERT_EQ(c.elect(), 1);
    c.hold_disk(1);
    const ReplyTarget set = c.request(1, 7, {"SET", "k", "v"});
    c[1].disk.fail_next_disk_full(c.now());
    EXPECT_EQ(c[1].host.retry_after, kDiskFullRetryDelay);
    const ReplyTarget refused = c.request(1, 8, {"SET", "k2", "v"});
    EXPECT_EQ(c[1].clients.reply(refused),
              "-ERR write not applied: disk full: no space left on device\r\n");
    c.replica(1).retry_persist(c.now());
    c.release_disk(1);
    EXPECT_EQ(c[1].clients.reply(set), "+OK\r\n");
}

TEST(Replica, JoinRequestIsSentAndRetriedAfterItsDelay) {
    Cluster c(1, JoinTarget{.host = "127.0.0.1", .port = 7009});
    Member& m = c[1];
    ASSERT_EQ(m.host.join_requests.size(), 1u);
    EXPECT_EQ(m.host.join_requests[0].host, "127.0.0.1");
    EXPECT_EQ(m.host.join_requests[0].port, 7009);
    EXPECT_EQ(m.host.join_requests[0].args,
              (std::vector<std::string>{"RAFT", "ADDNODE", "1", "127.0.0.1:7001@17001"}));
    // A refused connection: asked again kJoinAttemptDelay later, not before.
    EXPECT_EQ(m.host.join_requests[0].seq, 1u);
    c.replica(1).on_join_reply(1, Status::error(Code::kIoError, "connection refused"), c.now());
    c.tick(static_cast<int>(kJoinAttemptDelay / std::chrono::milliseconds(kTickMs)) - 1);
    EXPECT_EQ(m.host.join_requests.size(), 1u);
    c.tick();
    ASSERT_EQ(m.host.join_requests.size(), 2u);
    EXPECT_EQ(m.host.join_requests[1].seq, 2u);
    // The leader answers with the members: they become the peers.
    resp::Reply members{.type = resp::Reply::Type::kArray};
    members.elements.push_back(
        resp::Reply{.type = resp::Reply::Type::kBulk, .str = "2=127.0.0.1:7002@17002"});
    members.elements.push_back(
        resp::Reply{.type = resp::Reply::Type::kBulk, .str = "1=127.0.0.1:7001@17001"});
    c.replica(1).on_join_reply(2, members, c.now());
    EXPECT_EQ(m.outbox.peers_, (std::vector<NodeAddress>{address(2)}));
    // No leader reached us within kJoinRetryDelay: ask again.
    c.tick(static_cast<int>(kJoinRetryDelay / std::chrono::milliseconds(kTickMs)) - 1);
    EXPECT_EQ(m.host.join_requests.size(), 2u);
    c.tick();
    EXPECT_EQ(m.host.join_requests.size(), 3u);
    EXPECT_FALSE(m.host.stopped.has_value());
}

TEST(Replica, FirstJoinRefusedStopsTheServer) {
    Cluster c(1, JoinTarget{.host = "127.0.0.1", .port = 7009});
    c.replica(1).on_join_reply(
        1, resp::Reply{.type = resp::Reply::Type::kError, .str = "ERR cannot add node 1: x"},
        c.now());
    ASSERT_TRUE(c[1].host.stopped.has_value());
    EXPECT_NE(c[1].host.stopped->to_string().find("joining through 127.0.0.1:7009"),
              std::string::npos);
}

int ticks_in(std::chrono::milliseconds d) {
    return static_cast<int>(d / std::chrono::milliseconds(kTickMs));
}

TEST(Replica, JoinRequestWithNoReplyTimesOutAndALateReplyIsIgnored) {
    Cluster c(1, JoinTarget{.host = "127.0.0.1", .port = 7009});
    Member& m = c[1];
    ASSERT_EQ(m.host.join_requests.size(), 1u);
    // The request hangs: it counts as failed kJoinRequestTimeout after it
    // was sent, and the next attempt goes kJoinAttemptDelay later.
    c.tick(ticks_in(kJoinRequestTimeout) - 1);
    EXPECT_EQ(m.host.join_requests.size(), 1u);
    c.tick(1 + ticks_in(kJoinAttemptDelay));
    ASSERT_EQ(m.host.join_requests.size(), 2u);
    EXPECT_EQ(m.host.join_requests[1].seq, 2u);
    // The first request's reply comes at last: not the request out now.
    resp::Reply members{.type = resp::Reply::Type::kArray};
    members.elements.push_back(
        resp::Reply{.type = resp::Reply::Type::kBulk, .str = "2=127.0.0.1:7002@17002"});
    c.replica(1).on_join_reply(1, members, c.now());
    EXPECT_TRUE(m.outbox.peers_.empty());
    c.replica(1).on_join_reply(1, Status::error(Code::kIoError, "connection reset"), c.now());
    c.tick(ticks_in(kJoinAttemptDelay));
    EXPECT_EQ(m.host.join_requests.size(), 2u) << "the late failure started no attempt";
    // The second one hangs too, past kJoinPatienceFirst: the server gives up.
    EXPECT_FALSE(m.host.stopped.has_value());
    c.tick(ticks_in(kJoinRequestTimeout));
    ASSERT_TRUE(m.host.stopped.has_value());
    EXPECT_NE(m.host.stopped->to_string().find("no reply in 15 s"), std::string::npos)
        << m.host.stopped->to_string();
}

TEST(Replica, FailedJoinAttemptsDoNotStopAServerALeaderReached) {
    Cluster c(1);
    ASSERT_EQ(c.elect(), 1);
    c.add_joiner(2, JoinTarget{.host = "127.0.0.1", .port = 7001});
    Member& joiner = c[2];
    ASSERT_EQ(joiner.host.join_requests.size(), 1u);
    // The leader adds it (as the joiner's request asked), but the reply is
    // lost: the leader's append reaches the joiner while its request is out.
    const ReplyTarget add = c.request(1, 7, {"RAFT", "ADDNODE", "2", "127.0.0.1:7002@17002"});
    EXPECT_EQ(c[1].clients.reply(add).substr(0, 1), "*") << c[1].clients.reply(add);
    c.tick(2);
    ASSERT_GT(c.replica(2).node().log().last_index(), raft::Index(0));
    // Every attempt fails from now on, past kJoinPatienceFirst.
    std::size_t answered = 0;
    for (int i = 0; i < ticks_in(kJoinPatienceFirst) + 20; ++i) {
        while (answered < joiner.host.join_requests.size()) {
            c.replica(2).on_join_reply(joiner.host.join_requests[answered++].seq,
                                       Status::error(Code::kIoError, "connection reset"), c.now());
        }
        c.tick();
    }
    EXPECT_FALSE(joiner.host.stopped.has_value()) << joiner.host.stopped->to_string();
    EXPECT_EQ(joiner.host.join_requests.size(), 1u) << "a member asks no more";
    EXPECT_EQ(c.replica(2).node().leader(), NodeId(1));
}

TEST(Replica, ShutdownHandsLeadershipToTheMostUpToDateVoter) {
    Cluster c(3);
    const int leader = c.elect();
    const int lagging = leader == 3 ? 2 : 3;
    const int ahead = 6 - leader - lagging;
    c.cut(leader, lagging);
    for (int i = 0; i < 5; ++i) c.request(leader, 7, {"SET", "k", std::to_string(i)});
    c.tick();
    c.replica(leader).begin_shutdown(/*hand_over=*/true, c.now());
    EXPECT_FALSE(c.replica(leader).is_idle(c.now())) << "waits for the hand-over";
    c.tick(3);
    EXPECT_EQ(c.replica(ahead).node().role(), raft::Role::kLeader);
    EXPECT_TRUE(c.replica(leader).is_idle(c.now()));
}

}  // namespace
}  // namespace raftkv::server
