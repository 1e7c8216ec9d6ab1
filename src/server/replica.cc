// replica.cc — the replica's life, the Ready hand-offs, applying, and the
// clients waiting for their writes and reads. Commands are in
// replica_commands.cc; membership, joining and hand-over in
// replica_membership.cc.
#include "server/replica.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "kv/command_codec.h"
#include "raft/membership.h"
#include "raft/message_codec.h"
#include "server/recovery.h"

namespace raftkv::server {

Replica::Replica(ReplicaOptions options, ReplicaState initial, ReplicaPorts ports)
    : options_(std::move(options)),
      ports_(ports),
      state_(std::move(initial.state)),
      storage_(std::move(initial.storage)),
      applied_(initial.applied),
      snapshot_index_(storage_->snapshot_meta().index) {
    RAFTKV_ASSERT(ports_.disk != nullptr && ports_.outbox != nullptr && ports_.clients != nullptr &&
                      ports_.host != nullptr,
                  "a replica needs all its ports");
    is_fresh_ =
        initial.hard_state.term == raft::Term(0) && storage_->last_index() == raft::Index(0);
    raft::NodeOptions node_options;
    node_options.id = options_.self.id;
    node_options.election_ticks = options_.election_ticks;
    node_options.heartbeat_ticks = 1;
    // Key expiry's clock argument needs it (docs/expiry.md).
    node_options.lease_after_start = true;
    node_options.seed = options_.seed;
    node_options.initial_membership = initial.founding;
    node_ =
        std::make_unique<raft::Node>(node_options, storage_.get(), initial.hard_state, applied_);
    if (node_->membership() != initial.founding && !node_->membership().voters.empty()) {
        // The log and snapshot hold the configuration the cluster agreed on
        // since it was founded; --cluster only founds it.
        spdlog::warn(
            "the persisted configuration ({}) differs from --cluster ({}); the "
            "persisted one wins",
            raft::to_string(node_->membership()), raft::to_string(initial.founding));
    }
}

void Replica::start(Now now) {
    // The only voter need not wait an election timeout to lead.
    const raft::Membership members = node_->membership();
    if (members.voters.size() == 1 && members.voters.contains(options_.self.id)) {
        node_->campaign_now();
    }
    // A fresh server that cannot join stops; one with data asks until it is in.
    if (options_.join && !has_joined()) start_join(/*is_first=*/is_fresh_, now);
    schedule_pump();
}

void Replica::on_request(ReplyTarget to, std::vector<std::string>& args, Now now) {
    ++stats_.commands_processed;
    const std::string name = ascii_lower(args[0]);
    const kv::CommandInfo* info = kv::find_client_command(name);
    const bool is_write = info != nullptr && info->cls == kv::CommandClass::kWrite;
    // Anything but a write waits for this client's own earlier writes
    // while they are in flight, so that a pipeline sees what it wrote (a GET
    // or an INFO after a SET). Writes go on: they are applied in order.
    // The client sends nothing more until the waiting request ran, so
    // at most one is held per client and its later replies cannot pile
    // up unbounded (net/client_connection.h, flow control).
    if (!is_write && has_pending_write(to.client)) {
        waiting_reads_.emplace(clients_[to.client].last_write_index,
                               WaitingRead{std::move(args), to});
        ports_.clients->pause_requests(to.client);
        return;
    }
    execute(to, name, info, args, now);
}

void Replica::on_client_closed(std::uint64_t client) { clients_.erase(client); }

void Replica::on_peer_message(raft::NodeId from, std::string_view payload) {
    Result<raft::Message> m = raft::decode_message(payload);
    if (!m) {
        ++stats_.peer_messages_bad;
        spdlog::warn("bad message from node {}: {}", from.value, m.error().to_string());
        return;
    }
    if (m->from != from || m->to != options_.self.id) {
        ++stats_.peer_messages_bad;
        spdlog::warn("message from node {} claims {}->{}; dropped", from.value, m->from.value,
                     m->to.value);
        return;
    }
    node_->step(*m);
    schedule_pump();
}

void Replica::tick(Now now) {
    node_->tick();
    promote_caught_up_learners();
    continue_join(now);
    expire_pending_writes(now);
    expire_reads(now);
    expire_keys(now);
    schedule_pump();
}

std::uint64_t Replica::clock_ms(Now now) {
    if (frozen_clock_ms_) {
        // Not only while the transfer runs: a TimeoutNow delayed past its
        // end can still make the target lead in this term (node_test.cc,
        // NoLeaseReadAfterATimeoutNowWasSent), so for the rest of the term.
        if (node_->role() == raft::Role::kLeader && node_->term() == frozen_term_) {
            return *frozen_clock_ms_;
        }
        frozen_clock_ms_.reset();
    }
    const auto wall = static_cast<std::uint64_t>(std::max<std::int64_t>(now.wall.count(), 0));
    clock_ms_ = std::max({clock_ms_, wall, state_.log_time_ms()});
    return clock_ms_;
}

raft::Refusal Replica::hand_leadership_to(raft::NodeId target, Now now) {
    if (node_->role() != raft::Role::kLeader) return raft::Refusal::kNotLeader;
    // The target leads with a log that holds this time, so its reads and
    // writes run at least at it: no read of ours ran later (the clock
    // stays here), so none saw a key expire that the target would see
    // alive. The core takes no proposal once the transfer starts.
    const std::uint64_t t = clock_ms(now);
    const raft::Proposal p = propose_internal({"RAFTKV.CLOCK"}, t);
    if (!p.ok()) return p.refusal;
    const raft::Refusal r = node_->transfer_leadership(target);
    if (r == raft::Refusal::kOk) {
        frozen_clock_ms_ = t;
        frozen_term_ = node_->term();
    }
    return r;
}

std::uint64_t Replica::read_time_ms(std::uint64_t arrival_ms) const {
    std::uint64_t t = arrival_ms;
    if (!stamps_in_flight_.empty()) t = std::min(t, stamps_in_flight_.begin()->second);
    return std::max(t, state_.log_time_ms());
}

void Replica::expire_keys(Now now) {
    if (node_->role() != raft::Role::kLeader || !fatal_error_.empty() ||
        !disk_full_error_.empty()) {
        return;
    }
    const std::optional<std::uint64_t> next = state_.next_deadline_ms();
    if (!next) return;
    const std::uint64_t t = clock_ms(now);
    if (*next > t) return;
    // One batch at a time: the last one of this term not yet applied waits.
    if (expiry_term_ == node_->term() && expiry_index_ > applied_) return;
    const raft::Proposal p =
        propose_internal({"RAFTKV.EXPIRE", std::to_string(kExpireBatchKeys)}, t);
    if (!p.ok()) return;
    expiry_index_ = p.index;
    expiry_term_ = p.term;
    ++stats_.expiry_batches;
}

// ---- the Ready hand-offs ------------------------------------------------------

void Replica::schedule_pump() {
    // Once per loop round: everything proposed or received in this round
    // goes out in one Ready (batching, one fsync).
    if (pump_posted_) return;
    pump_posted_ = true;
    ports_.host->post_pump();
}

void Replica::send_messages(std::vector<raft::Message>& messages) {
    for (raft::Message& m : messages) ports_.outbox->send(m);
}

void Replica::pump(Now now) {
    pump_posted_ = false;
    while (!persisting_ && node_->has_ready()) {
        raft::Ready rd = node_->ready();
        if (node_->role() != last_role_) {
            if (node_->role() == raft::Role::kLeader) {
                ++stats_.elections_seen;
                spdlog::info("node {} leads in term {}", options_.self.id.value,
                             node_->term().value);
                announce_addresses();
            } else if (last_role_ == raft::Role::kLeader) {
                spdlog::info("node {} no longer leads (term {})", options_.self.id.value,
                             node_->term().value);
            }
            last_role_ = node_->role();
        }
        // The leader sends before its own write (§d10.2.1).
        send_messages(rd.messages);
        if (rd.hard_state && !rd.must_sync) {
            // Only the commit index changed (raft/ready.h, must_sync): its
            // record goes to the disk thread behind the jobs before it and
            // reaches the disk with the next sync; nothing waits for it.
            RAFTKV_ASSERT(!rd.snapshot && rd.entries.empty(), "an unsynced Ready with entries");
            ports_.disk->persist(
                PersistJob{.hard_state = rd.hard_state, .must_sync = false},
                [this](PersistResult r, Now at) { on_commit_index_saved(std::move(r), at); });
            finish_ready(rd, now);
            continue;
        }
        if (rd.snapshot || !rd.entries.empty() || rd.hard_state) {
            persisting_ = true;
            std::optional<raft::SnapshotMeta> installed;
            if (rd.snapshot) {
                // Load the leader's image into the state machine now, then
                // hand the bytes themselves to the disk: the image is held
                // once (the state machine is volatile; it counts as applied
                // only after the snapshot is durable, in on_persisted).
                Status s = state_.restore(rd.snapshot->data);
                RAFTKV_ASSERT(s.is_ok(), "snapshot from the leader does not load: {}",
                              s.to_string());
                installed = rd.snapshot->meta;
                installing_snapshot_ = true;
            }
            PersistJob job{.snapshot = std::move(rd.snapshot),
                           .entries = rd.entries,
                           .hard_state = rd.hard_state,
                           .must_sync = true};
            rd.snapshot.reset();
            if (installed) rd.snapshot = raft::Snapshot{.meta = *installed, .data = {}};
            auto shared = std::make_shared<raft::Ready>(std::move(rd));
            ports_.disk->persist(std::move(job), [this, shared](PersistResult result, Now at) {
                on_persisted(std::move(*shared), std::move(result), at);
            });
            return;
        }
        finish_ready(rd, now);
    }
}

void Replica::on_commit_index_saved(PersistResult result, Now now) {
    const Status& status = result.status;
    if (status.is_ok()) return;
    if (status.code() == Code::kDiskFull) {
        // Nothing was written; the next hard state record supersedes it.
        spdlog::warn("commit index not recorded: {}", status.to_string());
        return;
    }
    if (!fatal_error_.empty()) return;
    on_disk_failed(status, now);
}

void Replica::on_disk_failed(const Status& status, Now now) {
    // What reached the disk is unknown (a failed fsync): this server cannot
    // promise anything it was about to promise. Stop; a restart recovers
    // from what is on disk, and the other servers go on without us.
    spdlog::error("cannot persist the raft log: {}", status.to_string());
    last_write_error_ = status.to_string();
    fatal_error_ = status.to_string();
    fail_pending_writes_uncertain(status.to_string(), now);
    ports_.host->stop(status);
}

void Replica::retry_persist(Now) {
    if (!retry_job_) return;
    auto shared = std::make_shared<raft::Ready>(std::move(*retry_ready_));
    PersistJob job = std::move(*retry_job_);
    retry_job_.reset();
    retry_ready_.reset();
    ports_.disk->persist(std::move(job), [this, shared](PersistResult r, Now at) {
        on_persisted(std::move(*shared), std::move(r), at);
    });
}

void Replica::on_persisted(raft::Ready rd, PersistResult result, Now now) {
    const Status& status = result.status;
    if (status.code() == Code::kDiskFull) {
        // Nothing of the job is on disk (the WAL undoes a cut append). Keep
        // it and try again; meanwhile new writes are refused (propose) and
        // reads go on. The entries may still commit on the other servers.
        if (disk_full_error_.empty()) spdlog::error("disk full: {}", status.to_string());
        disk_full_error_ = status.to_string();
        last_write_error_ = disk_full_error_;
        RAFTKV_ASSERT(result.job.has_value(), "a full-disk failure hands the job back");
        retry_ready_ = std::move(rd);
        retry_job_ = std::move(*result.job);
        ports_.host->retry_persist_after(kDiskFullRetryDelay);
        return;
    }
    if (!disk_full_error_.empty()) {
        spdlog::info("disk space is back: writes are accepted again");
        disk_full_error_.clear();
    }
    persisting_ = false;
    if (!status.is_ok()) {
        on_disk_failed(status, now);
        return;
    }
    ++stats_.write_batches_synced;
    if (rd.snapshot) {
        RAFTKV_ASSERT(result.snapshot_image != nullptr, "snapshot persisted without its image");
        storage_->apply_snapshot(rd.snapshot->meta, std::move(result.snapshot_image));
        applied_ = rd.snapshot->meta.index;
        stamps_in_flight_.erase(stamps_in_flight_.begin(), stamps_in_flight_.upper_bound(applied_));
        installing_snapshot_ = false;
        snapshot_index_ = applied_;
        log_bytes_since_snapshot_ = 0;
        ++stats_.snapshots_installed;
        spdlog::info("installed a snapshot from the leader at index {} ({} keys)", applied_.value,
                     state_.key_count());
        // Writes the snapshot covers are decided without apply(): their
        // waiting reads go on (a follower redirects them).
        serve_unblocked_reads(now);
    }
    if (!rd.entries.empty()) {
        storage_->append(rd.entries);
        for (const raft::Entry& e : rd.entries) log_bytes_since_snapshot_ += entry_log_bytes(e);
    }
    finish_ready(rd, now);
    schedule_pump();
}

void Replica::finish_ready(raft::Ready& rd, Now now) {
    if (!rd.messages_after_persist.empty()) send_messages(rd.messages_after_persist);
    for (const raft::Entry& e : rd.committed_entries) apply(e, now);
    for (raft::ReadState& r : rd.read_states) {
        auto it = reads_in_flight_.find(r.context);
        if (it == reads_in_flight_.end()) continue;
        WaitingRead read = std::move(it->second);
        reads_in_flight_.erase(it);
        std::string* buffer = ports_.clients->reply_buffer(read.to);
        if (buffer == nullptr) continue;
        resp::ReplyWriter out(buffer);
        state_.read(read.args, read_time_ms(read.time_ms), out);
        ports_.clients->finish(read.to);
    }
    // A batch of expired keys applied: the next one goes at once if more are
    // due, not at the next tick.
    if (!rd.committed_entries.empty()) expire_keys(now);
    for (const std::string& ctx : rd.failed_reads) {
        auto it = reads_in_flight_.find(ctx);
        if (it == reads_in_flight_.end()) continue;
        answer_error(it->second.to,
                     "TRYAGAIN the read was not served: this server lost the leadership");
        reads_in_flight_.erase(it);
    }
    node_->advance(rd);
    // Configurations take effect when appended, addresses when applied.
    if (update_peers_posted_ || !rd.entries.empty() || rd.snapshot) {
        update_peers_posted_ = false;
        update_peers();
    }
    maybe_snapshot();
    if (is_shutting_down_) ports_.host->check_shutdown_done();
}

// ---- applying and answering ---------------------------------------------------

void Replica::answer_error(ReplyTarget to, std::string_view error) {
    std::string* buffer = ports_.clients->reply_buffer(to);
    if (buffer == nullptr) return;
    resp::ReplyWriter(buffer).error(error);
    ports_.clients->finish(to);
}

void Replica::answer_simple(ReplyTarget to, std::string_view status) {
    std::string* buffer = ports_.clients->reply_buffer(to);
    if (buffer == nullptr) return;
    resp::ReplyWriter(buffer).simple(status);
    ports_.clients->finish(to);
}

void Replica::apply(const raft::Entry& e, Now now) {
    RAFTKV_ASSERT(e.index == applied_.next(), "applying {} after {}", e.index.value,
                  applied_.value);
    // Whoever's entry this is, ours at this index is no longer in flight.
    stamps_in_flight_.erase(stamps_in_flight_.begin(), stamps_in_flight_.upper_bound(e.index));
    auto pending = pending_writes_.find(e.index);
    std::optional<ReplyTarget> to;
    if (pending != pending_writes_.end()) {
        if (pending->second.term == e.term) {
            if (ports_.clients->is_connected(pending->second.to.client)) to = pending->second.to;
        } else {
            // Another leader's entry took this index: ours is in no log
            // that can commit, so it certainly was not applied.
            answer_error(pending->second.to,
                         "TRYAGAIN the write was not applied: the leader changed before it "
                         "committed");
        }
        pending_writes_.erase(pending);
    }
    if (e.type == raft::EntryType::kCommand) {
        Result<kv::LoggedCommand> cmd = kv::decode_logged_command(e.data);
        RAFTKV_ASSERT(cmd.has_value(), "undecodable command at index {}: {}", e.index.value,
                      cmd ? "" : cmd.error().to_string());
        // The index names SESSION REGISTER's session; the leader's time
        // expires sessions (kv/sessions.h).
        const kv::EntryInfo entry{.index = e.index.value, .time_ms = cmd->time_ms};
        std::string scratch;
        std::string* buffer = to ? ports_.clients->reply_buffer(*to) : nullptr;
        if (buffer != nullptr) {
            resp::ReplyWriter out(buffer);
            state_.apply(entry, cmd->args, out);
            ports_.clients->finish(*to);
        } else {
            resp::ReplyWriter out(&scratch);
            state_.apply(entry, cmd->args, out);
        }
        ++stats_.writes_applied;
    } else if (to) {
        // A configuration change someone waits for (RAFT REMOVENODE).
        answer_simple(*to, "OK");
    }
    applied_ = e.index;
    if (e.type == raft::EntryType::kConfig || e.type == raft::EntryType::kCommand) {
        update_peers_posted_ = true;
    }
    // Reads that waited for this write run now, before the next one is
    // applied: in "SET k 1; GET k; DEL k" the GET must see 1.
    serve_waiting_reads(applied_.value, now);
}

void Replica::expire_pending_writes(Now now) {
    if (pending_writes_.empty()) return;
    if (!node_->membership().contains(options_.self.id) && !node_->membership().voters.empty() &&
        node_->role() != raft::Role::kLeader) {
        // Removed from the cluster: no more entries come here, so the fate
        // of writes beyond our commit index will not be learned here. Those
        // at or below it are applied here still, and answered then (a leader
        // that removed itself steps down when the removal commits, maybe
        // before its own copy of the last entries is on disk).
        fail_pending_writes_uncertain(
            "this server was removed from the cluster before they "
            "were decided",
            now, node_->log().committed());
        return;
    }
    for (auto it = pending_writes_.begin(); it != pending_writes_.end();) {
        PendingWrite& p = it->second;
        if (p.deadline > now.steady ||
            (node_->role() == raft::Role::kLeader && p.term == node_->term())) {
            ++it;
            continue;
        }
        ++stats_.writes_uncertain;
        answer_error(p.to,
                     "UNCERTAIN the write may or may not have been applied: this server "
                     "lost the leadership before it committed");
        it = pending_writes_.erase(it);
    }
    serve_unblocked_reads(now);
}

void Replica::serve_unblocked_reads(Now now) {
    std::vector<WaitingRead> ready;
    for (auto it = waiting_reads_.begin(); it != waiting_reads_.end();) {
        if (it->first <= applied_.value || !pending_writes_.contains(raft::Index(it->first))) {
            ready.push_back(std::move(it->second));
            it = waiting_reads_.erase(it);
        } else {
            ++it;
        }
    }
    for (WaitingRead& r : ready) {
        if (!ports_.clients->is_connected(r.to.client)) continue;
        const std::string name = ascii_lower(r.args[0]);
        execute(r.to, name, kv::find_client_command(name), r.args, now);
        ports_.clients->resume_requests(r.to.client);
    }
}

// A ReadIndex read not confirmed in time (the leader cannot reach a
// majority, or its disk is full and its loop waits) is answered -TRYAGAIN:
// true, as it was not served.
void Replica::expire_reads(Now now) {
    if (reads_in_flight_.empty()) return;
    for (auto it = reads_in_flight_.begin(); it != reads_in_flight_.end();) {
        if (it->second.deadline > now.steady) {
            ++it;
            continue;
        }
        answer_error(it->second.to,
                     "TRYAGAIN the read was not served: the leadership could not be confirmed "
                     "in time");
        it = reads_in_flight_.erase(it);
    }
}

void Replica::fail_pending_writes_uncertain(std::string_view why, Now now, raft::Index above) {
    for (auto it = pending_writes_.upper_bound(above); it != pending_writes_.end();) {
        ++stats_.writes_uncertain;
        answer_error(it->second.to,
                     fmt::format("UNCERTAIN the write may or may not have been applied: {}", why));
        it = pending_writes_.erase(it);
    }
    if (pending_writes_.empty()) {
        serve_waiting_reads(UINT64_MAX, now);
    } else {
        serve_unblocked_reads(now);
    }
}

void Replica::add_pending_write(raft::Index index, PendingWrite write) {
    auto [it, inserted] = pending_writes_.try_emplace(index);
    if (!inserted) {
        // An older waiter at this index: its entry was cut from our log by a
        // later leader's, and we lead again. Another server may still hold
        // that entry and commit it, so its fate is unknown here.
        ++stats_.writes_uncertain;
        answer_error(it->second.to,
                     "UNCERTAIN the write may or may not have been applied: its entry was "
                     "replaced in this server's log by a later leader's");
    }
    it->second = std::move(write);
}

void Replica::serve_waiting_reads(std::uint64_t ready_through, Now now) {
    auto end = waiting_reads_.upper_bound(ready_through);
    std::vector<WaitingRead> ready;
    for (auto it = waiting_reads_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
    waiting_reads_.erase(waiting_reads_.begin(), end);
    for (WaitingRead& r : ready) {
        if (!ports_.clients->is_connected(r.to.client)) continue;
        const std::string name = ascii_lower(r.args[0]);
        execute(r.to, name, kv::find_client_command(name), r.args, now);
        ports_.clients->resume_requests(r.to.client);
    }
}

// ---- snapshots ----------------------------------------------------------------

void Replica::maybe_snapshot(bool force) {
    if (is_snapshot_running_ || installing_snapshot_) return;
    if (!force && log_bytes_since_snapshot_ < options_.snapshot_log_bytes) return;
    if (applied_ <= snapshot_index_) return;
    const std::optional<raft::Term> term = storage_->term(applied_);
    if (!term) return;
    is_snapshot_running_ = true;
    const raft::SnapshotMeta meta{
        .index = applied_, .term = *term, .membership = node_->membership_at(applied_)};
    // The image is taken on the loop thread (an in-memory copy); the slow
    // part, writing and syncing it, happens on the disk thread.
    std::string image = state_.snapshot();
    const std::uint64_t covered_bytes = log_bytes_since_snapshot_;
    spdlog::info("taking a snapshot at index {} ({} keys, {} bytes)", meta.index.value,
                 state_.key_count(), image.size());
    ports_.disk->save_snapshot(meta, std::move(image),
                               [this, meta, covered_bytes](PersistResult r, Now) {
                                   on_snapshot_saved(meta, covered_bytes, std::move(r));
                               });
}

void Replica::on_snapshot_saved(const raft::SnapshotMeta& meta, std::uint64_t log_bytes,
                                PersistResult result) {
    const Status& status = result.status;
    is_snapshot_running_ = false;
    if (!status.is_ok()) {
        ++stats_.snapshots_failed;
        spdlog::warn("snapshot at index {} failed: {}; will retry", meta.index.value,
                     status.to_string());
        return;
    }
    ++stats_.snapshots_taken;
    if (meta.index > storage_->snapshot_meta().index) {
        RAFTKV_ASSERT(result.snapshot_image != nullptr, "snapshot saved without its image");
        storage_->compact(meta, std::move(result.snapshot_image));
    }
    snapshot_index_ = std::max(snapshot_index_, meta.index);
    log_bytes_since_snapshot_ -= std::min(log_bytes, log_bytes_since_snapshot_);
    spdlog::info("snapshot at index {} saved; log compacted", meta.index.value);
    if (is_shutting_down_) ports_.host->check_shutdown_done();
}

// ---- shutdown -----------------------------------------------------------------

void Replica::begin_shutdown(bool hand_over, Now now) {
    if (is_shutting_down_) return;
    is_shutting_down_ = true;
    if (hand_over) transfer_leadership_before_stop(now);
}

bool Replica::is_idle(Now now) const {
    const bool is_handing_over = node_->role() == raft::Role::kLeader &&
                                 node_->status().transferee != raft::NodeId(0) &&
                                 now.steady < transfer_deadline_;
    return pending_writes_.empty() && !persisting_ && !is_snapshot_running_ && !is_handing_over;
}

void Replica::stop(Now now) {
    is_shutting_down_ = true;
    if (!pending_writes_.empty()) fail_pending_writes_uncertain("the server is stopping", now);
}

}  // namespace raftkv::server
