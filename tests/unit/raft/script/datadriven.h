// datadriven.h — the file format of the raft scripts (testdata/*.txt) and
// the loop that runs one: each case's command goes to a handler, and what it
// prints is compared with the expected block, or written in its place.
//
// A script is a sequence of cases:
//
//     # What the case shows (any number of '#' or blank lines).
//     command arg arg ...
//     ----
//     expected output, one or more lines, none of them blank
//     <blank line or end of file>
//
// Tokens are separated by spaces. The expected block ends at the first blank
// line, so handlers never print blank lines (an empty output is "ok").
// Knows nothing of raft: cluster.h interprets the commands. Modeled on
// cockroachdb/datadriven, which etcd-io/raft's testdata uses.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace raftkv::raft::script {

struct ScriptCommand {
    std::string name;               // the first token
    std::vector<std::string> args;  // the other tokens
    std::string text;               // the whole line
    int line = 0;                   // 1-based, in the script
};

struct CommandOutput {
    std::vector<std::string> lines;  // no blank lines; empty means "ok"
    // A mistake in the script (unknown command, bad argument). It fails the
    // run even when rewriting.
    std::string error;
};

using CommandHandler = std::function<CommandOutput(const ScriptCommand&)>;

struct ScriptReport {
    // One per failed case: "file:line: command" and then a unified-style diff
    // (or the script error).
    std::vector<std::string> failures;
    // The script with every expected block replaced by what was printed.
    std::string rewritten;
};

// Runs every case of `text` (named `file_name` in the report) through
// `handler` in order; a case that fails does not stop the later ones.
ScriptReport run_script(std::string_view text, std::string_view file_name,
                        const CommandHandler& handler);

// The lines of `actual` against `expected`, unified-style: "-" for expected
// lines missing, "+" for lines printed instead, `context` lines around each
// hunk, hunk headers "@@ -a,b +c,d @@" with 1-based line numbers in the block.
std::string unified_diff(const std::vector<std::string>& expected,
                         const std::vector<std::string>& actual, int context = 3);

// Whether scripts are rewritten instead of checked: RAFTKV_REWRITE=1.
bool rewrite_requested();

}  // namespace raftkv::raft::script
