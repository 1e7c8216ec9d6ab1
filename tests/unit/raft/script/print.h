// print.h — the one-line and block forms in which raft script transcripts
// (testdata/*.txt) show the core's values: entries, messages, Readies, the
// hard state and a node's status.
//
// Each struct has its own printer, which names every field in declaration
// order. Next to each, a static_assert on the struct's field count (counted
// in standard C++) fails the build when a field is added, so a new field is
// never left out of the transcripts silently: print it there, then rewrite
// the transcripts that change. A field at its default (0, false, empty,
// none) is left out of messages and Readies. A log position is printed
// term/index, as etcd-io/raft does: "2/7" is the entry of term 2 at index 7.
#pragma once

#include <string>
#include <vector>

#include "raft/log_storage.h"
#include "raft/message.h"
#include "raft/node.h"
#include "raft/types.h"

namespace raftkv::raft::script {

// "2/7 command \"set a 1\"", "2/6 noop", "3/8 config voters=[1 2 3] learners=[4]".
std::string format_entry(const Entry& e);
// "1->2 append term=2 index=5 log_term=1 entries=[2/6 2/7] commit=4": sender,
// receiver and kind, then every other field that is not at its default.
std::string format_message(const Message& m);
// "term=2 vote=1 commit=4": every field.
std::string format_hard_state(const HardState& hs);
// "2/10 voters=[1 2 3] learners=[]".
std::string format_snapshot_meta(const SnapshotMeta& meta);
// Every field of the status, one line.
std::string format_status(const NodeStatus& s);

// The Ready as indented lines: each non-empty field by its name, lists with
// one item per line below it. `indent` prefixes every line.
std::vector<std::string> format_ready(const Ready& rd, const std::string& indent);

}  // namespace raftkv::raft::script
