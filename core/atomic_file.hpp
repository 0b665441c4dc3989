// Replacing a file so that readers see the old content or the new, never a part of it, and
// the new content survives a crash once this returns.
#pragma once

#include "core/result.hpp"

#include <string>
#include <string_view>

namespace rs {

// Writes `content` to a temp file beside `path` (".NAME.tmp-PID-COUNTER-RANDOM", created
// exclusively), sets `mode` (whatever the umask), fsyncs it, renames it over `path` and
// fsyncs the directory (sync_directory). On failure `path` is untouched and the temp file removed. Errors
// name `shown_as` (default: `path`), e.g. the path a caller's user knows it by.
Result<void> write_file_atomic(const std::string& path, std::string_view content, unsigned mode,
                               const std::string& shown_as = {});

// Whether a file name is one of write_file_atomic's temp files: only a crash (or a
// failed unlink) leaves one behind.
bool is_atomic_temp_name(std::string_view name);

// Creates `path` and its missing parents, each new directory with `mode` (less the umask).
// An existing directory is fine.
Result<void> make_dirs(const std::string& path, unsigned mode = 0755);

// Creates `base + relative` ("/a/b") and its missing parents below `base`, which must
// exist, and makes the new entries durable: every directory that got a new subdirectory is
// synced (the first that existed and each new one but the last; a caller syncs the last
// once its own entry is there). Errors name `relative`, never `base`.
Result<void> make_dirs_durable(const std::string& base, const std::string& relative, unsigned mode = 0755);

// Makes the entries of a directory durable: POSIX makes a rename or a mkdir survive a crash
// only once its directory is synced. File systems without directory sync (EINVAL) have
// nothing more to make durable. Errors name `shown_as` (default: `dir`).
Result<void> sync_directory(const std::string& dir, const std::string& shown_as = {});

// Tests: `observer` sees every directory sync_directory syncs (nullptr: none).
void set_directory_sync_observer(void (*observer)(const std::string& dir));

}  // namespace rs
