// The storage driver contract (registry/storage_driver.hpp) as Catch2 test cases, the same
// cases for every driver (as distribution's storage/driver/testsuites). A driver's test
// file registers them once per configuration, at static initialisation:
//
//   const bool kRegistered = rs::testing::register_storage_driver_suite(
//       "memory driver", [] { return std::make_shared<MemoryDriver>(); });
//
// Each case checks one method's rule as the contract states it, and nothing a driver does
// beyond it (where files live, descriptors, when buffered bytes reach storage before
// flush()): a new driver (S3) is done when these pass.
#pragma once

#include "registry/storage_driver.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace rs::testing {

// A fresh, empty driver for each case; what it needs (a directory) lives as long as it.
using DriverFactory = std::function<std::shared_ptr<registry::StorageDriver>()>;

namespace storage_driver_suite {

using registry::FileVersion;
using registry::StorageDriver;

inline std::string read_all(StorageDriver& d, const std::string& path) {
  auto r = d.reader(path);
  REQUIRE(r.ok());
  std::string out;
  char buf[4096];
  while (true) {
    auto n = (*r)->read(buf, sizeof buf);
    REQUIRE(n.ok());
    if (*n == 0) return out;
    out.append(buf, *n);
  }
}

inline std::vector<std::string> sorted_list(StorageDriver& d, const std::string& path) {
  auto names = d.list(path);
  REQUIRE(names.ok());
  std::sort(names->begin(), names->end());
  return *names;
}

inline std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// put_content: a whole file, parents created; get_content: the same bytes back.
inline void put_then_get(StorageDriver& d) {
  REQUIRE(d.put_content("/a/b/c/link", "sha256:abc").ok());
  auto got = d.get_content("/a/b/c/link", 100);
  REQUIRE(got.ok());
  CHECK(*got == "sha256:abc");
  CHECK(d.stat("/a/b")->is_dir);
  // Nothing beside the file once put_content has returned (no temporary left over).
  CHECK(sorted_list(d, "/a/b/c") == std::vector<std::string>{"link"});
  REQUIRE(d.put_content("/empty", "").ok());
  CHECK(*d.get_content("/empty", 0) == "");
}

// put_content replaces the whole file, also with shorter content.
inline void put_replaces(StorageDriver& d) {
  REQUIRE(d.put_content("/f", std::string(5000, 'x')).ok());
  REQUIRE(d.put_content("/f", "short").ok());
  CHECK(*d.get_content("/f", 10000) == "short");
  CHECK(d.stat("/f")->size == 5);
}

// get_content refuses more than max_size bytes with Errc::invalid_argument.
inline void get_content_limit(StorageDriver& d) {
  REQUIRE(d.put_content("/big", std::string(1000, 'x')).ok());
  auto over = d.get_content("/big", 999);
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().code == Errc::invalid_argument);
  CHECK(d.get_content("/big", 1000)->size() == 1000);
}

// What is absent is Errc::not_found; remove of something absent is no error.
inline void absent_paths(StorageDriver& d) {
  CHECK(d.stat("/nope").error().code == Errc::not_found);
  CHECK(d.list("/nope").error().code == Errc::not_found);
  CHECK(d.reader("/nope").error().code == Errc::not_found);
  CHECK(d.get_content("/nope", 10).error().code == Errc::not_found);
  CHECK(d.remove("/nope").ok());
  CHECK(d.remove("/nope/deeper").ok());
}

// Readers see the old or the new content of a put_content, never a mix or a part.
inline void put_is_atomic(StorageDriver& d) {
  const std::string a(64 * 1024, 'a'), b(3 * 1024, 'b');
  REQUIRE(d.put_content("/x/f", a).ok());
  std::atomic<bool> done{false};
  std::atomic<int> torn{0}, reads{0};
  std::thread reader([&] {
    while (!done) {
      auto got = d.get_content("/x/f", a.size());
      if (!got.ok() || (*got != a && *got != b)) ++torn;
      ++reads;
    }
  });
  for (int i = 0; i < 200; ++i) REQUIRE(d.put_content("/x/f", i % 2 ? a : b).ok());
  // At least some reads ran while the file was being replaced.
  while (reads < 10) std::this_thread::yield();
  done = true;
  reader.join();
  CHECK(torn == 0);
}

// A reader reports the size and reads the bytes in order, then 0 at the end.
inline void reader_reads_in_pieces(StorageDriver& d) {
  const std::string content = random_bytes(100000, 1);
  REQUIRE(d.put_content("/r", content).ok());
  auto r = d.reader("/r");
  REQUIRE(r.ok());
  CHECK((*r)->size() == content.size());
  std::string out;
  char buf[777];
  for (auto n = (*r)->read(buf, sizeof buf); n.ok() && *n > 0; n = (*r)->read(buf, sizeof buf)) out.append(buf, *n);
  CHECK(out == content);
  CHECK(*(*r)->read(buf, sizeof buf) == 0);
}

// writer(truncate): parents created, empty at first; size() counts every written byte;
// flush() hands them to storage, where readers see them.
inline void writer_truncates(StorageDriver& d) {
  REQUIRE(d.put_content("/w/f", "old content").ok());
  auto w = d.writer("/w/f", false);
  REQUIRE(w.ok());
  CHECK((*w)->size() == 0);
  REQUIRE((*w)->write("hello ", 6).ok());
  REQUIRE((*w)->write("world", 5).ok());
  CHECK((*w)->size() == 11);
  REQUIRE((*w)->flush().ok());
  CHECK(read_all(d, "/w/f") == "hello world");
  CHECK(d.stat("/w/f")->size == 11);
  auto fresh = d.writer("/new/parents/f", false);
  REQUIRE(fresh.ok());
  CHECK((*fresh)->size() == 0);
  REQUIRE((*fresh)->flush().ok());
  CHECK(d.stat("/new/parents/f")->size == 0);
}

// writer(append) starts at the end: size() includes what was there.
inline void writer_appends(StorageDriver& d) {
  REQUIRE(d.put_content("/u/data", "hello ").ok());
  auto w = d.writer("/u/data", true);
  REQUIRE(w.ok());
  CHECK((*w)->size() == 6);
  REQUIRE((*w)->write("world", 5).ok());
  CHECK((*w)->size() == 11);
  REQUIRE((*w)->commit().ok());
  CHECK(read_all(d, "/u/data") == "hello world");
  // Append to a file that does not exist yet creates it.
  auto created = d.writer("/u/other", true);
  REQUIRE(created.ok());
  CHECK((*created)->size() == 0);
}

// A writer that ends without flush() or commit() still hands over what it was given.
inline void writer_end_keeps_bytes(StorageDriver& d) {
  {
    auto w = d.writer("/f", false);
    REQUIRE(w.ok());
    REQUIRE((*w)->write("abc", 3).ok());
  }
  CHECK(read_all(d, "/f") == "abc");
  const std::string big = random_bytes(5000, 2);
  {
    auto w = d.writer("/f", true);
    REQUIRE(w.ok());
    REQUIRE((*w)->write(big.data(), big.size()).ok());
  }
  CHECK(read_all(d, "/f") == "abc" + big);
}

// Bytes placed in buffer() and written from there are stored like any others.
inline void writer_buffer_in_place(StorageDriver& d) {
  const std::string content = random_bytes(300000, 3);
  auto w = d.writer("/f", false);
  REQUIRE(w.ok());
  std::size_t pos = 0;
  while (pos < content.size()) {
    std::span<char> into = (*w)->buffer();
    const std::size_t n = std::min<std::size_t>(content.size() - pos, into.empty() ? 4096 : std::min<std::size_t>(into.size(), 70000));
    if (into.empty()) {
      REQUIRE((*w)->write(content.data() + pos, n).ok());
    } else {
      std::memcpy(into.data(), content.data() + pos, n);
      REQUIRE((*w)->write(into.data(), n).ok());
    }
    pos += n;
    CHECK((*w)->size() == pos);
  }
  REQUIRE((*w)->commit().ok());
  CHECK(read_all(d, "/f") == content);
}

// Several writers in turn, pieces of random sizes, flushes now and then: the file holds
// every byte in order (across any internal buffer of the driver).
inline void writers_in_sessions(StorageDriver& d) {
  const std::string content = random_bytes(5 * 1024 * 1024 + 777, 4);
  std::mt19937 rng(5);
  std::size_t pos = 0;
  bool first = true;
  while (pos < content.size()) {
    auto w = d.writer("/up/data", !first);
    REQUIRE(w.ok());
    REQUIRE((*w)->size() == pos);
    first = false;
    const std::size_t end = std::min(content.size(), pos + rng() % (3u << 20) + 1);
    while (pos < end) {
      const std::size_t piece = std::min<std::size_t>(end - pos, 1 + rng() % 300000);
      REQUIRE((*w)->write(content.data() + pos, piece).ok());
      pos += piece;
      if (rng() % 8 == 0) {
        REQUIRE((*w)->flush().ok());
        CHECK(d.stat("/up/data")->size == pos);
      }
    }
    if (rng() % 2) REQUIRE((*w)->commit().ok());
    w->reset();
    REQUIRE(d.stat("/up/data")->size == pos);
  }
  CHECK(read_all(d, "/up/data") == content);
}

// stat: files have their size, directories are directories; a file's version changes
// when it is replaced or rewritten (unless the driver cannot tell: all zero).
inline void stat_and_versions(StorageDriver& d) {
  REQUIRE(d.put_content("/dir/f", "12345").ok());
  auto f = d.stat("/dir/f");
  REQUIRE(f.ok());
  CHECK(f->size == 5);
  CHECK_FALSE(f->is_dir);
  auto dir = d.stat("/dir");
  REQUIRE(dir.ok());
  CHECK(dir->is_dir);

  const FileVersion before = f->version;
  CHECK(d.stat("/dir/f")->version == before);  // nothing changed
  REQUIRE(d.put_content("/dir/f", "54321").ok());
  const FileVersion replaced = d.stat("/dir/f")->version;
  {
    auto w = d.writer("/dir/f", true);
    REQUIRE(w.ok());
    REQUIRE((*w)->write("6", 1).ok());
    REQUIRE((*w)->commit().ok());
  }
  const FileVersion appended = d.stat("/dir/f")->version;
  if (before == FileVersion{}) {
    CHECK(replaced == FileVersion{});
    CHECK(appended == FileVersion{});
  } else {
    CHECK(replaced != before);
    CHECK(appended != replaced);
  }
}

// list: the names of the direct children, files and directories, nothing deeper.
inline void list_children(StorageDriver& d) {
  REQUIRE(d.put_content("/l/a", "1").ok());
  REQUIRE(d.put_content("/l/b/deep/x", "2").ok());
  REQUIRE(d.put_content("/l/c", "3").ok());
  REQUIRE(d.put_content("/lx", "not a child of /l").ok());
  CHECK(sorted_list(d, "/l") == std::vector<std::string>{"a", "b", "c"});
  CHECK(sorted_list(d, "/l/b") == std::vector<std::string>{"deep"});
  CHECK(sorted_list(d, "/l/b/deep") == std::vector<std::string>{"x"});
}

// move: replaces the target, creates its parents, the source is gone.
inline void move_replaces(StorageDriver& d) {
  REQUIRE(d.put_content("/src/data", "new").ok());
  REQUIRE(d.put_content("/dst/x/data", "old").ok());
  REQUIRE(d.move("/src/data", "/dst/x/data").ok());
  CHECK(*d.get_content("/dst/x/data", 10) == "new");
  CHECK(d.stat("/src/data").error().code == Errc::not_found);
  REQUIRE(d.put_content("/src/other", "moved").ok());
  REQUIRE(d.move("/src/other", "/made/for/it/data").ok());
  CHECK(*d.get_content("/made/for/it/data", 10) == "moved");
  CHECK_FALSE(d.move("/src/absent", "/dst/y").ok());
  CHECK(d.stat("/dst/y").error().code == Errc::not_found);
}

// Moving a file while readers read it: they see the old or the new content whole.
inline void move_is_atomic(StorageDriver& d) {
  const std::string a(32 * 1024, 'a'), b(2 * 1024, 'b');
  REQUIRE(d.put_content("/t", a).ok());
  std::atomic<bool> done{false};
  std::atomic<int> torn{0}, reads{0};
  std::thread reader([&] {
    while (!done) {
      auto got = d.get_content("/t", a.size());
      if (!got.ok() || (*got != a && *got != b)) ++torn;
      ++reads;
    }
  });
  for (int i = 0; i < 100; ++i) {
    REQUIRE(d.put_content("/staging/t", i % 2 ? a : b).ok());
    REQUIRE(d.move("/staging/t", "/t").ok());
  }
  while (reads < 10) std::this_thread::yield();
  done = true;
  reader.join();
  CHECK(torn == 0);
}

// remove: a file, or a whole tree; siblings stay.
inline void remove_trees(StorageDriver& d) {
  REQUIRE(d.put_content("/r/keep", "k").ok());
  REQUIRE(d.put_content("/r/tree/a", "a").ok());
  REQUIRE(d.put_content("/r/tree/sub/b", "b").ok());
  REQUIRE(d.put_content("/r/treeish", "t").ok());
  REQUIRE(d.remove("/r/keep").ok());
  CHECK(d.stat("/r/keep").error().code == Errc::not_found);
  REQUIRE(d.remove("/r/tree").ok());
  CHECK(d.stat("/r/tree").error().code == Errc::not_found);
  CHECK(d.stat("/r/tree/sub/b").error().code == Errc::not_found);
  CHECK(*d.get_content("/r/treeish", 10) == "t");
  CHECK(sorted_list(d, "/r") == std::vector<std::string>{"treeish"});
}

// stat's `modified`: the epoch (the driver cannot tell) or when the content last changed;
// a move keeps it, as a rename does.
inline void stat_modified(StorageDriver& d) {
  using std::chrono::system_clock;
  const auto before = system_clock::now() - std::chrono::seconds(2);
  REQUIRE(d.put_content("/m/file", "x").ok());
  const auto after = system_clock::now() + std::chrono::seconds(2);
  auto info = d.stat("/m/file");
  REQUIRE(info.ok());
  const auto modified = info->modified;
  if (modified == system_clock::time_point{}) return;
  CHECK(modified > before);
  CHECK(modified < after);
  REQUIRE(d.move("/m/file", "/m/moved").ok());
  CHECK(d.stat("/m/moved")->modified == modified);
}

// touch: `modified` moves on (when the driver tells it), the content stays.
inline void touch_file(StorageDriver& d) {
  REQUIRE(d.put_content("/t/file", "same").ok());
  const auto before = d.stat("/t/file")->modified;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(d.touch("/t/file").ok());
  auto after = d.stat("/t/file");
  REQUIRE(after.ok());
  if (before != std::chrono::system_clock::time_point{}) CHECK(after->modified > before);
  CHECK(*d.get_content("/t/file", 10) == "same");
  CHECK(d.touch("/t/absent").error().code == Errc::not_found);
}

// create_exclusive: the first wins, the second is already_exists and changes nothing.
inline void create_exclusive_once(StorageDriver& d) {
  REQUIRE(d.create_exclusive("/x/deep/lock", "first").ok());
  auto second = d.create_exclusive("/x/deep/lock", "second");
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == Errc::already_exists);
  CHECK(*d.get_content("/x/deep/lock", 10) == "first");
  CHECK(sorted_list(d, "/x/deep") == std::vector<std::string>{"lock"});
  // From several threads: exactly one.
  std::atomic<int> won{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      if (d.create_exclusive("/x/race", "r")) ++won;
    });
  for (auto& t : threads) t.join();
  CHECK(won == 1);
}

// remove_empty_dirs: empty directories go, deepest first; any holding a file stay.
inline void remove_empty_dirs_keeps_files(StorageDriver& d) {
  REQUIRE(d.put_content("/e/keep/sub/file", "f").ok());
  REQUIRE(d.put_content("/e/gone/a/b/file", "f").ok());
  REQUIRE(d.remove("/e/gone/a/b/file").ok());
  REQUIRE(d.put_content("/e/gone2/file", "f").ok());
  REQUIRE(d.remove("/e/gone2/file").ok());
  REQUIRE(d.remove_empty_dirs("/e").ok());
  CHECK(*d.get_content("/e/keep/sub/file", 10) == "f");
  CHECK(sorted_list(d, "/e") == std::vector<std::string>{"keep"});
  CHECK(d.remove_empty_dirs("/absent").ok());
  REQUIRE(d.remove("/e/keep/sub/file").ok());
  REQUIRE(d.remove_empty_dirs("/e").ok());
  CHECK(d.stat("/e").error().code == Errc::not_found);
  // Writing below a removed directory makes it again.
  CHECK(d.put_content("/e/again/file", "f").ok());
}

// Every method may be called from several threads at once.
inline void concurrent_use(StorageDriver& d) {
  constexpr int kThreads = 4, kFiles = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&d, &failures, t] {
      const std::string dir = "/c/" + std::to_string(t);
      for (int i = 0; i < kFiles; ++i) {
        const std::string name = dir + "/" + std::to_string(i), content = name + std::string(i * 100, 'x');
        bool ok = d.put_content(name + ".small", content).ok();
        auto w = d.writer(name + ".w", false);
        ok = ok && w.ok() && (*w)->write(content.data(), content.size()).ok() && (*w)->commit().ok();
        if (w.ok()) w->reset();
        ok = ok && d.get_content(name + ".w", 1 << 20).ok() && *d.get_content(name + ".w", 1 << 20) == content;
        ok = ok && d.list(dir).ok() && d.stat(name + ".small").ok();
        ok = ok && d.move(name + ".small", name + ".moved").ok() && d.remove(name + ".w").ok();
        if (!ok) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  for (int t = 0; t < kThreads; ++t) CHECK(d.list("/c/" + std::to_string(t))->size() == kFiles);
}

class Invoker final : public Catch::ITestInvoker {
 public:
  Invoker(DriverFactory make, void (*run)(StorageDriver&)) : make_(std::move(make)), run_(run) {}
  void invoke() const override {
    auto driver = make_();
    REQUIRE(driver);
    run_(*driver);
  }

 private:
  DriverFactory make_;
  void (*run_)(StorageDriver&);
};

}  // namespace storage_driver_suite

// Registers every case of the suite as "<driver>: <case>". Returns true (for a static).
inline bool register_storage_driver_suite(const std::string& driver, DriverFactory make) {
  namespace s = storage_driver_suite;
  struct Case {
    const char* name;
    void (*run)(registry::StorageDriver&);
  };
  static const Case kCases[] = {
      {"put_content then get_content, with parents created", s::put_then_get},
      {"put_content replaces the whole file", s::put_replaces},
      {"get_content refuses files over the limit", s::get_content_limit},
      {"absent paths are not_found, removing them is fine", s::absent_paths},
      {"put_content is atomic for readers", s::put_is_atomic},
      {"a reader reads in pieces to the end", s::reader_reads_in_pieces},
      {"a truncating writer starts empty, flush shows its bytes", s::writer_truncates},
      {"an appending writer starts at the end", s::writer_appends},
      {"a writer that ends without flush keeps its bytes", s::writer_end_keeps_bytes},
      {"bytes written from buffer() are stored", s::writer_buffer_in_place},
      {"writers in turn with flushes keep every byte in order", s::writers_in_sessions},
      {"stat sizes, directories and versions", s::stat_and_versions},
      {"stat tells when a file last changed, a move keeps it", s::stat_modified},
      {"list names the direct children", s::list_children},
      {"move replaces the target and creates its parents", s::move_replaces},
      {"move is atomic for readers", s::move_is_atomic},
      {"remove deletes files and trees", s::remove_trees},
      {"methods are safe from several threads", s::concurrent_use},
      {"touch moves modified on and keeps the content", s::touch_file},
      {"create_exclusive writes once", s::create_exclusive_once},
      {"remove_empty_dirs removes empty directories only", s::remove_empty_dirs_keeps_files},
  };
  for (const Case& c : kCases) {
    const std::string name = driver + ": " + c.name;
    // Catch owns the invoker from here on and copies the name.
    Catch::AutoReg(new s::Invoker(make, c.run), CATCH_INTERNAL_LINEINFO, "",
                   Catch::NameAndTags(name, "[storage-driver]"));
  }
  return true;
}

}  // namespace rs::testing
