// line_split.h — splits a line typed into the shell into command arguments.
//
// Follows redis-cli (sdssplitargs in Redis's sds.c) so that a line means the
// same in both shells: arguments are separated by spaces, tabs, \r or \n;
// "double quotes" understand \n \r \t \b \a, \xHH and backslash before any
// other character; 'single quotes' only understand \'. A quote may open in
// the middle of an argument (a"b c" is the one argument `ab c`), but a
// closing quote must be followed by a space or the end of the line. Does not
// interpret the arguments.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace raftkv::cli {

// Returns the arguments of `line` (none for a blank line), or kInvalid naming
// the problem: "unbalanced double quotes", "unbalanced single quotes" or
// "closing quote must be followed by a space".
Result<std::vector<std::string>> split_line(std::string_view line);

}  // namespace raftkv::cli
