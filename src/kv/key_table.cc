// key_table.cc — ordered linear probing (see key_table.h for why).
#include "kv/key_table.h"

#include <xxhash.h>

#include <algorithm>

#include "base/assert.h"

namespace raftkv::kv {
namespace {

// Part of the key order: SCAN cursors and snapshot record order depend on it.
constexpr XXH64_hash_t kKeyHashSeed = 0x7261667400006b76;  // "raft" "kv"
constexpr unsigned kBitsMin = 4;

}  // namespace

std::uint64_t key_hash(std::string_view key) {
    std::uint64_t h = XXH3_64bits_withSeed(key.data(), key.size(), kKeyHashSeed);
    return h == 0 ? 1 : h;  // 0 marks an empty slot and the start of a scan
}

KeyTable::KeyTable() : slots_(std::size_t{1} << kBitsMin), bits_(kBitsMin) {}

std::size_t KeyTable::first_at_or_after(std::uint64_t hash) const {
    // Entries with hash >= `hash` sit at or after home(hash); entries before
    // them in slot order have smaller hashes, so the first one found wins.
    std::size_t p = home(hash);
    while (p < slots_.size() && (slots_[p].hash == 0 || slots_[p].hash < hash)) ++p;
    return p;
}

std::size_t KeyTable::lower_bound(std::uint64_t hash, std::string_view key) const {
    std::size_t p = home(hash);
    while (p < slots_.size()) {
        const Slot& s = slots_[p];
        if (s.hash == 0 || s.hash > hash) break;
        if (s.hash == hash && std::string_view(s.entry->key) >= key) break;
        ++p;
    }
    return p;
}

const KeyTable::Entry* KeyTable::find(std::string_view key) const {
    std::uint64_t hash = key_hash(key);
    for (std::size_t p = home(hash); p < slots_.size(); ++p) {
        const Slot& s = slots_[p];
        if (s.hash == 0 || s.hash > hash) return nullptr;
        if (s.hash == hash && s.entry->key == key) return s.entry.get();
    }
    return nullptr;
}

KeyTable::Entry* KeyTable::find(std::string_view key) {
    return const_cast<Entry*>(static_cast<const KeyTable*>(this)->find(key));
}

std::pair<KeyTable::Entry*, bool> KeyTable::find_or_insert(std::string_view key) {
    std::uint64_t hash = key_hash(key);
    std::size_t p = lower_bound(hash, key);
    if (p < slots_.size() && slots_[p].hash == hash && slots_[p].entry->key == key) {
        return {slots_[p].entry.get(), false};
    }
    if (size_ + 1 > capacity() / 4 * 3) {
        rebuild(bits_ + 1);
        p = lower_bound(hash, key);
    }
    // Shift the run [p, first empty) one slot right; each entry stays at or
    // after its home and the order is kept.
    std::size_t empty = p;
    while (empty < slots_.size() && slots_[empty].hash != 0) ++empty;
    if (empty == slots_.size()) slots_.emplace_back();
    std::move_backward(slots_.begin() + static_cast<std::ptrdiff_t>(p),
                       slots_.begin() + static_cast<std::ptrdiff_t>(empty),
                       slots_.begin() + static_cast<std::ptrdiff_t>(empty + 1));
    slots_[p].hash = hash;
    slots_[p].entry = std::make_unique<Entry>(Entry{std::string(key), std::string()});
    ++size_;
    return {slots_[p].entry.get(), true};
}

std::unique_ptr<KeyTable::Entry> KeyTable::extract(std::string_view key) {
    std::uint64_t hash = key_hash(key);
    std::size_t p = lower_bound(hash, key);
    if (p == slots_.size() || slots_[p].hash != hash || slots_[p].entry->key != key) {
        return nullptr;
    }
    std::unique_ptr<Entry> out = std::move(slots_[p].entry);
    // Backward shift: pull each following entry that is not at its home one
    // slot left, so no entry is separated from its home by an empty slot.
    std::size_t q = p;
    while (q + 1 < slots_.size() && slots_[q + 1].hash != 0 && home(slots_[q + 1].hash) <= q) {
        slots_[q] = std::move(slots_[q + 1]);
        ++q;
    }
    slots_[q].hash = 0;
    slots_[q].entry.reset();
    while (slots_.size() > capacity() && slots_.back().hash == 0) slots_.pop_back();
    --size_;
    if (bits_ > kBitsMin && size_ < capacity() / 8) rebuild(bits_ - 1);
    return out;
}

void KeyTable::clear() { *this = KeyTable(); }

std::size_t KeyTable::longest_displacement() const {
    std::size_t longest = 0;
    for (std::size_t p = 0; p < slots_.size(); ++p) {
        if (slots_[p].hash != 0) longest = std::max(longest, p - home(slots_[p].hash));
    }
    return longest;
}

void KeyTable::reserve(std::size_t count) {
    unsigned bits = bits_;
    while ((std::size_t{1} << bits) / 4 * 3 < count) ++bits;
    if (bits > bits_) rebuild(bits);
}

void KeyTable::rebuild(unsigned bits) {
    std::vector<Slot> old = std::move(slots_);
    bits_ = bits;
    slots_ = std::vector<Slot>(capacity());
    std::size_t next = 0;  // the first slot after the last placed entry
    for (Slot& s : old) {
        if (s.hash == 0) continue;
        std::size_t p = std::max(home(s.hash), next);
        if (p >= slots_.size()) slots_.resize(p + 1);
        slots_[p] = std::move(s);
        next = p + 1;
    }
    RAFTKV_DEBUG_ASSERT(size_ <= capacity() / 4 * 3 || bits_ == kBitsMin);
}

void KeyTable::check_invariants() const {
    RAFTKV_ASSERT(slots_.size() >= capacity(), "{} slots, capacity {}", slots_.size(), capacity());
    std::size_t count = 0;
    const Slot* prev = nullptr;
    for (std::size_t p = 0; p < slots_.size(); ++p) {
        const Slot& s = slots_[p];
        if (s.hash == 0) {
            RAFTKV_ASSERT(s.entry == nullptr, "empty slot {} holds an entry", p);
            continue;
        }
        ++count;
        RAFTKV_ASSERT(s.entry != nullptr, "slot {} has a hash but no entry", p);
        RAFTKV_ASSERT(s.hash == key_hash(s.entry->key), "slot {} hash mismatch", p);
        RAFTKV_ASSERT(home(s.hash) <= p, "slot {} is before its home {}", p, home(s.hash));
        for (std::size_t q = home(s.hash); q < p; ++q) {
            RAFTKV_ASSERT(slots_[q].hash != 0, "empty slot {} between home and slot {}", q, p);
        }
        if (prev != nullptr) {
            bool ordered =
                prev->hash < s.hash || (prev->hash == s.hash && prev->entry->key < s.entry->key);
            RAFTKV_ASSERT(ordered, "slot {} is out of (hash, key) order", p);
        }
        prev = &s;
    }
    RAFTKV_ASSERT(count == size_, "counted {} entries, size {}", count, size_);
}

}  // namespace raftkv::kv
