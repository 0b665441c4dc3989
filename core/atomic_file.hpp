// Replacing a file so that readers see the old content or the new, never a part of it, and
// the new content survives a crash once this returns.
#pragma once

#include "core/result.hpp"

#include <string>
#include <string_view>

namespace rs {

// Writes `content` to a temp file beside `path` (".NAME.tmp-PID-COUNTER-RANDOM", created
// exclusively), sets `mode` (whatever the umask), fsyncs it, renames it over `path` and
// fsyncs the directory. On failure `path` is untouched and the temp file removed. Errors
// name `shown_as` (default: `path`), e.g. the path a caller's user knows it by.
Result<void> write_file_atomic(const std::string& path, std::string_view content, unsigned mode,
                               const std::string& shown_as = {});

// Creates `path` and its missing parents, each new directory with `mode` (less the umask).
// An existing directory is fine.
Result<void> make_dirs(const std::string& path, unsigned mode = 0755);

}  // namespace rs
