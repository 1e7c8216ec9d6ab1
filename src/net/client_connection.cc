// client_connection.cc — request parsing, ordered replies and flow control.
#include "net/client_connection.h"

#include <spdlog/spdlog.h>

#include "base/assert.h"
#include "resp/reply_writer.h"

namespace raftkv::net {
namespace {
constexpr std::size_t kReadChunkBytes = 16 * 1024;
}

ClientConnection::ClientConnection(asio::ip::tcp::socket socket, std::uint64_t id,
                                   RequestHandler* handler, const ConnectionLimits& limits)
    : socket_(std::move(socket)),
      id_(id),
      handler_(handler),
      limits_(limits),
      parser_(limits.parser),
      input_(kReadChunkBytes) {
    asio::error_code ec;
    const auto endpoint = socket_.remote_endpoint(ec);
    if (!ec) peer_address_ = fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

ClientConnection::~ClientConnection() = default;

void ClientConnection::start() { read_more(); }

bool ClientConnection::is_read_blocked() const {
    return is_paused_ || slots_.size() >= limits_.pending_replies_max ||
           output_.size() + writing_.size() + held_bytes_ >= limits_.output_bytes_max;
}

void ClientConnection::pause_requests() {
    RAFTKV_ASSERT(!is_paused_, "client {} paused twice", id_);
    is_paused_ = true;
}

void ClientConnection::resume_requests() {
    RAFTKV_ASSERT(is_paused_, "client {} resumed while not paused", id_);
    is_paused_ = false;
    maybe_resume_reading();
}

void ClientConnection::read_more() {
    if (!open_ || closing_ || is_reading_ || is_read_blocked()) return;
    is_reading_ = true;
    if (input_begin_ < input_end_) {
        // Requests already read wait to be parsed. Parse them from the event
        // loop, not here: finish() calls this from inside handler code,
        // which must not be re-entered with a new request.
        asio::post(socket_.get_executor(), [self = shared_from_this()] { self->on_input(); });
        return;
    }
    socket_.async_read_some(asio::buffer(input_),
                            [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                                self->on_read(ec, n);
                            });
}

void ClientConnection::on_read(const asio::error_code& ec, std::size_t n) {
    if (!open_) return;
    if (ec) is_reading_ = false;
    if (ec == asio::error::eof) {
        // The client finished sending (perhaps only half-closed, as `nc`
        // does at the end of its input): answer what it sent, then close.
        close_after_replies();
        return;
    }
    if (ec) {
        // Reset: the client is gone. Writes it sent still commit; their
        // replies have nowhere to go.
        close();
        return;
    }
    RAFTKV_ASSERT(input_begin_ == input_end_, "read over {} unparsed bytes",
                  input_end_ - input_begin_);
    input_begin_ = 0;
    input_end_ = n;
    on_input();
}

void ClientConnection::on_input() {
    if (!open_) return;
    // input_ holds the bytes being parsed: is_reading_ stays set until they
    // are consumed, so that a reply finished meanwhile cannot start the next
    // read into the same buffer (Asio may read speculatively at once).
    process_input();
    is_reading_ = false;
    if (open_) {
        schedule_flush();
        read_more();
    }
}

void ClientConnection::process_input() {
    // Stops at the limits too, not only between reads: one read can hold
    // thousands of pipelined requests, each of which may make a big reply.
    while (input_begin_ < input_end_ && open_ && !closing_ && !is_read_blocked()) {
        const std::string_view in(input_.data() + input_begin_, input_end_ - input_begin_);
        std::size_t consumed = 0;
        const resp::ParseStatus status = parser_.parse(in, &consumed);
        RAFTKV_ASSERT(consumed <= in.size(), "parser consumed {} of {}", consumed, in.size());
        input_begin_ += consumed;
        if (status == resp::ParseStatus::kNeedMore) {
            RAFTKV_ASSERT(input_begin_ == input_end_, "parser needs more with {} bytes unread",
                          input_end_ - input_begin_);
            break;
        }
        if (status == resp::ParseStatus::kMalformed) {
            protocol_error(parser_.error());
            return;
        }
        const std::uint64_t slot = next_slot_++;
        slots_.emplace_back();
        // Parsing on past the limit handed a whole read's worth of pipelined
        // requests to the handler (ClientConnection.StopsReadingAtPendingRepliesMax).
        RAFTKV_ASSERT(slots_.size() <= limits_.pending_replies_max, "{} replies pending, max {}",
                      slots_.size(), limits_.pending_replies_max);
        handler_->on_request(*this, slot, parser_.args());
    }
}

void ClientConnection::protocol_error(const std::string& message) {
    // As Redis does: reply with the error, then close once it is sent.
    spdlog::debug("client {} ({}): {}", id_, peer_address_, message);
    const std::uint64_t slot = next_slot_++;
    slots_.emplace_back();
    resp::ReplyWriter(reply_buffer(slot)).error("ERR " + message);
    finish(slot);
    close_after_replies();
}

std::string* ClientConnection::reply_buffer(std::uint64_t slot) {
    RAFTKV_ASSERT(slot >= first_slot_ && slot < next_slot_, "slot {} not in [{}, {})", slot,
                  first_slot_, next_slot_);
    // The oldest pending reply goes straight to the output buffer.
    if (slot == first_slot_) return &output_;
    return &slots_[slot - first_slot_].reply;
}

void ClientConnection::finish(std::uint64_t slot) {
    if (!open_) return;
    RAFTKV_ASSERT(slot >= first_slot_ && slot < next_slot_, "slot {} not in [{}, {})", slot,
                  first_slot_, next_slot_);
    Slot& s = slots_[slot - first_slot_];
    RAFTKV_ASSERT(!s.is_done, "slot {} finished twice", slot);
    s.is_done = true;
    held_bytes_ += s.reply.size();  // 0 for the front slot: it wrote to output_
    drain_done_slots();
    schedule_flush();
    maybe_resume_reading();
}

void ClientConnection::drain_done_slots() {
    while (!slots_.empty() && slots_.front().is_done) {
        // The front slot wrote into output_ directly; others kept their own.
        const std::string& reply = slots_.front().reply;
        RAFTKV_ASSERT(held_bytes_ >= reply.size(), "held {} < {}", held_bytes_, reply.size());
        held_bytes_ -= reply.size();
        output_.append(reply);
        slots_.pop_front();
        ++first_slot_;
    }
}

void ClientConnection::schedule_flush() {
    if (flush_scheduled_ || !open_) return;
    flush_scheduled_ = true;
    // Flush after the current batch of work so replies share one write.
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
        self->flush_scheduled_ = false;
        self->flush();
    });
}

void ClientConnection::flush() {
    if (!open_ || is_writing_) return;
    if (output_.empty()) {
        if (closing_ && slots_.empty()) close();
        return;
    }
    is_writing_ = true;
    writing_.swap(output_);
    asio::async_write(socket_, asio::buffer(writing_),
                      [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                          self->on_written(ec);
                      });
}

void ClientConnection::on_written(const asio::error_code& ec) {
    is_writing_ = false;
    writing_.clear();
    if (ec) {
        close();
        return;
    }
    flush();
    maybe_resume_reading();
}

void ClientConnection::maybe_resume_reading() {
    if (open_ && !closing_ && !is_reading_ && !is_read_blocked()) read_more();
}

void ClientConnection::close_after_replies() {
    closing_ = true;
    schedule_flush();
}

void ClientConnection::close() {
    if (!open_) return;
    open_ = false;
    asio::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    handler_->on_close(*this);
}

}  // namespace raftkv::net
