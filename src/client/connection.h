// connection.h — a blocking RESP connection from a client to one server.
//
// Encodes commands as RESP multibulk requests, sends them over TCP and reads
// replies back with resp::ReplyParser. Every wait has a deadline; an I/O
// error, a timeout or a malformed reply closes the connection, because the
// stream can no longer be trusted to pair requests with replies. `call`
// follows `-MOVED <slot> <host>:<port>` redirects (DESIGN.md, Client protocol)
// to find the leader; `send`/`read_reply` are the raw pipelining interface and
// never redirect.
//
// Without sessions, `call` does not retry a command on a lost connection:
// whether it was applied is unknown, and only the caller can decide. With
// enable_sessions(), `call` makes writes exactly-once (docs/command_format.md,
// Client sessions): it registers a session before the first write, wraps each
// write (a kv command of class kWrite) as SESSION RUN <id> <seq> ..., and on
// a lost connection, a timeout, -TRYAGAIN, -CLUSTERDOWN or -UNCERTAIN retries
// the same (id, seq), reconnecting, trying the other servers of the cluster
// (learned from CLUSTER NODES) and backing off, until a deadline. The server
// applies it once and replays its reply to a retry.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "resp/reply_parser.h"

namespace raftkv::client {

// How many `-MOVED` redirects one `call` follows before giving up.
inline constexpr int kRedirectsMax = 5;

// How a write in a session is retried (enable_sessions).
struct SessionOptions {
    // How long one write may be retried, from its first attempt, before call()
    // gives up with an error saying it may or may not have been applied.
    std::chrono::milliseconds retry_for = std::chrono::seconds(30);
    // Bounds each attempt's reply wait (a stopped server must not hold the
    // write for the whole io_timeout); at most io_timeout().
    std::chrono::milliseconds attempt_timeout = std::chrono::seconds(2);
    // Pauses between attempts: doubling from first to max.
    std::chrono::milliseconds backoff_first = std::chrono::milliseconds(20);
    std::chrono::milliseconds backoff_max = std::chrono::milliseconds(500);
};

// One TCP connection to a server at host:port. Owns its socket. Movable, not
// copyable. Not thread-safe: one thread uses it at a time.
class Connection {
public:
    // Resolves `host` and connects to it within `timeout` (name resolution
    // itself is not bounded by it). The same timeout bounds, from then on,
    // each reply read and each send; change it with set_io_timeout. Errors
    // name the address: "cannot connect to 127.0.0.1:6379: Connection refused".
    static Result<Connection> connect(std::string_view host, std::uint16_t port,
                                      std::chrono::milliseconds timeout);

    Connection(Connection&& other) noexcept;
    Connection& operator=(Connection&& other) noexcept;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    // Sends `args` as one command and returns its reply. An error reply from
    // the server is a successful Result whose type is kError; a failed Status
    // means the command may or may not have reached the server (I/O error,
    // timeout, malformed reply) and the connection is closed. With sessions,
    // a write is retried as described at the top; a failed Status then means
    // the retries ran out of time (or the session expired while the write
    // was being retried) and the write may or may not have been applied.
    // `-MOVED <slot> <host>:<port>` makes it connect to that address and send
    // the command again, at most kRedirectsMax times; afterwards host() and
    // port() name the server that answered. Requires: no pipelined replies
    // pending (every `send` matched by a `read_reply`). `args` is not empty.
    Result<resp::Reply> call(std::span<const std::string> args);

    // Pipelining: queues `args` as one command without waiting for its reply.
    // Queued bytes go out on flush() or the next read_reply(). Fails only when
    // not connected. Never follows redirects.
    Status send(std::span<const std::string> args);
    // Writes every queued command, reading any replies that arrive meanwhile
    // so a long batch cannot deadlock against a server blocked on its output.
    Status flush();
    // Flushes, then reads the reply to the oldest command whose reply has not
    // been read yet. Requires: at least one such command.
    Result<resp::Reply> read_reply();

    // From now on, `call` runs writes in a client session. The session is
    // registered lazily, on the first write. A server that does not know
    // SESSION (plain Redis) turns sessions off again: writes then go as typed.
    void enable_sessions(SessionOptions options = {});
    bool has_sessions() const { return sessions_enabled_; }
    // The registered session's id, 0 if none yet; the last sequence used.
    std::uint64_t session_id() const { return session_id_; }
    std::uint64_t session_seq() const { return session_seq_; }

    bool is_connected() const { return fd_ >= 0; }
    // Replies still to be read for commands given to send().
    std::size_t pending_replies() const { return pending_replies_; }
    const std::string& host() const { return host_; }
    std::uint16_t port() const { return port_; }
    // "host:port"
    std::string address() const;
    std::chrono::milliseconds io_timeout() const { return io_timeout_; }
    void set_io_timeout(std::chrono::milliseconds timeout);

    // Drops the socket and anything queued or half read. Idempotent.
    void close();
    // Closes, then connects again to host():port() with the original
    // connect timeout.
    Status reconnect();

private:
    using Clock = std::chrono::steady_clock;

    Connection(int fd, std::string host, std::uint16_t port, std::chrono::milliseconds timeout);

    Result<resp::Reply> call_once(std::span<const std::string> args);
    Status follow_redirect(const resp::Reply& moved, std::string_view command);
    // Takes over `fresh`'s socket and address, keeping this connection's
    // timeouts and session.
    void adopt(Connection&& fresh);

    // Sessions (connection_session.cc).
    bool is_session_write(std::span<const std::string> args) const;
    Result<resp::Reply> call_in_session(std::span<const std::string> args);
    Status register_session(Clock::time_point deadline);
    // Calls `args` until a reply that is not a retryable error, or the
    // deadline. Sets *maybe_applied when an attempt may have reached the
    // server (a lost connection, -UNCERTAIN).
    Result<resp::Reply> call_retrying(std::span<const std::string> args, Clock::time_point deadline,
                                      bool* maybe_applied);
    // Unless connected, connects to the first known server that answers,
    // starting with the current one unless `skip_current`.
    Status connect_any(Clock::time_point deadline, bool skip_current = false);
    void learn_servers();
    void remember_server(std::string_view host, std::uint16_t port);
    // Writes queued bytes until none are left or `deadline` passes.
    Status write_queued(Clock::time_point deadline);
    // Appends whatever the socket has to in_; waits until `deadline` for some.
    Status read_some(Clock::time_point deadline);
    // Closes and returns `status`, for errors after which the stream is lost.
    Status fail(Status status);

    int fd_ = -1;
    std::string host_;
    std::uint16_t port_ = 0;
    std::chrono::milliseconds connect_timeout_;
    std::chrono::milliseconds io_timeout_;
    std::string out_;         // encoded commands not yet written
    std::string in_;          // bytes received; those before in_pos_ are parsed
    std::size_t in_pos_ = 0;  // Invariant: in_pos_ <= in_.size().
    std::size_t pending_replies_ = 0;
    resp::ReplyParser parser_;  // stateless between replies

    bool sessions_enabled_ = false;
    SessionOptions session_options_;
    std::uint64_t session_id_ = 0;   // 0: not registered
    std::uint64_t session_seq_ = 0;  // the last sequence number used in session_id_
    // Servers to try when the current one is unreachable: the first address
    // connected to, redirect targets, and CLUSTER NODES. Deduplicated.
    std::vector<std::pair<std::string, std::uint16_t>> servers_;
    std::size_t next_server_ = 0;
};

// Encodes `args` as a RESP multibulk request (*N\r\n$len\r\narg\r\n...) and
// appends it to `out`.
void encode_command(std::span<const std::string> args, std::string* out);

}  // namespace raftkv::client
