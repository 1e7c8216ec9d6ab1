// inflights.h — the window of append messages a leader has sent to one
// follower and not yet seen acknowledged.
//
// Flow control for pipelined replication (dissertation §10.2.2): in
// replicate state a leader sends appends without waiting for each ack, and
// stops when the window is full, by count or by bytes, so that a slow follower
// cannot make it buffer without bound. Does not send or time out anything:
// Progress decides when a message is in flight and when it was acknowledged.
// Modeled on etcd-io/raft tracker/inflights.go.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include "raft/types.h"

namespace raftkv::raft {

// Default limits, used by Config when the caller does not choose.
inline constexpr std::size_t kInflightAppendsMax = 256;
inline constexpr std::uint64_t kInflightBytesMax = 16 * 1024 * 1024;

struct InflightsLimits {
    std::size_t appends_max = kInflightAppendsMax;  // at least 1
    std::uint64_t bytes_max = kInflightBytesMax;    // 0 means no byte limit
};

// A FIFO of (last index, payload bytes) of messages in flight to one follower.
// Owned by that follower's Progress. Not thread-safe.
class Inflights {
public:
    explicit Inflights(InflightsLimits limits = {});

    // Records a message whose last entry is `last_index` and whose entries'
    // payload totals `bytes`. Requires !is_full() and last_index greater than
    // that of every message already in flight (appends go out in log order).
    // A message may carry more bytes than fit: the byte limit stops the next
    // message, never splits this one.
    void add(Index last_index, std::uint64_t bytes);

    // Frees every message whose last index is <= `index`: the follower has
    // acknowledged the log through `index`. A stale or repeated ack frees
    // nothing more.
    void free_le(Index index);

    // True when no further message may be sent: the count or the byte limit
    // is reached.
    bool is_full() const;

    // Frees the oldest message in flight, if any. A leader whose window is
    // full and hears a heartbeat response frees one slot so that it sends a
    // new append: if the window's messages were all lost, that append's
    // rejection is how the leader finds out (etcd does the same).
    void free_first_one();

    // Forgets every message in flight (on leaving replicate state).
    void reset();

    std::size_t count() const { return in_flight_.size(); }
    std::uint64_t bytes() const { return bytes_; }
    const InflightsLimits& limits() const { return limits_; }

private:
    struct InFlight {
        Index last_index;
        std::uint64_t bytes;
    };

    InflightsLimits limits_;
    // Invariant: last_index strictly increases from front to back.
    // Invariant: in_flight_.size() <= limits_.appends_max.
    std::deque<InFlight> in_flight_;
    // Invariant: bytes_ == the sum of in_flight_[i].bytes.
    std::uint64_t bytes_ = 0;
};

}  // namespace raftkv::raft
