// wal_fuzz.cc — libFuzzer target for WAL recovery: the input becomes a
// segment file, and opening the WAL must return entries or an error, never
// crash or trip an assertion.
//
// The first input byte picks the setup: bit 0 adds a valid earlier segment
// (so the input is the last segment after a real one, first index 4), bit 1
// makes the input a non-last segment followed by an empty valid one. The rest
// is the segment's bytes. Layout: docs/wal_format.md.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "storage/wal.h"
#include "storage/wal_format.h"

namespace {

namespace fs = std::filesystem;
using raftkv::raft::Entry;
using raftkv::raft::Index;
using raftkv::raft::Term;

void write_file(const fs::path& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string valid_segment(std::uint64_t first, std::uint64_t count) {
    std::string out;
    raftkv::storage::encode_segment_header(Index(first), &out);
    for (std::uint64_t i = first; i < first + count; ++i) {
        raftkv::storage::encode_record(Entry{.term = Term(1), .index = Index(i), .data = "xyz"},
                                       &out);
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const fs::path dir = [] {
        std::string tmpl = (fs::temp_directory_path() / "raftkv_wal_fuzz_XXXXXX").string();
        RAFTKV_ASSERT(::mkdtemp(tmpl.data()) != nullptr);
        return fs::path(tmpl);
    }();
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) fs::remove(e.path(), ec);

    const std::uint8_t mode = size > 0 ? data[0] : 0;
    const std::string_view bytes(reinterpret_cast<const char*>(data) + (size > 0 ? 1 : 0),
                                 size > 0 ? size - 1 : 0);
    std::uint64_t first = 1;
    if (mode & 1) {
        write_file(dir / raftkv::storage::segment_file_name(Index(1)), valid_segment(1, 3));
        first = 4;
    }
    write_file(dir / raftkv::storage::segment_file_name(Index(first)), bytes);
    if (mode & 2) {
        write_file(dir / raftkv::storage::segment_file_name(Index(first + 1000)),
                   valid_segment(first + 1000, 1));
    }

    raftkv::storage::WalRecovery recovery;
    auto wal = raftkv::storage::Wal::open(
        {.dir = dir, .segment_bytes_max = 1 << 20, .payload_bytes_max = 1 << 20}, &recovery);
    if (wal) {
        // Whatever recovery kept must be contiguous and usable for appends.
        const auto& entries = recovery.entries;
        for (std::size_t i = 1; i < entries.size(); ++i) {
            RAFTKV_ASSERT(entries[i].index == entries[i - 1].index.next());
        }
        const Index next = (*wal)->last_index().next();
        RAFTKV_ASSERT((*wal)
                          ->append(std::vector<Entry>{
                              Entry{.term = entries.empty() ? Term(1) : entries.back().term,
                                    .index = next,
                                    .data = "after"}})
                          .is_ok());
    }
    return 0;
}
