// config_test.cc — the --cluster grammar and the checks on a configuration.
#include "server/config.h"

#include <gtest/gtest.h>

namespace raftkv::server {
namespace {

TEST(ParseCluster, Valid) {
    auto nodes = parse_cluster("1=127.0.0.1:7001,2=127.0.0.2:7002@17999");
    ASSERT_TRUE(nodes) << nodes.error().to_string();
    ASSERT_EQ(nodes->size(), 2u);
    EXPECT_EQ((*nodes)[0], (NodeAddress{raft::NodeId(1), "127.0.0.1", 7001, 17001}));
    EXPECT_EQ((*nodes)[1], (NodeAddress{raft::NodeId(2), "127.0.0.2", 7002, 17999}));
    EXPECT_EQ((*nodes)[0].client_address(), "127.0.0.1:7001");
}

TEST(ParseCluster, RejectsBadEntriesWithTheirText) {
    struct Case {
        std::string_view spec;
        std::string_view want;
    };
    const Case cases[] = {
        {"", "names no server"},
        {"127.0.0.1:7001", "is not ID=HOST:PORT"},
        {"0=127.0.0.1:7001", "bad node id"},
        {"x=127.0.0.1:7001", "bad node id"},
        {"1=127.0.0.1", "is not ID=HOST:PORT"},
        {"1=127.0.0.1:0", "bad port '0'"},
        {"1=127.0.0.1:70000", "bad port '70000'"},
        {"1=127.0.0.1:60000", "leaves no room for the peer port"},
        {"1=127.0.0.1:7001@x", "bad port 'x'"},
        {"1=127.0.0.1:7001,1=127.0.0.1:7002", "node id 1 appears twice"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.spec);
        auto nodes = parse_cluster(c.spec);
        ASSERT_FALSE(nodes);
        EXPECT_NE(nodes.error().message().find(c.want), std::string::npos)
            << nodes.error().message();
    }
}

TEST(Validate, DefaultsToOneServerOnLoopback) {
    ServerConfig config;
    auto self = validate(&config);
    ASSERT_TRUE(self) << self.error().to_string();
    EXPECT_EQ(self->client_address(), "127.0.0.1:6379");
    EXPECT_EQ(self->peer_port, 16379);
}

TEST(Validate, IdMustBeInTheCluster) {
    ServerConfig config;
    config.id = raft::NodeId(2);
    config.cluster = *parse_cluster("1=127.0.0.1:7001");
    auto self = validate(&config);
    ASSERT_FALSE(self);
    EXPECT_EQ(self.error().message(), "--id 2 is not in --cluster");
}

TEST(Validate, ClustersOfOneToSevenServers) {
    ServerConfig config;
    config.cluster = *parse_cluster("1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003");
    auto self = validate(&config);
    ASSERT_TRUE(self) << self.error().to_string();
    EXPECT_EQ(self->port, 7001);
    config.cluster = *parse_cluster(
        "1=h:1,2=h:2,3=h:3,4=h:4,5=h:5,6=h:6,7=h:7,8=h:8");
    self = validate(&config);
    ASSERT_FALSE(self);
    EXPECT_NE(self.error().message().find("clusters of 1 to 7"), std::string::npos)
        << self.error().message();
}

TEST(Validate, RaftTimingIsChecked) {
    ServerConfig config;
    config.tick_ms = 0;
    EXPECT_FALSE(validate(&config));
    config.tick_ms = 50;
    config.election_ticks = 1;
    EXPECT_FALSE(validate(&config));
}

}  // namespace
}  // namespace raftkv::server
