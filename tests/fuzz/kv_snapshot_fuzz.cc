// kv_snapshot_fuzz.cc — fuzzes StateMachine::restore (docs/kv_snapshot_format.md).
//
// Any bytes must restore or be refused; a refused image leaves the state
// unchanged. An accepted image of the current version snapshots back to the
// same bytes; one of an older version snapshots to a current image that
// restores to an equal state and is itself canonical.
#include <cstdint>
#include <string>
#include <string_view>

#include "base/assert.h"
#include "kv/state_machine.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    raftkv::kv::StateMachine sm;
    raftkv::Status s = sm.restore(in);
    if (!s.is_ok()) {
        RAFTKV_ASSERT(sm.key_count() == 0, "a refused image changed the state");
        RAFTKV_ASSERT(sm.addresses().empty(), "a refused image changed the addresses");
        return 0;
    }
    const std::string image = sm.snapshot();
    if (static_cast<std::uint8_t>(in[4]) == raftkv::kv::kSnapshotVersion) {
        RAFTKV_ASSERT(image == in, "restore/snapshot is not canonical");
    }
    raftkv::kv::StateMachine again;
    RAFTKV_ASSERT(again.restore(image).is_ok(), "a snapshot of a restored image is refused");
    RAFTKV_ASSERT(again == sm, "a snapshot of a restored image restores differently");
    RAFTKV_ASSERT(again.snapshot() == image, "the current version is not canonical");
    return 0;
}
