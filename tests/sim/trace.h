// trace.h — the simulation's event trace: the last events of a run kept in a
// ring buffer for a failure report, and optionally every event printed as it
// happens (raftkv-sim --trace).
//
// Message deliveries are by far the most frequent events, so they are kept
// in a compact form (the message without its entries' payloads) and only
// turned into text when the trace is read. Every other event (faults, role
// changes, proposals, client results, disk writes) is text at once. Times
// are SimTime units; a line reads "t=12.345 ..." in ticks. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "raft/message.h"
#include "sim/network.h"

namespace raftkv::sim {

class TraceRing {
public:
    // Keeps the last `capacity` events; `sink`, when set, receives every
    // event's line at once. `tick_time` is SimTime units per tick.
    TraceRing(std::size_t capacity, SimTime tick_time, std::function<void(std::string_view)> sink);

    void add_delivery(SimTime now, const raft::Message& m);
    void add(SimTime now, std::string text);

    // The kept events, oldest first, one line each.
    std::string dump() const;
    std::uint64_t event_count() const { return count_; }

private:
    struct Event {
        SimTime time = 0;
        bool is_message = false;
        raft::Message message;  // entries and data dropped; see entry_* and data_bytes
        raft::Index entry_first;
        raft::Index entry_last;
        std::size_t data_bytes = 0;
        std::string text;
    };
    std::string format(const Event& e) const;
    Event& next_slot();

    std::size_t capacity_;
    SimTime tick_time_;
    std::function<void(std::string_view)> sink_;
    std::vector<Event> events_;
    std::size_t head_ = 0;  // where the next event goes once full
    std::uint64_t count_ = 0;
};

}  // namespace raftkv::sim
