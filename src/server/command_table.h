// command_table.h — the commands a server answers itself, without the
// state machine: their names, arities and docs (for COMMAND), shared by the
// connection commands (server_commands.cc) and the replica's own
// (replica_commands.cc).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "raft/types.h"

namespace raftkv::server {

inline constexpr std::string_view kRaftkvVersion = "0.1.0";
// The Redis version whose commands and replies raftkv follows; clients read
// it from HELLO and INFO to pick features.
inline constexpr std::string_view kRedisVersion = "7.0.0";

struct ServerCommandInfo {
    std::string_view name;
    int arity;
    std::string_view flags;
    std::string_view summary;
    std::string_view syntax;
};

std::span<const ServerCommandInfo> server_commands();
const ServerCommandInfo* find_server_command(std::string_view name);
// Redis's arity: n means exactly n arguments (the name included), -n at least n.
bool arity_ok(int arity, std::size_t argc);

// Command names are case-insensitive: "SET", "set" and "Set" are one command.
std::string ascii_lower(std::string_view s);

// Redis Cluster node ids are 40 hex characters.
std::string cluster_node_id(raft::NodeId id);

}  // namespace raftkv::server
