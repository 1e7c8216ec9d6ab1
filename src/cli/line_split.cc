// line_split.cc — redis-cli compatible argument splitting (sdssplitargs).
#include "cli/line_split.h"

namespace raftkv::cli {
namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Characters that end an unquoted argument. Unlike is_blank, not \v or \f:
// sdssplitargs skips those between arguments but keeps them inside one.
bool ends_argument(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char unescape(char c) {
    switch (c) {
        case 'n':
            return '\n';
        case 'r':
            return '\r';
        case 't':
            return '\t';
        case 'b':
            return '\b';
        case 'a':
            return '\a';
        default:
            return c;
    }
}

Status closing_quote_error() {
    return Status::error(Code::kInvalid, "closing quote must be followed by a space");
}

}  // namespace

Result<std::vector<std::string>> split_line(std::string_view line) {
    std::vector<std::string> args;
    std::size_t i = 0;
    const std::size_t n = line.size();
    for (;;) {
        while (i < n && is_blank(line[i])) ++i;
        if (i == n) return args;
        std::string arg;
        enum class Quote { kNone, kDouble, kSingle } quote = Quote::kNone;
        for (bool done = false; !done;) {
            if (quote == Quote::kDouble) {
                if (i == n) return Status::error(Code::kInvalid, "unbalanced double quotes");
                if (line[i] == '\\' && i + 3 < n && line[i + 1] == 'x' &&
                    hex_value(line[i + 2]) >= 0 && hex_value(line[i + 3]) >= 0) {
                    arg.push_back(
                        static_cast<char>(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3])));
                    i += 4;
                } else if (line[i] == '\\' && i + 1 < n) {
                    arg.push_back(unescape(line[i + 1]));
                    i += 2;
                } else if (line[i] == '"') {
                    if (i + 1 < n && !is_blank(line[i + 1])) return closing_quote_error();
                    ++i;
                    done = true;
                } else {
                    arg.push_back(line[i++]);
                }
            } else if (quote == Quote::kSingle) {
                if (i == n) return Status::error(Code::kInvalid, "unbalanced single quotes");
                if (line[i] == '\\' && i + 1 < n && line[i + 1] == '\'') {
                    arg.push_back('\'');
                    i += 2;
                } else if (line[i] == '\'') {
                    if (i + 1 < n && !is_blank(line[i + 1])) return closing_quote_error();
                    ++i;
                    done = true;
                } else {
                    arg.push_back(line[i++]);
                }
            } else if (i == n || ends_argument(line[i])) {
                done = true;
            } else if (line[i] == '"') {
                quote = Quote::kDouble;
                ++i;
            } else if (line[i] == '\'') {
                quote = Quote::kSingle;
                ++i;
            } else {
                arg.push_back(line[i++]);
            }
        }
        args.push_back(std::move(arg));
    }
}

}  // namespace raftkv::cli
