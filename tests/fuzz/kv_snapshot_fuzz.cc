// kv_snapshot_fuzz.cc — fuzzes StateMachine::restore (docs/kv_snapshot_format.md).
//
// Any bytes must restore or be refused; a refused image leaves the state
// unchanged, and an accepted one snapshots back to the same bytes.
#include <cstdint>
#include <string_view>

#include "base/assert.h"
#include "kv/state_machine.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    raftkv::kv::StateMachine sm;
    raftkv::Status s = sm.restore(in);
    if (s.is_ok()) {
        RAFTKV_ASSERT(sm.snapshot() == in, "restore/snapshot is not canonical");
    } else {
        RAFTKV_ASSERT(sm.key_count() == 0, "a refused image changed the state");
    }
    return 0;
}
