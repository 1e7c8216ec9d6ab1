// replica_commands.cc — how the replica runs a request: kv writes proposed,
// kv reads by ReadIndex, redirects, and the commands that need the
// replica's state (INFO, CLUSTER, RAFT, READONLY, READWRITE).
//
// Connection commands (PING, HELLO, CLIENT, QUIT, ...) are the server's
// (server_commands.cc), reached through ClientPort::run_connection_command.
// Reply shapes follow Redis 7 so that redis-cli, redis-benchmark and client
// libraries work.
#include <spdlog/spdlog.h>

#include "kv/command_codec.h"
#include "kv/commands.h"
#include "raft/membership.h"
#include "resp/reply_writer.h"
#include "server/replica.h"
#include "storage/wal.h"

namespace raftkv::server {

bool Replica::has_pending_write(std::uint64_t client) const {
    auto it = clients_.find(client);
    if (it == clients_.end()) return false;
    const std::uint64_t last = it->second.last_write_index;
    return last > applied_.value && pending_writes_.contains(raft::Index(last));
}

void Replica::execute(ReplyTarget to, std::string_view name, const kv::CommandInfo* info,
                      std::vector<std::string>& args, Now now) {
    if (ports_.clients->run_connection_command(to, name, args)) return;
    if (run_replica_command(to, name, args, now)) return;
    std::string* buffer = ports_.clients->reply_buffer(to);
    if (buffer == nullptr) return;
    resp::ReplyWriter out(buffer);
    if (info == nullptr && kv::find_command(name) != nullptr) {
        out.error(kv::internal_command_error(args[0]));
        ports_.clients->finish(to);
        return;
    }
    if (info == nullptr) {
        std::string message = fmt::format("ERR unknown command '{}', with args beginning with: ",
                                          std::string_view(args[0]).substr(0, 128));
        for (std::size_t i = 1; i < args.size() && message.size() < 1024; ++i) {
            message += fmt::format("'{}' ", std::string_view(args[i]).substr(0, 128));
        }
        out.error(message);
        ports_.clients->finish(to);
        return;
    }
    if (!kv::check(*info, args, out)) {
        ports_.clients->finish(to);
        return;
    }
    if (node_->role() != raft::Role::kLeader) {
        if (clients_[to.client].readonly && info->cls != kv::CommandClass::kWrite) {
            // READONLY: this server's applied state, possibly stale, with
            // keys expired as of its log time (docs/expiry.md).
            state_.read(args, out);
            ports_.clients->finish(to);
            return;
        }
        redirect(to);
        return;
    }
    if (info->cls == kv::CommandClass::kWrite) {
        propose(to, args, now);
        return;
    }
    start_read(to, args, now);
}

std::string Replica::redirect_error() const {
    const std::optional<NodeAddress> leader = address_of(node_->leader());
    if (leader && node_->leader() != options_.self.id) {
        // Redis Cluster's redirect: every key lives in slot 0's owner here.
        return fmt::format("MOVED 0 {}", leader->client_address());
    }
    return "CLUSTERDOWN no leader is known yet; try again shortly";
}

void Replica::redirect(ReplyTarget to) {
    ++stats_.redirects;
    answer_error(to, redirect_error());
}

void Replica::propose(ReplyTarget to, std::vector<std::string>& args, Now now) {
    if (!fatal_error_.empty()) {
        answer_error(to, "ERR write not applied: the log has failed: " + fatal_error_);
        return;
    }
    if (!disk_full_error_.empty()) {
        ++stats_.writes_failed_disk_full;
        answer_error(to, "ERR write not applied: " + disk_full_error_);
        return;
    }
    // Stamped with this leader's clock: the log time, by which sessions and
    // keys expire on every replica alike.
    const std::uint64_t stamp = clock_ms(now);
    std::string payload = kv::encode_command(args, stamp);
    if (payload.size() > storage::kWalPayloadBytesMax) {
        answer_error(to, fmt::format("ERR command too large: {} bytes, at most {} per write",
                                     payload.size(), storage::kWalPayloadBytesMax));
        return;
    }
    const raft::Proposal p = node_->propose(std::move(payload));
    if (!p.ok()) {
        if (p.refusal == raft::Refusal::kNotLeader) {
            redirect(to);
        } else {
            answer_error(to, fmt::format("TRYAGAIN the write was not applied: {}",
                                         raft::refusal_name(p.refusal)));
        }
        return;
    }
    stamps_in_flight_[p.index] = stamp;
    clients_[to.client].last_write_index = p.index.value;
    add_pending_write(p.index, PendingWrite{.term = p.term,
                                            .args = std::move(args),
                                            .to = to,
                                            .deadline = now.steady + kWriteDecisionTimeout});
    schedule_pump();
}

void Replica::start_read(ReplyTarget to, std::vector<std::string>& args, Now now) {
    const std::set<raft::NodeId>& voters = node_->tracker().config().voters.voters();
    const raft::Index committed = node_->log().committed();
    if (voters.size() == 1 && voters.contains(options_.self.id) &&
        node_->log().term(committed) == node_->term() && applied_ >= committed) {
        // The only voter is the only server that can lead: once it has
        // committed an entry of its term (so its commit index covers every
        // acknowledged write, §6.4) and applied through it, its state
        // answers reads without a heartbeat round (and reads go on while its
        // disk is full). Before that, as after a restart, the read waits in
        // the core like any ReadIndex read.
        std::string* buffer = ports_.clients->reply_buffer(to);
        if (buffer == nullptr) return;
        resp::ReplyWriter out(buffer);
        state_.read(args, read_time_ms(clock_ms(now)), out);
        ports_.clients->finish(to);
        return;
    }
    const std::uint64_t time_ms = clock_ms(now);  // before the heartbeat round
    std::string context = std::to_string(next_read_id_++);
    const raft::Refusal r = node_->read_index(context);
    if (r != raft::Refusal::kOk) {
        redirect(to);
        return;
    }
    reads_in_flight_.emplace(std::move(context), WaitingRead{.args = std::move(args),
                                                             .to = to,
                                                             .deadline = now.steady + kReadTimeout,
                                                             .time_ms = time_ms});
    schedule_pump();
}

bool Replica::run_replica_command(ReplyTarget to, std::string_view name,
                                  std::vector<std::string>& args, Now now) {
    const bool is_ours = name == "info" || name == "cluster" || name == "raft" ||
                         name == "readonly" || name == "readwrite";
    if (!is_ours) return false;
    const ServerCommandInfo* cmd = find_server_command(name);
    RAFTKV_ASSERT(cmd != nullptr, "{} is not in the server command table", name);
    std::string* buffer = ports_.clients->reply_buffer(to);
    if (buffer == nullptr) return true;
    resp::ReplyWriter out(buffer);
    if (!arity_ok(cmd->arity, args.size())) {
        out.error(fmt::format("ERR wrong number of arguments for '{}' command", name));
    } else if (name == "info") {
        out.bulk(info(args.size() >= 2 ? ascii_lower(args[1]) : std::string("default")));
    } else if (name == "cluster") {
        cluster(args, out);
    } else if (name == "raft") {
        if (raft_command(to, args, out, now)) return true;  // answered once applied
    } else if (name == "readonly") {
        clients_[to.client].readonly = true;
        out.simple("OK");
    } else if (name == "readwrite") {
        clients_[to.client].readonly = false;
        out.simple("OK");
    }
    ports_.clients->finish(to);
    return true;
}

void Replica::cluster(const std::vector<std::string>& args, resp::ReplyWriter& out) const {
    const raft::NodeId self = options_.self.id;
    const std::string sub = ascii_lower(args[1]);
    const raft::NodeId leader = node_->leader();
    const std::optional<NodeAddress> leader_address = address_of(leader);
    const std::vector<NodeAddress> members = member_addresses();
    if (sub == "myid" && args.size() == 2) {
        out.bulk(cluster_node_id(self));
    } else if (sub == "info" && args.size() == 2) {
        std::string s;
        s += fmt::format("cluster_state:{}\r\n", leader_address ? "ok" : "fail");
        s += fmt::format("cluster_slots_assigned:{}\r\n", leader_address ? 16384 : 0);
        s += fmt::format("cluster_slots_ok:{}\r\n", leader_address ? 16384 : 0);
        s += "cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\n";
        s += fmt::format("cluster_known_nodes:{}\r\n", members.size());
        s += "cluster_size:1\r\n";
        s += fmt::format("cluster_current_epoch:{}\r\n", node_->term().value);
        s += fmt::format("cluster_my_epoch:{}\r\n", node_->term().value);
        out.bulk(s);
    } else if (sub == "nodes" && args.size() == 2) {
        // One line per server, as CLUSTER NODES: the leader is the master
        // owning slots 0-16383, the others its replicas.
        std::string s;
        for (const NodeAddress& n : members) {
            std::string flags = n.id == self ? "myself," : "";
            const bool is_leader = n.id == leader;
            flags += is_leader ? "master" : "slave";
            s += fmt::format("{} {}:{}@{} {} {} 0 0 {} connected{}\n", cluster_node_id(n.id),
                             n.host, n.port, n.peer_port, flags,
                             is_leader || leader == raft::NodeId(0) ? "-" : cluster_node_id(leader),
                             node_->term().value, is_leader ? " 0-16383" : "");
        }
        out.bulk(s);
    } else if (sub == "slots" && args.size() == 2) {
        if (!leader_address) {
            out.array_header(0);
            return;
        }
        out.array_header(1);
        out.array_header(2 + members.size());
        out.integer(0);
        out.integer(16383);
        auto node = [&](const NodeAddress& n) {
            out.array_header(3);
            out.bulk(n.host);
            out.integer(n.port);
            out.bulk(cluster_node_id(n.id));
        };
        node(*leader_address);
        for (const NodeAddress& n : members) {
            if (n.id != leader) node(n);
        }
    } else if (sub == "shards" && args.size() == 2) {
        if (!leader_address) {
            out.array_header(0);
            return;
        }
        out.array_header(1);
        out.array_header(4);
        out.bulk("slots");
        out.array_header(2);
        out.integer(0);
        out.integer(16383);
        out.bulk("nodes");
        out.array_header(members.size());
        for (const NodeAddress& n : members) {
            out.array_header(12);
            out.bulk("id");
            out.bulk(cluster_node_id(n.id));
            out.bulk("port");
            out.integer(n.port);
            out.bulk("ip");
            out.bulk(n.host);
            out.bulk("endpoint");
            out.bulk(n.host);
            out.bulk("role");
            out.bulk(n.id == leader ? "master" : "replica");
            out.bulk("health");
            out.bulk("online");
        }
    } else {
        out.error(fmt::format(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLUSTER HELP.",
            std::string_view(args[1])));
    }
}

namespace {

// A node id argument: a positive integer, or nullopt.
std::optional<raft::NodeId> parse_node_id(const std::string& arg) {
    char* end = nullptr;
    const unsigned long long id = std::strtoull(arg.c_str(), &end, 10);
    if (arg.empty() || *end != '\0' || id == 0) return std::nullopt;
    return raft::NodeId(id);
}

// The refusal prefix for a membership change: TRYAGAIN when waiting helps.
// A refusal that passes by itself (a change pending, a transfer under way)
// is -TRYAGAIN, so that a joining server asks again instead of giving up.
std::string_view refusal_prefix(raft::Refusal r) {
    return r == raft::Refusal::kConfigChangePending || r == raft::Refusal::kTransferring
               ? "TRYAGAIN"
               : "ERR";
}

}  // namespace

// RAFT subcommands. All but STATUS and SNAPSHOT act through the leader; a
// follower redirects them there. REMOVENODE answers +OK once the removal is
// committed and applied (like a write: -UNCERTAIN or -TRYAGAIN if the leader
// loses its place first), so that an operator who then stops the server
// cannot undo it; ADDNODE answers at once (the joiner asks again until it
// hears from a leader).
bool Replica::raft_command(ReplyTarget to, const std::vector<std::string>& args,
                           resp::ReplyWriter& out, Now now) {
    const std::string sub = ascii_lower(args[1]);
    if (sub == "status" && args.size() == 2) {
        out.bulk(info("raft"));
        return false;
    }
    if (sub == "snapshot" && args.size() == 2) {
        if (is_snapshot_running_) {
            out.error("ERR a snapshot is being taken already");
        } else if (installing_snapshot_) {
            out.error("TRYAGAIN a snapshot from the leader is being installed");
        } else if (applied_ <= snapshot_index_) {
            out.error(
                fmt::format("ERR nothing to snapshot: the snapshot at index {} covers "
                            "everything applied",
                            snapshot_index_.value));
        } else {
            maybe_snapshot(/*force=*/true);
            out.simple("OK");
        }
        return false;
    }
    const bool known = (sub == "addnode" && args.size() == 4) ||
                       (sub == "removenode" && args.size() == 3) ||
                       (sub == "transfer-leader" && args.size() == 3);
    if (!known) {
        out.error(fmt::format(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try RAFT HELP.",
            std::string_view(args[1])));
        return false;
    }
    const std::optional<raft::NodeId> id = parse_node_id(args[2]);
    if (!id) {
        out.error("ERR the node id must be a positive integer");
        return false;
    }
    if (node_->role() != raft::Role::kLeader) {
        out.error(redirect_error());
        return false;
    }
    if (sub == "transfer-leader") {
        const raft::Refusal r = hand_leadership_to(*id, now);
        if (r != raft::Refusal::kOk) {
            out.error(fmt::format("ERR cannot transfer the leadership to node {}: {}", id->value,
                                  raft::refusal_name(r)));
            return false;
        }
        schedule_pump();
        out.simple("OK");
    } else if (sub == "removenode") {
        const raft::Proposal p = node_->change_membership(raft::MembershipChange::kRemove, *id);
        if (!p.ok()) {
            out.error(fmt::format("{} cannot remove node {}: {}", refusal_prefix(p.refusal),
                                  id->value, raft::refusal_name(p.refusal)));
            return false;
        }
        add_pending_write(p.index, PendingWrite{.term = p.term,
                                                .args = args,
                                                .to = to,
                                                .deadline = now.steady + kWriteDecisionTimeout});
        schedule_pump();
        return true;
    } else {
        add_node(*id, args[3], out);
    }
    return false;
}

// RAFT ADDNODE id host:port[@peerport]: idempotent, so a joining server may
// retry it; replies with every member's addresses (the joiner needs them).
void Replica::add_node(raft::NodeId id, const std::string& address, resp::ReplyWriter& out) {
    auto parsed = parse_cluster(fmt::format("{}={}", id.value, address));
    if (!parsed) {
        out.error("ERR " + parsed.error().message());
        return;
    }
    const NodeAddress& added = (*parsed)[0];
    if (!node_->membership().contains(id)) {
        // §d4.2.1: as a learner first; promote_caught_up_learners makes it a
        // voter once it has the log. Its address goes in the log too, so that
        // every server can reach and redirect to it.
        const raft::Proposal p = node_->change_membership(raft::MembershipChange::kAddLearner, id);
        if (!p.ok()) {
            out.error(fmt::format("{} cannot add node {}: {}", refusal_prefix(p.refusal), id.value,
                                  raft::refusal_name(p.refusal)));
            return;
        }
        propose_internal({"RAFTKV.ADDRESS", std::to_string(id.value), added.host,
                          std::to_string(added.port), std::to_string(added.peer_port)});
        join_addresses_[id] = added;
        update_peers();
        spdlog::info("adding node {} at {} as a learner", id.value, added.client_address());
    }
    const std::vector<NodeAddress> members = member_addresses();
    out.array_header(members.size());
    for (const NodeAddress& m : members) {
        out.bulk(fmt::format("{}={}:{}@{}", m.id.value, m.host, m.port, m.peer_port));
    }
}

std::string Replica::info(std::string_view section) const {
    const HostInfo host = ports_.host->host_info();
    const bool all = section == "default" || section == "all" || section == "everything";
    std::string s;
    auto header = [&](std::string_view name, std::string_view title) {
        if (!all && section != name) return false;
        if (!s.empty()) s += "\r\n";
        s += fmt::format("# {}\r\n", title);
        return true;
    };
    if (header("server", "Server")) {
        s += fmt::format("redis_version:{}\r\n", kRedisVersion);
        s += fmt::format("raftkv_version:{}\r\n", kRaftkvVersion);
        s += "redis_mode:cluster\r\n";
        s += fmt::format("process_id:{}\r\n", host.process_id);
        s += fmt::format("node_id:{}\r\n", options_.self.id.value);
        s += fmt::format("tcp_port:{}\r\n", options_.self.port);
        s += fmt::format("uptime_in_seconds:{}\r\n", host.uptime_seconds);
    }
    if (header("clients", "Clients")) {
        s += fmt::format("connected_clients:{}\r\n", host.connected_clients);
        s += fmt::format("maxclients:{}\r\n", host.clients_max);
        s += fmt::format("pending_writes:{}\r\n", pending_writes_.size());
    }
    if (header("persistence", "Persistence")) {
        s += "loading:0\r\n";
        s += "aof_enabled:1\r\n";
        s += fmt::format("data_dir:{}\r\n", host.data_dir);
        s += fmt::format("log_last_index:{}\r\n", node_->log().last_index().value);
        s += fmt::format("log_applied_index:{}\r\n", applied_.value);
        s += fmt::format("log_bytes_on_disk:{}\r\n", ports_.disk->bytes_on_disk());
        s += fmt::format("log_bytes_since_snapshot:{}\r\n", log_bytes_since_snapshot_);
        s += fmt::format("snapshot_index:{}\r\n", snapshot_index_.value);
        s += fmt::format("snapshot_in_progress:{}\r\n", is_snapshot_running_ ? 1 : 0);
        s += fmt::format("snapshots_taken:{}\r\n", stats_.snapshots_taken);
        s += fmt::format("snapshots_failed:{}\r\n", stats_.snapshots_failed);
        s += fmt::format("last_write_error:{}\r\n", last_write_error_);
    }
    if (header("stats", "Stats")) {
        s += fmt::format("total_connections_received:{}\r\n", host.connections_received);
        s += fmt::format("rejected_connections:{}\r\n", host.connections_rejected);
        s += fmt::format("total_commands_processed:{}\r\n", stats_.commands_processed);
        s += fmt::format("writes_applied:{}\r\n", stats_.writes_applied);
        s += fmt::format("write_batches_synced:{}\r\n", stats_.write_batches_synced);
        s += fmt::format("writes_failed_disk_full:{}\r\n", stats_.writes_failed_disk_full);
        s += fmt::format("expiry_batches_proposed:{}\r\n", stats_.expiry_batches);
    }
    if (header("cluster", "Cluster")) {
        // Cluster clients (redis-py's RedisCluster) check this before
        // asking CLUSTER SLOTS.
        s += "cluster_enabled:1\r\n";
    }
    if (header("raft", "Raft")) {
        const raft::NodeStatus st = node_->status();
        s += fmt::format("raft_id:{}\r\n", st.id.value);
        s += fmt::format("raft_role:{}\r\n", raft::role_name(st.role));
        s += fmt::format("raft_term:{}\r\n", st.term.value);
        s += fmt::format("raft_leader:{}\r\n", st.leader.value);
        s += fmt::format("raft_commit_index:{}\r\n", st.committed.value);
        s += fmt::format("raft_applied_index:{}\r\n", st.applied.value);
        s += fmt::format("raft_last_index:{}\r\n", st.last_index.value);
        s += fmt::format("raft_snapshot_index:{}\r\n", storage_->snapshot_meta().index.value);
        s += fmt::format("raft_log_bytes_on_disk:{}\r\n", ports_.disk->bytes_on_disk());
        s += fmt::format("raft_voters:{}\r\n", raft::to_string(st.membership));
        s += fmt::format("raft_elections_seen:{}\r\n", stats_.elections_seen);
        for (const auto& [id, match] : st.match) {
            if (id == st.id) continue;
            s += fmt::format("raft_peer{}:match={},lag={}\r\n", id.value, match.value,
                             st.last_index.value - std::min(match.value, st.last_index.value));
        }
    }
    if (header("keyspace", "Keyspace")) {
        if (state_.key_count() > 0) {
            s += fmt::format("db0:keys={},expires={},avg_ttl=0\r\n", state_.key_count(),
                             state_.volatile_key_count());
        }
    }
    return s;
}

}  // namespace raftkv::server
