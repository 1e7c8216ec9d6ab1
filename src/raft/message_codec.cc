// message_codec.cc — see message_codec.h. Grammar: docs/peer_protocol.md.
#include "raft/message_codec.h"

#include <fmt/format.h>

#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "base/assert.h"
#include "base/coding.h"
#include "raft/membership.h"

namespace raftkv::raft {
namespace {

constexpr std::uint8_t kKnownFlags = kMessageFlagReject | kMessageFlagTransfer | kMessageFlagDone;
constexpr std::uint64_t kU32Max = std::numeric_limits<std::uint32_t>::max();

bool is_known_type(std::uint8_t t) {
    return t >= static_cast<std::uint8_t>(MessageType::kPreVote) &&
           t <= static_cast<std::uint8_t>(MessageType::kTimeoutNow);
}

bool is_known_entry_type(std::uint8_t t) {
    return t >= static_cast<std::uint8_t>(EntryType::kCommand) &&
           t <= static_cast<std::uint8_t>(EntryType::kConfig);
}

void put_length(std::string* out, std::size_t n, std::string_view what) {
    RAFTKV_ASSERT(n <= kU32Max, "{} of {} does not fit the u32 of the peer format", what, n);
    put_u32(out, static_cast<std::uint32_t>(n));
}

void put_ids(std::string* out, const std::set<NodeId>& ids) {
    put_length(out, ids.size(), "id count");
    for (NodeId id : ids) put_u64(out, id.value);
}

// A cursor that remembers the first failure: every read after it returns
// zeros, so the decoder checks once per group of fields instead of per field.
class Reader {
public:
    explicit Reader(std::string_view in) : in_(in) {}

    std::uint8_t u8(std::string_view field) {
        if (!need(1, field)) return 0;
        const auto v = static_cast<std::uint8_t>(in_[pos_]);
        pos_ += 1;
        return v;
    }
    std::uint32_t u32(std::string_view field) {
        if (!need(4, field)) return 0;
        const std::uint32_t v = decode_u32(in_.data() + pos_);
        pos_ += 4;
        return v;
    }
    std::uint64_t u64(std::string_view field) {
        if (!need(8, field)) return 0;
        const std::uint64_t v = decode_u64(in_.data() + pos_);
        pos_ += 8;
        return v;
    }
    // A u32 length followed by that many bytes.
    std::string_view bytes(std::string_view field) {
        const std::size_t at = pos_;
        const std::uint32_t n = u32(field);
        if (failed()) return {};
        if (n > remaining()) {
            fail_at(at, fmt::format("{} of {} bytes is longer than the {} bytes left",
                                    field_name(field), n, remaining()));
            return {};
        }
        const std::string_view v = in_.substr(pos_, n);
        pos_ += n;
        return v;
    }
    // A u32 count of items that take at least `item_bytes` each; fails if
    // the bytes left cannot hold that many, so callers may reserve it.
    std::uint32_t count(std::string_view field, std::size_t item_bytes) {
        const std::size_t at = pos_;
        const std::uint32_t n = u32(field);
        if (failed()) return 0;
        if (n > remaining() / item_bytes) {
            fail_at(at, fmt::format("{} {} needs at least {} bytes, {} left", field_name(field), n,
                                    std::uint64_t{n} * item_bytes, remaining()));
            return 0;
        }
        return n;
    }

    void fail_at(std::size_t offset, std::string reason) {
        if (error_) return;
        error_ = fmt::format("bad peer message at offset {} of {}: {}", offset, in_.size(),
                             std::move(reason));
    }
    // Sets the entry number that truncation errors name (-1: none).
    void set_entry(std::int64_t entry) { entry_ = entry; }

    bool failed() const { return error_.has_value(); }
    Status status() const { return Status::error(Code::kInvalid, *error_); }
    std::size_t offset() const { return pos_; }
    std::size_t remaining() const { return in_.size() - pos_; }

private:
    bool need(std::size_t n, std::string_view field) {
        if (failed()) return false;
        if (remaining() >= n) return true;
        fail_at(pos_, fmt::format("truncated: {} needs {} bytes, {} left", field_name(field), n,
                                  remaining()));
        return false;
    }
    // "data" inside an entry reads "entry 3 data".
    std::string field_name(std::string_view field) const {
        return entry_ >= 0 ? fmt::format("entry {} {}", entry_, field) : std::string(field);
    }

    std::string_view in_;
    std::size_t pos_ = 0;
    std::int64_t entry_ = -1;
    std::optional<std::string> error_;
};

// A count and that many strictly ascending non-zero ids.
std::set<NodeId> get_ids(Reader& r, std::string_view list, std::string_view count_field) {
    std::set<NodeId> ids;
    const std::uint32_t n = r.count(count_field, 8);
    std::uint64_t last = 0;
    for (std::uint32_t i = 0; i < n && !r.failed(); ++i) {
        const std::size_t at = r.offset();
        const std::uint64_t id = r.u64("snapshot member id");
        if (r.failed()) break;
        if (id == 0) {
            r.fail_at(at, fmt::format("{} {} is node id 0", list, i));
        } else if (id <= last) {
            r.fail_at(
                at, fmt::format("{} {} (node {}) does not ascend from node {}", list, i, id, last));
        }
        last = id;
        ids.insert(NodeId(id));
    }
    return ids;
}

void get_snapshot(Reader& r, SnapshotMeta* s) {
    s->index = Index(r.u64("snapshot index"));
    s->term = Term(r.u64("snapshot term"));
    s->membership.voters = get_ids(r, "snapshot voter", "snapshot voter count");
    s->membership.learners = get_ids(r, "snapshot learner", "snapshot learner count");
    if (r.failed()) return;
    for (NodeId id : s->membership.learners) {
        if (s->membership.voters.contains(id)) {
            r.fail_at(r.offset(), fmt::format("snapshot membership has node {} both as voter and "
                                              "as learner",
                                              id.value));
            return;
        }
    }
}

// Checks entry `i` against the message and the entry before it, as the
// core's log requires (raft_log.cc asserts these).
void check_entry(Reader& r, std::size_t at, const Message& m, std::uint32_t i, const Entry& e) {
    const Index want_index(m.index.value + 1 + i);
    const Term floor = i == 0 ? m.log_term : m.entries.back().term;
    if (e.index != want_index || want_index == Index(0)) {
        r.fail_at(at, fmt::format("entry {} has index {}, expected {} (index {} + {})", i,
                                  e.index.value, m.index.value + 1 + i, m.index.value, i + 1));
    } else if (e.term == Term(0)) {
        r.fail_at(at, fmt::format("entry {} (index {}) has term 0", i, e.index.value));
    } else if (e.term < floor) {
        r.fail_at(at, fmt::format("entry {} (index {}) has term {}, below the term {} before it", i,
                                  e.index.value, e.term.value, floor.value));
    } else if (e.term > m.term) {
        r.fail_at(at, fmt::format("entry {} (index {}) has term {}, above the message term {}", i,
                                  e.index.value, e.term.value, m.term.value));
    } else if (e.type == EntryType::kConfig && !decode_membership(e.data)) {
        r.fail_at(at, fmt::format("entry {} (index {}) is a configuration entry whose payload "
                                  "({} bytes) is not a valid configuration",
                                  i, e.index.value, e.data.size()));
    }
}

void get_entries(Reader& r, Message* m) {
    const std::size_t count_at = r.offset();
    const std::uint32_t n = r.count("entry count", kEntryHeaderBytes);
    if (r.failed()) return;
    if (n > 0 && m->type != MessageType::kAppend) {
        r.fail_at(count_at, fmt::format("{} entries on a {} message (only append carries entries)",
                                        n, message_type_name(m->type)));
        return;
    }
    m->entries.reserve(n);  // bounded by count(): each entry takes kEntryHeaderBytes
    for (std::uint32_t i = 0; i < n; ++i) {
        r.set_entry(i);
        const std::size_t at = r.offset();
        Entry e;
        e.term = Term(r.u64("term"));
        e.index = Index(r.u64("index"));
        const std::size_t type_at = r.offset();
        const std::uint8_t type = r.u8("type");
        const std::string_view data = r.bytes("data");
        if (r.failed()) return;
        if (!is_known_entry_type(type)) {
            r.fail_at(type_at, fmt::format("entry {} has unknown entry type {}", i, type));
            return;
        }
        e.type = static_cast<EntryType>(type);
        e.data.assign(data);
        check_entry(r, at, *m, i, e);
        if (r.failed()) return;
        m->entries.push_back(std::move(e));
    }
    r.set_entry(-1);
}

}  // namespace

std::string encode_message(const Message& m) {
    std::size_t size =
        kMessageBytesMin + m.data.size() +
        8 * (m.snapshot.membership.voters.size() + m.snapshot.membership.learners.size());
    for (const Entry& e : m.entries) size += kEntryHeaderBytes + e.data.size();
    std::string out;
    out.reserve(size);
    put_u8(&out, kMessageFormatVersion);
    put_u8(&out, static_cast<std::uint8_t>(m.type));
    put_u8(&out, static_cast<std::uint8_t>((m.reject ? kMessageFlagReject : 0) |
                                           (m.transfer ? kMessageFlagTransfer : 0) |
                                           (m.done ? kMessageFlagDone : 0)));
    put_u64(&out, m.from.value);
    put_u64(&out, m.to.value);
    put_u64(&out, m.term.value);
    put_u64(&out, m.index.value);
    put_u64(&out, m.log_term.value);
    put_u64(&out, m.commit.value);
    put_u64(&out, m.hint.index.value);
    put_u64(&out, m.hint.term.value);
    put_u64(&out, m.read_round);
    put_u64(&out, m.offset);
    put_u64(&out, m.snapshot.index.value);
    put_u64(&out, m.snapshot.term.value);
    RAFTKV_ASSERT(out.size() == kMessageHeaderBytes, "header of {} bytes", out.size());
    put_ids(&out, m.snapshot.membership.voters);
    put_ids(&out, m.snapshot.membership.learners);
    put_length(&out, m.entries.size(), "entry count");
    for (const Entry& e : m.entries) {
        put_u64(&out, e.term.value);
        put_u64(&out, e.index.value);
        put_u8(&out, static_cast<std::uint8_t>(e.type));
        put_length(&out, e.data.size(), "entry data");
        out.append(e.data);
    }
    put_length(&out, m.data.size(), "snapshot data");
    out.append(m.data);
    RAFTKV_ASSERT(out.size() == size, "encoded {} bytes, computed {}", out.size(), size);
    return out;
}

Result<Message> decode_message(std::string_view bytes) {
    Reader r(bytes);
    Message m;
    const std::uint8_t version = r.u8("version");
    if (!r.failed() && version != kMessageFormatVersion) {
        r.fail_at(0, fmt::format("unknown format version {} (this server speaks {})", version,
                                 kMessageFormatVersion));
    }
    const std::uint8_t type = r.u8("type");
    if (!r.failed() && !is_known_type(type)) r.fail_at(1, fmt::format("unknown type {}", type));
    const std::uint8_t flags = r.u8("flags");
    if (!r.failed() && (flags & ~kKnownFlags) != 0) {
        r.fail_at(2, fmt::format("unknown flag bits {:#04x}", flags & ~kKnownFlags));
    }
    if (r.failed()) return r.status();
    m.type = static_cast<MessageType>(type);
    m.reject = (flags & kMessageFlagReject) != 0;
    m.transfer = (flags & kMessageFlagTransfer) != 0;
    m.done = (flags & kMessageFlagDone) != 0;

    m.from = NodeId(r.u64("from"));
    m.to = NodeId(r.u64("to"));
    m.term = Term(r.u64("term"));
    m.index = Index(r.u64("index"));
    m.log_term = Term(r.u64("log_term"));
    m.commit = Index(r.u64("commit"));
    m.hint.index = Index(r.u64("hint index"));
    m.hint.term = Term(r.u64("hint term"));
    m.read_round = r.u64("read_round");
    m.offset = r.u64("offset");
    if (r.failed()) return r.status();
    if (m.from == NodeId(0)) r.fail_at(3, "from is node id 0");
    if (m.to == NodeId(0)) r.fail_at(11, "to is node id 0");
    if (m.from == m.to) r.fail_at(11, fmt::format("from and to are both node {}", m.to.value));
    if (r.failed()) return r.status();

    get_snapshot(r, &m.snapshot);
    if (r.failed()) return r.status();
    get_entries(r, &m);
    if (r.failed()) return r.status();
    m.data.assign(r.bytes("snapshot data"));
    if (r.failed()) return r.status();
    if (r.remaining() != 0) {
        r.fail_at(r.offset(), fmt::format("{} bytes after the end of the message", r.remaining()));
        return r.status();
    }
    return m;
}

}  // namespace raftkv::raft
