// connection.cc — blocking client connection: sockets, deadlines, redirects.
//
// The socket is non-blocking; every wait is a poll() bounded by a deadline,
// which is how the connect and I/O timeouts are kept without signals.
#include "client/connection.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include "resp/reply_writer.h"

namespace raftkv::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunkBytes = 16 << 10;

// Milliseconds left until `deadline`, rounded up, for poll(); 0 once passed.
int poll_timeout_ms(Clock::time_point deadline) {
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return ms > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(ms);
}

std::string format_address(std::string_view host, std::uint16_t port) {
    // An IPv6 literal needs brackets to keep its colons apart from the port.
    if (host.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

// Waits for `events` on `fd` until `deadline`. Returns the revents seen, 0 on
// timeout, or -errno.
int wait_for(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        pollfd p{.fd = fd, .events = events, .revents = 0};
        const int n = ::poll(&p, 1, poll_timeout_ms(deadline));
        if (n > 0) return p.revents;
        if (n == 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

// Connects a non-blocking socket to one resolved address. Returns the fd or
// -errno (-ETIMEDOUT when the deadline passes).
int connect_one(const addrinfo& ai, Clock::time_point deadline) {
    const int fd =
        ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol);
    if (fd < 0) return -errno;
    int err = 0;
    if (::connect(fd, ai.ai_addr, ai.ai_addrlen) != 0) {
        err = errno;
        if (err == EINPROGRESS || err == EINTR) {
            const int rev = wait_for(fd, POLLOUT, deadline);
            if (rev == 0) {
                err = ETIMEDOUT;
            } else if (rev < 0) {
                err = -rev;
            } else {
                socklen_t len = sizeof(err);
                if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
            }
        }
    }
    if (err != 0) {
        ::close(fd);
        return -err;
    }
    const int one = 1;
    // Requests are small and latency matters more than packet count.
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

// Parses the address of "MOVED <slot> <host>:<port>". The host is everything
// before the last colon, so an IPv6 literal (bracketed or not) also works.
bool parse_moved(std::string_view moved, std::string* host, std::uint16_t* port) {
    std::string_view rest = moved;
    if (!rest.starts_with("MOVED ")) return false;
    rest.remove_prefix(6);
    const std::size_t space = rest.find(' ');
    if (space == std::string_view::npos) return false;
    rest.remove_prefix(space + 1);
    const std::size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    std::string_view h = rest.substr(0, colon);
    const std::string_view p = rest.substr(colon + 1);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (ec != std::errc() || end != p.data() + p.size() || value == 0 || value > 65535) {
        return false;
    }
    *host = std::string(h);
    *port = static_cast<std::uint16_t>(value);
    return true;
}

bool is_moved(const resp::Reply& reply) {
    return reply.type == resp::Reply::Type::kError && reply.str.starts_with("MOVED ");
}

}  // namespace

void encode_command(std::span<const std::string> args, std::string* out) {
    resp::ReplyWriter w(out);
    w.array_header(args.size());
    for (const std::string& arg : args) w.bulk(arg);
}

Result<Connection> Connection::connect(std::string_view host, std::uint16_t port,
                                       std::chrono::milliseconds timeout) {
    RAFTKV_ASSERT(timeout.count() > 0, "connect timeout must be positive: {} ms", timeout.count());
    const std::string address = format_address(host, port);
    const std::string host_str(host);
    const std::string port_str = std::to_string(port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    const int gai = ::getaddrinfo(host_str.c_str(), port_str.c_str(), &hints, &list);
    if (gai != 0) {
        return Status::errorf(Code::kIoError, "cannot connect to {}: {}", address,
                              gai == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(gai));
    }
    const Clock::time_point deadline = Clock::now() + timeout;
    int fd = -ECONNREFUSED;
    for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
        fd = connect_one(*ai, deadline);
        if (fd >= 0 || fd == -ETIMEDOUT) break;
    }
    ::freeaddrinfo(list);
    if (fd == -ETIMEDOUT) {
        return Status::errorf(Code::kIoError, "cannot connect to {}: timed out after {} ms",
                              address, timeout.count());
    }
    if (fd < 0) {
        return Status::errorf(Code::kIoError, "cannot connect to {}: {}", address,
                              std::strerror(-fd));
    }
    return Connection(fd, host_str, port, timeout);
}

Connection::Connection(int fd, std::string host, std::uint16_t port,
                       std::chrono::milliseconds timeout)
    : fd_(fd),
      host_(std::move(host)),
      port_(port),
      connect_timeout_(timeout),
      io_timeout_(timeout),
      parser_() {}

Connection::Connection(Connection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      host_(std::move(other.host_)),
      port_(other.port_),
      connect_timeout_(other.connect_timeout_),
      io_timeout_(other.io_timeout_),
      out_(std::move(other.out_)),
      in_(std::move(other.in_)),
      in_pos_(std::exchange(other.in_pos_, 0)),
      pending_replies_(std::exchange(other.pending_replies_, 0)),
      parser_(std::move(other.parser_)),
      sessions_enabled_(other.sessions_enabled_),
      session_options_(other.session_options_),
      session_id_(other.session_id_),
      session_seq_(other.session_seq_),
      servers_(std::move(other.servers_)),
      next_server_(other.next_server_) {}

Connection& Connection::operator=(Connection&& other) noexcept {
    if (this != &other) {
        close();
        fd_ = std::exchange(other.fd_, -1);
        host_ = std::move(other.host_);
        port_ = other.port_;
        connect_timeout_ = other.connect_timeout_;
        io_timeout_ = other.io_timeout_;
        out_ = std::move(other.out_);
        in_ = std::move(other.in_);
        pending_replies_ = std::exchange(other.pending_replies_, 0);
        in_pos_ = std::exchange(other.in_pos_, 0);
        parser_ = std::move(other.parser_);
        sessions_enabled_ = other.sessions_enabled_;
        session_options_ = other.session_options_;
        session_id_ = other.session_id_;
        session_seq_ = other.session_seq_;
        servers_ = std::move(other.servers_);
        next_server_ = other.next_server_;
    }
    return *this;
}

void Connection::adopt(Connection&& fresh) {
    close();
    fd_ = std::exchange(fresh.fd_, -1);
    host_ = std::move(fresh.host_);
    port_ = fresh.port_;
    parser_ = std::move(fresh.parser_);
}

Connection::~Connection() { close(); }

std::string Connection::address() const { return format_address(host_, port_); }

void Connection::set_io_timeout(std::chrono::milliseconds timeout) {
    RAFTKV_ASSERT(timeout.count() > 0, "I/O timeout must be positive: {} ms", timeout.count());
    io_timeout_ = timeout;
}

void Connection::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    out_.clear();
    in_.clear();
    pending_replies_ = 0;
    in_pos_ = 0;
}

Status Connection::reconnect() {
    close();
    Result<Connection> fresh = connect(host_, port_, connect_timeout_);
    if (!fresh) return fresh.error();
    adopt(std::move(fresh).value());
    return Status::ok();
}

Status Connection::fail(Status status) {
    close();
    return status;
}

Result<resp::Reply> Connection::call(std::span<const std::string> args) {
    RAFTKV_ASSERT(!args.empty());
    RAFTKV_ASSERT(pending_replies_ == 0, "call() with {} pipelined replies pending",
                  pending_replies_);
    if (sessions_enabled_) {
        if (is_session_write(args)) return call_in_session(args);
        // A session's connection comes back by itself after a loss.
        if (!is_connected()) RAFTKV_RETURN_IF_ERROR(connect_any(Clock::now() + connect_timeout_));
    }
    Result<resp::Reply> reply = call_once(args);
    for (int redirects = 0; reply && is_moved(*reply); ++redirects) {
        if (redirects == kRedirectsMax) {
            return Status::errorf(Code::kIoError,
                                  "{}: gave up after {} redirects, last from {}: {}", args[0],
                                  kRedirectsMax, address(), reply->str);
        }
        RAFTKV_RETURN_IF_ERROR(follow_redirect(*reply, args[0]));
        reply = call_once(args);
    }
    return reply;
}

Result<resp::Reply> Connection::call_once(std::span<const std::string> args) {
    RAFTKV_RETURN_IF_ERROR(send(args));
    return read_reply();
}

// The only place that acts on -MOVED: moves this connection to the named server.
Status Connection::follow_redirect(const resp::Reply& moved, std::string_view command) {
    std::string host;
    std::uint16_t port = 0;
    if (!parse_moved(moved.str, &host, &port)) {
        return fail(Status::errorf(Code::kInvalid, "{}: malformed redirect from {}: {}", command,
                                   address(), moved.str));
    }
    Result<Connection> next = connect(host, port, connect_timeout_);
    if (!next) {
        const std::string from = address();
        close();
        return Status::errorf(Code::kIoError, "{} (redirected by {}: {})", next.error().message(),
                              from, moved.str);
    }
    adopt(std::move(next).value());
    if (sessions_enabled_) remember_server(host_, port_);
    return Status::ok();
}

Status Connection::send(std::span<const std::string> args) {
    RAFTKV_ASSERT(!args.empty());
    if (!is_connected()) {
        return Status::errorf(Code::kIoError, "not connected to {}", address());
    }
    encode_command(args, &out_);
    ++pending_replies_;
    return Status::ok();
}

Status Connection::flush() {
    if (!is_connected()) {
        return Status::errorf(Code::kIoError, "not connected to {}", address());
    }
    return write_queued(Clock::now() + io_timeout_);
}

Result<resp::Reply> Connection::read_reply() {
    RAFTKV_ASSERT(pending_replies_ > 0, "read_reply() without a command sent");
    if (!is_connected()) {
        return Status::errorf(Code::kIoError, "not connected to {}", address());
    }
    const Clock::time_point deadline = Clock::now() + io_timeout_;
    RAFTKV_RETURN_IF_ERROR(write_queued(deadline));
    for (;;) {
        if (in_pos_ < in_.size()) {
            resp::Reply reply;
            std::size_t consumed = 0;
            const std::string_view unparsed = std::string_view(in_).substr(in_pos_);
            const resp::ParseStatus st = parser_.parse(unparsed, &consumed, &reply);
            if (st == resp::ParseStatus::kMalformed) {
                return fail(Status::errorf(Code::kInvalid, "malformed reply from {}: {}", address(),
                                           parser_.error()));
            }
            if (st == resp::ParseStatus::kComplete) {
                // Replies of a pipelined batch are parsed in place; drop the
                // parsed prefix once it is at least half the buffer.
                in_pos_ += consumed;
                if (in_pos_ * 2 >= in_.size()) {
                    in_.erase(0, in_pos_);
                    in_pos_ = 0;
                }
                --pending_replies_;
                return reply;
            }
        }
        RAFTKV_RETURN_IF_ERROR(read_some(deadline));
    }
}

Status Connection::write_queued(Clock::time_point deadline) {
    std::size_t written = 0;
    while (written < out_.size()) {
        const ssize_t n = ::send(fd_, out_.data() + written, out_.size() - written, MSG_NOSIGNAL);
        if (n > 0) {
            written += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            return fail(errno_status(errno, fmt::format("cannot send to {}", address())));
        }
        // The socket buffer is full. Drain replies meanwhile: a server that
        // cannot write its replies may stop reading our requests.
        const int rev = wait_for(fd_, POLLOUT | POLLIN, deadline);
        if (rev == 0) {
            return fail(Status::errorf(Code::kIoError, "timed out after {} ms sending to {}",
                                       io_timeout_.count(), address()));
        }
        if (rev < 0) return fail(errno_status(-rev, fmt::format("poll {}", address())));
        if ((rev & (POLLIN | POLLHUP | POLLERR)) != 0) {
            RAFTKV_RETURN_IF_ERROR(read_some(deadline));
        }
    }
    out_.clear();
    return Status::ok();
}

Status Connection::read_some(Clock::time_point deadline) {
    char buf[kReadChunkBytes];
    for (;;) {
        const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
        if (n > 0) {
            in_.append(buf, static_cast<std::size_t>(n));
            return Status::ok();
        }
        if (n == 0) {
            return fail(Status::errorf(Code::kIoError, "connection closed by {}{}", address(),
                                       in_pos_ < in_.size() ? " in the middle of a reply" : ""));
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return fail(errno_status(errno, fmt::format("cannot read from {}", address())));
        }
        const int rev = wait_for(fd_, POLLIN, deadline);
        if (rev == 0) {
            return fail(Status::errorf(Code::kIoError,
                                       "timed out after {} ms waiting for a reply from {}",
                                       io_timeout_.count(), address()));
        }
        if (rev < 0) return fail(errno_status(-rev, fmt::format("poll {}", address())));
    }
}

}  // namespace raftkv::client
