// network_test.cc — the simulated network: determinism, delays, loss,
// duplication, FIFO, partitions, crashed nodes, counters and the trace.
//
// The payload is a plain message number so that every delivery can be traced
// back to its send. Randomized tests take their seed from RAFTKV_SEED.
#include "sim/network.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "testing/seed.h"

namespace raftkv::sim {
namespace {

using Msg = std::uint64_t;
using Net = SimNetwork<Msg>;

constexpr std::uint64_t kNodeCount = 5;

NodeId node(std::uint64_t id) { return NodeId(id); }
Link link(std::uint64_t from, std::uint64_t to) { return {.from = node(from), .to = node(to)}; }

std::string delivery_text(const Net::Delivery& d) {
    return fmt::format("t={} #{} {}->{} msg={}", d.deliver_at, d.seq, d.link.from.value,
                       d.link.to.value, d.msg);
}

// Sends `per_tick` messages between random distinct nodes on each of `ticks`
// ticks, delivers what is due, and returns every delivery as text. The
// workload draws from its own generator, so the network's seed alone decides
// the network's behaviour.
std::vector<std::string> run_workload(Net& net, std::uint64_t workload_seed, SimTime ticks,
                                      int per_tick) {
    std::mt19937_64 rng(workload_seed);
    std::vector<std::string> out;
    Msg next_msg = 1;
    for (SimTime now = 0; now < ticks; ++now) {
        for (int i = 0; i < per_tick; ++i) {
            const std::uint64_t from = 1 + rng() % kNodeCount;
            const std::uint64_t to = 1 + (from + rng() % (kNodeCount - 1)) % kNodeCount;
            net.send(link(from, to), next_msg++, now);
        }
        for (const Net::Delivery& d : net.deliver_due(now)) out.push_back(delivery_text(d));
    }
    return out;
}

void drain(Net& net, std::vector<Net::Delivery>& out) {
    while (std::optional<SimTime> t = net.next_delivery_time()) {
        for (Net::Delivery& d : net.deliver_due(*t)) out.push_back(std::move(d));
    }
}

void expect_counters_add_up(const Net& net) {
    const NetworkCounters& c = net.counters();
    EXPECT_EQ(c.sent + c.duplicated, c.delivered + c.dropped() + net.in_flight()) << c.to_string();
}

NetworkOptions lossy_options(std::uint64_t seed) {
    return {.seed = seed,
            .default_link = {.delay_min = 1,
                             .delay_max = 30,
                             .tail_ppm = 20'000,
                             .tail_delay_max = 200,
                             .loss_ppm = 50'000,
                             .duplicate_ppm = 50'000}};
}

TEST(NetworkRng, UniformStaysInRangeAndChanceHonoursItsEnds) {
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    NetworkRng rng(seed);
    struct Case {
        std::uint64_t lo, hi;
    };
    const Case cases[] = {{0, 0}, {5, 5}, {0, 1}, {3, 10}, {0, ~0ULL}, {~0ULL - 1, ~0ULL}};
    for (const Case& c : cases) {
        for (int i = 0; i < 1000; ++i) {
            const std::uint64_t x = rng.uniform(c.lo, c.hi);
            ASSERT_GE(x, c.lo);
            ASSERT_LE(x, c.hi);
        }
    }
    for (int i = 0; i < 1000; ++i) {
        ASSERT_FALSE(rng.chance_ppm(0));
        ASSERT_TRUE(rng.chance_ppm(kPpmMax));
    }
}

TEST(NetworkRng, KnownSequence) {
    // SplitMix64's published first outputs for seed 0: the draws are ours, so
    // they are the same with every standard library.
    NetworkRng rng(0);
    EXPECT_EQ(rng.next(), 0xe220a8397b1dcdafULL);
    EXPECT_EQ(rng.next(), 0x6e789e6aa1b965f4ULL);
    EXPECT_EQ(rng.next(), 0x06c45d188009454fULL);
}

TEST(SimNetwork, SameSeedGivesIdenticalDeliveriesAndTrace) {
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    std::vector<std::string> trace_a, trace_b;
    NetworkOptions a_options = lossy_options(seed);
    a_options.trace = [&](std::string_view line) { trace_a.emplace_back(line); };
    NetworkOptions b_options = lossy_options(seed);
    b_options.trace = [&](std::string_view line) { trace_b.emplace_back(line); };
    Net a(a_options, [](const Msg& m) { return fmt::format("msg={}", m); });
    Net b(b_options, [](const Msg& m) { return fmt::format("msg={}", m); });
    const std::vector<std::string> da = run_workload(a, seed, 300, 4);
    const std::vector<std::string> db = run_workload(b, seed, 300, 4);
    EXPECT_FALSE(da.empty());
    EXPECT_EQ(da, db);
    EXPECT_EQ(trace_a, trace_b);
}

TEST(SimNetwork, DifferentSeedsDiffer) {
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    Net a(lossy_options(seed));
    Net b(lossy_options(seed + 1));
    // Same workload, different network seeds.
    EXPECT_NE(run_workload(a, 7, 300, 4), run_workload(b, 7, 300, 4));
}

TEST(SimNetwork, NoLossNoPartitionDeliversEverythingExactlyOnce) {
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    Net net({.seed = seed, .default_link = {.delay_min = 0, .delay_max = 25}});
    std::mt19937_64 rng(seed);
    const Msg kMessages = 2000;
    for (Msg m = 0; m < kMessages; ++m) {
        const std::uint64_t from = 1 + rng() % kNodeCount;
        net.send(link(from, 1 + from % kNodeCount), m, m / 10);
    }
    std::vector<Net::Delivery> got;
    drain(net, got);
    std::map<Msg, int> times_delivered;
    for (const Net::Delivery& d : got) ++times_delivered[d.msg];
    ASSERT_EQ(times_delivered.size(), kMessages);
    for (const auto& [m, n] : times_delivered) EXPECT_EQ(n, 1) << "msg " << m;
    EXPECT_EQ(net.counters().delivered, kMessages);
    EXPECT_EQ(net.counters().dropped(), 0u);
    EXPECT_EQ(net.in_flight(), 0u);
}

TEST(SimNetwork, DuplicationProducesDuplicates) {
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    Net net({.seed = seed,
             .default_link = {.delay_min = 1, .delay_max = 10, .duplicate_ppm = 300'000}});
    const Msg kMessages = 1000;
    for (Msg m = 0; m < kMessages; ++m) net.send(link(1, 2), m, 0);
    std::vector<Net::Delivery> got;
    drain(net, got);
    std::map<Msg, int> times_delivered;
    for (const Net::Delivery& d : got) ++times_delivered[d.msg];
    int twice = 0;
    for (const auto& [m, n] : times_delivered) {
        EXPECT_TRUE(n == 1 || n == 2) << "msg " << m << " delivered " << n << " times";
        twice += n == 2;
    }
    EXPECT_EQ(times_delivered.size(), kMessages);
    // 30% of 1000: far from zero and from all for any seed.
    EXPECT_GT(twice, 150);
    EXPECT_LT(twice, 450);
    EXPECT_EQ(net.counters().duplicated, static_cast<std::uint64_t>(twice));
    EXPECT_EQ(got.size(), kMessages + twice);
}

TEST(SimNetwork, DelaysRespectBounds) {
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    struct Case {
        std::string_view name;
        LinkConfig config;
        bool want_tail;  // some delay beyond delay_max
    };
    const Case cases[] = {
        {"fixed delay", {.delay_min = 4, .delay_max = 4}, false},
        {"zero delay", {.delay_min = 0, .delay_max = 0}, false},
        {"range", {.delay_min = 3, .delay_max = 17}, false},
        {"range with a long tail",
         {.delay_min = 3, .delay_max = 17, .tail_ppm = 100'000, .tail_delay_max = 500},
         true},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Net net({.seed = seed, .default_link = c.config});
        for (Msg m = 0; m < 2000; ++m) net.send(link(1 + m % 2, 2 - m % 2), m, m % 50);
        std::vector<Net::Delivery> got;
        drain(net, got);
        ASSERT_EQ(got.size(), 2000u);
        const SimTime upper = c.want_tail ? c.config.tail_delay_max : c.config.delay_max;
        bool saw_tail = false, saw_min = false, saw_max = false;
        for (const Net::Delivery& d : got) {
            const SimTime delay = d.deliver_at - d.sent_at;
            ASSERT_GE(delay, c.config.delay_min);
            ASSERT_LE(delay, upper);
            saw_tail |= delay > c.config.delay_max;
            saw_min |= delay == c.config.delay_min;
            saw_max |= delay == c.config.delay_max;
        }
        EXPECT_EQ(saw_tail, c.want_tail);
        EXPECT_TRUE(saw_min);
        EXPECT_TRUE(saw_max);
    }
}

TEST(SimNetwork, DeliveriesComeInTimeThenSequenceOrder) {
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    Net net(lossy_options(seed));
    for (Msg m = 0; m < 500; ++m) net.send(link(1 + m % 3, 4), m, m / 20);
    std::vector<Net::Delivery> got;
    drain(net, got);
    for (std::size_t i = 1; i < got.size(); ++i) {
        const auto key = [](const Net::Delivery& d) { return std::pair(d.deliver_at, d.seq); };
        EXPECT_LT(key(got[i - 1]), key(got[i]));
    }
}

TEST(SimNetwork, RandomDelaysReorderAndFifoKeepsPerLinkOrder) {
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    for (const bool fifo : {false, true}) {
        SCOPED_TRACE(fifo ? "fifo" : "not fifo");
        Net net({.seed = seed,
                 .default_link = {.delay_min = 1,
                                  .delay_max = 20,
                                  .tail_ppm = 50'000,
                                  .tail_delay_max = 100,
                                  .duplicate_ppm = 100'000},
                 .fifo_per_link = fifo});
        for (Msg m = 0; m < 3000; ++m) net.send(link(1 + m % 3, 1 + (m / 3) % 3), m, m / 10);
        std::vector<Net::Delivery> got;
        drain(net, got);
        std::map<Link, Msg> last_on_link;
        bool reordered = false;
        for (const Net::Delivery& d : got) {
            const auto it = last_on_link.find(d.link);
            if (it != last_on_link.end() && d.msg < it->second) reordered = true;
            last_on_link[d.link] = d.msg;
        }
        EXPECT_EQ(reordered, !fifo);
    }
}

// Which of the directed links among nodes 1..3 are open after each fault.
TEST(SimNetwork, PartitionShapes) {
    struct Case {
        std::string_view name;
        std::function<void(Net&)> apply;
        std::vector<std::pair<int, int>> open;  // directed, from != to
    };
    const Case cases[] = {
        {"no faults", [](Net&) {}, {{1, 2}, {1, 3}, {2, 1}, {2, 3}, {3, 1}, {3, 2}}},
        {"block one direction",
         [](Net& n) { n.block(link(1, 2)); },
         {{1, 3}, {2, 1}, {2, 3}, {3, 1}, {3, 2}}},
        {"block both directions",
         [](Net& n) {
             n.block(link(1, 2));
             n.block(link(2, 1));
         },
         {{1, 3}, {2, 3}, {3, 1}, {3, 2}}},
        {"unblock",
         [](Net& n) {
             n.block(link(1, 2));
             n.unblock(link(1, 2));
         },
         {{1, 2}, {1, 3}, {2, 1}, {2, 3}, {3, 1}, {3, 2}}},
        {"isolate", [](Net& n) { n.isolate(node(3)); }, {{1, 2}, {2, 1}}},
        {"isolate then rejoin",
         [](Net& n) {
             n.isolate(node(3));
             n.rejoin(node(3));
         },
         {{1, 2}, {1, 3}, {2, 1}, {2, 3}, {3, 1}, {3, 2}}},
        {"split 1 | 2 3",
         [](Net& n) {
             n.split({{node(1)}, {node(2), node(3)}});
         },
         {{2, 3}, {3, 2}}},
        {"unnamed nodes form one group", [](Net& n) { n.split({{node(1)}}); }, {{2, 3}, {3, 2}}},
        {"split replaces split",
         [](Net& n) {
             n.split({{node(1)}, {node(2), node(3)}});
             n.split({{node(1), node(2)}, {node(3)}});
         },
         {{1, 2}, {2, 1}}},
        {"split and block add up",
         [](Net& n) {
             n.split({{node(1)}, {node(2), node(3)}});
             n.block(link(3, 2));
         },
         {{2, 3}}},
        {"heal removes everything",
         [](Net& n) {
             n.split({{node(1)}, {node(2), node(3)}});
             n.block(link(3, 2));
             n.isolate(node(2));
             n.heal();
         },
         {{1, 2}, {1, 3}, {2, 1}, {2, 3}, {3, 1}, {3, 2}}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Net net({.seed = 1});
        c.apply(net);
        std::vector<std::pair<int, int>> open;
        for (int from = 1; from <= 3; ++from) {
            for (int to = 1; to <= 3; ++to) {
                if (from == to) continue;
                if (net.faults().is_link_open(link(from, to))) open.emplace_back(from, to);
            }
        }
        EXPECT_EQ(open, c.open);
        // What is open is what gets delivered.
        Msg m = 0;
        for (int from = 1; from <= 3; ++from) {
            for (int to = 1; to <= 3; ++to) {
                if (from != to) net.send(link(from, to), m++, 0);
            }
        }
        std::vector<std::pair<int, int>> delivered;
        for (const Net::Delivery& d : net.deliver_due(1)) {
            delivered.emplace_back(d.link.from.value, d.link.to.value);
        }
        EXPECT_EQ(delivered, c.open);
        EXPECT_EQ(net.counters().dropped_partition, 6 - c.open.size());
    }
}

TEST(SimNetwork, AsymmetricBlockDropsOneDirectionOnly) {
    Net net({.seed = 3, .default_link = {.delay_min = 2, .delay_max = 2}});
    net.block(link(1, 2));
    net.send(link(1, 2), 12, 0);
    net.send(link(2, 1), 21, 0);
    const std::vector<Net::Delivery> got = net.deliver_due(2);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].msg, 21u);
    EXPECT_EQ(net.counters().dropped_partition, 1u);
}

// A partition drops what is in flight across it when it arrives; healing
// before arrival lets it through.
TEST(SimNetwork, PartitionActsAtDeliveryTime) {
    struct Case {
        std::string_view name;
        std::function<void(Net&)> after_send;
        bool want_delivered;
    };
    const Case cases[] = {
        {"isolated in flight", [](Net& n) { n.isolate(node(2)); }, false},
        {"isolated sender in flight", [](Net& n) { n.isolate(node(1)); }, false},
        {"blocked in flight", [](Net& n) { n.block(link(1, 2)); }, false},
        {"reverse block does not matter", [](Net& n) { n.block(link(2, 1)); }, true},
        {"isolated and healed in flight",
         [](Net& n) {
             n.isolate(node(2));
             n.heal();
         },
         true},
        {"split in flight",
         [](Net& n) {
             n.split({{node(1)}, {node(2)}});
         },
         false},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Net net({.seed = 5, .default_link = {.delay_min = 5, .delay_max = 5}});
        net.send(link(1, 2), 1, 0);
        c.after_send(net);
        EXPECT_TRUE(net.deliver_due(4).empty());
        EXPECT_EQ(net.deliver_due(5).size(), c.want_delivered ? 1u : 0u);
        EXPECT_EQ(net.counters().dropped_partition, c.want_delivered ? 0u : 1u);
        expect_counters_add_up(net);
    }
}

TEST(SimNetwork, IsolateThenHealRestoresTraffic) {
    Net net({.seed = 9, .default_link = {.delay_min = 1, .delay_max = 3}});
    net.isolate(node(1));
    net.send(link(1, 2), 1, 0);
    net.send(link(3, 1), 2, 0);
    net.send(link(2, 3), 3, 0);
    std::vector<Net::Delivery> got;
    drain(net, got);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].msg, 3u);
    EXPECT_EQ(net.counters().dropped_partition, 2u);
    net.heal();
    net.send(link(1, 2), 4, 10);
    net.send(link(3, 1), 5, 10);
    got.clear();
    drain(net, got);
    EXPECT_EQ(got.size(), 2u);
}

TEST(SimNetwork, CrashedNodes) {
    struct Case {
        std::string_view name;
        std::function<void(Net&)> before_send;
        std::function<void(Net&)> after_send;
        bool want_delivered;
    };
    const auto nothing = [](Net&) {};
    const Case cases[] = {
        {"receiver down at send", [](Net& n) { n.crash(node(2)); }, nothing, false},
        {"sender down at send", [](Net& n) { n.crash(node(1)); }, nothing, false},
        {"receiver goes down in flight", nothing, [](Net& n) { n.crash(node(2)); }, false},
        {"receiver crashes and restarts in flight", nothing,
         [](Net& n) {
             n.crash(node(2));
             n.restart(node(2));
         },
         false},
        {"sender crashes in flight: the bytes were on the wire", nothing,
         [](Net& n) { n.crash(node(1)); }, true},
        {"receiver restarted before the send",
         [](Net& n) {
             n.crash(node(2));
             n.restart(node(2));
         },
         nothing, true},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        Net net({.seed = 11, .default_link = {.delay_min = 3, .delay_max = 3}});
        c.before_send(net);
        net.send(link(1, 2), 1, 0);
        c.after_send(net);
        EXPECT_EQ(net.deliver_due(3).size(), c.want_delivered ? 1u : 0u);
        EXPECT_EQ(net.counters().dropped_node_down, c.want_delivered ? 0u : 1u);
        expect_counters_add_up(net);
    }
}

// Under every fault at once, toggled over time, the books balance at every step.
TEST(SimNetwork, CountersAddUpUnderFlappingFaults) {
    const std::uint64_t seed = testing::test_seed();
    SCOPED_TRACE(testing::seed_trace(seed));
    Net net(lossy_options(seed));
    std::mt19937_64 rng(seed);
    std::uint64_t delivered = 0;
    Msg next_msg = 0;
    for (SimTime now = 0; now < 2000; ++now) {
        switch (rng() % 16) {
            case 0:
                net.block(link(1 + rng() % kNodeCount, 1 + rng() % kNodeCount));
                break;
            case 1:
                net.isolate(node(1 + rng() % kNodeCount));
                break;
            case 2:
                net.split({{node(1), node(2)}, {node(3 + rng() % 3)}});
                break;
            case 3:
                net.heal();
                break;
            case 4:
                net.crash(node(1 + rng() % kNodeCount));
                break;
            case 5:
                net.restart(node(1 + rng() % kNodeCount));
                break;
            default:
                break;
        }
        for (int i = 0; i < 3; ++i) {
            net.send(link(1 + rng() % kNodeCount, 1 + rng() % kNodeCount), next_msg++, now);
        }
        delivered += net.deliver_due(now).size();
        expect_counters_add_up(net);
    }
    const NetworkCounters& c = net.counters();
    EXPECT_EQ(c.sent, next_msg);
    EXPECT_EQ(c.delivered, delivered);
    EXPECT_GT(c.dropped_loss, 0u);
    EXPECT_GT(c.dropped_partition, 0u);
    EXPECT_GT(c.dropped_node_down, 0u);
    EXPECT_GT(c.duplicated, 0u);
}

TEST(SimNetwork, TraceReadsAsAStory) {
    std::string trace;
    Net net({.seed = 1,
             .default_link = {.delay_min = 2, .delay_max = 2},
             .trace = [&](std::string_view line) { trace += fmt::format("{}\n", line); }},
            [](const Msg& m) { return fmt::format("msg={}", m); });
    net.set_link_config(link(1, 3), {.delay_min = 1, .delay_max = 1, .duplicate_ppm = kPpmMax});
    net.block(link(2, 1));
    net.send(link(1, 2), 10, 0);
    net.send(link(2, 1), 11, 0);
    net.send(link(1, 3), 12, 0);
    net.crash(node(2));
    EXPECT_EQ(net.deliver_due(1).size(), 2u);
    EXPECT_TRUE(net.deliver_due(2).empty());
    EXPECT_EQ(trace, R"(t=0 send #1 1->2 at=2 msg=10
t=0 send #2 2->1 dropped: partition msg=11
t=0 send #3 1->3 at=1 msg=12
t=0 dup #3 as #4 1->3 at=1
t=1 deliver #3 1->3
t=1 deliver #4 1->3
t=2 drop #1 1->2 down
)");
    EXPECT_EQ(net.counters().to_string(),
              "sent=3 duplicated=1 delivered=2 dropped=2 (loss=0 partition=1 down=1)");
}

}  // namespace
}  // namespace raftkv::sim
