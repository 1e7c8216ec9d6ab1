// connection_session.cc — exactly-once writes for client::Connection: session
// registration, SESSION RUN wrapping and the retry loop.
//
// The rule that makes retrying safe: a retry always repeats the same
// (session id, sequence number), so the server applies the write at most
// once and answers a repeat with the saved reply (docs/command_format.md,
// Client sessions). A write is moved to a new session only when the server
// proves the old attempt was not applied; otherwise the caller is told its
// fate is unknown.
#include <charconv>
#include <thread>

#include "client/connection.h"
#include "kv/commands.h"

namespace raftkv::client {
namespace {

using Clock = std::chrono::steady_clock;

// Replies that promise the command was not applied (-TRYAGAIN,
// -CLUSTERDOWN) or whose fate is unknown (-UNCERTAIN); a retry of the same
// (id, seq) is safe after each.
bool is_retryable(const resp::Reply& r) {
    if (r.type != resp::Reply::Type::kError) return false;
    return r.str.starts_with("TRYAGAIN") || r.str.starts_with("CLUSTERDOWN") ||
           r.str.starts_with("UNCERTAIN");
}

bool is_session_expired(const resp::Reply& r) {
    return r.type == resp::Reply::Type::kError && r.str.starts_with("ERR SESSIONEXPIRED");
}

// "host:port" of a CLUSTER NODES line's second field ("host:port@peerport").
bool parse_node_address(std::string_view field, std::string* host, std::uint16_t* port) {
    field = field.substr(0, field.find('@'));
    const std::size_t colon = field.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    const std::string_view p = field.substr(colon + 1);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (ec != std::errc() || end != p.data() + p.size() || value == 0 || value > 65535) {
        return false;
    }
    *host = std::string(field.substr(0, colon));
    *port = static_cast<std::uint16_t>(value);
    return true;
}

}  // namespace

void Connection::enable_sessions(SessionOptions options) {
    RAFTKV_ASSERT(options.retry_for.count() > 0);
    RAFTKV_ASSERT(options.attempt_timeout.count() > 0);
    RAFTKV_ASSERT(options.backoff_first.count() > 0);
    RAFTKV_ASSERT(options.backoff_max >= options.backoff_first);
    sessions_enabled_ = true;
    session_options_ = options;
    remember_server(host_, port_);
}

bool Connection::is_session_write(std::span<const std::string> args) const {
    const kv::CommandInfo* info = kv::find_command(args[0]);
    return info != nullptr && info->cls == kv::CommandClass::kWrite &&
           info->id != kv::CommandId::kSession;
}

void Connection::remember_server(std::string_view host, std::uint16_t port) {
    for (const auto& [h, p] : servers_) {
        if (h == host && p == port) return;
    }
    servers_.emplace_back(std::string(host), port);
}

// Best effort: a server that does not answer CLUSTER NODES (or a fake in a
// test) leaves the list as it is.
void Connection::learn_servers() {
    const std::string args[] = {"CLUSTER", "NODES"};
    Result<resp::Reply> r = call_once(args);
    if (!r || r->type != resp::Reply::Type::kBulk) return;
    std::string_view text = r->str;
    while (!text.empty()) {
        const std::size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
        const std::size_t a = line.find(' ');
        if (a == std::string_view::npos) continue;
        line.remove_prefix(a + 1);
        std::string host;
        std::uint16_t port = 0;
        if (parse_node_address(line.substr(0, line.find(' ')), &host, &port)) {
            remember_server(host, port);
        }
    }
}

Status Connection::connect_any(Clock::time_point deadline, bool skip_current) {
    if (is_connected()) return Status::ok();
    Status last = Status::ok();
    // The current server first (unless it just failed us), then each other
    // known one once.
    for (std::size_t tries = skip_current ? 1 : 0; tries <= servers_.size(); ++tries) {
        if (tries > 0) {
            const auto& [host, port] = servers_[next_server_ % servers_.size()];
            ++next_server_;
            host_ = host;
            port_ = port;
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) break;
        Result<Connection> fresh = connect(host_, port_, std::min(connect_timeout_, left));
        if (fresh) {
            adopt(std::move(fresh).value());
            return Status::ok();
        }
        last = fresh.error();
    }
    if (last.is_ok()) {
        last = Status::errorf(Code::kIoError, "not connected to {}: no time left", address());
    }
    return last;
}

Result<resp::Reply> Connection::call_retrying(std::span<const std::string> args,
                                              Clock::time_point deadline, bool* maybe_applied) {
    std::chrono::milliseconds backoff = session_options_.backoff_first;
    const std::chrono::milliseconds io_timeout = io_timeout_;
    Status last = Status::ok();
    // A server that lost the connection or did not answer in time (stopped,
    // partitioned) is tried again only after the others.
    bool skip_current = false;
    for (int attempt = 0;; ++attempt) {
        if (attempt > 0) {
            if (Clock::now() + backoff >= deadline) break;
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, session_options_.backoff_max);
        }
        if (Status s = connect_any(deadline, skip_current); !s.is_ok()) {
            last = s;
            skip_current = false;
            continue;
        }
        skip_current = false;
        io_timeout_ = std::min(io_timeout, session_options_.attempt_timeout);
        Result<resp::Reply> reply = call_once(args);
        for (int redirects = 0; reply && reply->type == resp::Reply::Type::kError &&
                                reply->str.starts_with("MOVED ") && redirects < kRedirectsMax;
             ++redirects) {
            if (!follow_redirect(*reply, args[0]).is_ok()) break;
            reply = call_once(args);
        }
        io_timeout_ = io_timeout;
        if (!reply) {
            *maybe_applied = true;  // it may have reached the server before the loss
            last = reply.error();
            close();
            skip_current = true;
            continue;
        }
        if (!is_connected()) {  // a redirect to a server that did not answer
            last = Status::errorf(Code::kIoError, "{}: {}", args[0], reply->str);
            continue;
        }
        if (is_retryable(*reply) || reply->str.starts_with("MOVED ")) {
            if (reply->str.starts_with("UNCERTAIN")) *maybe_applied = true;
            last = Status::errorf(Code::kIoError, "{} from {}", reply->str, address());
            continue;
        }
        return reply;
    }
    return Status::errorf(Code::kIoError, "{}: gave up after {} ms of retries, last: {}", args[0],
                          session_options_.retry_for.count(), last.message());
}

Status Connection::register_session(Clock::time_point deadline) {
    const std::string args[] = {"SESSION", "REGISTER"};
    bool maybe_applied = false;  // a lost REGISTER only leaves a session to expire
    Result<resp::Reply> r = call_retrying(args, deadline, &maybe_applied);
    if (!r) return r.error();
    if (r->type == resp::Reply::Type::kError && r->str.starts_with("ERR unknown command")) {
        // Not a raftkv server (plain Redis, say): writes go as typed from now on.
        sessions_enabled_ = false;
        return Status::ok();
    }
    if (r->type != resp::Reply::Type::kInteger || r->integer <= 0) {
        return Status::errorf(Code::kInvalid, "SESSION REGISTER at {}: unexpected reply {}",
                              address(), r->str);
    }
    session_id_ = static_cast<std::uint64_t>(r->integer);
    session_seq_ = 0;
    learn_servers();
    return Status::ok();
}

Result<resp::Reply> Connection::call_in_session(std::span<const std::string> args) {
    const Clock::time_point deadline = Clock::now() + session_options_.retry_for;
    // At most twice: a second time only when the server proved that the
    // first attempt ran in no session (expired before any attempt could apply).
    for (int round = 0; round < 2; ++round) {
        if (session_id_ == 0) RAFTKV_RETURN_IF_ERROR(register_session(deadline));
        if (!sessions_enabled_) return call(args);  // the server has no sessions
        std::vector<std::string> wrapped = {"SESSION", "RUN", std::to_string(session_id_),
                                            std::to_string(++session_seq_)};
        wrapped.insert(wrapped.end(), args.begin(), args.end());
        bool maybe_applied = false;
        Result<resp::Reply> reply = call_retrying(wrapped, deadline, &maybe_applied);
        if (!reply) {
            return Status::errorf(Code::kIoError, "{}; the write may or may not have been applied",
                                  reply.error().message());
        }
        if (!is_session_expired(*reply)) return reply;
        const std::uint64_t expired = session_id_;
        session_id_ = 0;
        if (maybe_applied) {
            return Status::errorf(Code::kIoError,
                                  "{}: session {} expired while the write was being retried; it "
                                  "may or may not have been applied",
                                  args[0], expired);
        }
    }
    return Status::errorf(Code::kIoError, "{}: the server expired two new sessions in a row",
                          args[0]);
}

}  // namespace raftkv::client
