// history.cc — reading, writing and validating client histories.
//
// A hand-written tokenizer and one function per line shape; no regexes, no
// exceptions. Every error names the source and line. Format spec:
// docs/history_format.md.
#include "sim/history.h"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace raftkv::sim {
namespace {

constexpr std::string_view kMagic = "raftkv-history";
constexpr std::string_view kArrow = "->";

struct Token {
    bool is_quoted = false;
    std::string text;  // unescaped bytes when quoted
};

// A line error before the source and line number are known.
Status line_error(std::string message) { return Status::error(Code::kInvalid, std::move(message)); }

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Reads the quoted string starting at line[*pos] == '"'; leaves *pos after
// the closing quote.
Result<std::string> read_quoted(std::string_view line, std::size_t* pos) {
    const std::size_t start = *pos;
    std::string out;
    std::size_t i = start + 1;
    while (i < line.size()) {
        const char c = line[i];
        if (c == '"') {
            *pos = i + 1;
            return out;
        }
        if (c != '\\') {
            out.push_back(c);
            ++i;
            continue;
        }
        if (i + 1 >= line.size()) break;
        const char e = line[i + 1];
        switch (e) {
            case '\\':
                out.push_back('\\');
                break;
            case '"':
                out.push_back('"');
                break;
            case 'n':
                out.push_back('\n');
                break;
            case 'r':
                out.push_back('\r');
                break;
            case 't':
                out.push_back('\t');
                break;
            case 'x': {
                const int hi = i + 2 < line.size() ? hex_digit(line[i + 2]) : -1;
                const int lo = i + 3 < line.size() ? hex_digit(line[i + 3]) : -1;
                if (hi < 0 || lo < 0) {
                    return line_error(
                        fmt::format("bad \\x escape at column {} (want two hex digits)", i + 1));
                }
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 4;
                continue;
            }
            default:
                return line_error(fmt::format("unknown escape '\\{}' at column {}", e, i + 1));
        }
        i += 2;
    }
    return line_error(fmt::format("unterminated string starting at column {}", start + 1));
}

Result<std::vector<Token>> tokenize(std::string_view line) {
    std::vector<Token> tokens;
    std::size_t i = 0;
    while (i < line.size()) {
        const char c = line[i];
        if (c == ' ' || c == '\t') {
            ++i;
            continue;
        }
        if (c == '"') {
            Result<std::string> s = read_quoted(line, &i);
            if (!s) return s.error();
            if (i < line.size() && line[i] != ' ' && line[i] != '\t') {
                return line_error(fmt::format("no space after string at column {}", i + 1));
            }
            tokens.push_back({.is_quoted = true, .text = std::move(*s)});
            continue;
        }
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
            if (line[i] == '"') {
                return line_error(fmt::format("quote inside a word at column {}", i + 1));
            }
            ++i;
        }
        tokens.push_back({.is_quoted = false, .text = std::string(line.substr(start, i - start))});
    }
    return tokens;
}

template <typename Int>
Result<Int> parse_int(const Token& t, std::string_view what) {
    Int v{};
    const char* first = t.text.data();
    const char* last = first + t.text.size();
    const auto [ptr, ec] = std::from_chars(first, last, v);
    if (t.is_quoted || t.text.empty() || ec != std::errc() || ptr != last) {
        return line_error(fmt::format("{} '{}' is not a decimal integer in range", what, t.text));
    }
    return v;
}

Result<std::string> parse_string(const Token& t, std::string_view what) {
    if (!t.is_quoted) {
        return line_error(fmt::format("{} must be a quoted string, got '{}'", what, t.text));
    }
    return t.text;
}

Result<Value> parse_value(const Token& t, std::string_view what) {
    if (!t.is_quoted && t.text == "nil") return Value();
    Result<std::string> s = parse_string(t, what);
    if (!s) return s.error();
    return Value(std::move(*s));
}

Result<Outcome> parse_outcome(const Token& t) {
    if (!t.is_quoted) {
        if (t.text == "ok") return Outcome::kOk;
        if (t.text == "failed") return Outcome::kFailed;
        if (t.text == "unknown") return Outcome::kUnknown;
    }
    return line_error(fmt::format("unknown outcome '{}' (want ok, failed or unknown)", t.text));
}

Result<OpKind> parse_kind(const Token& t) {
    for (OpKind k : {OpKind::kGet, OpKind::kSet, OpKind::kIncr, OpKind::kCas, OpKind::kDel}) {
        if (!t.is_quoted && t.text == op_kind_name(k)) return k;
    }
    return line_error(
        fmt::format("unknown operation '{}' (want get, set, incr, cas or del)", t.text));
}

Result<Reply> parse_reply(const Token& t) {
    if (t.is_quoted) return Reply{.kind = ReplyKind::kValue, .bytes = t.text};
    if (t.text == "ok") return Reply{.kind = ReplyKind::kOk};
    if (t.text == "nil") return Reply{.kind = ReplyKind::kNil};
    if (t.text == "not-applied") return Reply{.kind = ReplyKind::kNotApplied};
    Result<std::int64_t> n = parse_int<std::int64_t>(t, "reply");
    if (!n) {
        return line_error(fmt::format(
            "unknown reply '{}' (want ok, nil, not-applied, a quoted string or an integer)",
            t.text));
    }
    return Reply{.kind = ReplyKind::kInteger, .integer = *n};
}

// Arguments after the key, by operation kind.
std::size_t arg_count(OpKind kind) {
    switch (kind) {
        case OpKind::kGet:
            return 0;
        case OpKind::kSet:
            return 1;
        case OpKind::kIncr:
            return 1;
        case OpKind::kCas:
            return 2;
        case OpKind::kDel:
            return 0;
    }
    return 0;
}

std::string_view arg_names(OpKind kind) {
    switch (kind) {
        case OpKind::kGet:
            return "key";
        case OpKind::kSet:
            return "key value";
        case OpKind::kIncr:
            return "key delta";
        case OpKind::kCas:
            return "key expected new";
        case OpKind::kDel:
            return "key";
    }
    return "";
}

Status parse_args(const std::vector<Token>& args, Operation* op) {
    Result<std::string> key = parse_string(args[0], "key");
    if (!key) return key.error();
    op->key = std::move(*key);
    switch (op->kind) {
        case OpKind::kGet:
        case OpKind::kDel:
            break;
        case OpKind::kSet: {
            Result<std::string> v = parse_string(args[1], "value");
            if (!v) return v.error();
            op->value = std::move(*v);
            break;
        }
        case OpKind::kIncr: {
            Result<std::int64_t> d = parse_int<std::int64_t>(args[1], "delta");
            if (!d) return d.error();
            op->delta = *d;
            break;
        }
        case OpKind::kCas: {
            Result<Value> e = parse_value(args[1], "expected value");
            if (!e) return e.error();
            Result<std::string> v = parse_string(args[2], "new value");
            if (!v) return v.error();
            op->expected = std::move(*e);
            op->value = std::move(*v);
            break;
        }
    }
    return Status::ok();
}

// `client call return outcome kind key args... [-> reply]`
Result<Operation> parse_op_line(const std::vector<Token>& t) {
    if (t.size() < 6) {
        return line_error(fmt::format(
            "want 'client call return outcome operation key ...', got {} fields", t.size()));
    }
    Operation op;
    Result<std::uint64_t> client = parse_int<std::uint64_t>(t[0], "client");
    if (!client) return client.error();
    op.client = *client;
    Result<std::int64_t> call = parse_int<std::int64_t>(t[1], "call time");
    if (!call) return call.error();
    op.call_time = *call;
    if (!t[2].is_quoted && t[2].text == "-") {
        op.return_time = kNeverReturned;
    } else {
        Result<std::int64_t> ret = parse_int<std::int64_t>(t[2], "return time");
        if (!ret) return ret.error();
        op.return_time = *ret;
    }
    Result<Outcome> outcome = parse_outcome(t[3]);
    if (!outcome) return outcome.error();
    op.outcome = *outcome;
    Result<OpKind> kind = parse_kind(t[4]);
    if (!kind) return kind.error();
    op.kind = *kind;

    std::size_t end = t.size();
    for (std::size_t i = 5; i < t.size(); ++i) {
        if (!t[i].is_quoted && t[i].text == kArrow) {
            end = i;
            break;
        }
    }
    std::vector<Token> args(t.begin() + 5, t.begin() + static_cast<std::ptrdiff_t>(end));
    if ((op.kind == OpKind::kSet || op.kind == OpKind::kCas) &&
        args.size() == 3 + arg_count(op.kind) && !args[args.size() - 2].is_quoted &&
        args[args.size() - 2].text == "pxat") {
        Result<std::int64_t> at = parse_int<std::int64_t>(args.back(), "pxat deadline");
        if (!at) return at.error();
        op.expire_at_ms = *at;
        args.resize(args.size() - 2);
    }
    if (args.size() != 1 + arg_count(op.kind)) {
        return line_error(fmt::format("{} takes {} ({} fields), got {}", op_kind_name(op.kind),
                                      arg_names(op.kind), 1 + arg_count(op.kind), args.size()));
    }
    RAFTKV_RETURN_IF_ERROR(parse_args(args, &op));
    if (end != t.size()) {
        if (t.size() != end + 2) {
            return line_error(
                fmt::format("want exactly one reply after '->', got {}", t.size() - end - 1));
        }
        Result<Reply> reply = parse_reply(t[end + 1]);
        if (!reply) return reply.error();
        op.reply = std::move(*reply);
    }
    return op;
}

bool reply_fits(const Operation& op) {
    const ReplyKind r = op.reply.kind;
    if (op.outcome != Outcome::kOk) return r == ReplyKind::kNone;
    switch (op.kind) {
        case OpKind::kGet:
            return r == ReplyKind::kValue || r == ReplyKind::kNil;
        case OpKind::kSet:
            return r == ReplyKind::kOk;
        case OpKind::kIncr:
            return r == ReplyKind::kInteger || r == ReplyKind::kNotApplied;
        case OpKind::kCas:
            return r == ReplyKind::kOk || r == ReplyKind::kNotApplied;
        case OpKind::kDel:
            return r == ReplyKind::kInteger && (op.reply.integer == 0 || op.reply.integer == 1);
    }
    return false;
}

// What is wrong with one operation, or an empty string.
std::string operation_problem(const Operation& op) {
    if (!reply_fits(op)) {
        if (op.outcome != Outcome::kOk) {
            return fmt::format("outcome {} takes no reply", outcome_name(op.outcome));
        }
        if (op.reply.kind == ReplyKind::kNone) return "an ok operation needs '-> reply'";
        return fmt::format("this reply does not fit {}", op_kind_name(op.kind));
    }
    if (op.return_time == kNeverReturned && op.outcome != Outcome::kUnknown) {
        return "return time '-' (never returned) needs outcome unknown";
    }
    if (op.expire_at_ms && op.kind != OpKind::kSet && op.kind != OpKind::kCas) {
        return "only set and cas take a pxat deadline";
    }
    if (op.return_time < op.call_time) {
        return fmt::format("return time {} is before call time {}", op.return_time, op.call_time);
    }
    return {};
}

void append_quoted(std::string* out, std::string_view bytes) {
    out->push_back('"');
    for (const char ch : bytes) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"':
                out->append("\\\"");
                break;
            case '\\':
                out->append("\\\\");
                break;
            case '\n':
                out->append("\\n");
                break;
            case '\r':
                out->append("\\r");
                break;
            case '\t':
                out->append("\\t");
                break;
            default:
                if (c < 0x20 || c > 0x7e) {
                    fmt::format_to(std::back_inserter(*out), "\\x{:02x}", c);
                } else {
                    out->push_back(ch);
                }
        }
    }
    out->push_back('"');
}

std::string format_reply(const Reply& r) {
    switch (r.kind) {
        case ReplyKind::kNone:
            return "";
        case ReplyKind::kValue:
            return format_value(r.bytes);
        case ReplyKind::kNil:
            return "nil";
        case ReplyKind::kInteger:
            return fmt::format("{}", r.integer);
        case ReplyKind::kOk:
            return "ok";
        case ReplyKind::kNotApplied:
            return "not-applied";
    }
    return "";
}

Status parse_version_line(const std::vector<Token>& t, History* history, int* version) {
    if (t.size() != 3 || t[0].is_quoted || t[0].text != kMagic) {
        return line_error(
            fmt::format("first line must be '{} {} ns|ticks'", kMagic, kHistoryFormatVersion));
    }
    if (t[1].is_quoted || (t[1].text != "1" && t[1].text != "2")) {
        return line_error(
            fmt::format("unsupported version '{}' (this reader knows 1 and 2)", t[1].text));
    }
    *version = t[1].text == "1" ? 1 : 2;
    if (!t[2].is_quoted && t[2].text == "ns") {
        history->time_unit = TimeUnit::kNanoseconds;
    } else if (!t[2].is_quoted && t[2].text == "ticks") {
        history->time_unit = TimeUnit::kTicks;
    } else {
        return line_error(fmt::format("unknown time unit '{}' (want ns or ticks)", t[2].text));
    }
    return Status::ok();
}

// `clock <units-per-ms> <origin-ms> <skew-ms>` (version 2).
Result<ClockModel> parse_clock_line(const std::vector<Token>& t) {
    if (t.size() != 4) {
        return line_error("want 'clock <units-per-ms> <origin-ms> <skew-ms>'");
    }
    ClockModel clock;
    Result<std::int64_t> per = parse_int<std::int64_t>(t[1], "units per ms");
    if (!per) return per.error();
    Result<std::int64_t> origin = parse_int<std::int64_t>(t[2], "clock origin");
    if (!origin) return origin.error();
    Result<std::int64_t> skew = parse_int<std::int64_t>(t[3], "clock skew");
    if (!skew) return skew.error();
    if (*per <= 0 || *skew < 0) {
        return line_error("clock: units per ms must be positive and the skew not negative");
    }
    clock.units_per_ms = *per;
    clock.origin_ms = *origin;
    clock.skew_ms = *skew;
    return clock;
}

}  // namespace

std::string_view op_kind_name(OpKind kind) {
    switch (kind) {
        case OpKind::kGet:
            return "get";
        case OpKind::kSet:
            return "set";
        case OpKind::kIncr:
            return "incr";
        case OpKind::kCas:
            return "cas";
        case OpKind::kDel:
            return "del";
    }
    return "?";
}

std::string_view outcome_name(Outcome outcome) {
    switch (outcome) {
        case Outcome::kOk:
            return "ok";
        case Outcome::kFailed:
            return "failed";
        case Outcome::kUnknown:
            return "unknown";
    }
    return "?";
}

Status validate_history(const History& history) {
    for (std::size_t i = 0; i < history.ops.size(); ++i) {
        std::string problem = operation_problem(history.ops[i]);
        if (problem.empty() && history.ops[i].expire_at_ms && !history.clock) {
            problem = "a pxat deadline needs the history's clock";
        }
        if (!problem.empty()) {
            return Status::errorf(Code::kInvalid, "operation {} ({}): {}", i,
                                  format_operation(history.ops[i]), problem);
        }
    }
    return Status::ok();
}

Result<History> parse_history(std::string_view text, std::string_view source) {
    History history;
    std::size_t line_number = 0;
    bool has_version = false;
    int version = 0;
    while (!text.empty()) {
        ++line_number;
        const std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        auto fail = [&](const Status& s) {
            return Status::errorf(Code::kInvalid, "{}:{}: {}", source, line_number, s.message());
        };
        if (line.size() > kHistoryLineBytesMax) {
            return fail(line_error(fmt::format("line of {} bytes is longer than the limit {}",
                                               line.size(), kHistoryLineBytesMax)));
        }
        const std::size_t first = line.find_first_not_of(" \t");
        const bool is_blank = first == std::string_view::npos;
        if (has_version && (is_blank || line[first] == '#')) continue;
        Result<std::vector<Token>> tokens = tokenize(line);
        if (!tokens) return fail(tokens.error());
        if (!has_version) {
            if (Status s = parse_version_line(*tokens, &history, &version); !s.is_ok()) {
                return fail(s);
            }
            has_version = true;
            continue;
        }
        if (version >= 2 && !tokens->empty() && !(*tokens)[0].is_quoted &&
            (*tokens)[0].text == "clock") {
            if (history.clock || !history.ops.empty()) {
                return fail(line_error("the clock line comes once, before any operation"));
            }
            Result<ClockModel> clock = parse_clock_line(*tokens);
            if (!clock) return fail(clock.error());
            history.clock = *clock;
            continue;
        }
        Result<Operation> op = parse_op_line(*tokens);
        if (!op) return fail(op.error());
        if (const std::string problem = operation_problem(*op); !problem.empty()) {
            return fail(line_error(problem));
        }
        if (op->expire_at_ms && (version < 2 || !history.clock)) {
            return fail(line_error("a pxat deadline needs version 2 and a clock line"));
        }
        history.ops.push_back(std::move(*op));
    }
    if (!has_version) {
        return Status::errorf(Code::kInvalid, "{}:1: empty history (want a version line '{} {}')",
                              source, kMagic, kHistoryFormatVersion);
    }
    return history;
}

Result<History> read_history_file(const std::filesystem::path& path) {
    // A directory opens as a stream that reads as empty: say what it is
    // rather than "empty history".
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        return Status::errorf(Code::kIoError, "cannot read history {}: it is a directory",
                              path.string());
    }
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (errno != 0) return errno_status(errno, "cannot open history " + path.string());
        return Status::errorf(Code::kIoError, "cannot open history {}", path.string());
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    if (in.bad()) return Status::errorf(Code::kIoError, "cannot read history {}", path.string());
    return parse_history(buf.str(), path.string());
}

std::string format_value(const Value& value) {
    if (!value) return "nil";
    std::string out;
    append_quoted(&out, *value);
    return out;
}

std::string format_operation(const Operation& op) {
    std::string out = fmt::format("{} {} ", op.client, op.call_time);
    if (op.return_time == kNeverReturned) {
        out += "-";
    } else {
        fmt::format_to(std::back_inserter(out), "{}", op.return_time);
    }
    fmt::format_to(std::back_inserter(out), " {} {} ", outcome_name(op.outcome),
                   op_kind_name(op.kind));
    append_quoted(&out, op.key);
    switch (op.kind) {
        case OpKind::kGet:
        case OpKind::kDel:
            break;
        case OpKind::kSet:
            out += " " + format_value(op.value);
            break;
        case OpKind::kIncr:
            fmt::format_to(std::back_inserter(out), " {}", op.delta);
            break;
        case OpKind::kCas:
            out += " " + format_value(op.expected) + " " + format_value(op.value);
            break;
    }
    if (op.expire_at_ms) fmt::format_to(std::back_inserter(out), " pxat {}", *op.expire_at_ms);
    if (op.reply.kind != ReplyKind::kNone) out += " -> " + format_reply(op.reply);
    return out;
}

std::string format_history(const History& history) {
    // Version 1 when there is no clock, so older readers still read it.
    std::string out = fmt::format("{} {} {}\n", kMagic, history.clock ? 2 : 1,
                                  history.time_unit == TimeUnit::kTicks ? "ticks" : "ns");
    if (history.clock) {
        fmt::format_to(std::back_inserter(out), "clock {} {} {}\n", history.clock->units_per_ms,
                       history.clock->origin_ms, history.clock->skew_ms);
    }
    for (const Operation& op : history.ops) {
        out += format_operation(op);
        out.push_back('\n');
    }
    return out;
}

Status write_history_file(const std::filesystem::path& path, const History& history) {
    const std::string text = format_history(history);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return errno_status(errno, fmt::format("open {}", path.string()));
    const std::size_t written = std::fwrite(text.data(), 1, text.size(), f);
    const int err = written == text.size() ? 0 : errno;
    if (std::fclose(f) != 0 || err != 0) {
        return errno_status(err != 0 ? err : errno, fmt::format("write {}", path.string()));
    }
    return Status::ok();
}

}  // namespace raftkv::sim
