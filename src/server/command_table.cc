// command_table.cc — the table of server commands (command_table.h).
#include "server/command_table.h"

#include <fmt/format.h>

#include <cctype>

namespace raftkv::server {
namespace {

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
    {"cluster", -2, "", "The cluster as Redis Cluster clients see it: the leader owns every slot",
     "MYID | INFO | NODES | SLOTS | SHARDS"},
    {"readonly", 1, "fast", "Lets this connection read from a follower (possibly stale)", ""},
    {"raft", -2, "", "Administers the Raft cluster",
     "STATUS | TRANSFER-LEADER id | SNAPSHOT | ADDNODE id host:port[@peerport] | REMOVENODE id"},
    {"readwrite", 1, "fast", "Ends READONLY: reads go to the leader again", ""},
};

}  // namespace

std::span<const ServerCommandInfo> server_commands() { return kServerCommands; }

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

std::string cluster_node_id(raft::NodeId id) { return fmt::format("{:040x}", id.value); }

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace raftkv::server
