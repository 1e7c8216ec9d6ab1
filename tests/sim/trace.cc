// trace.cc — see trace.h.
#include "sim/trace.h"

#include <fmt/format.h>

#include <utility>

namespace raftkv::sim {

TraceRing::TraceRing(std::size_t capacity, SimTime tick_time,
                     std::function<void(std::string_view)> sink)
    : capacity_(capacity == 0 ? 1 : capacity), tick_time_(tick_time), sink_(std::move(sink)) {
    events_.reserve(capacity_);
}

TraceRing::Event& TraceRing::next_slot() {
    ++count_;
    if (events_.size() < capacity_) return events_.emplace_back();
    Event& e = events_[head_];
    head_ = (head_ + 1) % capacity_;
    return e;
}

void TraceRing::add_delivery(SimTime now, const raft::Message& m) {
    Event& e = next_slot();
    e.time = now;
    e.is_message = true;
    e.text.clear();
    e.message.type = m.type;
    e.message.from = m.from;
    e.message.to = m.to;
    e.message.term = m.term;
    e.message.index = m.index;
    e.message.log_term = m.log_term;
    e.message.commit = m.commit;
    e.message.reject = m.reject;
    e.message.hint = m.hint;
    e.message.read_round = m.read_round;
    e.message.transfer = m.transfer;
    e.message.offset = m.offset;
    e.message.done = m.done;
    e.message.snapshot.index = m.snapshot.index;
    e.message.snapshot.term = m.snapshot.term;
    e.entry_first = m.entries.empty() ? raft::Index(0) : m.entries.front().index;
    e.entry_last = m.entries.empty() ? raft::Index(0) : m.entries.back().index;
    e.data_bytes = m.data.size();
    if (sink_) sink_(format(e));
}

void TraceRing::add(SimTime now, std::string text) {
    Event& e = next_slot();
    e.time = now;
    e.is_message = false;
    e.text = std::move(text);
    if (sink_) sink_(format(e));
}

std::string TraceRing::format(const Event& e) const {
    const std::string when =
        fmt::format("t={}.{:03} ", e.time / tick_time_, (e.time % tick_time_) * 1000 / tick_time_);
    if (!e.is_message) return when + e.text;
    raft::Message m = e.message;
    if (e.entry_first != raft::Index(0)) {
        m.entries.push_back(raft::Entry{.index = e.entry_first});
        m.entries.push_back(raft::Entry{.index = e.entry_last});
    }
    m.data.assign(e.data_bytes, '.');
    return when + "deliver " + raft::to_string(m);
}

std::string TraceRing::dump() const {
    std::string out;
    for (std::size_t i = 0; i < events_.size(); ++i) {
        const std::size_t at = events_.size() < capacity_ ? i : (head_ + i) % capacity_;
        out += format(events_[at]);
        out += '\n';
    }
    return out;
}

}  // namespace raftkv::sim
