// key_table_test.cc — the ordered hash table against a std::map model.
#include "kv/key_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace raftkv::kv {
namespace {

std::vector<std::string> keys_in_order(const KeyTable& t) {
    std::vector<std::string> out;
    t.for_each([&](const KeyTable::Entry& e) { out.push_back(e.key); });
    return out;
}

TEST(KeyTable, KeyHashIsNeverZeroAndFixed) {
    EXPECT_NE(key_hash(""), 0u);
    EXPECT_EQ(key_hash("chelsea"), key_hash(std::string("chelsea")));
    EXPECT_NE(key_hash("a"), key_hash("b"));
}

TEST(KeyTable, RandomOperationsMatchAMap) {
    const std::uint64_t seed = testing::test_seed(0x7ab1e);
    SCOPED_TRACE(testing::seed_trace(seed));
    std::mt19937_64 rng(seed);
    KeyTable t;
    std::map<std::string, std::string> model;
    for (int i = 0; i < 20000; ++i) {
        // Phases of growth and shrinkage exercise rebuilds both ways.
        bool growing = (i / 4000) % 2 == 0;
        std::string key = "k" + std::to_string(rng() % 3000);
        if (rng() % 100 < (growing ? 70u : 20u)) {
            auto [e, inserted] = t.find_or_insert(key);
            EXPECT_EQ(inserted, !model.contains(key)) << key;
            e->value = std::to_string(i);
            model[key] = e->value;
        } else {
            std::unique_ptr<KeyTable::Entry> e = t.extract(key);
            EXPECT_EQ(e != nullptr, model.erase(key) == 1) << key;
        }
        if (i % 997 == 0) t.check_invariants();
        ASSERT_EQ(t.size(), model.size());
    }
    t.check_invariants();
    for (const auto& [k, v] : model) {
        const KeyTable::Entry* e = t.find(k);
        ASSERT_NE(e, nullptr) << k;
        EXPECT_EQ(e->value, v);
    }
    EXPECT_EQ(t.find("absent"), nullptr);
    std::vector<std::string> order = keys_in_order(t);
    EXPECT_EQ(std::set<std::string>(order.begin(), order.end()).size(), model.size());
}

TEST(KeyTable, OrderDependsOnlyOnTheKeySet) {
    KeyTable a;
    KeyTable b;
    for (int i = 0; i < 1000; ++i) a.find_or_insert("key" + std::to_string(i));
    for (int i = 999; i >= 0; --i) b.find_or_insert("key" + std::to_string(i));
    // b also grew and shrank on the way.
    for (int i = 0; i < 5000; ++i) b.find_or_insert("tmp" + std::to_string(i));
    for (int i = 0; i < 5000; ++i) ASSERT_NE(b.extract("tmp" + std::to_string(i)), nullptr);
    EXPECT_NE(a.capacity(), 0u);
    EXPECT_EQ(keys_in_order(a), keys_in_order(b));
    a.check_invariants();
    b.check_invariants();
}

TEST(KeyTable, ScanVisitsHashesFromTheCursorInOrder) {
    KeyTable t;
    for (int i = 0; i < 100; ++i) t.find_or_insert("k" + std::to_string(i));
    std::vector<std::uint64_t> hashes;
    std::uint64_t cursor = 0;
    do {
        std::uint64_t from = cursor;
        std::vector<std::uint64_t> batch;
        cursor =
            t.scan(cursor, 7, [&](const KeyTable::Entry& e) { batch.push_back(key_hash(e.key)); });
        EXPECT_TRUE(batch.size() == 7 || cursor == 0) << batch.size();
        for (std::uint64_t h : batch) {
            EXPECT_GE(h, from);
            EXPECT_TRUE(cursor == 0 || h < cursor);
        }
        EXPECT_TRUE(cursor == 0 || cursor > from);
        hashes.insert(hashes.end(), batch.begin(), batch.end());
    } while (cursor != 0);
    ASSERT_EQ(hashes.size(), 100u);
    EXPECT_TRUE(std::is_sorted(hashes.begin(), hashes.end()));
}

// Snapshot restore inserts keys in hash order. Into a table sized for fewer
// keys they all crowd its low slots and each insert walks a long run; after
// reserve() every key stays near its home. (Restarting with 650k keys took
// 8 s before restore reserved.)
TEST(KeyTable, InsertingInHashOrderAfterReserveStaysNearHome) {
    std::vector<std::pair<std::uint64_t, std::string>> keys;
    for (int i = 0; i < 100000; ++i) {
        std::string k = "key:" + std::to_string(i);
        keys.emplace_back(key_hash(k), k);
    }
    std::sort(keys.begin(), keys.end());
    KeyTable table;
    table.reserve(keys.size());
    const std::size_t capacity = table.capacity();
    EXPECT_GE(capacity / 4 * 3, keys.size());
    for (const auto& [hash, key] : keys) table.find_or_insert(key);
    EXPECT_EQ(table.capacity(), capacity);  // no rebuild on the way
    EXPECT_LT(table.longest_displacement(), 64u);
    table.check_invariants();
}

TEST(KeyTable, ClearEmptiesAndShrinks) {
    KeyTable t;
    for (int i = 0; i < 1000; ++i) t.find_or_insert(std::to_string(i));
    t.clear();
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.capacity(), 16u);
    EXPECT_EQ(t.find("1"), nullptr);
    t.check_invariants();
}

}  // namespace
}  // namespace raftkv::kv
