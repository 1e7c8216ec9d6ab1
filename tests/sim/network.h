// network.h — the simulated network between the raft cores of a simulation.
//
// Carries messages between nodes with random per-link delays, loss,
// duplication and reordering (or per-link FIFO), under partitions of any
// shape (one-way blocks, isolated nodes, groups) and nodes that are down.
// Everything follows from the seed in NetworkOptions and the times the caller
// passes in: it never reads a clock, and two runs with the same seed and the
// same calls deliver the same messages in the same order. Spec: DESIGN.md
// "Testing", issue 3.
//
// Generic on purpose: the raft core's Message type does not exist yet, so
// SimNetwork<Msg> is a class template over the payload. The payload-free part
// (fault state, random draws, schedule, counters, trace) is NetworkCore, in
// network.cc; SimNetwork<Msg> only keeps one payload per scheduled envelope.
// Msg must be copyable (a duplicated message is a copy).
//
// Decisions, in the order they are taken:
//   send:    sender or receiver down -> dropped (kNodeDown); link cut ->
//            dropped (kPartition); loss draw -> dropped (kLoss); otherwise
//            scheduled, and a duplication draw may schedule one more copy
//            with its own delay.
//   deliver: receiver down, or crashed and restarted since the send ->
//            dropped (kNodeDown); link cut now -> dropped (kPartition).
// A partition therefore drops messages already in flight when they arrive,
// the harsher choice: a message sent before a cut never sneaks across it. A
// message whose sender crashed after sending is still delivered (the bytes
// were on the wire); the receiver's restart, like a reset connection, drops
// what was in flight to it.
//
// Time is an integer in the caller's unit (ticks or microseconds); delays use
// the same unit. Probabilities are integer parts per million, and all draws
// are our own integer arithmetic over SplitMix64, so results do not depend on
// the standard library's distributions.
//
// Does not: model bandwidth or message size, print anything (trace lines go
// to the sink the caller gives), or trace the caller's own fault changes
// (block, crash, ...): the simulation traces its actions itself.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/assert.h"
#include "raft/types.h"

namespace raftkv::sim {

using raft::NodeId;

// Simulated time, in the caller's unit. Only ever passed in, never read.
using SimTime = std::uint64_t;

// A small explicit PRNG (SplitMix64, Steele et al. 2014) with portable
// integer draws. Not thread-safe.
class NetworkRng {
public:
    explicit NetworkRng(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next();
    // Uniform in [lo, hi] (inclusive), by rejection: no modulo bias.
    std::uint64_t uniform(std::uint64_t lo, std::uint64_t hi);
    // True with probability ppm / 1,000,000.
    bool chance_ppm(std::uint32_t ppm);

private:
    std::uint64_t state_;
};

inline constexpr std::uint32_t kPpmMax = 1'000'000;
// A runaway simulation stops here rather than eating memory.
inline constexpr std::size_t kInFlightMessagesMax = 1'000'000;

// One direction between two nodes. A struct so that from and to cannot be
// swapped silently: block({.from = a, .to = b}).
struct Link {
    NodeId from;
    NodeId to;
    auto operator<=>(const Link&) const = default;
};

// How one direction of a link behaves. A delay is uniform in
// [delay_min, delay_max]; with probability tail_ppm it is instead uniform in
// (delay_max, tail_delay_max], the rare long tail.
struct LinkConfig {
    SimTime delay_min = 1;
    SimTime delay_max = 1;
    std::uint32_t tail_ppm = 0;
    SimTime tail_delay_max = 0;  // used only when tail_ppm > 0; must exceed delay_max
    std::uint32_t loss_ppm = 0;
    std::uint32_t duplicate_ppm = 0;
};

struct NetworkOptions {
    std::uint64_t seed = 0;
    LinkConfig default_link;
    // Per-link FIFO: a message is never delivered before one sent earlier on
    // the same link (its delivery time is raised to the link's latest).
    bool fifo_per_link = false;
    // Receives one line per send, duplicate, drop and delivery. May be empty.
    std::function<void(std::string_view)> trace;
};

enum class DropCause : std::uint8_t { kLoss, kPartition, kNodeDown };
std::string_view drop_cause_name(DropCause cause);

// Invariant: sent + duplicated == delivered + dropped() + in flight.
struct NetworkCounters {
    std::uint64_t sent = 0;
    std::uint64_t duplicated = 0;  // extra copies scheduled
    std::uint64_t delivered = 0;
    std::uint64_t dropped_loss = 0;
    std::uint64_t dropped_partition = 0;
    std::uint64_t dropped_node_down = 0;

    std::uint64_t dropped() const { return dropped_loss + dropped_partition + dropped_node_down; }
    // "sent=10 duplicated=1 delivered=8 dropped=2 (loss=1 partition=1 down=0)"
    std::string to_string() const;
};

// One scheduled copy of a message. seq is unique per copy and increases with
// scheduling order; deliveries are ordered by (deliver_at, seq).
struct Envelope {
    std::uint64_t seq = 0;
    Link link;
    SimTime sent_at = 0;
    SimTime deliver_at = 0;
    std::uint64_t receiver_incarnation = 0;
};

// The payload-free network: fault state, draws, schedule, counters, trace.
// Owned by SimNetwork (or used directly by a caller that keeps payloads by
// seq). Not thread-safe.
class NetworkCore {
public:
    explicit NetworkCore(NetworkOptions options);

    // Decides the fate of one message; returns the envelopes scheduled (none,
    // one, or two when duplicated). `what` describes the message for the trace.
    std::vector<Envelope> send(Link link, SimTime now, std::string_view what);

    struct Due {
        Envelope envelope;
        bool delivered = false;  // false: dropped at delivery time
    };
    // Removes every envelope with deliver_at <= now, in (deliver_at, seq)
    // order, deciding delivery or drop for each.
    std::vector<Due> take_due(SimTime now);

    // The earliest deliver_at in flight, if any: lets the caller skip time.
    std::optional<SimTime> next_delivery_time() const;
    std::size_t in_flight() const { return schedule_.size(); }
    const NetworkCounters& counters() const { return counters_; }

    // Faults. Blocks and isolations add up; split replaces the previous
    // split; heal removes all three (it does not restart nodes). A link from
    // a node to itself is never cut.
    void set_link_config(Link link, LinkConfig config);
    void block(Link link);  // one direction only
    void unblock(Link link);
    void isolate(NodeId node);
    void rejoin(NodeId node);  // undoes isolate(node)
    // Nodes in different groups cannot talk. Nodes named in no group form one
    // more group together. Each node may appear once.
    void split(const std::vector<std::vector<NodeId>>& groups);
    void heal();
    bool is_link_open(Link link) const;

    void crash(NodeId node);  // drops messages to and from it until restart
    void restart(NodeId node);
    bool is_down(NodeId node) const;

private:
    struct NodeState {
        bool down = false;
        std::uint64_t incarnation = 0;  // only grows: +1 per crash
    };

    const LinkConfig& config_for(Link link) const;
    SimTime draw_delay(const LinkConfig& config);
    Envelope schedule(Link link, SimTime now, SimTime delay);
    std::optional<DropCause> send_drop_cause(Link link, const LinkConfig& config);
    std::optional<DropCause> delivery_drop_cause(const Envelope& e) const;
    void count_drop(DropCause cause);
    void emit(std::string_view line) const;
    NodeState node_state(NodeId node) const;

    NetworkOptions options_;
    NetworkRng rng_;
    NetworkCounters counters_;
    std::uint64_t next_seq_ = 1;
    // Keyed by (deliver_at, seq): iteration order is delivery order.
    std::map<std::pair<SimTime, std::uint64_t>, Envelope> schedule_;
    std::map<Link, LinkConfig> link_configs_;
    // FIFO only: the latest deliver_at scheduled per link.
    std::map<Link, SimTime> fifo_last_;
    std::set<Link> blocked_;
    std::set<NodeId> isolated_;
    std::map<NodeId, int> group_of_;  // empty: no split
    std::map<NodeId, NodeState> nodes_;
};

// The simulated network over payload type Msg. Owned by the simulation; not
// thread-safe.
template <typename Msg>
class SimNetwork {
public:
    struct Delivery {
        Link link;
        Msg msg;
        SimTime sent_at = 0;
        SimTime deliver_at = 0;
        std::uint64_t seq = 0;
    };

    // `describe` turns a message into a short trace text; may be empty.
    explicit SimNetwork(NetworkOptions options,
                        std::function<std::string(const Msg&)> describe = {})
        : core_(std::move(options)), describe_(std::move(describe)) {}

    // Sends msg over link at time now (see the file comment for its fate).
    void send(Link link, const Msg& msg, SimTime now) {
        const std::string what = describe_ ? describe_(msg) : std::string();
        for (const Envelope& e : core_.send(link, now, what)) payloads_.emplace(e.seq, msg);
    }

    // The messages due at or before now whose receiver is up and whose link
    // is open, in (deliver_at, seq) order. Due messages that fail those
    // checks are dropped and counted.
    std::vector<Delivery> deliver_due(SimTime now) {
        std::vector<Delivery> out;
        for (NetworkCore::Due& due : core_.take_due(now)) {
            auto it = payloads_.find(due.envelope.seq);
            RAFTKV_ASSERT(it != payloads_.end(), "no payload for #{}", due.envelope.seq);
            if (due.delivered) {
                out.push_back({.link = due.envelope.link,
                               .msg = std::move(it->second),
                               .sent_at = due.envelope.sent_at,
                               .deliver_at = due.envelope.deliver_at,
                               .seq = due.envelope.seq});
            }
            payloads_.erase(it);
        }
        RAFTKV_DEBUG_ASSERT(payloads_.size() == core_.in_flight());
        return out;
    }

    NetworkCore& faults() { return core_; }
    const NetworkCore& faults() const { return core_; }

    // Shorthands for the fault controls on NetworkCore.
    void block(Link link) { core_.block(link); }
    void unblock(Link link) { core_.unblock(link); }
    void isolate(NodeId node) { core_.isolate(node); }
    void rejoin(NodeId node) { core_.rejoin(node); }
    void split(const std::vector<std::vector<NodeId>>& groups) { core_.split(groups); }
    void heal() { core_.heal(); }
    void crash(NodeId node) { core_.crash(node); }
    void restart(NodeId node) { core_.restart(node); }
    void set_link_config(Link link, LinkConfig config) { core_.set_link_config(link, config); }

    std::optional<SimTime> next_delivery_time() const { return core_.next_delivery_time(); }
    std::size_t in_flight() const { return core_.in_flight(); }
    const NetworkCounters& counters() const { return core_.counters(); }

private:
    NetworkCore core_;
    std::function<std::string(const Msg&)> describe_;
    std::map<std::uint64_t, Msg> payloads_;  // by seq; same keys as the core's schedule
};

}  // namespace raftkv::sim
