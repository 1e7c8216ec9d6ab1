// kv_machine.h — the simulation's key-value state machine and the encoding
// of the commands its log entries carry.
//
// A deliberately tiny stand-in for src/kv: one std::map of strings, the
// operations of the history model (sim/history.h: get, set, incr, cas, del)
// with the same semantics the linearizability checker assumes, and a
// snapshot image that is the map written out. Each command names the client
// and operation that proposed it, so that whoever applies it can route the
// reply back. Not a format anyone persists outside one simulation run: no
// version, no compatibility. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "sim/history.h"

namespace raftkv::sim {

// One client operation as a log entry carries it. `key` and `value` must
// not contain '|' or '\n' (the simulation's keys and values never do).
struct KvCommand {
    OpKind kind = OpKind::kGet;
    std::uint64_t client = 0;
    std::uint64_t op = 0;  // the operation's id in the cluster's history
    std::string key;
    std::string value;       // set: the value; cas: the new value
    Value expected;          // cas only
    std::int64_t delta = 0;  // incr only

    bool operator==(const KvCommand&) const = default;
};

std::string encode_command(const KvCommand& c);
// nullopt for bytes encode_command did not produce.
std::optional<KvCommand> decode_command(std::string_view bytes);

class KvMachine {
public:
    // Runs one command and returns its reply (a get changes nothing).
    Reply apply(const KvCommand& c);
    // What a get of `key` returns now.
    Reply get(const std::string& key) const;

    // The whole map, sorted by key: a snapshot image.
    std::string encode_snapshot() const;
    // Replaces the map with an image from encode_snapshot(); false (and no
    // change) for anything else.
    bool load_snapshot(std::string_view image);

    const std::map<std::string, std::string>& data() const { return data_; }
    bool operator==(const KvMachine&) const = default;

private:
    std::map<std::string, std::string> data_;
};

}  // namespace raftkv::sim
