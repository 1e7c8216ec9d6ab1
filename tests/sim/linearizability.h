// linearizability.h — decides whether a key-value client history is linearizable.
//
// The simulation (issue 3) and the fault-injection harness (issue 5) hand it a
// History (sim/history.h) of get / set / incr / cas / del operations. Keys are
// independent registers, so the history is split by key and each key is
// checked alone (P-compositionality), with the Wing & Gong search as improved
// by Lowe: walk the call and return events in time order, linearize a pending
// operation whenever the model accepts it, backtrack at a return whose
// operation is not yet linearized, and remember every (set of linearized
// operations, register value) pair already explored so that no state is
// searched twice. Porcupine (anishathalye/porcupine) does the same.
//
// Outcomes. A failed operation never took effect and is dropped. An unknown
// operation may take effect at any point after its call, or never: its return
// time is taken as +infinity and its reply as anything, and placing it after
// every other operation is the same as never applying it, so the search for a
// key succeeds once every operation with a known outcome is linearized.
//
// The model: a per-key register holding bytes or nothing (nil), like a Redis
// string. get returns it; set stores; del empties it and returns 1 if it held
// something, else 0; incr treats a missing key as 0, stores and returns the
// sum if the value is a 64-bit decimal integer in Redis's strict form and the
// sum does not overflow, else changes nothing (reply not-applied); cas stores
// the new value if the register equals the expected one (nil: is missing),
// else changes nothing. Not modelled: types other than strings.
//
// Expiry, when the history has a clock (History::clock): the register also
// holds a deadline (set and cas with expire_at_ms give one, a plain set or
// del clears it, incr keeps it) and the model has a clock time. Each
// operation takes effect at one clock time tau in [call - skew, return +
// skew] (converted to ms), never below the tau of the operation before it,
// and sees the key as missing when its deadline < tau, as Redis does. So a
// read that saw a key expired forbids every later operation from seeing it
// alive, whatever the skew. The search tries, for each operation, the
// earliest tau and the one just past the key's deadline; each dominates
// the later taus with the same outcome, so that is every linearization.
//
// It does not explain why a system went wrong; on failure it reports the key,
// the longest linearizable prefix found and the operations that could not go
// next, which is where to start reading. The search is bounded (CheckOptions):
// when a key exceeds its budget the verdict is "unknown", never a hang.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/history.h"

namespace raftkv::sim {

enum class Verdict : std::uint8_t {
    kLinearizable,
    kNotLinearizable,
    kUnknown,  // the search gave up: over its step or memory budget
};

std::string_view verdict_name(Verdict verdict);  // "linearizable", "not linearizable", ...

// The search budget of one key. Each step tries one operation in one state;
// each remembered state costs about (operation count / 8 + 48) bytes.
struct CheckOptions {
    std::uint64_t steps_max_per_key = 20'000'000;
    std::uint64_t cache_bytes_max_per_key = 512u << 20;
};

struct KeyCheck {
    std::string key;
    Verdict verdict = Verdict::kLinearizable;
    std::size_t op_count = 0;  // with a known outcome or unknown; failed ones dropped
    std::uint64_t steps = 0;   // how much searching this key took
    // Empty when linearizable. Otherwise lines for a reader: for
    // kNotLinearizable, the end of the longest linearizable prefix found and
    // the operations that could not be linearized after it; for kUnknown, the
    // budget that ran out.
    std::string explanation;
};

struct CheckResult {
    // kNotLinearizable if any key is; else kUnknown if any key gave up.
    Verdict verdict = Verdict::kLinearizable;
    std::vector<KeyCheck> keys;  // sorted by key bytes
    bool is_linearizable() const { return verdict == Verdict::kLinearizable; }
    // One line per verdict, then the explanation of each key that is not
    // linearizable (or gave up). Deterministic: the same history gives the
    // same text.
    std::string report() const;
};

// Requires validate_history(history) to pass (a parsed history does).
CheckResult check_linearizable(const History& history, const CheckOptions& options = {});

}  // namespace raftkv::sim
