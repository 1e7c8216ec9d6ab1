// network.cc — the payload-free part of the simulated network: random draws,
// fault state, the delivery schedule, counters and trace lines.
//
// The template over the payload is in network.h, with the rules this file
// applies (what is dropped when, and why).
#include "sim/network.h"

#include <fmt/format.h>

#include <limits>

namespace raftkv::sim {

std::uint64_t NetworkRng::next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

std::uint64_t NetworkRng::uniform(std::uint64_t lo, std::uint64_t hi) {
    RAFTKV_ASSERT(lo <= hi, "empty range [{}, {}]", lo, hi);
    const std::uint64_t span = hi - lo;  // range size minus one
    if (span == std::numeric_limits<std::uint64_t>::max()) return next();
    const std::uint64_t size = span + 1;
    // Reject the top partial copy of [0, size) so every value is equally likely.
    const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() -
                                std::numeric_limits<std::uint64_t>::max() % size;
    std::uint64_t x = next();
    while (x >= limit) x = next();
    return lo + x % size;
}

bool NetworkRng::chance_ppm(std::uint32_t ppm) {
    RAFTKV_ASSERT(ppm <= kPpmMax, "probability {} ppm above {}", ppm, kPpmMax);
    if (ppm == 0) return false;  // no draw: a fault turned off costs no randomness
    return uniform(0, kPpmMax - 1) < ppm;
}

std::string_view drop_cause_name(DropCause cause) {
    switch (cause) {
        case DropCause::kLoss:
            return "loss";
        case DropCause::kPartition:
            return "partition";
        case DropCause::kNodeDown:
            return "down";
    }
    return "?";
}

std::string NetworkCounters::to_string() const {
    return fmt::format(
        "sent={} duplicated={} delivered={} dropped={} (loss={} partition={} down={})", sent,
        duplicated, delivered, dropped(), dropped_loss, dropped_partition, dropped_node_down);
}

namespace {

void check_config(const LinkConfig& c) {
    RAFTKV_ASSERT(c.delay_min <= c.delay_max, "delay_min {} > delay_max {}", c.delay_min,
                  c.delay_max);
    RAFTKV_ASSERT(c.tail_ppm <= kPpmMax, "tail_ppm {}", c.tail_ppm);
    RAFTKV_ASSERT(c.tail_ppm == 0 || c.tail_delay_max > c.delay_max,
                  "tail_delay_max {} must exceed delay_max {}", c.tail_delay_max, c.delay_max);
    RAFTKV_ASSERT(c.loss_ppm <= kPpmMax, "loss_ppm {}", c.loss_ppm);
    RAFTKV_ASSERT(c.duplicate_ppm <= kPpmMax, "duplicate_ppm {}", c.duplicate_ppm);
}

std::string link_text(Link link) { return fmt::format("{}->{}", link.from.value, link.to.value); }

std::string what_text(std::string_view what) {
    return what.empty() ? std::string() : fmt::format(" {}", what);
}

}  // namespace

NetworkCore::NetworkCore(NetworkOptions options)
    : options_(std::move(options)), rng_(options_.seed) {
    check_config(options_.default_link);
}

std::vector<Envelope> NetworkCore::send(Link link, SimTime now, std::string_view what) {
    const LinkConfig& config = config_for(link);
    ++counters_.sent;
    const std::uint64_t seq = next_seq_++;
    if (const std::optional<DropCause> cause = send_drop_cause(link, config)) {
        count_drop(*cause);
        if (options_.trace)
            emit(fmt::format("t={} send #{} {} dropped: {}{}", now, seq, link_text(link),
                             drop_cause_name(*cause), what_text(what)));
        return {};
    }
    std::vector<Envelope> out;
    out.push_back(schedule(link, now, draw_delay(config)));
    out.back().seq = seq;
    if (options_.trace)
        emit(fmt::format("t={} send #{} {} at={}{}", now, seq, link_text(link),
                         out.back().deliver_at, what_text(what)));
    if (rng_.chance_ppm(config.duplicate_ppm)) {
        ++counters_.duplicated;
        out.push_back(schedule(link, now, draw_delay(config)));
        out.back().seq = next_seq_++;
        if (options_.trace)
            emit(fmt::format("t={} dup #{} as #{} {} at={}", now, seq, out.back().seq,
                             link_text(link), out.back().deliver_at));
    }
    for (const Envelope& e : out) schedule_.emplace(std::pair(e.deliver_at, e.seq), e);
    RAFTKV_ASSERT(schedule_.size() <= kInFlightMessagesMax, "{} messages in flight",
                  schedule_.size());
    return out;
}

std::vector<NetworkCore::Due> NetworkCore::take_due(SimTime now) {
    std::vector<Due> out;
    while (!schedule_.empty() && schedule_.begin()->first.first <= now) {
        const Envelope e = schedule_.begin()->second;
        schedule_.erase(schedule_.begin());
        if (const std::optional<DropCause> cause = delivery_drop_cause(e)) {
            count_drop(*cause);
            if (options_.trace)
                emit(fmt::format("t={} drop #{} {} {}", e.deliver_at, e.seq, link_text(e.link),
                                 drop_cause_name(*cause)));
            out.push_back({.envelope = e, .delivered = false});
            continue;
        }
        ++counters_.delivered;
        if (options_.trace)
            emit(fmt::format("t={} deliver #{} {}", e.deliver_at, e.seq, link_text(e.link)));
        out.push_back({.envelope = e, .delivered = true});
    }
    return out;
}

std::optional<SimTime> NetworkCore::next_delivery_time() const {
    if (schedule_.empty()) return std::nullopt;
    return schedule_.begin()->first.first;
}

void NetworkCore::set_link_config(Link link, LinkConfig config) {
    check_config(config);
    link_configs_[link] = config;
}

void NetworkCore::block(Link link) { blocked_.insert(link); }
void NetworkCore::unblock(Link link) { blocked_.erase(link); }
void NetworkCore::isolate(NodeId node) { isolated_.insert(node); }
void NetworkCore::rejoin(NodeId node) { isolated_.erase(node); }

void NetworkCore::split(const std::vector<std::vector<NodeId>>& groups) {
    group_of_.clear();
    for (std::size_t g = 0; g < groups.size(); ++g) {
        for (NodeId node : groups[g]) {
            const bool inserted = group_of_.emplace(node, static_cast<int>(g)).second;
            RAFTKV_ASSERT(inserted, "node {} named in two groups", node.value);
        }
    }
}

void NetworkCore::heal() {
    blocked_.clear();
    isolated_.clear();
    group_of_.clear();
}

bool NetworkCore::is_link_open(Link link) const {
    if (link.from == link.to) return true;
    if (blocked_.contains(link)) return false;
    if (isolated_.contains(link.from) || isolated_.contains(link.to)) return false;
    if (group_of_.empty()) return true;
    const auto group = [&](NodeId node) {
        const auto it = group_of_.find(node);
        return it == group_of_.end() ? -1 : it->second;  // -1: the unnamed group
    };
    return group(link.from) == group(link.to);
}

void NetworkCore::crash(NodeId node) {
    NodeState& s = nodes_[node];
    if (s.down) return;
    s.down = true;
    ++s.incarnation;
}

void NetworkCore::restart(NodeId node) { nodes_[node].down = false; }

bool NetworkCore::is_down(NodeId node) const { return node_state(node).down; }

NetworkCore::NodeState NetworkCore::node_state(NodeId node) const {
    const auto it = nodes_.find(node);
    return it == nodes_.end() ? NodeState{} : it->second;
}

const LinkConfig& NetworkCore::config_for(Link link) const {
    const auto it = link_configs_.find(link);
    return it == link_configs_.end() ? options_.default_link : it->second;
}

SimTime NetworkCore::draw_delay(const LinkConfig& config) {
    if (rng_.chance_ppm(config.tail_ppm)) {
        return rng_.uniform(config.delay_max + 1, config.tail_delay_max);
    }
    return rng_.uniform(config.delay_min, config.delay_max);
}

// The seq is filled in by the caller, which numbers copies in trace order.
Envelope NetworkCore::schedule(Link link, SimTime now, SimTime delay) {
    Envelope e{.link = link,
               .sent_at = now,
               .deliver_at = now + delay,
               .receiver_incarnation = node_state(link.to).incarnation};
    if (options_.fifo_per_link) {
        SimTime& last = fifo_last_[link];
        if (e.deliver_at < last) e.deliver_at = last;  // ties keep send order by seq
        last = e.deliver_at;
    }
    return e;
}

std::optional<DropCause> NetworkCore::send_drop_cause(Link link, const LinkConfig& config) {
    if (is_down(link.from) || is_down(link.to)) return DropCause::kNodeDown;
    if (!is_link_open(link)) return DropCause::kPartition;
    if (rng_.chance_ppm(config.loss_ppm)) return DropCause::kLoss;
    return std::nullopt;
}

std::optional<DropCause> NetworkCore::delivery_drop_cause(const Envelope& e) const {
    const NodeState to = node_state(e.link.to);
    if (to.down || to.incarnation != e.receiver_incarnation) return DropCause::kNodeDown;
    if (!is_link_open(e.link)) return DropCause::kPartition;
    return std::nullopt;
}

void NetworkCore::count_drop(DropCause cause) {
    switch (cause) {
        case DropCause::kLoss:
            ++counters_.dropped_loss;
            break;
        case DropCause::kPartition:
            ++counters_.dropped_partition;
            break;
        case DropCause::kNodeDown:
            ++counters_.dropped_node_down;
            break;
    }
}

// Callers check options_.trace first, so an untraced run formats nothing.
void NetworkCore::emit(std::string_view line) const {
    if (options_.trace) options_.trace(line);
}

}  // namespace raftkv::sim
