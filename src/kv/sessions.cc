// sessions.cc — the session table and its snapshot section.
#include "kv/sessions.h"

#include <fmt/format.h>

#include <limits>
#include <utility>

#include "base/assert.h"

namespace raftkv::kv {
namespace {

// id, last_seq, touched_ms, reply length.
constexpr std::size_t kSessionRecordBytesMin = 8 + 8 + 8 + 4;

Status corrupt(std::string message) {
    return Status::error(Code::kCorruption, "kv snapshot: " + std::move(message));
}

}  // namespace

SessionTable::SessionTable(SessionLimits limits) : limits_(limits) {
    RAFTKV_ASSERT(limits_.sessions_max >= 1, "sessions_max is 0");
}

Session* SessionTable::find(std::uint64_t id) {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &*it->second;
}

Session& SessionTable::add(std::uint64_t id, std::uint64_t now_ms) {
    RAFTKV_ASSERT(id != 0);
    RAFTKV_ASSERT(!by_id_.contains(id), "session {} registered twice", id);
    RAFTKV_ASSERT(lru_.empty() || lru_.back().touched_ms <= now_ms, "log time went back: {} -> {}",
                  lru_.back().touched_ms, now_ms);
    if (lru_.size() >= limits_.sessions_max) drop_front();
    lru_.push_back(Session{.id = id, .last_seq = 0, .touched_ms = now_ms, .reply = {}});
    by_id_.emplace(id, std::prev(lru_.end()));
    RAFTKV_ASSERT(lru_.size() <= limits_.sessions_max);
    return lru_.back();
}

void SessionTable::touch(Session& s, std::uint64_t now_ms) {
    RAFTKV_ASSERT(lru_.back().touched_ms <= now_ms, "log time went back: {} -> {}",
                  lru_.back().touched_ms, now_ms);
    auto it = by_id_.at(s.id);
    RAFTKV_ASSERT(&*it == &s);
    s.touched_ms = now_ms;
    lru_.splice(lru_.end(), lru_, it);  // iterators stay valid
}

void SessionTable::set_reply(Session& s, std::uint64_t seq, std::string reply) {
    RAFTKV_ASSERT(seq > s.last_seq, "session {}: sequence {} after {}", s.id, seq, s.last_seq);
    RAFTKV_ASSERT(!reply.empty());
    reply_bytes_ -= s.reply.size();
    s.reply = std::move(reply);
    reply_bytes_ += s.reply.size();
    s.last_seq = seq;
}

std::size_t SessionTable::expire(std::uint64_t now_ms) {
    std::size_t dropped = 0;
    // now_ms - touched_ms > timeout_ms, without wrapping below 0.
    while (!lru_.empty() && now_ms > lru_.front().touched_ms &&
           now_ms - lru_.front().touched_ms > limits_.timeout_ms) {
        drop_front();
        ++dropped;
    }
    return dropped;
}

void SessionTable::drop_front() {
    RAFTKV_ASSERT(!lru_.empty());
    reply_bytes_ -= lru_.front().reply.size();
    by_id_.erase(lru_.front().id);
    lru_.pop_front();
}

void SessionTable::encode(std::string* image) const {
    RAFTKV_ASSERT(lru_.size() <= std::numeric_limits<std::uint32_t>::max());
    put_u32(image, static_cast<std::uint32_t>(lru_.size()));
    for (const Session& s : lru_) {
        RAFTKV_ASSERT(s.reply.size() <= std::numeric_limits<std::uint32_t>::max());
        RAFTKV_ASSERT((s.last_seq == 0) == s.reply.empty(), "session {}", s.id);
        put_u64(image, s.id);
        put_u64(image, s.last_seq);
        put_u64(image, s.touched_ms);
        put_u32(image, static_cast<std::uint32_t>(s.reply.size()));
        image->append(s.reply);
    }
}

Status SessionTable::decode(std::string_view body, ByteReader& in, std::uint64_t index_last,
                            std::uint64_t log_time_ms) {
    RAFTKV_ASSERT(lru_.empty());
    const auto offset = [&] { return body.size() - in.remaining(); };
    std::uint32_t count = 0;
    if (!in.get_u32(&count)) {
        return corrupt(fmt::format("session count at offset {} runs past the end", offset()));
    }
    if (count > limits_.sessions_max) {
        return corrupt(fmt::format("session count {} at offset {} exceeds this server's limit {}",
                                   count, offset() - 4, limits_.sessions_max));
    }
    if (count > in.remaining() / kSessionRecordBytesMin) {
        return corrupt(fmt::format("session count {} cannot fit in the remaining {} bytes", count,
                                   in.remaining()));
    }
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::size_t at = offset();
        Session s;
        std::uint32_t reply_bytes = 0;
        std::string_view reply;
        if (!in.get_u64(&s.id) || !in.get_u64(&s.last_seq) || !in.get_u64(&s.touched_ms) ||
            !in.get_u32(&reply_bytes) || !in.get_bytes(reply_bytes, &reply)) {
            return corrupt(
                fmt::format("session {} of {} at offset {} runs past the end", i, count, at));
        }
        const auto bad = [&](std::string_view what) {
            return corrupt(fmt::format("session {} at offset {} (id {}): {}", i, at, s.id, what));
        };
        if (s.id == 0 || s.id > index_last) return bad("id is 0 or after the last index");
        if (by_id_.contains(s.id)) return bad("duplicate id");
        if ((s.last_seq == 0) != reply.empty()) return bad("a reply without a sequence or back");
        if (s.touched_ms > log_time_ms) return bad("used after the log time");
        if (!lru_.empty() && lru_.back().touched_ms > s.touched_ms) {
            return bad("out of order: used before the session ahead of it");
        }
        s.reply.assign(reply);
        reply_bytes_ += s.reply.size();
        lru_.push_back(std::move(s));
        by_id_.emplace(lru_.back().id, std::prev(lru_.end()));
    }
    return Status::ok();
}

}  // namespace raftkv::kv
