// inflights.cc — the window of append messages in flight to one follower.
//
// See inflights.h. A deque rather than etcd's hand-grown ring buffer: the
// window is small and the standard container keeps the code obvious.
#include "raft/inflights.h"

#include "base/assert.h"

namespace raftkv::raft {

Inflights::Inflights(InflightsLimits limits) : limits_(limits) {
    RAFTKV_ASSERT(limits_.appends_max >= 1, "an inflight window needs room for one message");
}

void Inflights::add(Index last_index, std::uint64_t bytes) {
    RAFTKV_ASSERT(!is_full(), "add to a full window: {} messages, {} bytes", in_flight_.size(),
                  bytes_);
    RAFTKV_ASSERT(in_flight_.empty() || in_flight_.back().last_index < last_index,
                  "inflight index {} not after {}", last_index.value,
                  in_flight_.back().last_index.value);
    in_flight_.push_back({last_index, bytes});
    bytes_ += bytes;
}

void Inflights::free_le(Index index) {
    while (!in_flight_.empty() && in_flight_.front().last_index <= index) {
        RAFTKV_ASSERT(bytes_ >= in_flight_.front().bytes, "inflight bytes underflow");
        bytes_ -= in_flight_.front().bytes;
        in_flight_.pop_front();
    }
    RAFTKV_ASSERT(!in_flight_.empty() || bytes_ == 0, "empty window holds {} bytes", bytes_);
}

bool Inflights::is_full() const {
    if (in_flight_.size() >= limits_.appends_max) return true;
    return limits_.bytes_max != 0 && bytes_ >= limits_.bytes_max;
}

void Inflights::free_first_one() {
    if (in_flight_.empty()) return;
    free_le(in_flight_.front().last_index);
}

void Inflights::reset() {
    in_flight_.clear();
    bytes_ = 0;
}

}  // namespace raftkv::raft
