// fake_server.h — a TCP server on 127.0.0.1 in a thread, for tests of code
// that connects to one, and a port that refuses connections.
//
// The server knows no protocol: the test's handler reads and writes the
// accepted socket itself. Nothing sleeps: the server thread waits on its
// sockets. Not for tests of the real server (tests/integration runs that).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <thread>
#include <utility>

namespace raftkv::testing {

// A listening socket on 127.0.0.1 (port 0: the kernel picks) and a thread
// that hands each accepted connection to `handler`, one at a time, closing
// it when the handler returns. The destructor stops accepting and joins;
// clients must be gone by then, or the handler must return on its own.
// port() may be called from any thread.
class FakeServer {
public:
    using Handler = std::function<void(int fd)>;

    explicit FakeServer(Handler handler) : handler_(std::move(handler)) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        EXPECT_EQ(::listen(listen_fd_, 16), 0);
        socklen_t len = sizeof(addr);
        EXPECT_EQ(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
        port_ = ntohs(addr.sin_port);
        EXPECT_EQ(::pipe2(wake_, O_CLOEXEC), 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeServer() {
        EXPECT_EQ(::write(wake_[1], "x", 1), 1);
        thread_.join();
        ::close(listen_fd_);
        ::close(wake_[0]);
        ::close(wake_[1]);
    }
    FakeServer(const FakeServer&) = delete;
    FakeServer& operator=(const FakeServer&) = delete;

    std::uint16_t port() const { return port_; }

private:
    void serve() {
        for (;;) {
            pollfd fds[2] = {{.fd = listen_fd_, .events = POLLIN, .revents = 0},
                             {.fd = wake_[0], .events = POLLIN, .revents = 0}};
            if (::poll(fds, 2, -1) < 0) return;
            if (fds[1].revents != 0) return;
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            handler_(fd);
            ::close(fd);
        }
    }

    Handler handler_;
    int listen_fd_ = -1;
    int wake_[2] = {-1, -1};  // a byte in wake_[1] stops serve()
    std::uint16_t port_ = 0;
    std::thread thread_;
};

// Binds a socket on 127.0.0.1 that never listens and sets *fd and *port:
// connecting to *port is refused while *fd is open. The caller closes *fd.
// A failure to bind is fatal; wrap the call in ASSERT_NO_FATAL_FAILURE to
// stop the test there.
inline void refusing_port(int* fd, std::uint16_t* port) {
    *fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(*fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(::getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    *port = ntohs(addr.sin_port);
}

}  // namespace raftkv::testing
