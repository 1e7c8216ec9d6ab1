// linearizability.cc — the per-key Wing & Gong / Lowe search and its report.
//
// Reading order: the register model (apply), the event list that the search
// walks and edits in place (EventList), the search (KeySearch::run), the
// report. The algorithm and the model are described in linearizability.h.
#include "sim/linearizability.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace raftkv::sim {
namespace {

// ---- The model: one register per key. ----

// Redis's strict integer form: what fmt would print back, so no '+', no
// leading zeros, no "-0", no spaces.
std::optional<std::int64_t> strict_integer(const std::string& s) {
    std::int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
    if (fmt::format("{}", v) != s) return std::nullopt;
    return v;
}

struct Applied {
    Value state;  // the register after the operation
    Reply reply;  // what the operation would have returned
};

// The register without time: what apply_op does to a live value (or nil).
Applied apply_op(const Value& state, const Operation& op) {
    switch (op.kind) {
        case OpKind::kGet:
            if (!state) return {state, Reply{.kind = ReplyKind::kNil}};
            return {state, Reply{.kind = ReplyKind::kValue, .bytes = *state}};
        case OpKind::kSet:
            return {op.value, Reply{.kind = ReplyKind::kOk}};
        case OpKind::kDel:
            return {std::nullopt, Reply{.kind = ReplyKind::kInteger, .integer = state ? 1 : 0}};
        case OpKind::kCas:
            if (state != op.expected) return {state, Reply{.kind = ReplyKind::kNotApplied}};
            return {op.value, Reply{.kind = ReplyKind::kOk}};
        case OpKind::kIncr: {
            const std::optional<std::int64_t> current =
                state ? strict_integer(*state) : std::optional<std::int64_t>(0);
            std::int64_t sum = 0;
            if (!current || __builtin_add_overflow(*current, op.delta, &sum)) {
                return {state, Reply{.kind = ReplyKind::kNotApplied}};
            }
            return {fmt::format("{}", sum), Reply{.kind = ReplyKind::kInteger, .integer = sum}};
        }
    }
    RAFTKV_ASSERT(false, "unknown op kind {}", static_cast<int>(op.kind));
    return {};
}

// ---- The model with time (History::clock): a register, its deadline and
// the clock time of the last operation linearized. An operation takes
// effect at one clock time tau in its window (linearizability.h), never
// before the last one's; the key is gone at tau when its deadline < tau, as
// in Redis. ----

struct TimedState {
    Value value;                           // nullopt: missing (or expired)
    std::optional<std::int64_t> deadline;  // only with a value
    std::int64_t time = std::numeric_limits<std::int64_t>::min();
    bool operator==(const TimedState&) const = default;
};

struct TimedStateHash {
    std::size_t operator()(const TimedState& s) const {
        std::size_t h = std::hash<Value>()(s.value);
        h ^= std::hash<std::int64_t>()(s.deadline.value_or(-1)) + 0x9e3779b97f4a7c15ull + (h << 6);
        h ^= std::hash<std::int64_t>()(s.time) + 0x9e3779b97f4a7c15ull + (h << 6);
        return h;
    }
};

// An operation's clock window [lo, hi] in ms, from its call and return.
struct Window {
    std::int64_t lo = std::numeric_limits<std::int64_t>::min();
    std::int64_t hi = std::numeric_limits<std::int64_t>::max();
};

Window window_of(const std::optional<ClockModel>& clock, const Operation& op) {
    if (!clock) return {};
    const std::int64_t per = clock->units_per_ms;
    Window w;
    w.lo = clock->origin_ms + op.call_time / per - clock->skew_ms;
    if (op.return_time != kNeverReturned) {
        w.hi = clock->origin_ms + (op.return_time + per - 1) / per + clock->skew_ms;
    }
    return w;
}

// Choices per operation: 0, take effect as early as it can; 1, just after
// the key's deadline (only when the key is alive at the earliest time and
// its deadline falls inside the window). The earliest time of each choice
// dominates every later one with the same outcome, so two choices cover
// every linearization.
constexpr std::uint32_t kChoices = 2;

struct TimedApplied {
    TimedState state;
    Reply reply;
};

std::optional<TimedApplied> apply_timed(const TimedState& s, const Operation& op, Window w,
                                        std::uint32_t choice) {
    std::int64_t tau = std::max(s.time, w.lo);
    const bool alive_early = s.value && (!s.deadline || *s.deadline >= tau);
    if (choice == 1) {
        if (!alive_early || !s.deadline) return std::nullopt;
        tau = *s.deadline + 1;
    }
    if (tau > w.hi) return std::nullopt;
    const bool alive = s.value && (!s.deadline || *s.deadline >= tau);
    const Value live = alive ? s.value : std::nullopt;
    const std::optional<std::int64_t> live_deadline = alive ? s.deadline : std::nullopt;
    const Applied a = apply_op(live, op);
    TimedApplied out{.state = {.value = a.state, .deadline = live_deadline, .time = tau},
                     .reply = a.reply};
    const bool wrote =
        (op.kind == OpKind::kSet) || (op.kind == OpKind::kCas && a.reply.kind == ReplyKind::kOk);
    if (wrote) out.state.deadline = op.expire_at_ms;
    if (op.kind == OpKind::kDel) out.state.deadline = std::nullopt;
    if (out.state.deadline && *out.state.deadline < tau) {
        out.state.value = std::nullopt;  // set with a deadline already past
    }
    if (!out.state.value) out.state.deadline = std::nullopt;
    return out;
}

bool same_reply(const Reply& a, const Reply& b) {
    if (a.kind != b.kind) return false;
    if (a.kind == ReplyKind::kValue) return a.bytes == b.bytes;
    if (a.kind == ReplyKind::kInteger) return a.integer == b.integer;
    return true;
}

std::string format_reply_for_report(const Reply& r) {
    switch (r.kind) {
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
        case ReplyKind::kNone:
            return "nothing";
    }
    return "?";
}

// ---- The event list: calls and returns in time order, doubly linked so that
// linearizing an operation can cut its two events out and backtracking can
// put them back (in the reverse order). ----

struct Event {
    std::int64_t time = 0;
    bool is_call = false;
    std::uint32_t op = 0;  // index into KeySearch::ops_
};

class EventList {
public:
    // Events must be sorted. Index events.size() is the head sentinel and
    // also the end marker.
    explicit EventList(std::vector<Event> events) : events_(std::move(events)) {
        const std::uint32_t n = size();
        next_.resize(n + 1);
        prev_.resize(n + 1);
        for (std::uint32_t i = 0; i <= n; ++i) {
            next_[i] = i == n ? (n == 0 ? n : 0) : i + 1;
            prev_[i] = i == 0 ? n : i - 1;
        }
        if (n > 0) prev_[n] = n - 1;
    }

    std::uint32_t size() const { return static_cast<std::uint32_t>(events_.size()); }
    std::uint32_t end() const { return size(); }
    std::uint32_t first() const { return next_[end()]; }
    std::uint32_t next(std::uint32_t i) const { return next_[i]; }
    const Event& at(std::uint32_t i) const { return events_[i]; }

    // Cuts event i out; it remembers its neighbours for restore().
    void cut(std::uint32_t i) {
        next_[prev_[i]] = next_[i];
        prev_[next_[i]] = prev_[i];
    }
    // Puts back an event cut last (LIFO with cut()).
    void restore(std::uint32_t i) {
        next_[prev_[i]] = i;
        prev_[next_[i]] = i;
    }

private:
    std::vector<Event> events_;
    std::vector<std::uint32_t> next_;  // circular through the sentinel
    std::vector<std::uint32_t> prev_;
};

struct VectorHash {
    std::size_t operator()(const std::vector<std::uint64_t>& v) const {
        std::uint64_t h = 0xcbf29ce484222325ull;
        for (const std::uint64_t w : v) {
            h ^= w + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
            h *= 0x100000001b3ull;
        }
        return static_cast<std::size_t>(h);
    }
};

constexpr std::uint32_t kRejected = ~0u;
constexpr std::uint32_t kNoEvent = ~0u;
constexpr std::size_t kReportPrefixOps = 8;

// The search over the operations of one key. Not thread-safe; one per key.
class KeySearch {
public:
    KeySearch(const History& history, const std::vector<std::size_t>& positions,
              const CheckOptions& options)
        : history_(history), options_(options), list_(make_events(history, positions)) {
        words_ = (ops_.size() + 63) / 64;
        linearized_.assign(words_ + 1, 0);  // the last word holds the state id
        intern(TimedState{});               // state 0: the key is missing
        for (std::uint32_t id = 0; id < ops_.size(); ++id) {
            windows_.push_back(window_of(history.clock, op(id)));
        }
    }

    KeyCheck run(std::string key) {
        KeyCheck out{.key = std::move(key), .op_count = ops_.size()};
        out.verdict = search();
        out.steps = steps_;
        if (out.verdict == Verdict::kNotLinearizable) out.explanation = explain_failure();
        if (out.verdict == Verdict::kUnknown) out.explanation = explain_give_up();
        return out;
    }

private:
    struct Frame {
        std::uint32_t op;
        std::uint32_t state_before;
        std::uint32_t choice;
    };

    std::vector<Event> make_events(const History& history,
                                   const std::vector<std::size_t>& positions) {
        std::vector<Event> events;
        for (const std::size_t pos : positions) {
            const Operation& op = history.ops[pos];
            if (op.outcome == Outcome::kFailed) continue;
            // An unknown get changes nothing and promises nothing.
            if (op.outcome == Outcome::kUnknown && op.kind == OpKind::kGet) continue;
            const auto id = static_cast<std::uint32_t>(ops_.size());
            ops_.push_back(pos);
            events.push_back({.time = op.call_time, .is_call = true, .op = id});
            if (op.outcome == Outcome::kOk) {
                ++known_total_;
                events.push_back({.time = op.return_time, .is_call = false, .op = id});
            }
        }
        // At equal times calls come first: A precedes B only if A returned
        // strictly before B was called.
        std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
            if (a.time != b.time) return a.time < b.time;
            if (a.is_call != b.is_call) return a.is_call;
            return a.op < b.op;
        });
        call_event_.assign(ops_.size(), kNoEvent);
        return_event_.assign(ops_.size(), kNoEvent);
        for (std::uint32_t i = 0; i < events.size(); ++i) {
            (events[i].is_call ? call_event_ : return_event_)[events[i].op] = i;
        }
        return events;
    }

    const Operation& op(std::uint32_t id) const { return history_.ops[ops_[id]]; }
    bool is_known(std::uint32_t id) const { return op(id).outcome == Outcome::kOk; }

    std::uint32_t intern(const TimedState& v) {
        const auto [it, inserted] =
            state_ids_.try_emplace(v, static_cast<std::uint32_t>(states_.size()));
        if (inserted) states_.push_back(v);
        return it->second;
    }

    // The state after op `id` with `choice` (kChoices) in state `state`, or
    // kRejected if the choice does not exist or its reply cannot come from
    // that state.
    std::uint32_t transition(std::uint32_t state, std::uint32_t id, std::uint32_t choice) {
        const std::uint64_t memo_key = std::uint64_t{state} << 33 | std::uint64_t{id} << 1 | choice;
        if (const auto it = transitions_.find(memo_key); it != transitions_.end()) {
            return it->second;
        }
        const Operation& o = op(id);
        const std::optional<TimedApplied> a = apply_timed(states_[state], o, windows_[id], choice);
        const bool fits = a && (o.outcome == Outcome::kUnknown || same_reply(a->reply, o.reply));
        const std::uint32_t next = fits ? intern(a->state) : kRejected;
        transitions_.emplace(memo_key, next);
        return next;
    }

    void set_bit(std::uint32_t id, bool on) {
        const std::uint64_t bit = std::uint64_t{1} << (id % 64);
        if (on) {
            linearized_[id / 64] |= bit;
        } else {
            linearized_[id / 64] &= ~bit;
        }
    }

    void lift(std::uint32_t id) {
        list_.cut(call_event_[id]);
        if (return_event_[id] != kNoEvent) list_.cut(return_event_[id]);
    }
    void unlift(std::uint32_t id) {
        if (return_event_[id] != kNoEvent) list_.restore(return_event_[id]);
        list_.restore(call_event_[id]);
    }

    bool over_budget() const {
        const std::uint64_t entry_bytes = (words_ + 1) * 8 + 64;
        return steps_ >= options_.steps_max_per_key ||
               cache_.size() * entry_bytes >= options_.cache_bytes_max_per_key;
    }

    Verdict search() {
        if (known_total_ == 0) return Verdict::kLinearizable;
        std::uint32_t state = 0;
        std::uint32_t entry = list_.first();
        std::uint32_t choice = 0;
        for (;;) {
            if (over_budget()) return Verdict::kUnknown;
            if (entry == list_.end() || !list_.at(entry).is_call) {
                // An operation returns before it was linearized: back up.
                remember_if_deepest(entry, state);
                if (stack_.empty()) return Verdict::kNotLinearizable;
                const Frame f = stack_.back();
                stack_.pop_back();
                state = f.state_before;
                set_bit(f.op, false);
                if (is_known(f.op)) --known_done_;
                unlift(f.op);
                entry = call_event_[f.op];
                choice = f.choice + 1;
                continue;
            }
            if (choice == kChoices) {
                entry = list_.next(entry);
                choice = 0;
                continue;
            }
            const std::uint32_t id = list_.at(entry).op;
            ++steps_;
            const std::uint32_t next_state = transition(state, id, choice);
            if (next_state != kRejected) {
                set_bit(id, true);
                linearized_[words_] = next_state;
                if (cache_.insert(linearized_).second) {
                    stack_.push_back({.op = id, .state_before = state, .choice = choice});
                    state = next_state;
                    if (is_known(id)) ++known_done_;
                    // The unknown operations left can all go last, which is
                    // the same as never taking effect.
                    if (known_done_ == known_total_) return Verdict::kLinearizable;
                    lift(id);
                    entry = list_.first();
                    choice = 0;
                    continue;
                }
                set_bit(id, false);
            }
            ++choice;
        }
    }

    // Keeps the deepest dead end for the report: the prefix linearized so
    // far, the state, the operation that returned, and the pending calls.
    void remember_if_deepest(std::uint32_t stuck_entry, std::uint32_t state) {
        if (has_deepest_ && stack_.size() <= deepest_prefix_.size()) return;
        has_deepest_ = true;
        deepest_prefix_.clear();
        deepest_states_.clear();
        for (std::size_t i = 0; i < stack_.size(); ++i) {
            deepest_prefix_.push_back(stack_[i].op);
            deepest_states_.push_back(i + 1 < stack_.size() ? stack_[i + 1].state_before : state);
        }
        deepest_state_ = state;
        deepest_stuck_ = stuck_entry == list_.end() ? kNoEvent : list_.at(stuck_entry).op;
        deepest_pending_.clear();
        for (std::uint32_t e = list_.first(); e != stuck_entry; e = list_.next(e)) {
            if (list_.at(e).is_call) deepest_pending_.push_back(list_.at(e).op);
        }
    }

    std::string op_line(std::uint32_t id) const {
        return fmt::format("#{:<5} {}", ops_[id], format_operation(op(id)));
    }

    std::string explain_failure() const {
        std::string out = fmt::format(
            "  longest linearizable prefix: {} of {} operations (#n: the n-th operation in the "
            "history, from 0)\n",
            deepest_prefix_.size(), ops_.size());
        const std::size_t shown = std::min(deepest_prefix_.size(), kReportPrefixOps);
        if (shown < deepest_prefix_.size()) {
            fmt::format_to(std::back_inserter(out), "    ... {} earlier\n",
                           deepest_prefix_.size() - shown);
        }
        for (std::size_t i = 0; i < deepest_prefix_.size(); ++i) {
            if (i + shown < deepest_prefix_.size()) continue;
            fmt::format_to(std::back_inserter(out), "    {}   => {}\n", op_line(deepest_prefix_[i]),
                           format_state(states_[deepest_states_[i]]));
        }
        const TimedState& now = states_[deepest_state_];
        if (deepest_stuck_ != kNoEvent) {
            fmt::format_to(std::back_inserter(out),
                           "  then, with the value {}, no pending operation can go next, and "
                           "#{} returns:\n",
                           format_state(now), ops_[deepest_stuck_]);
        }
        for (const std::uint32_t id : deepest_pending_) {
            const std::optional<TimedApplied> a = apply_timed(now, op(id), windows_[id], 0);
            const bool fits =
                a && (op(id).outcome == Outcome::kUnknown || same_reply(a->reply, op(id).reply));
            const std::string why =
                !a     ? std::string("its clock window has passed")
                : fits ? std::string("fits, but nothing linearizable follows it")
                       : fmt::format("the model replies {}", format_reply_for_report(a->reply));
            fmt::format_to(std::back_inserter(out), "    {}   ({})\n", op_line(id), why);
        }
        return out;
    }

    // The value, and with a clock its deadline and the time reached.
    std::string format_state(const TimedState& s) const {
        if (!history_.clock) return format_value(s.value);
        std::string out = format_value(s.value);
        if (s.deadline) fmt::format_to(std::back_inserter(out), " (deadline {})", *s.deadline);
        if (s.time != std::numeric_limits<std::int64_t>::min()) {
            fmt::format_to(std::back_inserter(out), " at clock {}", s.time);
        }
        return out;
    }

    std::string explain_give_up() const {
        return fmt::format(
            "  gave up after {} steps and {} remembered states (budget: {} steps, {} bytes)\n",
            steps_, cache_.size(), options_.steps_max_per_key, options_.cache_bytes_max_per_key);
    }

    const History& history_;
    const CheckOptions& options_;
    std::vector<std::size_t> ops_;           // id -> position in history_.ops; failed ops left out
    std::size_t known_total_ = 0;            // ops with outcome ok
    std::vector<std::uint32_t> call_event_;  // id -> event index
    std::vector<std::uint32_t> return_event_;  // id -> event index, kNoEvent if unknown
    EventList list_;
    std::size_t words_ = 0;

    std::vector<Window> windows_;     // id -> clock window (unbounded without a clock)
    std::vector<TimedState> states_;  // interned model states; id 0 is nil
    std::unordered_map<TimedState, std::uint32_t, TimedStateHash> state_ids_;
    // (state, op, choice) -> state
    std::unordered_map<std::uint64_t, std::uint32_t> transitions_;

    // Invariant: linearized_[0..words_) has the bits of exactly the ops on
    // stack_ (and those ops' events are cut from list_); known_done_ counts
    // the known ones among them.
    std::vector<std::uint64_t> linearized_;
    std::vector<Frame> stack_;
    std::size_t known_done_ = 0;
    std::unordered_set<std::vector<std::uint64_t>, VectorHash> cache_;
    std::uint64_t steps_ = 0;

    bool has_deepest_ = false;
    std::vector<std::uint32_t> deepest_prefix_;
    std::vector<std::uint32_t> deepest_states_;  // the state after each of deepest_prefix_
    std::uint32_t deepest_state_ = 0;
    std::uint32_t deepest_stuck_ = kNoEvent;
    std::vector<std::uint32_t> deepest_pending_;
};

}  // namespace

std::string_view verdict_name(Verdict verdict) {
    switch (verdict) {
        case Verdict::kLinearizable:
            return "linearizable";
        case Verdict::kNotLinearizable:
            return "not linearizable";
        case Verdict::kUnknown:
            return "unknown (gave up)";
    }
    return "?";
}

CheckResult check_linearizable(const History& history, const CheckOptions& options) {
    RAFTKV_DEBUG_ASSERT(validate_history(history).is_ok(), "invalid history: {}",
                        validate_history(history).to_string());
    std::map<std::string, std::vector<std::size_t>> by_key;
    for (std::size_t i = 0; i < history.ops.size(); ++i) by_key[history.ops[i].key].push_back(i);

    CheckResult result;
    for (const auto& [key, positions] : by_key) {
        KeySearch search(history, positions, options);
        KeyCheck k = search.run(key);
        if (k.verdict == Verdict::kNotLinearizable) {
            result.verdict = Verdict::kNotLinearizable;
        } else if (k.verdict == Verdict::kUnknown && result.verdict == Verdict::kLinearizable) {
            result.verdict = Verdict::kUnknown;
        }
        result.keys.push_back(std::move(k));
    }
    return result;
}

std::string CheckResult::report() const {
    std::size_t op_count = 0;
    std::size_t bad = 0;
    std::size_t gave_up = 0;
    for (const KeyCheck& k : keys) {
        op_count += k.op_count;
        bad += k.verdict == Verdict::kNotLinearizable ? 1 : 0;
        gave_up += k.verdict == Verdict::kUnknown ? 1 : 0;
    }
    std::string out =
        fmt::format("{}: {} keys, {} operations; {} keys not linearizable, {} gave up\n",
                    verdict_name(verdict), keys.size(), op_count, bad, gave_up);
    for (const KeyCheck& k : keys) {
        if (k.verdict == Verdict::kLinearizable) continue;
        fmt::format_to(std::back_inserter(out), "key {}: {} ({} operations, {} steps)\n",
                       format_value(k.key), verdict_name(k.verdict), k.op_count, k.steps);
        out += k.explanation;
    }
    return out;
}

}  // namespace raftkv::sim
