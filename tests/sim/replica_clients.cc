// replica_clients.cc — the simulated clients of a ReplicaCluster
// (replica_cluster.h): operations sent as real commands through
// Replica::on_request, their RESP replies read back, -MOVED followed within
// an operation, the history recorded, and the check that error replies
// never lie about a write.
//
// Outcomes: a reply from applying the command (+OK, a value, nil, an
// integer, INCRBY's not-an-integer error) is ok; -MOVED (after the last
// redirect followed), -CLUSTERDOWN, -TRYAGAIN and "write not applied" are
// failed; -UNCERTAIN, a timeout, or the server crashing before it answered
// is unknown. Any other reply fails the run: it is a reply no client expects.
// A session client's write (replica_cluster.h, "Sessions") is sent again
// after a doubt instead of ending unknown.
#include <fmt/format.h>

#include <algorithm>

#include "resp/reply_parser.h"
#include "sim/replica_cluster.h"
#include "sim/replica_node.h"

namespace raftkv::sim {

using raft::NodeId;

// At most this many -MOVED are followed in one operation (two stale
// leaders may point at each other).
constexpr int kRedirectsMax = 3;
// Values kept per key for recent_values().
constexpr std::size_t kRecentValuesMax = 8;
// A session client gives up on an attempt unanswered this long and sends
// the same (id, seq) again elsewhere.
constexpr SimTime kSessionAttemptTicks = 40;

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

// "MOVED 0 10.0.0.3:7003" -> node 3 (ports are 7000 + id).
std::optional<NodeId> moved_target(std::string_view error) {
    const std::size_t colon = error.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const int port = std::atoi(std::string(error.substr(colon + 1)).c_str());
    if (port <= 7000 || port > 7000 + static_cast<int>(kReplicaNodeIdMax)) return std::nullopt;
    return NodeId(static_cast<std::uint64_t>(port - 7000));
}

std::string describe(const std::vector<std::string>& args) {
    std::string s;
    for (const std::string& a : args) s += (s.empty() ? "" : " ") + a;
    return s;
}

}  // namespace

std::string ReplicaCluster::next_tag(std::string_view prefix) {
    return fmt::format("{}{}", prefix, ++next_tag_);
}

ClientOpId ReplicaCluster::client_set(std::uint64_t client, std::string key) {
    return start_op(Operation{.client = client, .kind = OpKind::kSet, .key = std::move(key)},
                    std::nullopt);
}

ClientOpId ReplicaCluster::client_set_nx(std::uint64_t client, std::string key) {
    return start_op(Operation{.client = client,
                              .kind = OpKind::kCas,
                              .key = std::move(key),
                              .expected = std::nullopt},
                    std::nullopt);
}

ClientOpId ReplicaCluster::client_set_ifeq(std::uint64_t client, std::string key,
                                           std::string expected) {
    Operation rec{
        .client = client, .kind = OpKind::kCas, .key = std::move(key), .expected = expected};
    return start_op(std::move(rec), std::move(expected));
}

ClientOpId ReplicaCluster::client_incr(std::uint64_t client, std::string key) {
    return start_op(Operation{.client = client, .kind = OpKind::kIncr, .key = std::move(key)},
                    std::nullopt);
}

ClientOpId ReplicaCluster::client_del(std::uint64_t client, std::string key) {
    return start_op(Operation{.client = client, .kind = OpKind::kDel, .key = std::move(key)},
                    std::nullopt);
}

ClientOpId ReplicaCluster::client_get(std::uint64_t client, std::string key) {
    return start_op(Operation{.client = client, .kind = OpKind::kGet, .key = std::move(key)},
                    std::nullopt);
}

bool ReplicaCluster::client_busy(std::uint64_t client) const {
    return busy_clients_.contains(client);
}

bool ReplicaCluster::is_done(ClientOpId id) const { return ops_.at(id - 1)->done; }

const Operation& ReplicaCluster::op(ClientOpId id) const { return ops_.at(id - 1)->rec; }

std::size_t ReplicaCluster::pending_ops() const { return busy_clients_.size(); }

History ReplicaCluster::history() const {
    History h{.time_unit = TimeUnit::kTicks};
    for (const auto& op : ops_) {
        Operation rec = op->rec;
        if (!op->done) {
            rec.outcome = Outcome::kUnknown;
            rec.reply = {};
            rec.return_time = kNeverReturned;
        }
        h.ops.push_back(std::move(rec));
    }
    return h;
}

const std::vector<std::string>& ReplicaCluster::recent_values(const std::string& key) const {
    static const std::vector<std::string> kNone;
    auto it = recent_values_.find(key);
    return it == recent_values_.end() ? kNone : it->second;
}

ClientOpId ReplicaCluster::start_op(Operation rec, std::optional<std::string> ifeq) {
    RAFTKV_ASSERT(!client_busy(rec.client), "client {} is busy", rec.client);
    auto op = std::make_unique<ClientOp>();
    op->id = ops_.size() + 1;
    op->rec = std::move(rec);
    op->rec.call_time = static_cast<std::int64_t>(now_);
    op->ifeq = std::move(ifeq);
    op->deadline = now_ + static_cast<SimTime>(options_.client_timeout_ticks) * kTickTime;
    op->session = options_.sessions && op->rec.client % 2 == 1 && op->rec.kind != OpKind::kGet;
    ClientOp& ref = *op;
    ops_.push_back(std::move(op));
    busy_clients_.emplace(ref.rec.client, ref.id);
    // The server the client last heard leads, else any.
    NodeId to;
    if (auto it = leader_hint_.find(ref.rec.client); it != leader_hint_.end()) {
        to = it->second;
    } else {
        to = NodeId(rng_.uniform(1, nodes_.size()));
    }
    send_attempt(ref, to);
    return ref.id;
}

// A fresh tag per attempt: an attempt answered "not applied" must not be
// confused with a later one of the same operation that was.
std::vector<std::string> ReplicaCluster::next_attempt_args(ClientOp& op) {
    Operation& r = op.rec;
    switch (r.kind) {
        case OpKind::kGet:
            return {"GET", r.key};
        case OpKind::kSet:
        case OpKind::kCas: {
            r.value = next_tag("v");
            std::vector<std::string>& recent = recent_values_[r.key];
            recent.push_back(r.value);
            if (recent.size() > kRecentValuesMax) recent.erase(recent.begin());
            if (r.kind == OpKind::kSet) return {"SET", r.key, r.value};
            if (op.ifeq) return {"SET", r.key, r.value, "IFEQ", *op.ifeq};
            return {"SET", r.key, r.value, "NX"};
        }
        case OpKind::kIncr:
            r.delta = static_cast<std::int64_t>(++next_tag_);
            return {"INCRBY", r.key, std::to_string(r.delta)};
        case OpKind::kDel:
            // The extra key is never set: the reply counts only r.key.
            return {"DEL", r.key, next_tag("~d")};
    }
    return {};
}

// A session write: SESSION REGISTER while the client has no session, then
// the same SESSION RUN <id> <seq> <command> on every attempt.
std::vector<std::string> ReplicaCluster::attempt_args(ClientOp& op) {
    if (!op.session) return next_attempt_args(op);
    auto s = sessions_.find(op.rec.client);
    op.registering = s == sessions_.end();
    if (op.registering) return {"SESSION", "REGISTER"};
    if (op.run_args.empty()) {
        auto& [id, last_seq] = s->second;
        op.run_args = {"SESSION", "RUN", std::to_string(id), std::to_string(++last_seq)};
        for (std::string& arg : next_attempt_args(op)) op.run_args.push_back(std::move(arg));
    }
    return op.run_args;
}

void ReplicaCluster::send_attempt(ClientOp& op, NodeId to) {
    auto a = std::make_unique<Attempt>();
    a->op = op.id;
    a->args = attempt_args(op);
    // The written value, increment or extra key: args[2] of the command.
    if (op.rec.kind != OpKind::kGet && !op.registering) a->tag = a->args[op.session ? 6 : 2];
    a->at = to;
    op.attempt = a.get();
    attempts_.push_back(std::move(a));
    const SimTime arrive_at =
        now_ + rng_.uniform(options_.client_delay_min, options_.client_delay_max);
    op.attempt_deadline = arrive_at + kSessionAttemptTicks * kTickTime;
    requests_.emplace(arrive_at, PendingRequest{.op = op.id, .to = to});
}

// A session write in doubt is sent again, with the same (id, seq), to any
// server: the leader it tried may be gone.
void ReplicaCluster::retry_session_op(ClientOp& op) {
    RAFTKV_ASSERT(op.session && !op.done);
    ++counters_.session_retries;
    leader_hint_.erase(op.rec.client);
    op.redirects = 0;
    trace(fmt::format("c{} retries its session write", op.rec.client));
    send_attempt(op, NodeId(rng_.uniform(1, nodes_.size())));
}

// The operation ends without a reply that says what happened: failed if no
// attempt can have been applied, unknown otherwise.
void ReplicaCluster::finish_in_doubt(ClientOp& op) {
    finish_op(op, op.maybe_applied ? Outcome::kUnknown : Outcome::kFailed);
}

void ReplicaCluster::deliver_requests() {
    while (ok() && !requests_.empty() && requests_.begin()->first <= now_) {
        const PendingRequest r = requests_.begin()->second;
        requests_.erase(requests_.begin());
        ClientOp& op = *ops_.at(r.op - 1);
        if (op.done) continue;
        arrive(op, r.to);
    }
}

void ReplicaCluster::arrive(ClientOp& op, NodeId to) {
    Attempt& a = *op.attempt;
    auto it = nodes_.find(to);
    if (it == nodes_.end() || !it->second->replica) {
        // Connection refused: the request reached no server.
        a.verdict = Attempt::Verdict::kNotApplied;
        a.reply = "connection refused";
        leader_hint_.erase(op.rec.client);
        if (op.maybe_applied) return retry_session_op(op);
        finish_op(op, Outcome::kFailed);
        return;
    }
    Node& n = *it->second;
    // A new connection per attempt: a late reply to an attempt given up on
    // must not reach a later one.
    a.conn = next_conn_++;
    a.slot = 0;
    a.verdict = Attempt::Verdict::kPending;
    n.conns.insert(a.conn);
    ++counters_.requests;
    trace(fmt::format("c{} -> n{}: {}", op.rec.client, to.value, describe(a.args)));
    std::vector<std::string> args = a.args;
    n.replica->on_request(server::ReplyTarget{.client = a.conn, .slot = a.slot}, args, n.now());
    after_input(n);
}

// The replies n finished during the last input.
void ReplicaCluster::take_replies(Node& n) {
    std::vector<Node::Finished> replies = std::move(n.replies);
    n.replies.clear();
    for (Node::Finished& f : replies) {
        if (!ok()) return;
        // Connections are not reused: the attempt is the one on it.
        auto it = std::find_if(busy_clients_.begin(), busy_clients_.end(), [&](const auto& b) {
            const ClientOp& op = *ops_.at(b.second - 1);
            return op.attempt != nullptr && op.attempt->conn == f.to.client &&
                   op.attempt->verdict == Attempt::Verdict::kPending;
        });
        if (it == busy_clients_.end()) {
            take_admin_reply(n, f.to.client, f.bytes);
            continue;  // or an attempt already given up on
        }
        ClientOp& op = *ops_.at(it->second - 1);
        n.conns.erase(f.to.client);
        n.replica->on_client_closed(f.to.client);
        on_reply(op, *op.attempt, f.bytes);
    }
}

void ReplicaCluster::on_reply(ClientOp& op, Attempt& a, std::string_view bytes) {
    resp::ReplyParser parser;
    resp::Reply r;
    std::size_t consumed = 0;
    if (parser.parse(bytes, &consumed, &r) != resp::ParseStatus::kComplete ||
        consumed != bytes.size()) {
        fail(fmt::format("n{} answered {} with bytes that are not one RESP reply: {:?}", a.at.value,
                         describe(a.args), std::string(bytes)));
        return;
    }
    trace(fmt::format("c{} <- n{}: {}", op.rec.client, a.at.value,
                      r.type == resp::Reply::Type::kError
                          ? "-" + r.str
                          : std::string(resp::reply_type_name(r.type)) + " " + r.str));
    const OpKind kind = op.rec.kind;
    if (op.registering && (r.type != resp::Reply::Type::kError || !starts_with(r.str, "MOVED "))) {
        // SESSION REGISTER: an id, and then the write itself; or an error,
        // and the write was never sent.
        a.verdict = Attempt::Verdict::kAnswered;
        if (r.type == resp::Reply::Type::kInteger && r.integer > 0) {
            sessions_[op.rec.client] = {static_cast<std::uint64_t>(r.integer), 0};
            ++counters_.sessions_registered;
            send_attempt(op, a.at);
            return;
        }
        if (r.type == resp::Reply::Type::kError &&
            (starts_with(r.str, "CLUSTERDOWN") || starts_with(r.str, "TRYAGAIN") ||
             starts_with(r.str, "UNCERTAIN") || starts_with(r.str, "ERR write not applied"))) {
            leader_hint_.erase(op.rec.client);
            finish_in_doubt(op);
            return;
        }
        fail(fmt::format("n{} answered SESSION REGISTER with an unexpected reply: {}", a.at.value,
                         r.str));
        return;
    }
    if (r.type == resp::Reply::Type::kError) {
        const std::string& e = r.str;
        a.reply = e;
        if (starts_with(e, "MOVED ")) {
            a.verdict = Attempt::Verdict::kNotApplied;
            ++counters_.redirects;
            const std::optional<NodeId> to = moved_target(e);
            if (!to) {
                fail(fmt::format("n{} redirected to an unknown address: -{}", a.at.value, e));
                return;
            }
            leader_hint_[op.rec.client] = *to;
            if (op.redirects++ < kRedirectsMax) {
                send_attempt(op, *to);
            } else {
                finish_in_doubt(op);
            }
            return;
        }
        if (starts_with(e, "CLUSTERDOWN") || starts_with(e, "TRYAGAIN") ||
            starts_with(e, "ERR write not applied")) {
            a.verdict = Attempt::Verdict::kNotApplied;
            leader_hint_.erase(op.rec.client);
            // A session write in doubt keeps asking until it knows.
            if (op.maybe_applied) return retry_session_op(op);
            finish_op(op, Outcome::kFailed);
            return;
        }
        if (starts_with(e, "UNCERTAIN")) {
            a.verdict = Attempt::Verdict::kUnknown;
            leader_hint_.erase(op.rec.client);
            if (op.session) {
                op.maybe_applied = true;
                return retry_session_op(op);
            }
            finish_op(op, Outcome::kUnknown);
            return;
        }
        if (op.session && e.find("SESSIONEXPIRED") != std::string::npos) {
            fail(fmt::format("exactly once: n{} no longer knows the session of {}: -{}", a.at.value,
                             describe(a.args), e));
            return;
        }
        if (kind == OpKind::kIncr && (e.find("not an integer") != std::string::npos ||
                                      e.find("overflow") != std::string::npos)) {
            a.verdict = Attempt::Verdict::kAnswered;
            finish_op(op, Outcome::kOk, Reply{.kind = ReplyKind::kNotApplied});
            return;
        }
        fail(fmt::format("n{} answered {} with an unexpected error: -{}", a.at.value,
                         describe(a.args), e));
        return;
    }
    a.verdict = Attempt::Verdict::kAnswered;
    using T = resp::Reply::Type;
    std::optional<Reply> reply;
    switch (kind) {
        case OpKind::kGet:
            if (r.type == T::kBulk) reply = Reply{.kind = ReplyKind::kValue, .bytes = r.str};
            if (r.type == T::kNil) reply = Reply{.kind = ReplyKind::kNil};
            break;
        case OpKind::kSet:
            if (r.type == T::kSimple && r.str == "OK") reply = Reply{.kind = ReplyKind::kOk};
            break;
        case OpKind::kCas:
            if (r.type == T::kSimple && r.str == "OK") reply = Reply{.kind = ReplyKind::kOk};
            if (r.type == T::kNil) reply = Reply{.kind = ReplyKind::kNotApplied};
            break;
        case OpKind::kIncr:
        case OpKind::kDel:
            if (r.type == T::kInteger)
                reply = Reply{.kind = ReplyKind::kInteger, .integer = r.integer};
            break;
    }
    if (!reply) {
        fail(fmt::format("n{} answered {} with an unexpected {} reply", a.at.value,
                         describe(a.args), resp::reply_type_name(r.type)));
        return;
    }
    leader_hint_[op.rec.client] = a.at;
    finish_op(op, Outcome::kOk, std::move(*reply));
}

void ReplicaCluster::finish_op(ClientOp& op, Outcome outcome, Reply reply) {
    op.done = true;
    op.rec.outcome = outcome;
    op.rec.reply = outcome == Outcome::kOk ? std::move(reply) : Reply{};
    op.rec.return_time = static_cast<std::int64_t>(now_);
    busy_clients_.erase(op.rec.client);
    switch (outcome) {
        case Outcome::kOk:
            ++counters_.ops_ok;
            break;
        case Outcome::kFailed:
            ++counters_.ops_failed;
            break;
        case Outcome::kUnknown:
            ++counters_.ops_unknown;
            break;
    }
}

// Operations past their deadline: an attempt at a server ends unknown (its
// connection is closed), one still in transit is dropped and fails.
void ReplicaCluster::expire_ops() {
    std::vector<ClientOpId> due;
    std::vector<ClientOpId> resend;
    for (const auto& [client, id] : busy_clients_) {
        const ClientOp& op = *ops_.at(id - 1);
        if (op.deadline <= now_) {
            due.push_back(id);
        } else if (op.session && !op.registering &&
                   op.attempt->verdict == Attempt::Verdict::kPending &&
                   op.attempt_deadline <= now_) {
            resend.push_back(id);
        }
    }
    for (ClientOpId id : resend) {
        ClientOp& op = *ops_.at(id - 1);
        Attempt& a = *op.attempt;
        a.verdict = Attempt::Verdict::kUnknown;
        Node& n = node(a.at);
        if (n.replica && n.conns.erase(a.conn) > 0) n.replica->on_client_closed(a.conn);
        op.maybe_applied = true;
        retry_session_op(op);
    }
    for (ClientOpId id : due) {
        ClientOp& op = *ops_.at(id - 1);
        Attempt& a = *op.attempt;
        leader_hint_.erase(op.rec.client);
        if (a.verdict == Attempt::Verdict::kInTransit) {
            a.verdict = Attempt::Verdict::kNotApplied;
            a.reply = "given up before it was sent";
            finish_in_doubt(op);
            continue;
        }
        a.verdict = Attempt::Verdict::kUnknown;
        Node& n = node(a.at);
        if (n.replica && n.conns.erase(a.conn) > 0) n.replica->on_client_closed(a.conn);
        finish_op(op, op.registering ? Outcome::kFailed : Outcome::kUnknown);
    }
}

// n crashed: what waited there for a reply may or may not have happened.
std::uint64_t ReplicaCluster::admin(NodeId at, std::vector<std::string> args) {
    Node& n = node(at);
    RAFTKV_ASSERT(n.replica != nullptr, "admin request to node {}, which is down", at.value);
    admin_.push_back(AdminRequest{.at = at, .conn = next_conn_++});
    const std::uint64_t id = admin_.size();
    n.conns.insert(admin_.back().conn);
    trace(fmt::format("admin #{} -> n{}: {}", id, at.value, describe(args)));
    n.replica->on_request(server::ReplyTarget{.client = admin_.back().conn, .slot = 0}, args,
                          n.now());
    after_input(n);
    return id;
}

const std::optional<resp::Reply>& ReplicaCluster::admin_reply(std::uint64_t id) const {
    return admin_.at(id - 1).reply;
}

bool ReplicaCluster::admin_lost(std::uint64_t id) const { return admin_.at(id - 1).lost; }

bool ReplicaCluster::take_admin_reply(Node& n, std::uint64_t conn, std::string_view bytes) {
    auto it = std::find_if(admin_.begin(), admin_.end(), [&](const AdminRequest& a) {
        return a.conn == conn && a.at == n.id && !a.reply && !a.lost;
    });
    const bool is_join = std::any_of(join_waits_.begin(), join_waits_.end(),
                                     [&](const JoinMessage& j) { return j.conn == conn; });
    if (it == admin_.end() && !is_join) return false;
    n.conns.erase(conn);
    n.replica->on_client_closed(conn);
    resp::ReplyParser parser;
    resp::Reply r;
    std::size_t consumed = 0;
    if (parser.parse(bytes, &consumed, &r) != resp::ParseStatus::kComplete ||
        consumed != bytes.size()) {
        fail(fmt::format("n{} answered an admin request with bytes that are not one RESP reply",
                         n.id.value));
        return true;
    }
    if (is_join) {
        take_join_reply(n, conn, std::move(r));
        return true;
    }
    trace(fmt::format("admin #{} <- n{}: {}", it - admin_.begin() + 1, n.id.value,
                      r.type == resp::Reply::Type::kError ? "-" + r.str : std::string(bytes)));
    it->reply = std::move(r);
    return true;
}

NodeId ReplicaCluster::add_joiner(NodeId via) {
    const NodeId id(nodes_.rbegin()->first.value + 1);
    RAFTKV_ASSERT(id.value <= kReplicaNodeIdMax, "node ids run out at {}", id.value);
    ++counters_.faults;
    auto n = std::make_unique<Node>(this, id);
    // Addresses are 10.0.0.id:7000+id (replica_cluster.cc).
    n->join = server::JoinTarget{.host = fmt::format("10.0.0.{}", via.value),
                                 .port = static_cast<std::uint16_t>(7000 + via.value)};
    Node& ref = *n;
    nodes_.emplace(id, std::move(n));
    trace(fmt::format("n{} is new: joins through n{}", id.value, via.value));
    boot(ref);
    return id;
}

void ReplicaCluster::set_join_via(NodeId joiner, NodeId via) {
    Node& n = node(joiner);
    RAFTKV_ASSERT(n.join.has_value() && n.replica == nullptr,
                  "node {} is not a joiner that is down", joiner.value);
    n.join = server::JoinTarget{.host = fmt::format("10.0.0.{}", via.value),
                                .port = static_cast<std::uint16_t>(7000 + via.value)};
}

void ReplicaCluster::send_join(JoinMessage m) {
    const SimTime at = now_ + rng_.uniform(options_.client_delay_min, options_.client_delay_max);
    joins_.emplace(at, std::move(m));
}

void ReplicaCluster::deliver_joins() {
    while (ok() && !joins_.empty() && joins_.begin()->first <= now_) {
        JoinMessage m = std::move(joins_.begin()->second);
        joins_.erase(joins_.begin());
        if (m.answer) {
            Node& j = node(m.joiner);
            if (!j.replica || j.incarnation != m.incarnation) continue;
            j.replica->on_join_reply(m.seq, std::move(*m.answer), j.now());
            after_input(j);
            continue;
        }
        auto it = nodes_.find(m.to);
        if (it == nodes_.end() || !it->second->replica) {
            m.answer = Result<resp::Reply>(
                Status::errorf(Code::kIoError, "connect to n{}: connection refused", m.to.value));
            send_join(std::move(m));
            continue;
        }
        Node& n = *it->second;
        m.conn = next_conn_++;
        n.conns.insert(m.conn);
        trace(fmt::format("n{} join -> n{}: {}", m.joiner.value, n.id.value, describe(m.args)));
        std::vector<std::string> args = m.args;
        const std::uint64_t conn = m.conn;
        join_waits_.push_back(std::move(m));
        n.replica->on_request(server::ReplyTarget{.client = conn, .slot = 0}, args, n.now());
        after_input(n);
    }
}

void ReplicaCluster::take_join_reply(Node& n, std::uint64_t conn, resp::Reply r) {
    auto it = std::find_if(join_waits_.begin(), join_waits_.end(),
                           [&](const JoinMessage& j) { return j.conn == conn; });
    JoinMessage m = std::move(*it);
    join_waits_.erase(it);
    trace(fmt::format("n{} join <- n{}: {}", m.joiner.value, n.id.value,
                      r.type == resp::Reply::Type::kError ? "-" + r.str : "(reply)"));
    // The client library follows -MOVED to the leader.
    if (r.type == resp::Reply::Type::kError && starts_with(r.str, "MOVED") && m.redirects < 5) {
        if (const std::optional<NodeId> to = moved_target(r.str)) {
            m.to = *to;
            ++m.redirects;
            m.conn = 0;
            send_join(std::move(m));
            return;
        }
    }
    m.answer = Result<resp::Reply>(std::move(r));
    send_join(std::move(m));
}

void ReplicaCluster::lose_joins_on(Node& n) {
    for (auto it = join_waits_.begin(); it != join_waits_.end();) {
        if (it->to != n.id) {
            ++it;
            continue;
        }
        JoinMessage m = std::move(*it);
        it = join_waits_.erase(it);
        m.answer = Result<resp::Reply>(
            Status::errorf(Code::kIoError, "n{} closed the connection", m.to.value));
        send_join(std::move(m));
    }
}

void ReplicaCluster::lose_ops_on(Node& n) {
    lose_joins_on(n);
    for (AdminRequest& a : admin_) {
        if (a.at == n.id && !a.reply) a.lost = true;
    }
    std::vector<ClientOpId> lost;
    for (const auto& [client, id] : busy_clients_) {
        const ClientOp& op = *ops_.at(id - 1);
        if (op.attempt->at == n.id && op.attempt->verdict == Attempt::Verdict::kPending) {
            lost.push_back(id);
        }
    }
    for (ClientOpId id : lost) {
        ClientOp& op = *ops_.at(id - 1);
        op.attempt->verdict = Attempt::Verdict::kUnknown;
        leader_hint_.erase(op.rec.client);
        if (op.registering) {
            finish_op(op, Outcome::kFailed);  // the write itself was never sent
        } else if (op.session) {
            op.maybe_applied = true;
            retry_session_op(op);
        } else {
            finish_op(op, Outcome::kUnknown);
        }
    }
}

bool ReplicaCluster::check_replies() {
    if (!ok()) return false;
    for (const auto& a : attempts_) {
        if (a->tag.empty()) continue;
        auto applied = applied_tags_.find(a->tag);
        // A session write's attempts share their tag: one refused may be
        // followed by one applied. Checked per operation below.
        const bool shared_tag = ops_.at(a->op - 1)->session;
        if (a->verdict == Attempt::Verdict::kNotApplied && applied != applied_tags_.end() &&
            !shared_tag) {
            fail(
                fmt::format("an error reply lied: n{} answered {} with \"{}\" but it was applied "
                            "at index {}",
                            a->at.value, describe(a->args), a->reply, applied->second.value));
            return false;
        }
        if (a->verdict == Attempt::Verdict::kAnswered && applied == applied_tags_.end()) {
            fail(fmt::format("n{} answered {} from applying it, but no replica applied it",
                             a->at.value, describe(a->args)));
            return false;
        }
    }
    for (const auto& op : ops_) {
        if (!op->session || !op->done || op->rec.outcome != Outcome::kFailed ||
            op->run_args.empty()) {
            continue;
        }
        if (auto applied = applied_tags_.find(op->run_args[6]); applied != applied_tags_.end()) {
            fail(
                fmt::format("an error reply lied: every attempt of {} was refused as not "
                            "applied, but it was applied at index {}",
                            describe(op->run_args), applied->second.value));
            return false;
        }
    }
    return true;
}

}  // namespace raftkv::sim
