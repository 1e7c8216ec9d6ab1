// safety.cc — see safety.h.
#include "sim/safety.h"

#include <fmt/format.h>

#include "base/checksum.h"

namespace raftkv::sim {
namespace {

using raft::Entry;
using raft::Index;
using raft::NodeId;
using raft::Term;

std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

std::uint64_t payload_hash(const Entry& e) {
    return mix(checksum(e.data) ^ (static_cast<std::uint64_t>(e.type) << 56));
}

std::uint64_t chain_next(std::uint64_t prev, const Entry& e) {
    return mix(prev ^ mix(e.term.value * 0x9e3779b97f4a7c15ull + e.index.value) ^ payload_hash(e));
}

template <typename T>
void grow_to(std::vector<T>& v, std::uint64_t index) {
    if (v.size() <= index) v.resize(index + 1);
}

}  // namespace

void SafetyChecker::fail(std::string message) {
    if (failure_.empty()) failure_ = std::move(message);
}

void SafetyChecker::reset_shadow(Shadow& s, Index base, Term base_term) {
    s.base = base;
    s.chain.clear();
    if (base == Index(0)) {
        s.base_chain = 0;
        return;
    }
    const auto it = chains_.find({base.value, base_term.value});
    s.base_chain =
        it == chains_.end() ? std::nullopt : std::optional<std::uint64_t>(it->second.hash);
}

std::optional<std::uint64_t> SafetyChecker::chain_at(const Shadow& s, Index index) const {
    if (index == s.base) return s.base_chain;
    if (index < s.base || index > s.last()) return std::nullopt;
    return s.chain[index.value - s.base.value - 1];
}

void SafetyChecker::extend(NodeId node, Shadow& s, std::span<const Entry> entries) {
    for (const Entry& e : entries) {
        if (e.index <= s.base) continue;  // covered by the snapshot
        if (e.index > s.last().next()) {
            fail(fmt::format(
                "node {} handed out entry {} to persist after a gap: its log ends at {}",
                node.value, e.index.value, s.last().value));
            return;
        }
        s.chain.resize(e.index.value - s.base.value - 1);
        const std::optional<std::uint64_t> prev = chain_at(s, e.index.prev());
        if (!prev) {
            s.chain.push_back(std::nullopt);
            continue;
        }
        const std::uint64_t c = chain_next(*prev, e);
        s.chain.push_back(c);
        const Key key{e.index.value, e.term.value};
        const auto [it, inserted] = chains_.emplace(key, Chain{.hash = c, .by = node});
        if (inserted) {
            unpinned_[node].insert(key);
        } else if (it->second.by != node) {
            pin(key);
        }
        if (!inserted && it->second.hash != c) {
            fail(
                fmt::format("log matching: node {} holds entry {} of term {} but its log differs, "
                            "at or before {}, from another log holding that entry",
                            node.value, e.index.value, e.term.value, e.index.value));
            return;
        }
    }
}

void SafetyChecker::pin(const Key& key) {
    const auto it = chains_.find(key);
    if (it == chains_.end() || it->second.pinned) return;
    it->second.pinned = true;
    unpinned_[it->second.by].erase(key);
}

void SafetyChecker::on_sent(NodeId, const raft::Message& m) {
    for (const Entry& e : m.entries) pin({e.index.value, e.term.value});
}

void SafetyChecker::on_synced(NodeId, std::span<const Entry> entries) {
    for (const Entry& e : entries) pin({e.index.value, e.term.value});
}

void SafetyChecker::on_crash(NodeId node, const DiskImage& kept) {
    const auto u = unpinned_.find(node);
    if (u == unpinned_.end()) return;
    const Index snap = kept.log.snapshot_meta().index;
    std::vector<Key> keys(u->second.begin(), u->second.end());
    for (const Key& key : keys) {
        const Index index(key.first);
        // On the disk (synced or not), it is recovered: keep it.
        const bool on_disk = index <= snap || kept.log.term(index) == Term(key.second);
        if (on_disk) {
            pin(key);
        } else {
            chains_.erase(key);
            u->second.erase(key);
        }
    }
}

void SafetyChecker::on_start(NodeId node, const DiskImage& image) {
    NodeState& st = nodes_[node];
    const raft::SnapshotMeta meta = image.log.snapshot_meta();
    reset_shadow(st.shadow, meta.index, meta.term);
    if (image.log.last_index() >= image.log.first_index()) {
        extend(
            node, st.shadow,
            image.log.entries(image.log.first_index(), image.log.last_index().next(), UINT64_MAX));
    }
    st.incarnation = UINT64_MAX;
    st.checked_commit = meta.index;
    st.next_apply = meta.index.next();
    st.leading = false;
}

void SafetyChecker::on_ready(NodeId node, const raft::Ready& rd) {
    NodeState& st = nodes_[node];
    if (rd.snapshot) {
        const raft::SnapshotMeta& meta = rd.snapshot->meta;
        reset_shadow(st.shadow, meta.index, meta.term);
        if (meta.index.value < committed_.size() && committed_[meta.index.value].known &&
            committed_[meta.index.value].term != meta.term) {
            fail(
                fmt::format("node {} received a snapshot at {} of term {}, but the entry "
                            "committed there has term {}",
                            node.value, meta.index.value, meta.term.value,
                            committed_[meta.index.value].term.value));
        }
        st.checked_commit = std::max(st.checked_commit, meta.index);
    }
    if (!rd.entries.empty()) extend(node, st.shadow, rd.entries);
}

void SafetyChecker::on_apply(NodeId node, const Entry& e) {
    NodeState& st = nodes_[node];
    if (e.index != st.next_apply) {
        fail(fmt::format("node {} applied entry {} but its next was {}", node.value, e.index.value,
                         st.next_apply.value));
        return;
    }
    st.next_apply = e.index.next();
    grow_to(applied_, e.index.value);
    Known& k = applied_[e.index.value];
    const std::uint64_t h = payload_hash(e);
    if (!k.known) {
        k = Known{.term = e.term, .hash = h, .known = true};
    } else if (k.term != e.term || k.hash != h) {
        fail(
            fmt::format("state machine safety: node {} applied entry {} of term {}, another node "
                        "applied a different entry there (term {})",
                        node.value, e.index.value, e.term.value, k.term.value));
    }
}

void SafetyChecker::skip_applied(NodeId node, raft::Index through) {
    NodeState& st = nodes_[node];
    if (through >= st.next_apply) st.next_apply = through.next();
}

void SafetyChecker::on_snapshot_loaded(NodeId node, const raft::SnapshotMeta& meta,
                                       std::string_view image) {
    NodeState& st = nodes_[node];
    st.next_apply = meta.index.next();
    const auto [it, inserted] = images_.emplace(meta.index, checksum(image));
    if (!inserted && it->second != checksum(image)) {
        fail(
            fmt::format("node {} loaded a snapshot at {} whose state differs from another "
                        "snapshot taken at that index",
                        node.value, meta.index.value));
    }
}

void SafetyChecker::on_snapshot_taken(NodeId node, const raft::SnapshotMeta& meta,
                                      std::string_view image) {
    const auto [it, inserted] = images_.emplace(meta.index, checksum(image));
    if (!inserted && it->second != checksum(image)) {
        fail(
            fmt::format("state machine safety: node {} took a snapshot at {} whose state differs "
                        "from another node's at that index",
                        node.value, meta.index.value));
    }
}

std::optional<SafetyChecker::Known> SafetyChecker::applied_at(Index index) const {
    if (index.value >= applied_.size() || !applied_[index.value].known) return std::nullopt;
    return applied_[index.value];
}

void SafetyChecker::check_commits(const raft::Node& node, NodeState& st) {
    const Index commit = node.log().committed();
    const Index compacted = node.log().first_index().prev();
    for (Index i = st.checked_commit.next(); i <= commit; i = i.next()) {
        if (i <= compacted) continue;
        const std::optional<Term> term = node.log().term(i);
        if (!term) {
            fail(fmt::format("node {} has commit index {} but no entry at {}", node.id().value,
                             commit.value, i.value));
            return;
        }
        const std::optional<std::uint64_t> chain = chain_at(st.shadow, i);
        grow_to(committed_, i.value);
        Known& k = committed_[i.value];
        if (!k.known) {
            // hash 0: the chain is unknown (never seen the entry before a snapshot).
            k = Known{.term = *term, .hash = chain.value_or(0), .known = true};
        } else if (k.term != *term || (chain && k.hash != 0 && k.hash != *chain)) {
            fail(
                fmt::format("node {} committed entry {} of term {}, but entry {} of term {} was "
                            "committed there before (or the logs differ before it)",
                            node.id().value, i.value, term->value, i.value, k.term.value));
            return;
        }
    }
    st.checked_commit = std::max(st.checked_commit, commit);
}

void SafetyChecker::check_leader(const raft::Node& node, NodeState& st) {
    if (node.role() != raft::Role::kLeader) {
        st.leading = false;
        return;
    }
    const auto [it, inserted] = leaders_.emplace(node.term(), node.id());
    if (!inserted && it->second != node.id()) {
        fail(fmt::format("election safety: nodes {} and {} both led term {}", it->second.value,
                         node.id().value, node.term().value));
        return;
    }
    if (st.leading && st.leading_term == node.term()) return;
    st.leading = true;
    st.leading_term = node.term();
    // Leader completeness (§5.4): every entry committed so far is in its log.
    const Index compacted = node.log().first_index().prev();
    for (std::uint64_t i = compacted.value + 1; i < committed_.size(); ++i) {
        const Known& k = committed_[i];
        if (!k.known) continue;
        const std::optional<Term> t = node.log().term(Index(i));
        if (t != k.term) {
            fail(
                fmt::format("leader completeness: node {} leads term {} without committed entry "
                            "{} of term {} (its log has {})",
                            node.id().value, node.term().value, i, k.term.value,
                            t ? fmt::format("term {}", t->value) : std::string("nothing")));
            return;
        }
    }
}

void SafetyChecker::check_node(const raft::Node& node, std::uint64_t incarnation) {
    if (!ok()) return;
    node.check_invariants();
    NodeState& st = nodes_[node.id()];
    if (st.incarnation != incarnation) {
        st.incarnation = incarnation;
        st.last_commit = Index(0);
    }
    const Index applied = node.log().applied();
    const Index commit = node.log().committed();
    const Index last = node.log().last_index();
    if (!(applied <= commit && commit <= last)) {
        fail(fmt::format("node {}: applied {} committed {} last {} out of order", node.id().value,
                         applied.value, commit.value, last.value));
        return;
    }
    if (commit < st.last_commit) {
        fail(fmt::format("node {}: commit index went back from {} to {}", node.id().value,
                         st.last_commit.value, commit.value));
        return;
    }
    st.last_commit = commit;
    if (st.shadow.last() != last) {
        fail(fmt::format("driver: node {} log ends at {} but the entries it handed out end at {}",
                         node.id().value, last.value, st.shadow.last().value));
        return;
    }
    check_commits(node, st);
    if (ok()) check_leader(node, st);
}

}  // namespace raftkv::sim
