// client_connection.h — one client's TCP connection: reads requests, parses
// them, and writes the replies back in request order.
//
// Every request gets a reply slot when it is parsed. The handler fills a slot
// at once (a GET) or later (a SET, once its log entry is durable); replies
// leave strictly in slot order, so pipelined requests are answered in order.
// Bounded: the connection stops reading, and parsing what it has already
// read, while too many replies are pending or too many bytes wait to be sent,
// so a client that pipelines without reading cannot make the server buffer
// without limit.
//
// Not thread-safe: owned by the event loop thread. Does not know what a
// command means: that is the RequestHandler's (src/server).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

#include "resp/request_parser.h"

namespace raftkv::net {

class ClientConnection;

class RequestHandler {
public:
    virtual ~RequestHandler() = default;
    // One parsed request. The handler must eventually call conn.finish(slot)
    // after writing the reply to conn.reply_buffer(slot), unless the
    // connection closes first. `args` may be moved from.
    virtual void on_request(ClientConnection& conn, std::uint64_t slot,
                            std::vector<std::string>& args) = 0;
    virtual void on_close(ClientConnection& conn) = 0;
};

struct ConnectionLimits {
    resp::ParserLimits parser;
    std::size_t pending_replies_max = 1024;   // stop reading past this many unanswered
    std::size_t output_bytes_max = 4u << 20;  // stop reading while this much is unsent
};

class ClientConnection : public std::enable_shared_from_this<ClientConnection> {
public:
    ClientConnection(asio::ip::tcp::socket socket, std::uint64_t id, RequestHandler* handler,
                     const ConnectionLimits& limits);
    ~ClientConnection();

    void start();
    // Stops reading requests; replies still pending are sent, then the
    // connection closes (QUIT, shutdown).
    void close_after_replies();
    // Closes at once; pending replies are dropped.
    void close();

    // The buffer to write slot's reply into. Write the whole reply, then call
    // finish(slot), with no other slot's reply_buffer or finish in between:
    // the oldest slot's buffer is the shared output buffer.
    std::string* reply_buffer(std::uint64_t slot);
    void finish(std::uint64_t slot);

    // While paused, the connection parses no new request (bytes already
    // read wait in its buffer). The server pauses a connection whose read
    // waits for its own earlier write, so that at most one such read is
    // held, and replies cannot pile up behind it beyond the output limit.
    void pause_requests();
    void resume_requests();
    bool is_paused() const { return is_paused_; }

    std::uint64_t id() const { return id_; }
    bool is_open() const { return open_; }
    std::size_t pending_replies() const { return slots_.size(); }
    const std::string& peer_address() const { return peer_address_; }

    // Per-connection state the server keeps (CLIENT SETNAME).
    std::string name;

private:
    struct Slot {
        std::string reply;
        bool is_done = false;
    };

    void read_more();
    void on_read(const asio::error_code& ec, std::size_t n);
    void on_input();
    void process_input();
    void protocol_error(const std::string& message);
    void drain_done_slots();
    void schedule_flush();
    void flush();
    void on_written(const asio::error_code& ec);
    bool is_read_blocked() const;
    void maybe_resume_reading();

    asio::ip::tcp::socket socket_;
    const std::uint64_t id_;
    RequestHandler* handler_;
    ConnectionLimits limits_;
    resp::RequestParser parser_;
    std::string peer_address_;

    std::vector<char> input_;
    // input_[input_begin_, input_end_) was read but not parsed yet: parsing
    // stops when the limits block reading, and resumes from here (before
    // the next read) once they no longer do.
    // Invariant: input_begin_ <= input_end_ <= input_.size().
    std::size_t input_begin_ = 0;
    std::size_t input_end_ = 0;
    // Slot numbers are consecutive; slots_.front() is first_slot_.
    std::deque<Slot> slots_;
    std::uint64_t first_slot_ = 0;
    std::uint64_t next_slot_ = 0;

    std::string output_;   // replies ready to send, in order
    std::string writing_;  // bytes handed to the socket, not yet confirmed
    bool is_writing_ = false;
    bool is_reading_ = false;  // a read or a parse of input_ is outstanding or running
    bool flush_scheduled_ = false;
    bool closing_ = false;  // no more requests; close once replies are sent
    bool is_paused_ = false;
    // Bytes of finished replies still held in slots behind an unfinished
    // one; counted with output_ against output_bytes_max.
    std::size_t held_bytes_ = 0;
    bool open_ = true;
};

}  // namespace raftkv::net
