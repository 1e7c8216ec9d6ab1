// demo.h — `raftkv demo`: a local cluster of raftkv servers and a shell on it.
//
// Starts N `raftkv server` child processes on 127.0.0.1 (node i on client
// port base_port + i - 1, peer port that + 10000, data in DIR/node-i, log in
// DIR/node-i.log), waits until one of them says it leads (INFO raft), then
// runs `raftkv cli` on node 1 as another child; its client follows -MOVED to
// the leader. When the shell exits, or the demo gets SIGINT, SIGTERM or
// SIGHUP, it stops the nodes: SIGTERM, a deadline, then SIGKILL. The nodes
// and the shell get SIGTERM from the kernel if the demo dies first
// (PR_SET_PDEATHSIG). Data is never deleted: the demo says where it is and
// how to remove it.
#pragma once

#include <cstdint>
#include <string>

namespace raftkv::cli {

inline constexpr int kDemoNodesMax = 7;

struct DemoOptions {
    int node_count = 3;  // 1..kDemoNodesMax
    // Where the nodes keep their data and logs; empty means a new directory
    // in the working directory: raftkv-demo, or raftkv-demo-2, -3, ... when
    // that exists.
    std::string dir;
    std::uint16_t base_port = 7001;  // node i's client port is base_port + i - 1
    // At exit, say how to start again from the same data rather than how to
    // remove it.
    bool keep = false;
};

// Runs the demo on this process's terminal and returns the exit code: 0 when
// it ended because the shell exited or a signal asked it to, and every node
// stopped cleanly; 1 when a node could not start, no leader was elected in
// time, a node exited on its own or had to be killed, or the shell failed;
// 2 for bad options.
int run_demo(const DemoOptions& options);

}  // namespace raftkv::cli
