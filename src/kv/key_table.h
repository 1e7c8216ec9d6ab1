// key_table.h — the key space: a hash table kept in hash order, so that SCAN
// has a stable integer cursor.
//
// Why this structure. GET and SET are the hot path, so lookups must be O(1)
// and must not copy the key (lookups take a string_view). SCAN must return
// every key present for the whole scan at least once, with a 64-bit cursor,
// however the table grows or shrinks between calls; and every output must be
// deterministic (two replicas fed the same commands reply the same bytes).
// A std::unordered_map gives neither a cursor nor a fixed order; a std::map
// makes GET O(log n) with a pointer chase per level; both together double the
// memory. So: one open-addressing table with linear probing in which every
// key's home slot is the top bits of its 64-bit hash (XXH3 with a fixed seed),
// and the occupied slots are kept sorted by (hash, key) — "ordered linear
// probing", the Robin Hood layout with ties broken by the hash itself.
//
// - Lookup walks from the home slot and stops at an empty slot or at a larger
//   hash: a hit or a miss costs about as much as a successful probe.
// - Iteration in slot order is iteration in (hash, key) order, a function of
//   the key set alone (not of the history or the capacity), so KEYS, SCAN and
//   snapshots are deterministic.
// - The SCAN cursor is a hash: "continue with the keys whose hash is >= c".
//   Keys with hashes below the cursor were all visited, whatever happened to
//   the table since. 0 starts a scan and also means "done"; key_hash() never
//   returns 0, so no real position is 0. A scan never stops inside a group of
//   keys with equal hashes, so equal hashes cannot make it loop.
// - The table does not wrap around: a run that reaches the end spills into
//   extra slots appended past the capacity (they keep the sort order).
//
// Not thread-safe; owned by the StateMachine. Entries are heap nodes, so a
// pointer from find() stays valid until that key is erased or the table is
// cleared (inserting or erasing other keys moves slots, not entries).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace raftkv::kv {

// The fixed-seed 64-bit hash that orders keys; never 0. Changing it changes
// SCAN cursors and snapshot record order (restore accepts any order).
std::uint64_t key_hash(std::string_view key);

class KeyTable {
public:
    struct Entry {
        std::string key;
        std::string value;
        // The key's deadline in log time (ms since the Unix epoch), 0 if it
        // has none. Kept by the StateMachine, with its deadline index.
        std::uint64_t expires_at_ms = 0;

        // As Redis (keyIsExpired): gone once the time is past the deadline;
        // at the deadline itself the key still exists, with a PTTL of 0.
        bool is_expired_at(std::uint64_t now_ms) const {
            return expires_at_ms != 0 && expires_at_ms < now_ms;
        }
    };

    KeyTable();
    KeyTable(KeyTable&&) noexcept = default;
    KeyTable& operator=(KeyTable&&) noexcept = default;

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

    // nullptr if absent. Valid until the key is erased or the table cleared.
    const Entry* find(std::string_view key) const;
    Entry* find(std::string_view key);
    // Finds `key` or inserts it with an empty value; `second` is true if
    // inserted.
    std::pair<Entry*, bool> find_or_insert(std::string_view key);
    // Removes `key` and returns its entry, or nullptr if absent.
    std::unique_ptr<Entry> extract(std::string_view key);
    void clear();
    // Grows the table so that `count` keys fit without a rebuild. Needed
    // before inserting many keys in hash order (snapshot restore): the
    // load factor is global, and keys sorted by hash would otherwise all
    // crowd the low end of a smaller table.
    void reserve(std::size_t count);

    // Calls f(const Entry&) for every entry, in (hash, key) order.
    template <typename F>
    void for_each(F&& f) const {
        for (const Slot& s : slots_) {
            if (s.hash != 0) f(*s.entry);
        }
    }

    // Calls f(const Entry&) for the entries with hash >= `cursor`, in order,
    // until at least `count` were visited and the next one has a different
    // hash. Returns the cursor to continue from (the next entry's hash), or 0
    // if none is left. Requires count >= 1.
    template <typename F>
    std::uint64_t scan(std::uint64_t cursor, std::uint64_t count, F&& f) const {
        std::size_t p = first_at_or_after(cursor);
        std::uint64_t visited = 0;
        std::uint64_t last_hash = 0;
        for (; p < slots_.size(); ++p) {
            const Slot& s = slots_[p];
            if (s.hash == 0) continue;
            if (visited >= count && s.hash != last_hash) return s.hash;
            f(*s.entry);
            last_hash = s.hash;
            ++visited;
        }
        return 0;
    }

    // Checks the layout invariants; O(capacity). For tests and debug builds.
    void check_invariants() const;
    // The farthest any entry sits from its home slot: what the longest
    // lookup walks. O(capacity); for tests and diagnostics.
    std::size_t longest_displacement() const;
    std::size_t capacity() const { return std::size_t{1} << bits_; }

private:
    // hash == 0 marks an empty slot.
    struct Slot {
        std::uint64_t hash = 0;
        std::unique_ptr<Entry> entry;
    };

    std::size_t home(std::uint64_t hash) const {
        return static_cast<std::size_t>(hash >> (64 - bits_));
    }
    // The index of the first occupied slot with hash >= `hash`, or slots_.size().
    std::size_t first_at_or_after(std::uint64_t hash) const;
    // The slot holding (hash, key), or where it would be inserted.
    std::size_t lower_bound(std::uint64_t hash, std::string_view key) const;
    void rebuild(unsigned bits);

    // Invariants: occupied slots are sorted by (hash, key); every entry sits
    // at or after its home slot with no empty slot in between;
    // slots_.size() >= capacity(); size_ <= capacity() * 3 / 4.
    std::vector<Slot> slots_;
    unsigned bits_;  // capacity() == 2^bits_
    std::size_t size_ = 0;
};

}  // namespace raftkv::kv
