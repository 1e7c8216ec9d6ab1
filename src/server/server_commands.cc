// server_commands.cc — the commands about the connection itself, which the
// server answers for the replica (ClientPort::run_connection_command): PING,
// ECHO, QUIT, HELLO, SELECT, CLIENT, and COMMAND and CONFIG GET.
//
// They never touch the key space and are never logged; the commands that
// need the replica's state (INFO, CLUSTER, RAFT, READONLY) are in
// replica_commands.cc. Reply shapes follow
// Redis 7 so that redis-cli, redis-benchmark and client libraries work.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "kv/commands.h"
#include "kv/glob.h"
#include "resp/reply_writer.h"
#include "server/command_table.h"
#include "server/config.h"
#include "server/server.h"

namespace raftkv::server {
namespace {

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

// The kv commands a client may send: every one but the internal ones.
std::vector<const kv::CommandInfo*> client_commands() {
    std::vector<const kv::CommandInfo*> out;
    for (const kv::CommandInfo& c : kv::all_commands()) {
        if (!kv::is_internal(c)) out.push_back(&c);
    }
    return out;
}

std::size_t command_count() { return client_commands().size() + server_commands().size(); }

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
    for (const kv::CommandInfo* c : client_commands()) {
        docs.push_back({c->name, c->summary, "string", c->syntax});
    }
    for (const ServerCommandInfo& c : server_commands()) {
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
        for (const kv::CommandInfo* c : client_commands()) {
            write_command_entry(out, c->name, c->arity, c->flags, c->first_key, c->last_key,
                                c->key_step);
        }
        for (const ServerCommandInfo& c : server_commands()) {
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
            if (const kv::CommandInfo* c = kv::find_client_command(n)) {
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

bool Server::run_connection_command(ReplyTarget to, std::string_view name,
                                    std::vector<std::string>& args) {
    const bool is_ours = name == "ping" || name == "echo" || name == "quit" || name == "hello" ||
                         name == "select" || name == "command" || name == "config" ||
                         name == "client";
    if (!is_ours) return false;
    const ServerCommandInfo* cmd = find_server_command(name);
    RAFTKV_ASSERT(cmd != nullptr, "{} is not in the server command table", name);
    net::ClientConnection* connp = connection(to.client);
    if (connp == nullptr) return true;
    net::ClientConnection& conn = *connp;
    const std::uint64_t slot = to.slot;
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
    } else if (name == "command") {
        command(args, out);
    } else if (name == "config") {
        config(args, config_, self_, out);
    } else if (name == "client") {
        client(conn, args, out);
    }
    conn.finish(slot);
    return true;
}

}  // namespace raftkv::server
