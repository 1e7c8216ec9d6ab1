// script_test.cc — runs every raft script, tests/unit/raft/testdata/*.txt,
// as its own test (RaftScript.Run/<file name>), and tests the runner.
//
// A script tells a story of the raft core in commands (`cluster 3`,
// `campaign 1`, `stabilize`, `partition 1 | 2 3`, ...), each followed by the
// transcript it must print: every Ready and every message. The grammar of
// the commands is at the top of script/cluster.h; the file format at the
// top of script/datadriven.h. STYLE.md section 7, "Scripts for the core".
//
// A transcript that differs fails with a diff naming the file and line of
// the case. To take in an intended change, rewrite the expected blocks:
//
//     RAFTKV_REWRITE=1 build/tests/unit/raft/raft_test --gtest_filter='RaftScript.*'
//
// then read the diff of testdata/ before committing it with the change that
// explains it. A new .txt file is picked up when raft_test is rebuilt.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "script/cluster.h"
#include "script/datadriven.h"

namespace raftkv::raft::script {
namespace {

std::vector<std::string> script_files() {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(RAFTKV_RAFT_TESTDATA_DIR)) {
        if (e.path().extension() == ".txt") files.push_back(e.path().filename().string());
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

ScriptReport run_text(std::string_view text, std::string_view name) {
    ScriptCluster cluster;
    return run_script(text, name, [&](const ScriptCommand& cmd) { return cluster.run(cmd); });
}

class RaftScript : public ::testing::TestWithParam<std::string> {};

TEST_P(RaftScript, Run) {
    const std::filesystem::path path = std::filesystem::path(RAFTKV_RAFT_TESTDATA_DIR) / GetParam();
    const std::string text = read_file(path);
    ASSERT_FALSE(text.empty()) << "cannot read " << path;
    const ScriptReport report = run_text(text, path.string());
    if (rewrite_requested()) {
        if (report.rewritten != text) {
            std::ofstream(path, std::ios::binary | std::ios::trunc) << report.rewritten;
        }
        // Script errors (bad commands) fail even when rewriting.
        for (const std::string& f : report.failures) {
            if (f.find("\nscript error: ") != std::string::npos) ADD_FAILURE() << f;
        }
        return;
    }
    for (const std::string& f : report.failures) ADD_FAILURE() << f;
}

INSTANTIATE_TEST_SUITE_P(Testdata, RaftScript, ::testing::ValuesIn(script_files()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string name = info.param.substr(0, info.param.rfind('.'));
                             for (char& c : name) {
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             }
                             return name;
                         });

// The runner itself: a wrong expected block fails with a diff that names the
// file and line, the other cases still pass, and the rewrite fixes it.
TEST(RaftScriptRunner, AWrongExpectationFailsWithADiff) {
    const std::string script =
        "# one node elects itself\n"
        "cluster 1\n"
        "----\n"
        "ok\n"
        "\n"
        "campaign 1\n"
        "----\n"
        "  1 is now leader term=5 vote=1 lead=1\n"
        "\n"
        "raft-state\n"
        "----\n"
        "1: leader term=1 vote=1 lead=1 commit=0 last=1\n";
    const ScriptReport report = run_text(script, "mem.txt");
    ASSERT_EQ(report.failures.size(), 1u);
    const std::string& f = report.failures[0];
    EXPECT_NE(f.find("mem.txt:6: campaign 1"), std::string::npos) << f;
    EXPECT_NE(f.find("-  1 is now leader term=5 vote=1 lead=1"), std::string::npos) << f;
    // The single voter goes through pre-vote and election at once.
    EXPECT_NE(f.find("+  1 is now leader term=1 vote=1 lead=1"), std::string::npos) << f;

    // Rewriting gives a script that passes, and rewriting again changes nothing.
    const ScriptReport again = run_text(report.rewritten, "mem.txt");
    EXPECT_TRUE(again.failures.empty()) << again.failures.front();
    EXPECT_EQ(again.rewritten, report.rewritten);
    EXPECT_EQ(report.rewritten.find("term=5"), std::string::npos);
}

TEST(RaftScriptRunner, ScriptErrorsFail) {
    const ScriptReport unknown = run_text("cluster 1\n----\nok\n\nfrobnicate 1\n----\nok\n", "m");
    ASSERT_EQ(unknown.failures.size(), 1u);
    EXPECT_NE(unknown.failures[0].find("m:5: frobnicate 1\nscript error: unknown command"),
              std::string::npos)
        << unknown.failures[0];
    const ScriptReport no_separator = run_text("cluster 1\nok\n", "m");
    ASSERT_EQ(no_separator.failures.size(), 1u);
    EXPECT_NE(no_separator.failures[0].find("m:1: 'cluster 1' is not followed by a '----'"),
              std::string::npos)
        << no_separator.failures[0];
}

TEST(RaftScriptRunner, UnifiedDiffShowsHunksWithContext) {
    const std::vector<std::string> a = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"};
    std::vector<std::string> b = a;
    b[4] = "five";
    EXPECT_EQ(unified_diff(a, b, 1), "@@ -4,3 +4,3 @@\n 4\n-5\n+five\n 6\n");
    EXPECT_EQ(unified_diff(a, a), "");
}

}  // namespace
}  // namespace raftkv::raft::script
