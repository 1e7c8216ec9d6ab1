// command_fuzz.cc — fuzzes the log payload decoder (docs/command_format.md).
//
// Any bytes must decode to a command or to an error, and what decodes must
// encode back to the same bytes in the same version (the encoding is
// canonical).
#include <cstdint>
#include <string_view>

#include "base/assert.h"
#include "kv/command_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    auto c = raftkv::kv::decode_logged_command(in);
    if (c) {
        const std::string again = raftkv::kv::encode_command(*c);
        RAFTKV_ASSERT(again == in, "decode/encode is not canonical ({} vs {} bytes)", again.size(),
                      in.size());
        auto args = raftkv::kv::decode_command(in);
        RAFTKV_ASSERT(args.has_value() && *args == c->args, "decode_command disagrees");
    }
    return 0;
}
