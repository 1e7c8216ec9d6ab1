// server_commands.cc — the commands a server answers itself, without the
// state machine: connection commands (PING, ECHO, QUIT, HELLO, SELECT,
// CLIENT) and introspection (INFO, COMMAND, CONFIG GET).
//
// They never touch the key space and are never logged. Reply shapes follow
// Redis 7 so that redis-cli, redis-benchmark and client libraries work.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "kv/commands.h"
#include "kv/glob.h"
#include "resp/reply_writer.h"
#include "raft/membership.h"
#include "server/config.h"
#include "server/server.h"

namespace raftkv::server {
namespace {

constexpr std::string_view kRaftkvVersion = "0.1.0";
// The Redis version whose commands and replies raftkv follows; clients read
// it from HELLO and INFO to pick features.
constexpr std::string_view kRedisVersion = "7.0.0";

struct ServerCommandInfo {
    std::string_view name;
    int arity;
    std::string_view flags;
    std::string_view summary;
    std::string_view syntax;
};

constexpr ServerCommandInfo kServerCommands[] = {
    {"ping", -1, "fast", "Returns PONG, or the argument", "[message]"},
    {"echo", 2, "fast", "Returns the given string", "message"},
    {"quit", -1, "fast", "Closes the connection after the replies already due", ""},
    {"hello", -1, "fast", "Handshake: only protocol 2 (RESP2) is served", "[2 [SETNAME name]]"},
    {"select", 2, "fast", "Selects database 0, the only one", "0"},
    {"info", -1, "", "Server information and statistics",
     "[server | clients | persistence | stats | keyspace | all]"},
    {"command", -1, "", "Describes the commands", "[COUNT | DOCS [name ...] | INFO name ...]"},
    {"config", -2, "", "The server's settings (read only)", "GET parameter [parameter ...]"},
    {"client", -2, "", "The connection's id and name",
     "ID | GETNAME | SETNAME name | SETINFO attr value | INFO"},
    {"cluster", -2, "",
     "The cluster as Redis Cluster clients see it: the leader owns every slot",
     "MYID | INFO | NODES | SLOTS | SHARDS"},
    {"readonly", 1, "fast", "Lets this connection read from a follower (possibly stale)", ""},
    {"raft", -2, "", "Administers the Raft cluster",
     "STATUS | TRANSFER-LEADER id | SNAPSHOT | ADDNODE id host:port[@peerport] | REMOVENODE id"},
    {"readwrite", 1, "fast", "Ends READONLY: reads go to the leader again", ""},
};

const ServerCommandInfo* find_server_command(std::string_view name) {
    for (const ServerCommandInfo& c : kServerCommands) {
        if (c.name == name) return &c;
    }
    return nullptr;
}

bool arity_ok(int arity, std::size_t argc) {
    return arity >= 0 ? argc == static_cast<std::size_t>(arity)
                      : argc >= static_cast<std::size_t>(-arity);
}

void write_flags(resp::ReplyWriter& out, std::string_view flags) {
    std::vector<std::string_view> words;
    while (!flags.empty()) {
        const auto sp = flags.find(' ');
        if (sp != 0) words.push_back(flags.substr(0, sp));
        if (sp == std::string_view::npos) break;
        flags.remove_prefix(sp + 1);
    }
    out.array_header(words.size());
    for (std::string_view w : words) out.simple(w);
}

// One element of the COMMAND reply (Redis 7: ten fields).
void write_command_entry(resp::ReplyWriter& out, std::string_view name, int arity,
                         std::string_view flags, int first, int last, int step) {
    out.array_header(10);
    out.bulk(name);
    out.integer(arity);
    write_flags(out, flags);
    out.integer(first);
    out.integer(last);
    out.integer(step);
    out.array_header(0);  // ACL categories
    out.array_header(0);  // tips
    out.array_header(0);  // key specs
    out.array_header(0);  // subcommands
}

// One value of the COMMAND DOCS map: summary, since, group, complexity, and
// the arguments. The syntax line is given as one argument whose name is the
// whole line ("key value [NX | XX] [GET]"), which is what redis-cli shows as
// the hint while a command is typed.
void write_command_doc(resp::ReplyWriter& out, std::string_view name, std::string_view summary,
                       std::string_view group, std::string_view syntax) {
    out.bulk(name);
    out.array_header(syntax.empty() ? 8 : 10);
    out.bulk("summary");
    out.bulk(summary);
    out.bulk("since");
    out.bulk("1.0.0");
    out.bulk("group");
    out.bulk(group);
    out.bulk("complexity");
    out.bulk("O(1)");
    if (syntax.empty()) return;
    out.bulk("arguments");
    out.array_header(1);
    out.array_header(4);
    out.bulk("name");
    out.bulk(syntax);
    out.bulk("type");
    out.bulk("string");
}

std::size_t command_count() { return kv::all_commands().size() + std::size(kServerCommands); }

void write_hello(resp::ReplyWriter& out, std::uint64_t client_id) {
    out.array_header(14);
    out.bulk("server");
    out.bulk("redis");
    out.bulk("version");
    out.bulk(kRedisVersion);
    out.bulk("proto");
    out.integer(2);
    out.bulk("id");
    out.integer(static_cast<std::int64_t>(client_id));
    out.bulk("mode");
    out.bulk("standalone");
    out.bulk("role");
    out.bulk("master");
    out.bulk("modules");
    out.array_header(0);
}

}  // namespace

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

namespace {

using Args = std::vector<std::string>;

void hello(net::ClientConnection& conn, const Args& args, resp::ReplyWriter& out) {
    if (args.size() >= 2 && args[1] != "2") {
        out.error(args[1] == "3" ? "NOPROTO sorry, this protocol version is not supported"
                                 : "ERR Protocol version is not an integer or out of range");
        return;
    }
    for (std::size_t i = 2; i < args.size(); ++i) {
        const std::string opt = ascii_lower(args[i]);
        if (opt == "setname" && i + 1 < args.size()) {
            conn.name = args[++i];
        } else if (opt == "auth" && i + 2 < args.size()) {
            out.error("ERR AUTH is not supported: raftkv has no users or passwords");
            return;
        } else {
            out.error(fmt::format("ERR Syntax error in HELLO option '{}'", args[i]));
            return;
        }
    }
    write_hello(out, conn.id());
}

// COMMAND DOCS [name ...]: with names, only those; without, all.
void command_docs(const Args& args, resp::ReplyWriter& out) {
    struct Doc {
        std::string_view name, summary, group, syntax;
    };
    std::vector<Doc> docs;
    for (const kv::CommandInfo& c : kv::all_commands()) {
        docs.push_back({c.name, c.summary, "string", c.syntax});
    }
    for (const ServerCommandInfo& c : kServerCommands) {
        docs.push_back({c.name, c.summary, "connection", c.syntax});
    }
    std::vector<const Doc*> chosen;
    for (const Doc& d : docs) {
        bool wanted = args.size() == 2;
        for (std::size_t i = 2; i < args.size() && !wanted; ++i) {
            wanted = ascii_lower(args[i]) == d.name;
        }
        if (wanted) chosen.push_back(&d);
    }
    out.array_header(chosen.size() * 2);
    for (const Doc* d : chosen) write_command_doc(out, d->name, d->summary, d->group, d->syntax);
}

void command(const Args& args, resp::ReplyWriter& out) {
    const std::string sub = args.size() >= 2 ? ascii_lower(args[1]) : std::string();
    if (args.size() == 1) {
        out.array_header(command_count());
        for (const kv::CommandInfo& c : kv::all_commands()) {
            write_command_entry(out, c.name, c.arity, c.flags, c.first_key, c.last_key, c.key_step);
        }
        for (const ServerCommandInfo& c : kServerCommands) {
            write_command_entry(out, c.name, c.arity, c.flags, 0, 0, 0);
        }
    } else if (sub == "count") {
        out.integer(static_cast<std::int64_t>(command_count()));
    } else if (sub == "docs") {
        command_docs(args, out);
    } else if (sub == "info") {
        out.array_header(args.size() - 2);
        for (std::size_t i = 2; i < args.size(); ++i) {
            const std::string n = ascii_lower(args[i]);
            if (const kv::CommandInfo* c = kv::find_command(n)) {
                write_command_entry(out, c->name, c->arity, c->flags, c->first_key, c->last_key,
                                    c->key_step);
            } else if (const ServerCommandInfo* sc = find_server_command(n)) {
                write_command_entry(out, sc->name, sc->arity, sc->flags, 0, 0, 0);
            } else {
                out.null_array();
            }
        }
    } else {
        out.error(fmt::format("ERR unknown subcommand '{}'. Try COMMAND HELP.",
                              std::string_view(args[1])));
    }
}

// CONFIG GET over a fixed list of read-only parameters (enough for
// redis-benchmark, which asks for "save" and "appendonly").
void config(const Args& args, const ServerConfig& cfg, const NodeAddress& self,
            resp::ReplyWriter& out) {
    const std::string sub = ascii_lower(args[1]);
    if (sub == "set" || sub == "resetstat" || sub == "rewrite") {
        out.error(
            "ERR raftkv's configuration is read only at run time; "
            "restart the server with new flags");
        return;
    }
    if (sub != "get" || args.size() < 3) {
        out.error(
            fmt::format("ERR unknown subcommand or wrong number of arguments for '{}'. "
                        "Try CONFIG HELP.",
                        std::string_view(args[1])));
        return;
    }
    const std::pair<std::string_view, std::string> params[] = {
        {"appendonly", "yes"},
        {"appendfsync", "always"},
        {"save", ""},
        {"databases", "1"},
        {"port", std::to_string(self.port)},
        {"bind", self.host},
        {"dir", cfg.data_dir.string()},
        {"maxclients", std::to_string(cfg.clients_max)},
        {"proto-max-bulk-len", std::to_string(cfg.bulk_bytes_max)},
        {"snapshot-log-bytes", std::to_string(cfg.snapshot_log_bytes)},
    };
    std::vector<const std::pair<std::string_view, std::string>*> hits;
    for (const auto& p : params) {
        for (std::size_t i = 2; i < args.size(); ++i) {
            if (kv::glob_match(ascii_lower(args[i]), p.first)) {
                hits.push_back(&p);
                break;
            }
        }
    }
    out.array_header(hits.size() * 2);
    for (const auto* p : hits) {
        out.bulk(p->first);
        out.bulk(p->second);
    }
}

void client(net::ClientConnection& conn, const Args& args, resp::ReplyWriter& out) {
    const std::string sub = ascii_lower(args[1]);
    const std::size_t argc = args.size();
    if (sub == "id" && argc == 2) {
        out.integer(static_cast<std::int64_t>(conn.id()));
    } else if (sub == "getname" && argc == 2) {
        if (conn.name.empty()) {
            out.null_bulk();
        } else {
            out.bulk(conn.name);
        }
    } else if (sub == "setname" && argc == 3) {
        if (args[2].find_first_of(" \n\r") != std::string::npos) {
            out.error("ERR Client names cannot contain spaces, newlines or special characters.");
        } else {
            conn.name = args[2];
            out.simple("OK");
        }
    } else if (sub == "setinfo" && argc == 4) {
        out.simple("OK");  // library name and version: accepted, not kept
    } else if (sub == "info" && argc == 2) {
        out.bulk(fmt::format("id={} addr={} name={}\n", conn.id(), conn.peer_address(), conn.name));
    } else {
        out.error(
            fmt::format("ERR unknown subcommand or wrong number of arguments for '{}'. "
                        "Try CLIENT HELP.",
                        std::string_view(args[1])));
    }
}

}  // namespace

// Redis Cluster node ids are 40 hex characters.
std::string cluster_node_id(raft::NodeId id) { return fmt::format("{:040x}", id.value); }

void Server::cluster(const std::vector<std::string>& args, resp::ReplyWriter& out) const {
    const std::string sub = ascii_lower(args[1]);
    const raft::NodeId leader = node_->leader();
    const std::optional<NodeAddress> leader_address = address_of(leader);
    const std::vector<NodeAddress> members = member_addresses();
    if (sub == "myid" && args.size() == 2) {
        out.bulk(cluster_node_id(self_.id));
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
            std::string flags = n.id == self_.id ? "myself," : "";
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
std::string_view refusal_prefix(raft::Refusal r) {
    return r == raft::Refusal::kConfigChangePending ? "TRYAGAIN" : "ERR";
}

}  // namespace

// RAFT subcommands. All but STATUS and SNAPSHOT act through the leader; a
// follower redirects them there. REMOVENODE answers +OK once the removal is
// committed and applied (like a write: -UNCERTAIN or -TRYAGAIN if the leader
// loses its place first), so that an operator who then stops the server
// cannot undo it; ADDNODE answers at once (the joiner asks again until it
// hears from a leader).
bool Server::raft_command(net::ClientConnection& conn, std::uint64_t slot,
                          const std::vector<std::string>& args, resp::ReplyWriter& out) {
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
            out.error(fmt::format("ERR nothing to snapshot: the snapshot at index {} covers "
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
        const raft::Refusal r = node_->transfer_leadership(*id);
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
                                                .conn = conn.weak_from_this(),
                                                .slot = slot,
                                                .deadline = std::chrono::steady_clock::now() +
                                                            kWriteDecisionTimeout});
        schedule_pump();
        return true;
    } else {
        add_node(*id, args[3], out);
    }
    return false;
}

// RAFT ADDNODE id host:port[@peerport]: idempotent, so a joining server may
// retry it; replies with every member's addresses (the joiner needs them).
void Server::add_node(raft::NodeId id, const std::string& address, resp::ReplyWriter& out) {
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
            out.error(fmt::format("{} cannot add node {}: {}", refusal_prefix(p.refusal),
                                  id.value, raft::refusal_name(p.refusal)));
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

bool Server::run_server_command(net::ClientConnection& conn, std::uint64_t slot,
                                std::string_view name, std::vector<std::string>& args) {
    const ServerCommandInfo* cmd = find_server_command(name);
    if (cmd == nullptr) return false;
    resp::ReplyWriter out(conn.reply_buffer(slot));
    if (!arity_ok(cmd->arity, args.size()) || (name == "ping" && args.size() > 2)) {
        out.error(fmt::format("ERR wrong number of arguments for '{}' command", name));
    } else if (name == "ping") {
        if (args.size() == 1) {
            out.simple("PONG");
        } else {
            out.bulk(args[1]);
        }
    } else if (name == "echo") {
        out.bulk(args[1]);
    } else if (name == "quit") {
        out.simple("OK");
        conn.finish(slot);
        conn.close_after_replies();
        return true;
    } else if (name == "hello") {
        hello(conn, args, out);
    } else if (name == "select") {
        if (args[1] == "0") {
            out.simple("OK");
        } else {
            out.error("ERR DB index is out of range");
        }
    } else if (name == "info") {
        out.bulk(info(args.size() >= 2 ? ascii_lower(args[1]) : std::string("default")));
    } else if (name == "command") {
        command(args, out);
    } else if (name == "config") {
        config(args, config_, self_, out);
    } else if (name == "client") {
        client(conn, args, out);
    } else if (name == "cluster") {
        cluster(args, out);
    } else if (name == "raft") {
        if (raft_command(conn, slot, args, out)) return true;  // answered once applied
    } else if (name == "readonly") {
        conn.readonly = true;
        out.simple("OK");
    } else if (name == "readwrite") {
        conn.readonly = false;
        out.simple("OK");
    }
    conn.finish(slot);
    return true;
}

std::string Server::info(std::string_view section) const {
    const bool all = section == "default" || section == "all" || section == "everything";
    std::string s;
    auto header = [&](std::string_view name, std::string_view title) {
        if (!all && section != name) return false;
        if (!s.empty()) s += "\r\n";
        s += fmt::format("# {}\r\n", title);
        return true;
    };
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now() - started_at_)
                            .count();
    if (header("server", "Server")) {
        s += fmt::format("redis_version:{}\r\n", kRedisVersion);
        s += fmt::format("raftkv_version:{}\r\n", kRaftkvVersion);
        s += "redis_mode:cluster\r\n";
        s += fmt::format("process_id:{}\r\n", ::getpid());
        s += fmt::format("node_id:{}\r\n", self_.id.value);
        s += fmt::format("tcp_port:{}\r\n", self_.port);
        s += fmt::format("uptime_in_seconds:{}\r\n", uptime);
    }
    if (header("clients", "Clients")) {
        s += fmt::format("connected_clients:{}\r\n", connections_.size());
        s += fmt::format("maxclients:{}\r\n", config_.clients_max);
        s += fmt::format("pending_writes:{}\r\n", pending_writes_.size());
    }
    if (header("persistence", "Persistence")) {
        s += "loading:0\r\n";
        s += "aof_enabled:1\r\n";
        s += fmt::format("data_dir:{}\r\n", config_.data_dir.string());
        s += fmt::format("log_last_index:{}\r\n", node_->log().last_index().value);
        s += fmt::format("log_applied_index:{}\r\n", applied_.value);
        s += fmt::format("log_bytes_on_disk:{}\r\n", disk_ ? disk_->bytes_on_disk() : 0);
        s += fmt::format("log_bytes_since_snapshot:{}\r\n", log_bytes_since_snapshot_);
        s += fmt::format("snapshot_index:{}\r\n", snapshot_index_.value);
        s += fmt::format("snapshot_in_progress:{}\r\n", is_snapshot_running_ ? 1 : 0);
        s += fmt::format("snapshots_taken:{}\r\n", stats_.snapshots_taken);
        s += fmt::format("snapshots_failed:{}\r\n", stats_.snapshots_failed);
        s += fmt::format("last_write_error:{}\r\n", last_write_error_);
    }
    if (header("stats", "Stats")) {
        s += fmt::format("total_connections_received:{}\r\n", stats_.connections_received);
        s += fmt::format("rejected_connections:{}\r\n", stats_.connections_rejected);
        s += fmt::format("total_commands_processed:{}\r\n", stats_.commands_processed);
        s += fmt::format("writes_applied:{}\r\n", stats_.writes_applied);
        s += fmt::format("write_batches_synced:{}\r\n", stats_.write_batches_synced);
        s += fmt::format("writes_failed_disk_full:{}\r\n", stats_.writes_failed_disk_full);
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
        s += fmt::format("raft_log_bytes_on_disk:{}\r\n", disk_ ? disk_->bytes_on_disk() : 0);
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
            s += fmt::format("db0:keys={},expires=0,avg_ttl=0\r\n", state_.key_count());
        }
    }
    return s;
}

}  // namespace raftkv::server
