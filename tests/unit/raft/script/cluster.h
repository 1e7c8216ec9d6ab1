// cluster.h — the interpreter of the raft scripts (testdata/*.txt): a few
// raft::Node cores, each persisting into its own MemoryLogStorage, whose
// Readies and messages a script processes and delivers one step at a time,
// printing everything that happens. The file format is datadriven.h's; the
// printed forms are print.h's. The cores are driven only through their
// public API (node.h); the test never reaches inside.
//
// Commands (ids are node ids; a link is "from->to", either side may be "*"):
//
//   cluster <n> [seed=1] [pre_vote=true] [check_quorum=true] [lease=false]
//           [election=10] [heartbeat=1] [drift=2] [max_entries=256]
//       Starts nodes 1..n, all voters, with empty logs. Must come first.
//   tick <id|all> [n=1] [stabilize]
//                              n ticks of the node(s) (crashed ones skip them);
//                              no Ready is processed unless `stabilize` says
//                              to stabilize after each tick
//   campaign <id>              Node::campaign_now
//   propose <id> <data...>     Node::propose; prints the index and term or the refusal
//   read-index <id> <ctx>      Node::read_index
//   transfer <from> <to>       Node::transfer_leadership, asked of <from>
//   add-learner <leader> <id>  Node::change_membership; add-learner also starts
//   promote <leader> <id>      node <id> (empty, knowing no members) if it does
//   remove <leader> <id>       not exist yet
//   ready [<id>...]            processes the Ready of each node (all when none)
//                              that has one: persists, applies, queues messages
//   deliver [<link>...] [limit=N]
//                              steps the queued messages (on these links) into
//                              their receivers, in the order sent
//   stabilize                  ready + deliver until no node has a Ready and no
//                              message is queued
//   drop [<link>...]           discards queued messages (on these links)
//   partition <ids> | <ids> ...
//                              messages between groups are dropped when
//                              delivered; nodes not named form one more group
//   heal                       ends the partition
//   crash <id>                 the node stops; its unprocessed Ready (what it
//                              has not persisted) and its state machine are lost
//   restart <id>               a new core over what the node persisted; its
//                              state machine reloads the snapshot
//   compact <id> <index>       the node snapshots its state machine at <index>
//                              (applied) and drops its log through it
//   status <id>                Node::status
//   log <id>                   the node's snapshot, log entries and state machine
//   raft-state                 one line per node: role, term, vote, leader, commit
//
// What is printed: a processed Ready as "N ready:" and its fields (print.h);
// a delivered message in its one-line form, and "dropped ..." for one that a
// partition, a crash or `drop` discarded; after any input, a node whose role,
// term, vote or leader changed prints "N is now <role> term=T vote=V lead=L".
// The state machine of a node is the list of the commands it applied; its
// snapshot image is that list joined with ';'.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "raft/log_storage.h"
#include "raft/node.h"
#include "script/datadriven.h"

namespace raftkv::raft::script {

// Not thread-safe; one per script run.
class ScriptCluster {
public:
    ScriptCluster() = default;
    ScriptCluster(const ScriptCluster&) = delete;
    ScriptCluster& operator=(const ScriptCluster&) = delete;

    // Runs one command; see the grammar above.
    CommandOutput run(const ScriptCommand& cmd);

private:
    struct Peer {
        NodeOptions options;
        MemoryLogStorage storage;    // what was persisted (survives a crash)
        HardState hard_state;        // likewise
        std::unique_ptr<Node> node;  // null while crashed
        // The state machine: applied commands with their index (those
        // loaded from a snapshot carry the snapshot's index).
        std::vector<std::pair<Index, std::string>> applied;
    };
    struct Link {
        std::optional<NodeId> from;  // nullopt: any
        std::optional<NodeId> to;
        bool matches(const Message& m) const {
            return (!from || *from == m.from) && (!to || *to == m.to);
        }
    };
    // What a node shows when its role, term, vote or leader changes.
    struct Observed {
        Role role;
        Term term;
        NodeId vote;
        NodeId lead;
        bool operator==(const Observed&) const = default;
    };

    using Handler = void (ScriptCluster::*)(const ScriptCommand&);
    static const std::map<std::string, Handler, std::less<>>& handlers();

    void cmd_cluster(const ScriptCommand& cmd);
    void cmd_tick(const ScriptCommand& cmd);
    void cmd_campaign(const ScriptCommand& cmd);
    void cmd_propose(const ScriptCommand& cmd);
    void cmd_read_index(const ScriptCommand& cmd);
    void cmd_transfer(const ScriptCommand& cmd);
    void cmd_membership(const ScriptCommand& cmd);
    void cmd_ready(const ScriptCommand& cmd);
    void cmd_deliver(const ScriptCommand& cmd);
    void cmd_stabilize(const ScriptCommand& cmd);
    void cmd_drop(const ScriptCommand& cmd);
    void cmd_partition(const ScriptCommand& cmd);
    void cmd_heal(const ScriptCommand& cmd);
    void cmd_crash(const ScriptCommand& cmd);
    void cmd_restart(const ScriptCommand& cmd);
    void cmd_compact(const ScriptCommand& cmd);
    void cmd_status(const ScriptCommand& cmd);
    void cmd_log(const ScriptCommand& cmd);
    void cmd_raft_state(const ScriptCommand& cmd);

    // Parsing; each records an error in error_ and returns a neutral value.
    NodeId parse_id(const std::string& token);
    std::uint64_t parse_number(const std::string& token);
    bool parse_bool(const std::string& token);
    std::optional<Link> parse_link(const std::string& token);
    // The running node `id`, or null after recording an error.
    Node* live(NodeId id);
    Node* live_arg(const ScriptCommand& cmd, std::size_t arg);

    void start(NodeId id, bool founding);
    // Runs `input` on node `id` and prints the change it made, if any.
    template <class F>
    auto observe(NodeId id, F&& input);
    void process_ready(NodeId id);
    // Steps the queued messages that match `links` (all when empty), at most
    // `limit`. Returns how many were handled (delivered or dropped).
    std::size_t deliver(const std::vector<Link>& links, std::size_t limit);
    // Ready + deliver until quiet; false (and error_) if it never is.
    bool stabilize();
    std::optional<std::string> drop_reason(const Message& m) const;
    std::string state_machine_image(const Peer& p, Index through) const;
    void print(std::string line) { out_.push_back(std::move(line)); }

    Membership founders_;
    std::map<NodeId, Peer> peers_;
    std::map<NodeId, Observed> observed_;
    std::deque<Message> queue_;    // sent, not yet delivered, in the order sent
    std::map<NodeId, int> group_;  // partition groups; empty: none
    std::vector<std::string> out_;
    std::string error_;
};

}  // namespace raftkv::raft::script
