// reply_format.cc — redis-cli's TTY and raw reply styles.
#include "cli/reply_format.h"

#include <fmt/format.h>

#include <cctype>

namespace raftkv::cli {
namespace {

using Type = resp::Reply::Type;

// cliFormatReplyTTY: `prefix` is the indentation of the enclosing arrays; the
// caller has already printed this reply's own index.
void append_tty(const resp::Reply& r, const std::string& prefix, std::string* out) {
    switch (r.type) {
        case Type::kError:
            out->append("(error) ").append(r.str).append("\n");
            return;
        case Type::kSimple:
            out->append(r.str).append("\n");
            return;
        case Type::kInteger:
            out->append(fmt::format("(integer) {}\n", r.integer));
            return;
        case Type::kBulk:
            out->append(quote_bytes(r.str)).append("\n");
            return;
        case Type::kNil:
        case Type::kNilArray:
            out->append("(nil)\n");
            return;
        case Type::kArray:
            break;
    }
    if (r.elements.empty()) {
        out->append("(empty array)\n");
        return;
    }
    // Indexes are right-aligned to the width of the largest; nested arrays
    // are indented by that width plus ") ".
    const std::size_t width = std::to_string(r.elements.size()).size();
    const std::string nested_prefix = prefix + std::string(width + 2, ' ');
    for (std::size_t i = 0; i < r.elements.size(); ++i) {
        out->append(fmt::format("{}{:>{}}) ", i == 0 ? "" : prefix, i + 1, width));
        append_tty(r.elements[i], nested_prefix, out);
    }
}

// cliFormatReplyRaw, without the final delimiter.
void append_raw(const resp::Reply& r, std::string* out) {
    switch (r.type) {
        case Type::kError:
            out->append(r.str).append("\n");
            return;
        case Type::kSimple:
        case Type::kBulk:
            out->append(r.str);
            return;
        case Type::kInteger:
            out->append(fmt::format("{}", r.integer));
            return;
        case Type::kNil:
        case Type::kNilArray:
            return;
        case Type::kArray:
            for (std::size_t i = 0; i < r.elements.size(); ++i) {
                if (i > 0) out->append("\n");
                append_raw(r.elements[i], out);
            }
            return;
    }
}

bool equals_nocase(std::string_view s, std::string_view lower_word) {
    if (s.size() != lower_word.size()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(s[i])) != lower_word[i]) return false;
    }
    return true;
}

}  // namespace

std::string quote_bytes(std::string_view bytes) {
    std::string out = "\"";
    for (const char c : bytes) {
        switch (c) {
            case '\\':
                out.append("\\\\");
                break;
            case '"':
                out.append("\\\"");
                break;
            case '\n':
                out.append("\\n");
                break;
            case '\r':
                out.append("\\r");
                break;
            case '\t':
                out.append("\\t");
                break;
            case '\a':
                out.append("\\a");
                break;
            case '\b':
                out.append("\\b");
                break;
            default:
                // isprint() in the C locale, which redis-cli runs in.
                if (c >= 0x20 && c <= 0x7e) {
                    out.push_back(c);
                } else {
                    out.append(fmt::format("\\x{:02x}", static_cast<unsigned char>(c)));
                }
        }
    }
    out.push_back('"');
    return out;
}

std::string format_reply(const resp::Reply& reply, OutputMode mode) {
    std::string out;
    if (mode == OutputMode::kTty) {
        append_tty(reply, "", &out);
    } else {
        append_raw(reply, &out);
        out.append("\n");
    }
    return out;
}

bool prints_raw(std::span<const std::string> args) {
    if (args.empty()) return false;
    const std::string_view name = args[0];
    if (equals_nocase(name, "info")) return true;
    if (args.size() < 2) return false;
    const std::string_view sub = args[1];
    if (equals_nocase(name, "cluster")) {
        return args.size() == 2 && (equals_nocase(sub, "nodes") || equals_nocase(sub, "info"));
    }
    if (equals_nocase(name, "client"))
        return equals_nocase(sub, "list") || equals_nocase(sub, "info");
    if (equals_nocase(name, "raft")) return args.size() == 2 && equals_nocase(sub, "status");
    return false;
}

OutputMode mode_for(std::span<const std::string> args, OutputMode mode) {
    return prints_raw(args) ? OutputMode::kRaw : mode;
}

}  // namespace raftkv::cli
