// datadriven.cc — see datadriven.h.
#include "script/datadriven.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace raftkv::raft::script {
namespace {

constexpr std::string_view kSeparator = "----";

std::vector<std::string> split_lines(std::string_view text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        lines.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

std::vector<std::string> split_tokens(std::string_view line) {
    std::vector<std::string> tokens;
    std::istringstream in{std::string(line)};
    std::string token;
    while (in >> token) tokens.push_back(token);
    return tokens;
}

bool is_blank(std::string_view line) {
    return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

struct Case {
    std::vector<std::string> preamble;  // comment and blank lines, verbatim
    ScriptCommand command;
    std::vector<std::string> expected;
};

struct ParsedScript {
    std::vector<Case> cases;
    std::vector<std::string> epilogue;  // comment lines after the last case
    std::vector<std::string> errors;
};

ParsedScript parse(std::string_view text, std::string_view file_name) {
    ParsedScript out;
    const std::vector<std::string> lines = split_lines(text);
    std::vector<std::string> preamble;
    std::size_t i = 0;
    while (i < lines.size()) {
        const std::string& line = lines[i];
        if (is_blank(line) || line.starts_with('#')) {
            preamble.push_back(line);
            ++i;
            continue;
        }
        Case c;
        c.preamble = std::move(preamble);
        preamble.clear();
        c.command.text = line;
        c.command.line = static_cast<int>(i + 1);
        std::vector<std::string> tokens = split_tokens(line);
        c.command.name = tokens.front();
        c.command.args.assign(tokens.begin() + 1, tokens.end());
        ++i;
        if (i >= lines.size() || lines[i] != kSeparator) {
            out.errors.push_back(fmt::format("{}:{}: '{}' is not followed by a '{}' line",
                                             file_name, c.command.line, line, kSeparator));
            return out;
        }
        ++i;
        while (i < lines.size() && !is_blank(lines[i])) c.expected.push_back(lines[i++]);
        if (i < lines.size()) ++i;  // the blank line that ends the block
        out.cases.push_back(std::move(c));
    }
    out.epilogue = std::move(preamble);
    return out;
}

// The longest common subsequence table of a and b, from the back:
// lcs[i][j] is the LCS length of a[i..] and b[j..].
std::vector<std::vector<int>> lcs_table(const std::vector<std::string>& a,
                                        const std::vector<std::string>& b) {
    std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
    for (std::size_t i = a.size(); i-- > 0;) {
        for (std::size_t j = b.size(); j-- > 0;) {
            lcs[i][j] =
                a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
        }
    }
    return lcs;
}

}  // namespace

std::string unified_diff(const std::vector<std::string>& expected,
                         const std::vector<std::string>& actual, int context) {
    // The edit script: ' ' kept, '-' only expected, '+' only actual, with the
    // line numbers (1-based) in each side.
    struct Edit {
        char op;
        std::size_t a;  // index in expected (next one, for '+')
        std::size_t b;  // index in actual (next one, for '-')
    };
    const std::vector<std::vector<int>> lcs = lcs_table(expected, actual);
    std::vector<Edit> edits;
    std::size_t i = 0, j = 0;
    while (i < expected.size() || j < actual.size()) {
        if (i < expected.size() && j < actual.size() && expected[i] == actual[j]) {
            edits.push_back({' ', i++, j++});
        } else if (i < expected.size() && (j == actual.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
            edits.push_back({'-', i++, j});
        } else {
            edits.push_back({'+', i, j++});
        }
    }
    std::string out;
    std::size_t k = 0;
    const auto ctx = static_cast<std::size_t>(context);
    while (k < edits.size()) {
        if (edits[k].op == ' ') {
            ++k;
            continue;
        }
        // A hunk: from `context` kept lines before this change to `context`
        // kept lines after the last change closer than 2 * context to the next.
        const std::size_t begin = k >= ctx ? k - ctx : 0;
        std::size_t end = k;
        std::size_t kept_run = 0;
        for (std::size_t m = k; m < edits.size(); ++m) {
            if (edits[m].op == ' ') {
                if (++kept_run > 2 * ctx) break;
            } else {
                kept_run = 0;
                end = m + 1;
            }
        }
        end = std::min(edits.size(), end + ctx);
        std::size_t a_count = 0, b_count = 0;
        for (std::size_t m = begin; m < end; ++m) {
            if (edits[m].op != '+') ++a_count;
            if (edits[m].op != '-') ++b_count;
        }
        out += fmt::format("@@ -{},{} +{},{} @@\n", edits[begin].a + 1, a_count, edits[begin].b + 1,
                           b_count);
        for (std::size_t m = begin; m < end; ++m) {
            const Edit& e = edits[m];
            out += e.op;
            out += e.op == '+' ? actual[e.b] : expected[e.a];
            out += '\n';
        }
        k = end;
    }
    return out;
}

ScriptReport run_script(std::string_view text, std::string_view file_name,
                        const CommandHandler& handler) {
    ScriptReport report;
    ParsedScript script = parse(text, file_name);
    report.failures = script.errors;
    std::vector<std::string> out_lines;
    for (std::size_t n = 0; n < script.cases.size(); ++n) {
        const Case& c = script.cases[n];
        CommandOutput output = handler(c.command);
        if (output.lines.empty() && output.error.empty()) output.lines.push_back("ok");
        if (!output.error.empty()) output.lines.push_back("error: " + output.error);
        for (std::string& line : output.lines) {
            // A blank line would end the block early: show it as a lone '.'.
            if (is_blank(line)) line = ".";
        }
        const std::string where =
            fmt::format("{}:{}: {}", file_name, c.command.line, c.command.text);
        if (!output.error.empty()) {
            report.failures.push_back(fmt::format("{}\nscript error: {}", where, output.error));
        } else if (output.lines != c.expected) {
            report.failures.push_back(
                fmt::format("{}\noutput differs from the expected block "
                            "(- expected, + actual):\n{}",
                            where, unified_diff(c.expected, output.lines)));
        }
        out_lines.insert(out_lines.end(), c.preamble.begin(), c.preamble.end());
        out_lines.push_back(c.command.text);
        out_lines.emplace_back(kSeparator);
        out_lines.insert(out_lines.end(), output.lines.begin(), output.lines.end());
        if (n + 1 < script.cases.size() || !script.epilogue.empty()) out_lines.emplace_back();
    }
    out_lines.insert(out_lines.end(), script.epilogue.begin(), script.epilogue.end());
    for (const std::string& line : out_lines) report.rewritten += line + "\n";
    return report;
}

bool rewrite_requested() {
    const char* env = std::getenv("RAFTKV_REWRITE");
    return env != nullptr && std::strcmp(env, "1") == 0;
}

}  // namespace raftkv::raft::script
