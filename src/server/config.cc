// config.cc — parsing and validation of the server configuration.
#include "server/config.h"

#include <fmt/format.h>

#include <charconv>

namespace raftkv::server {
namespace {

bool parse_u64(std::string_view s, std::uint64_t* out) {
    if (s.empty()) return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && ptr == s.data() + s.size();
}

Result<std::uint16_t> parse_port(std::string_view s, std::string_view entry) {
    std::uint64_t port = 0;
    if (!parse_u64(s, &port) || port == 0 || port > 65535) {
        return Status::errorf(Code::kInvalid, "bad port '{}' in cluster entry '{}'", s, entry);
    }
    return static_cast<std::uint16_t>(port);
}

Result<NodeAddress> parse_entry(std::string_view entry) {
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) {
        return Status::errorf(Code::kInvalid, "cluster entry '{}' is not ID=HOST:PORT", entry);
    }
    NodeAddress node;
    std::uint64_t id = 0;
    if (!parse_u64(entry.substr(0, eq), &id) || id == 0) {
        return Status::errorf(Code::kInvalid, "bad node id in cluster entry '{}'", entry);
    }
    node.id = raft::NodeId(id);
    std::string_view addr = entry.substr(eq + 1);
    std::string_view peer;
    if (const auto at = addr.find('@'); at != std::string_view::npos) {
        peer = addr.substr(at + 1);
        addr = addr.substr(0, at);
    }
    const auto colon = addr.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        return Status::errorf(Code::kInvalid, "cluster entry '{}' is not ID=HOST:PORT", entry);
    }
    node.host = std::string(addr.substr(0, colon));
    Result<std::uint16_t> port = parse_port(addr.substr(colon + 1), entry);
    if (!port) return port.error();
    node.port = *port;
    if (peer.empty()) {
        if (node.port > 65535 - 10000) {
            return Status::errorf(Code::kInvalid,
                                  "port {} leaves no room for the peer port {} in '{}'; give "
                                  "one as HOST:PORT@PEERPORT",
                                  node.port, node.port + 10000, entry);
        }
        node.peer_port = static_cast<std::uint16_t>(node.port + 10000);
    } else {
        Result<std::uint16_t> peer_port = parse_port(peer, entry);
        if (!peer_port) return peer_port.error();
        node.peer_port = *peer_port;
    }
    return node;
}

}  // namespace

std::string NodeAddress::client_address() const { return fmt::format("{}:{}", host, port); }

Result<std::vector<NodeAddress>> parse_cluster(std::string_view spec) {
    std::vector<NodeAddress> nodes;
    while (!spec.empty()) {
        const auto comma = spec.find(',');
        const std::string_view entry = spec.substr(0, comma);
        spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
        if (entry.empty()) continue;
        Result<NodeAddress> node = parse_entry(entry);
        if (!node) return node.error();
        for (const NodeAddress& other : nodes) {
            if (other.id == node->id) {
                return Status::errorf(Code::kInvalid, "node id {} appears twice in --cluster",
                                      node->id.value);
            }
        }
        nodes.push_back(std::move(*node));
    }
    if (nodes.empty()) return Status::error(Code::kInvalid, "--cluster names no server");
    return nodes;
}

Result<NodeAddress> validate(ServerConfig* config) {
    if (config->cluster.empty()) {
        config->cluster.push_back(NodeAddress{config->id, "127.0.0.1", 6379, 16379});
    }
    const NodeAddress* self = nullptr;
    for (const NodeAddress& node : config->cluster) {
        if (node.id == config->id) self = &node;
    }
    if (self == nullptr) {
        return Status::errorf(Code::kInvalid, "--id {} is not in --cluster", config->id.value);
    }
    if (config->cluster.size() > 7) {
        return Status::errorf(Code::kInvalid,
                              "--cluster names {} servers; raftkv serves clusters of 1 to 7 "
                              "(3 or 5 is usual)",
                              config->cluster.size());
    }
    if (config->tick_ms < 1 || config->tick_ms > 10000) {
        return Status::error(Code::kInvalid, "--tick-ms must be in 1..10000");
    }
    if (config->election_ticks < 2 || config->election_ticks > 1000) {
        return Status::error(Code::kInvalid, "--election-ticks must be in 2..1000");
    }
    if (config->data_dir.empty()) return Status::error(Code::kInvalid, "--data-dir is empty");
    if (config->snapshot_log_bytes < 4096) {
        return Status::error(Code::kInvalid, "--snapshot-log-bytes must be at least 4096");
    }
    if (config->wal_segment_bytes < 4096) {
        return Status::error(Code::kInvalid, "--wal-segment-bytes must be at least 4096");
    }
    if (config->bulk_bytes_max < 1024) {
        return Status::error(Code::kInvalid, "--max-bulk-bytes must be at least 1024");
    }
    return *self;
}

}  // namespace raftkv::server
