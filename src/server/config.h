// config.h — what a raftkv server is told at start: its id, the cluster's
// addresses, its data directory and its limits.
//
// Parsed from flags or a config file by src/cli/main.cc; this file only holds
// the values, parses the --cluster list and validates the whole. Addresses
// follow DESIGN.md (Addresses): HOST:PORT, peer port PORT+10000 unless given
// as HOST:PORT@PEERPORT.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "raft/types.h"

namespace raftkv::server {

struct NodeAddress {
    raft::NodeId id;
    std::string host;
    std::uint16_t port = 0;
    std::uint16_t peer_port = 0;

    std::string client_address() const;  // "127.0.0.1:6379"
    bool operator==(const NodeAddress&) const = default;
};

// Parses "1=127.0.0.1:7001,2=127.0.0.1:7002@17002". Ids are positive and
// unique; ports are 1..65535; the peer port defaults to port + 10000.
Result<std::vector<NodeAddress>> parse_cluster(std::string_view spec);

struct ServerConfig {
    raft::NodeId id{1};
    std::vector<NodeAddress> cluster;  // empty means "1=127.0.0.1:6379"
    std::filesystem::path data_dir = "raftkv-data";

    // A snapshot is taken when the log written since the last one passes this.
    std::uint64_t snapshot_log_bytes = 64ull << 20;
    std::uint64_t wal_segment_bytes = 64ull << 20;
    // Client protocol limits (Redis: proto-max-bulk-len, maxclients).
    std::uint64_t bulk_bytes_max = 512ull << 20;
    std::uint64_t clients_max = 10000;
    std::string log_level = "info";
    // Raft timing: one tick every tick_ms; a follower that hears from no
    // leader for election_ticks to 2 * election_ticks ticks campaigns; the
    // leader sends heartbeats every tick.
    int tick_ms = 50;
    int election_ticks = 10;
    // HOST:PORT of any server of an existing cluster: this server asks to be
    // added (as a learner, then a voter) instead of founding a cluster.
    // --cluster then gives only its own address. Ignored once it has state.
    std::string join;
    // Must match on every server of a cluster (peer handshake).
    std::string cluster_id = "raftkv";
};

// Fills defaults and checks the whole: --id names an entry of the cluster, of
// 1 to 7 servers.
// Returns the address this server listens on.
Result<NodeAddress> validate(ServerConfig* config);

}  // namespace raftkv::server
