// kv_machine.h — the simulation's commands and its state machine: the
// operations of the history model (sim/history.h: get, set, incr, cas, del)
// as log entries, run by the real kv::StateMachine.
//
// An entry names the client and operation that proposed it, so that whoever
// applies it can route the reply back (the sim's own encoding: not a format
// anyone persists outside one run). KvMachine turns each command into the
// Redis command a client would send (GET, SET, INCRBY, SET ... IFEQ / NX,
// DEL), runs it on a kv::StateMachine, and reads the RESP reply back as a
// history Reply; its snapshot image is the state machine's own
// (docs/kv_snapshot_format.md). So the raft-core simulation applies the
// same semantics the servers do, and KvMachine.AppliesLikeTheCheckersModel
// holds them to the checker's model. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "kv/state_machine.h"
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

    // The state machine's snapshot image.
    std::string encode_snapshot() const { return state_.snapshot(); }
    // Replaces the state with an image from encode_snapshot(); false (and no
    // change) for anything else.
    bool load_snapshot(std::string_view image) { return state_.restore(image).is_ok(); }

    // Every key and its value, sorted by key.
    std::map<std::string, std::string> data() const;
    bool operator==(const KvMachine& other) const { return state_ == other.state_; }

private:
    kv::StateMachine state_;
};

}  // namespace raftkv::sim
