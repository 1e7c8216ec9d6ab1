// cluster.cc — see cluster.h.
#include "script/cluster.h"

#include <fmt/format.h>

#include <charconv>
#include <limits>

#include "script/print.h"

namespace raftkv::raft::script {
namespace {

constexpr std::size_t kNoLimit = std::numeric_limits<std::size_t>::max();
// stabilize gives up (a script error) after this many rounds of ready +
// deliver: a cluster that never quiets down is a bug worth a look.
constexpr int kStabilizeRoundsMax = 1000;
constexpr std::uint64_t kAllEntriesBytes = std::numeric_limits<std::uint64_t>::max();

std::string join(const std::vector<std::string>& v, std::size_t from, std::string_view sep) {
    std::string out;
    for (std::size_t i = from; i < v.size(); ++i) {
        if (i > from) out += sep;
        out += v[i];
    }
    return out;
}

// "key=value" split at the first '='; nullopt for a plain token.
std::optional<std::pair<std::string, std::string>> key_value(const std::string& token) {
    const std::size_t eq = token.find('=');
    if (eq == std::string::npos) return std::nullopt;
    return std::make_pair(token.substr(0, eq), token.substr(eq + 1));
}

}  // namespace

const std::map<std::string, ScriptCluster::Handler, std::less<>>& ScriptCluster::handlers() {
    static const std::map<std::string, Handler, std::less<>> kHandlers = {
        {"cluster", &ScriptCluster::cmd_cluster},
        {"tick", &ScriptCluster::cmd_tick},
        {"campaign", &ScriptCluster::cmd_campaign},
        {"propose", &ScriptCluster::cmd_propose},
        {"read-index", &ScriptCluster::cmd_read_index},
        {"transfer", &ScriptCluster::cmd_transfer},
        {"add-learner", &ScriptCluster::cmd_membership},
        {"promote", &ScriptCluster::cmd_membership},
        {"remove", &ScriptCluster::cmd_membership},
        {"ready", &ScriptCluster::cmd_ready},
        {"deliver", &ScriptCluster::cmd_deliver},
        {"stabilize", &ScriptCluster::cmd_stabilize},
        {"drop", &ScriptCluster::cmd_drop},
        {"partition", &ScriptCluster::cmd_partition},
        {"heal", &ScriptCluster::cmd_heal},
        {"crash", &ScriptCluster::cmd_crash},
        {"restart", &ScriptCluster::cmd_restart},
        {"compact", &ScriptCluster::cmd_compact},
        {"status", &ScriptCluster::cmd_status},
        {"log", &ScriptCluster::cmd_log},
        {"raft-state", &ScriptCluster::cmd_raft_state},
    };
    return kHandlers;
}

CommandOutput ScriptCluster::run(const ScriptCommand& cmd) {
    out_.clear();
    error_.clear();
    const auto it = handlers().find(cmd.name);
    if (it == handlers().end()) {
        error_ = fmt::format("unknown command '{}'", cmd.name);
    } else if (peers_.empty() && cmd.name != "cluster") {
        error_ = "the script must start with 'cluster'";
    } else {
        (this->*(it->second))(cmd);
    }
    return CommandOutput{.lines = std::move(out_), .error = std::move(error_)};
}

// ---- parsing ----------------------------------------------------------------

std::uint64_t ScriptCluster::parse_number(const std::string& token) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
    if (ec != std::errc() || end != token.data() + token.size()) {
        if (error_.empty()) error_ = fmt::format("'{}' is not a number", token);
        return 0;
    }
    return v;
}

bool ScriptCluster::parse_bool(const std::string& token) {
    if (token == "true") return true;
    if (token != "false" && error_.empty())
        error_ = fmt::format("'{}' is not true or false", token);
    return false;
}

NodeId ScriptCluster::parse_id(const std::string& token) {
    const NodeId id(parse_number(token));
    if (error_.empty() && !peers_.contains(id)) error_ = fmt::format("no node {}", token);
    return id;
}

std::optional<ScriptCluster::Link> ScriptCluster::parse_link(const std::string& token) {
    const std::size_t arrow = token.find("->");
    if (arrow == std::string::npos) {
        if (error_.empty()) error_ = fmt::format("'{}' is not a link from->to", token);
        return std::nullopt;
    }
    Link link;
    const std::string from = token.substr(0, arrow);
    const std::string to = token.substr(arrow + 2);
    if (from != "*") link.from = NodeId(parse_number(from));
    if (to != "*") link.to = NodeId(parse_number(to));
    if (!error_.empty()) return std::nullopt;
    return link;
}

Node* ScriptCluster::live(NodeId id) {
    if (!error_.empty()) return nullptr;
    const auto it = peers_.find(id);
    if (it == peers_.end()) {
        error_ = fmt::format("no node {}", id.value);
        return nullptr;
    }
    if (!it->second.node) {
        error_ = fmt::format("node {} is crashed", id.value);
        return nullptr;
    }
    return it->second.node.get();
}

Node* ScriptCluster::live_arg(const ScriptCommand& cmd, std::size_t arg) {
    if (cmd.args.size() <= arg) {
        error_ = fmt::format("'{}' needs more arguments", cmd.name);
        return nullptr;
    }
    return live(parse_id(cmd.args[arg]));
}

// ---- nodes and messages -------------------------------------------------------

void ScriptCluster::start(NodeId id, bool founding) {
    Peer& p = peers_[id];
    p.options.id = id;
    p.options.initial_membership = founding ? founders_ : Membership{};
    const SnapshotMeta snap = p.storage.snapshot_meta();
    p.applied.clear();
    if (snap.index > Index(0)) {
        const std::string image = p.storage.snapshot_chunk(0, p.storage.snapshot_bytes());
        std::size_t start = 0;
        while (start < image.size()) {
            std::size_t end = image.find(';', start);
            if (end == std::string::npos) end = image.size();
            p.applied.emplace_back(snap.index, image.substr(start, end - start));
            start = end + 1;
        }
    }
    p.node = std::make_unique<Node>(p.options, &p.storage, p.hard_state, snap.index);
    const Node& n = *p.node;
    observed_[id] = Observed{n.role(), n.term(), n.vote(), n.leader()};
}

template <class F>
auto ScriptCluster::observe(NodeId id, F&& input) {
    Node& node = *peers_.at(id).node;
    auto print_change = [&] {
        const Observed now{node.role(), node.term(), node.vote(), node.leader()};
        if (now == observed_[id]) return;
        observed_[id] = now;
        print(fmt::format("  {} is now {} term={} vote={} lead={}", id.value, role_name(now.role),
                          now.term.value, now.vote.value, now.lead.value));
    };
    if constexpr (std::is_void_v<decltype(input(node))>) {
        input(node);
        print_change();
        node.check_invariants();
    } else {
        auto result = input(node);
        print_change();
        node.check_invariants();
        return result;
    }
}

void ScriptCluster::process_ready(NodeId id) {
    Peer& p = peers_.at(id);
    Ready rd = p.node->ready();
    print(fmt::format("{} ready:", id.value));
    for (std::string& line : format_ready(rd, "  ")) print(std::move(line));
    // The Ready contract of node.h, in its order; the disk is synchronous.
    for (const Message& m : rd.messages) queue_.push_back(m);
    if (rd.snapshot) p.storage.apply_snapshot(rd.snapshot->meta, rd.snapshot->data);
    if (!rd.entries.empty()) p.storage.append(rd.entries);
    if (rd.hard_state) p.hard_state = *rd.hard_state;
    for (const Message& m : rd.messages_after_persist) queue_.push_back(m);
    if (rd.snapshot) {
        p.applied.clear();
        const std::string& image = rd.snapshot->data;
        std::size_t start = 0;
        while (start < image.size()) {
            std::size_t end = image.find(';', start);
            if (end == std::string::npos) end = image.size();
            p.applied.emplace_back(rd.snapshot->meta.index, image.substr(start, end - start));
            start = end + 1;
        }
    }
    for (const Entry& e : rd.committed_entries) {
        if (e.type == EntryType::kCommand) p.applied.emplace_back(e.index, e.data);
    }
    observe(id, [&](Node& n) { n.advance(rd); });
}

std::optional<std::string> ScriptCluster::drop_reason(const Message& m) const {
    const auto it = peers_.find(m.to);
    if (it == peers_.end()) return fmt::format("no node {}", m.to.value);
    if (!it->second.node) return fmt::format("{} is crashed", m.to.value);
    if (!group_.empty()) {
        const auto group_of = [&](NodeId id) {
            const auto g = group_.find(id);
            return g == group_.end() ? -1 : g->second;
        };
        if (group_of(m.from) != group_of(m.to)) return std::string("partitioned");
    }
    return std::nullopt;
}

std::size_t ScriptCluster::deliver(const std::vector<Link>& links, std::size_t limit) {
    // Only what was queued before this call: the receivers' answers wait
    // for their next Ready anyway.
    std::deque<Message> pending;
    pending.swap(queue_);
    std::size_t handled = 0;
    while (!pending.empty()) {
        Message m = std::move(pending.front());
        pending.pop_front();
        bool wanted = handled < limit && links.empty();
        for (const Link& l : links) wanted = wanted || (handled < limit && l.matches(m));
        if (!wanted) {
            queue_.push_back(std::move(m));
            continue;
        }
        ++handled;
        if (const std::optional<std::string> reason = drop_reason(m)) {
            print(fmt::format("dropped {} ({})", format_message(m), *reason));
            continue;
        }
        print(format_message(m));
        observe(m.to, [&](Node& n) { n.step(m); });
    }
    return handled;
}

std::string ScriptCluster::state_machine_image(const Peer& p, Index through) const {
    std::vector<std::string> commands;
    for (const auto& [index, data] : p.applied) {
        if (index <= through) commands.push_back(data);
    }
    return join(commands, 0, ";");
}

// ---- commands -------------------------------------------------------------------

void ScriptCluster::cmd_cluster(const ScriptCommand& cmd) {
    if (!peers_.empty()) {
        error_ = "'cluster' may come only once";
        return;
    }
    if (cmd.args.empty()) {
        error_ = "cluster <n> [options]";
        return;
    }
    NodeOptions o;
    const std::uint64_t n = parse_number(cmd.args[0]);
    for (std::size_t i = 1; i < cmd.args.size(); ++i) {
        const auto kv = key_value(cmd.args[i]);
        if (!kv) {
            error_ = fmt::format("'{}' is not an option key=value", cmd.args[i]);
            return;
        }
        const auto& [key, value] = *kv;
        if (key == "seed") {
            o.seed = parse_number(value);
        } else if (key == "pre_vote") {
            o.pre_vote = parse_bool(value);
        } else if (key == "check_quorum") {
            o.check_quorum = parse_bool(value);
        } else if (key == "lease") {
            o.lease_reads = parse_bool(value);
        } else if (key == "election") {
            o.election_ticks = static_cast<int>(parse_number(value));
        } else if (key == "heartbeat") {
            o.heartbeat_ticks = static_cast<int>(parse_number(value));
        } else if (key == "drift") {
            o.lease_drift_ticks = static_cast<int>(parse_number(value));
        } else if (key == "max_entries") {
            o.append_entries_max = parse_number(value);
        } else {
            error_ = fmt::format("unknown cluster option '{}'", key);
        }
    }
    if (!error_.empty()) return;
    for (std::uint64_t i = 1; i <= n; ++i) founders_.voters.insert(NodeId(i));
    for (std::uint64_t i = 1; i <= n; ++i) {
        peers_[NodeId(i)].options = o;
        start(NodeId(i), true);
    }
}

void ScriptCluster::cmd_tick(const ScriptCommand& cmd) {
    if (cmd.args.empty()) {
        error_ = "tick <id|all> [n]";
        return;
    }
    std::vector<NodeId> ids;
    if (cmd.args[0] == "all") {
        for (const auto& [id, p] : peers_) {
            if (p.node) ids.push_back(id);
        }
    } else if (live(parse_id(cmd.args[0])) != nullptr) {
        ids.push_back(NodeId(parse_number(cmd.args[0])));
    }
    std::uint64_t n = 1;
    bool then_stabilize = false;
    for (std::size_t i = 1; i < cmd.args.size(); ++i) {
        if (cmd.args[i] == "stabilize") {
            then_stabilize = true;
        } else {
            n = parse_number(cmd.args[i]);
        }
    }
    if (!error_.empty()) return;
    for (std::uint64_t t = 1; t <= n; ++t) {
        const std::size_t before = out_.size();
        for (NodeId id : ids) {
            if (peers_.at(id).node) observe(id, [](Node& node) { node.tick(); });
        }
        // Say at which tick a change happened.
        for (std::size_t i = before; i < out_.size(); ++i) {
            out_[i] = fmt::format("tick {}:{}", t, out_[i]);
        }
        if (then_stabilize) {
            const std::size_t header = out_.size();
            print(fmt::format("tick {} stabilize:", t));
            if (!stabilize()) return;
            if (out_.size() == header + 1) out_.pop_back();  // a quiet tick
        }
    }
}

void ScriptCluster::cmd_campaign(const ScriptCommand& cmd) {
    Node* node = live_arg(cmd, 0);
    if (node == nullptr) return;
    observe(node->id(), [](Node& n) { n.campaign_now(); });
}

void ScriptCluster::cmd_propose(const ScriptCommand& cmd) {
    Node* node = live_arg(cmd, 0);
    if (node == nullptr) return;
    if (cmd.args.size() < 2) {
        error_ = "propose <id> <data...>";
        return;
    }
    const std::string data = join(cmd.args, 1, " ");
    const Proposal p = observe(node->id(), [&](Node& n) { return n.propose(data); });
    if (p.ok()) {
        print(fmt::format("proposed index={} term={}", p.index.value, p.term.value));
    } else {
        print(fmt::format("refused: {} (leader={})", refusal_name(p.refusal), p.leader.value));
    }
}

void ScriptCluster::cmd_read_index(const ScriptCommand& cmd) {
    Node* node = live_arg(cmd, 0);
    if (node == nullptr) return;
    if (cmd.args.size() != 2) {
        error_ = "read-index <id> <context>";
        return;
    }
    const Refusal r = observe(node->id(), [&](Node& n) { return n.read_index(cmd.args[1]); });
    print(r == Refusal::kOk ? std::string("ok") : fmt::format("refused: {}", refusal_name(r)));
}

void ScriptCluster::cmd_transfer(const ScriptCommand& cmd) {
    Node* node = live_arg(cmd, 0);
    if (node == nullptr) return;
    if (cmd.args.size() != 2) {
        error_ = "transfer <from> <to>";
        return;
    }
    const NodeId target = parse_id(cmd.args[1]);
    if (!error_.empty()) return;
    const Refusal r = observe(node->id(), [&](Node& n) { return n.transfer_leadership(target); });
    print(r == Refusal::kOk ? std::string("ok") : fmt::format("refused: {}", refusal_name(r)));
}

void ScriptCluster::cmd_membership(const ScriptCommand& cmd) {
    Node* node = live_arg(cmd, 0);
    if (node == nullptr) return;
    if (cmd.args.size() != 2) {
        error_ = fmt::format("{} <leader> <id>", cmd.name);
        return;
    }
    const NodeId target(parse_number(cmd.args[1]));
    if (!error_.empty()) return;
    MembershipChange change = MembershipChange::kRemove;
    if (cmd.name == "add-learner") {
        change = MembershipChange::kAddLearner;
        if (!peers_.contains(target)) {
            peers_[target].options = peers_.begin()->second.options;
            start(target, false);
            print(fmt::format("started {} (empty, knowing no members)", target.value));
        }
    } else if (cmd.name == "promote") {
        change = MembershipChange::kPromote;
    }
    const Proposal p =
        observe(node->id(), [&](Node& n) { return n.change_membership(change, target); });
    if (p.ok()) {
        print(fmt::format("proposed index={} term={}", p.index.value, p.term.value));
    } else {
        print(fmt::format("refused: {} (leader={})", refusal_name(p.refusal), p.leader.value));
    }
}

void ScriptCluster::cmd_ready(const ScriptCommand& cmd) {
    std::vector<NodeId> ids;
    for (const std::string& a : cmd.args) {
        if (live(parse_id(a)) != nullptr) ids.push_back(NodeId(parse_number(a)));
    }
    if (!error_.empty()) return;
    if (cmd.args.empty()) {
        for (const auto& [id, p] : peers_) {
            if (p.node) ids.push_back(id);
        }
    }
    for (NodeId id : ids) {
        if (peers_.at(id).node->has_ready()) process_ready(id);
    }
}

void ScriptCluster::cmd_deliver(const ScriptCommand& cmd) {
    std::vector<Link> links;
    std::size_t limit = kNoLimit;
    for (const std::string& a : cmd.args) {
        if (a.starts_with("limit=")) {
            limit = parse_number(a.substr(6));
        } else if (const std::optional<Link> l = parse_link(a)) {
            links.push_back(*l);
        }
    }
    if (!error_.empty()) return;
    deliver(links, limit);
}

void ScriptCluster::cmd_stabilize(const ScriptCommand& cmd) {
    if (!cmd.args.empty()) {
        error_ = "stabilize takes no arguments";
        return;
    }
    stabilize();
}

bool ScriptCluster::stabilize() {
    for (int round = 0; round < kStabilizeRoundsMax; ++round) {
        bool any = false;
        for (auto& [id, p] : peers_) {
            if (p.node && p.node->has_ready()) {
                process_ready(id);
                any = true;
            }
        }
        if (deliver({}, kNoLimit) > 0) any = true;
        if (!any) return true;
    }
    error_ = fmt::format("no quiescence after {} rounds", kStabilizeRoundsMax);
    return false;
}

void ScriptCluster::cmd_drop(const ScriptCommand& cmd) {
    std::vector<Link> links;
    for (const std::string& a : cmd.args) {
        if (const std::optional<Link> l = parse_link(a)) links.push_back(*l);
    }
    if (!error_.empty()) return;
    std::deque<Message> kept;
    for (Message& m : queue_) {
        bool match = links.empty();
        for (const Link& l : links) match = match || l.matches(m);
        if (match) {
            print(fmt::format("dropped {}", format_message(m)));
        } else {
            kept.push_back(std::move(m));
        }
    }
    queue_.swap(kept);
}

void ScriptCluster::cmd_partition(const ScriptCommand& cmd) {
    std::map<NodeId, int> groups;
    int group = 0;
    for (const std::string& a : cmd.args) {
        if (a == "|") {
            ++group;
            continue;
        }
        groups[parse_id(a)] = group;
    }
    if (!error_.empty()) return;
    // Nodes not named form one more group.
    for (const auto& [id, p] : peers_) groups.try_emplace(id, group + 1);
    group_ = std::move(groups);
}

void ScriptCluster::cmd_heal(const ScriptCommand&) { group_.clear(); }

void ScriptCluster::cmd_crash(const ScriptCommand& cmd) {
    Node* node = live_arg(cmd, 0);
    if (node == nullptr) return;
    Peer& p = peers_.at(node->id());
    if (node->has_ready()) print("lost an unprocessed Ready");
    p.node.reset();
    p.applied.clear();
}

void ScriptCluster::cmd_restart(const ScriptCommand& cmd) {
    if (cmd.args.size() != 1) {
        error_ = "restart <id>";
        return;
    }
    const NodeId id = parse_id(cmd.args[0]);
    if (!error_.empty()) return;
    if (peers_.at(id).node) {
        error_ = fmt::format("node {} is running", id.value);
        return;
    }
    start(id, founders_.contains(id));
    const Node& n = *peers_.at(id).node;
    print(fmt::format("  {} is now {} term={} vote={} lead={} (restarted)", id.value,
                      role_name(n.role()), n.term().value, n.vote().value, n.leader().value));
}

void ScriptCluster::cmd_compact(const ScriptCommand& cmd) {
    Node* node = live_arg(cmd, 0);
    if (node == nullptr) return;
    if (cmd.args.size() != 2) {
        error_ = "compact <id> <index>";
        return;
    }
    const Index index(parse_number(cmd.args[1]));
    if (!error_.empty()) return;
    Peer& p = peers_.at(node->id());
    if (index > node->log().applied() || index < p.storage.first_index().prev() ||
        index > p.storage.last_index()) {
        error_ = fmt::format("cannot compact node {} at {}: applied {}, persisted [{}, {}]",
                             node->id().value, index.value, node->log().applied().value,
                             p.storage.first_index().value, p.storage.last_index().value);
        return;
    }
    const SnapshotMeta meta{
        .index = index, .term = *p.storage.term(index), .membership = node->membership_at(index)};
    const std::string image = state_machine_image(p, index);
    p.storage.compact(meta, image);
    print(fmt::format("snapshot {} data=\"{}\"; log starts at {}", format_snapshot_meta(meta),
                      image, p.storage.first_index().value));
}

void ScriptCluster::cmd_status(const ScriptCommand& cmd) {
    Node* node = live_arg(cmd, 0);
    if (node == nullptr) return;
    print(format_status(node->status()));
}

void ScriptCluster::cmd_log(const ScriptCommand& cmd) {
    Node* node = live_arg(cmd, 0);
    if (node == nullptr) return;
    const Peer& p = peers_.at(node->id());
    const RaftLog& log = node->log();
    print(fmt::format("snapshot: {}", format_snapshot_meta(p.storage.snapshot_meta())));
    if (log.first_index() <= log.last_index()) {
        for (const Entry& e :
             log.slice(log.first_index(), log.last_index().next(), kAllEntriesBytes)) {
            print(format_entry(e));
        }
    }
    print(fmt::format("committed={} applied={} persisted={}", log.committed().value,
                      log.applied().value, p.storage.last_index().value));
    print(fmt::format("state machine: [{}]", state_machine_image(p, log.applied())));
}

void ScriptCluster::cmd_raft_state(const ScriptCommand&) {
    for (const auto& [id, p] : peers_) {
        if (!p.node) {
            print(fmt::format("{}: crashed", id.value));
            continue;
        }
        const Node& n = *p.node;
        print(fmt::format("{}: {} term={} vote={} lead={} commit={} last={}", id.value,
                          role_name(n.role()), n.term().value, n.vote().value, n.leader().value,
                          n.log().committed().value, n.log().last_index().value));
    }
    if (!queue_.empty()) print(fmt::format("{} messages queued", queue_.size()));
}

}  // namespace raftkv::raft::script
