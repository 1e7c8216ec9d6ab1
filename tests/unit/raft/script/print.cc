// print.cc — see print.h.
#include "script/print.h"

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string_view>

#include "raft/membership.h"

namespace raftkv::raft::script {
namespace detail {

// Converts to any type; named only in unevaluated operands, so its conversion
// is declared and never defined (outside the unnamed namespace, because Clang
// rejects an undefined function with internal linkage).
struct AnyValue {
    template <class T>
    operator T() const;
};

}  // namespace detail
namespace {

using detail::AnyValue;

// The number of fields of the aggregate T: the most values that
// brace-initialise it, one per field (AnyValue converts to each field's type,
// so no brace elision happens). Standard C++20, no compiler-specific text.
// Requires: T has no base classes and no array members.
template <class T, class... Values>
consteval std::size_t field_count() {
    if constexpr (requires { T{Values{}..., AnyValue{}}; }) {
        return field_count<T, Values..., AnyValue>();
    } else {
        return sizeof...(Values);
    }
}

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u >= 0x7f) {
            out += fmt::format("\\x{:02x}", u);
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string_view entry_type_name(EntryType t) {
    switch (t) {
        case EntryType::kCommand:
            return "command";
        case EntryType::kNoop:
            return "noop";
        case EntryType::kConfig:
            return "config";
    }
    return "unknown";
}

std::string position(Term term, Index index) {
    return fmt::format("{}/{}", term.value, index.value);
}

std::string format_conflict_hint(const ConflictHint& hint) {
    static_assert(field_count<ConflictHint>() == 2, "ConflictHint gained a field: print it here");
    return position(hint.term, hint.index);
}

// "meta=1/4 voters=[1 2 3] learners=[] data=\"a;b;c\"".
std::string format_snapshot(const Snapshot& s) {
    static_assert(field_count<Snapshot>() == 2, "Snapshot gained a field: print it here");
    return fmt::format("meta={} data={}", format_snapshot_meta(s.meta), quote(s.data));
}

// "index=2 context=\"r1\"".
std::string format_read_state(const ReadState& rs) {
    static_assert(field_count<ReadState>() == 2, "ReadState gained a field: print it here");
    return fmt::format("index={} context={}", rs.index.value, quote(rs.context));
}

// "{1:3 2:3 3:2}".
std::string format_match(const std::map<NodeId, Index>& match) {
    std::string out;
    for (const auto& [id, index] : match) {
        out += fmt::format("{}{}:{}", out.empty() ? "" : " ", id.value, index.value);
    }
    return "{" + out + "}";
}

// Appends " name=value" unless the value is 0 (a message field at its default).
void add_number(std::string* out, std::string_view name, std::uint64_t value) {
    if (value != 0) *out += fmt::format(" {}={}", name, value);
}

// Appends " name" if the flag is set.
void add_flag(std::string* out, std::string_view name, bool flag) {
    if (flag) *out += fmt::format(" {}", name);
}

// Appends "name:" and one line per item below it, or nothing for an empty list.
template <class T, class Format>
void add_list(std::vector<std::string>* lines, const std::string& indent, std::string_view name,
              const std::vector<T>& items, Format format) {
    if (items.empty()) return;
    lines->push_back(fmt::format("{}{}:", indent, name));
    for (const T& item : items) lines->push_back(fmt::format("{}  {}", indent, format(item)));
}

}  // namespace

std::string format_entry(const Entry& e) {
    static_assert(field_count<Entry>() == 4, "Entry gained a field: print it here");
    std::string out = position(e.term, e.index) + " " + std::string(entry_type_name(e.type));
    if (e.type == EntryType::kConfig) {
        const std::optional<Membership> m = decode_membership(e.data);
        out += m ? " " + to_string(*m) : " undecodable " + quote(e.data);
    } else if (!e.data.empty()) {
        out += " " + quote(e.data);
    }
    return out;
}

std::string format_message(const Message& m) {
    static_assert(field_count<Message>() == 16, "Message gained a field: print it here");
    std::string out = fmt::format("{}->{} {}", m.from.value, m.to.value, message_type_name(m.type));
    add_number(&out, "term", m.term.value);
    add_number(&out, "index", m.index.value);
    add_number(&out, "log_term", m.log_term.value);
    if (!m.entries.empty()) {
        std::string list;
        for (const Entry& e : m.entries)
            list += (list.empty() ? "" : " ") + position(e.term, e.index);
        out += fmt::format(" entries=[{}]", list);
    }
    add_number(&out, "commit", m.commit.value);
    add_flag(&out, "reject", m.reject);
    if (m.hint != ConflictHint{}) out += " hint=" + format_conflict_hint(m.hint);
    add_number(&out, "read_round", m.read_round);
    add_flag(&out, "transfer", m.transfer);
    if (m.snapshot != SnapshotMeta{}) out += " snapshot=" + format_snapshot_meta(m.snapshot);
    add_number(&out, "offset", m.offset);
    if (!m.data.empty()) out += " data=" + quote(m.data);
    add_flag(&out, "done", m.done);
    return out;
}

std::string format_hard_state(const HardState& hs) {
    static_assert(field_count<HardState>() == 3, "HardState gained a field: print it here");
    return fmt::format("term={} vote={} commit={}", hs.term.value, hs.vote.value, hs.commit.value);
}

std::string format_snapshot_meta(const SnapshotMeta& meta) {
    static_assert(field_count<SnapshotMeta>() == 3, "SnapshotMeta gained a field: print it here");
    return position(meta.term, meta.index) + " " + to_string(meta.membership);
}

std::string format_status(const NodeStatus& s) {
    static_assert(field_count<NodeStatus>() == 11, "NodeStatus gained a field: print it here");
    return fmt::format(
        "id={} role={} term={} vote={} leader={} committed={} applied={} last_index={} "
        "membership={{{}}} match={} transferee={}",
        s.id.value, role_name(s.role), s.term.value, s.vote.value, s.leader.value,
        s.committed.value, s.applied.value, s.last_index.value, to_string(s.membership),
        format_match(s.match), s.transferee.value);
}

std::vector<std::string> format_ready(const Ready& rd, const std::string& indent) {
    static_assert(field_count<Ready>() == 9, "Ready gained a field: print it here");
    std::vector<std::string> lines;
    if (rd.hard_state) {
        lines.push_back(fmt::format("{}hard_state: {}", indent, format_hard_state(*rd.hard_state)));
    }
    add_list(&lines, indent, "entries", rd.entries, format_entry);
    if (rd.snapshot) {
        lines.push_back(fmt::format("{}snapshot: {}", indent, format_snapshot(*rd.snapshot)));
    }
    add_list(&lines, indent, "messages", rd.messages, format_message);
    add_list(&lines, indent, "messages_after_persist", rd.messages_after_persist, format_message);
    add_list(&lines, indent, "committed_entries", rd.committed_entries, format_entry);
    add_list(&lines, indent, "read_states", rd.read_states, format_read_state);
    add_list(&lines, indent, "failed_reads", rd.failed_reads, quote);
    if (rd.must_sync) lines.push_back(fmt::format("{}must_sync: true", indent));
    return lines;
}

}  // namespace raftkv::raft::script
