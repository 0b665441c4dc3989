#include "registry/memory_driver.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace rs::registry {

// A file's bytes as readers see them; replaced whole on every change, so a reader keeps
// the content it opened.
struct FileData {
  std::uint64_t id = 0;          // as an inode number
  std::uint64_t generation = 0;  // bumped by every change
  std::chrono::system_clock::time_point modified{};
  std::shared_ptr<const std::string> content = std::make_shared<const std::string>();
};

// Every path that exists: a directory (no data) or a file. Paths are absolute and
// normalised ("/a/b"), so the children of "/a" are the keys under "/a/".
struct MemoryDriver::State {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<FileData>> nodes;  // nullptr: a directory
  std::uint64_t next_id = 1;
  MemoryDriver::Clock clock;

  std::shared_ptr<FileData> new_file(std::shared_ptr<const std::string> content) {
    auto f = std::make_shared<FileData>();
    f->id = next_id++;
    f->modified = clock();
    f->content = std::move(content);
    return f;
  }

  // Creates the parent directories of `path` (mkdir -p); a file in the way is an error.
  Result<void> make_parents(const std::string& path) {
    for (auto slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      auto [it, added] = nodes.try_emplace(path.substr(0, slash), nullptr);
      if (!added && it->second) return make_error(Errc::io, "'" + it->first + "' is not a directory");
    }
    return ok();
  }

  // The file at `path`, or why there is none.
  Result<std::shared_ptr<FileData>> file(const std::string& path) {
    auto it = nodes.find(path);
    if (it == nodes.end()) return make_error(Errc::not_found, "'" + path + "' does not exist");
    if (!it->second) return make_error(Errc::not_found, "'" + path + "' is a directory");
    return it->second;
  }

  // `path` and everything under it.
  void erase_tree(const std::string& path) {
    nodes.erase(path);
    const std::string prefix = path == "/" ? "/" : path + "/";
    nodes.erase(nodes.lower_bound(prefix), nodes.lower_bound(prefix + '\xff'));
  }
};

namespace {

using State = MemoryDriver::State;

class MemoryReader final : public FileReader {
 public:
  explicit MemoryReader(std::shared_ptr<const std::string> content) : content_(std::move(content)) {}
  Result<std::size_t> read(char* data, std::size_t size) override {
    const std::size_t n = std::min(size, content_->size() - position_);
    std::memcpy(data, content_->data() + position_, n);
    position_ += n;
    return n;
  }
  std::uint64_t size() const override { return content_->size(); }

 private:
  std::shared_ptr<const std::string> content_;
  std::size_t position_ = 0;
};

// Keeps what is written until flush(), as a driver may: tests of the layers above then
// meet the buffering that the contract allows.
class MemoryWriter final : public FileWriter {
 public:
  MemoryWriter(std::shared_ptr<State> state, std::shared_ptr<FileData> file, std::uint64_t size)
      : state_(std::move(state)), file_(std::move(file)), size_(size) {}
  ~MemoryWriter() override { (void)flush(); }

  Result<void> write(const char* data, std::size_t size) override {
    pending_.append(data, size);
    size_ += size;
    return ok();
  }
  std::uint64_t size() const override { return size_; }
  Result<void> flush() override {
    if (pending_.empty()) return ok();
    std::lock_guard lock(state_->mutex);
    auto next = std::make_shared<std::string>();
    next->reserve(file_->content->size() + pending_.size());
    next->append(*file_->content).append(pending_);
    file_->content = std::move(next);
    ++file_->generation;
    file_->modified = state_->clock();
    pending_.clear();
    return ok();
  }
  Result<void> commit() override { return flush(); }

 private:
  std::shared_ptr<State> state_;
  std::shared_ptr<FileData> file_;
  std::uint64_t size_;
  std::string pending_;
};

}  // namespace

MemoryDriver::MemoryDriver(Clock clock) : state_(std::make_shared<State>()) {
  state_->clock = clock ? std::move(clock) : Clock([] { return std::chrono::system_clock::now(); });
}
MemoryDriver::~MemoryDriver() = default;

Result<std::string> MemoryDriver::get_content(const std::string& path, std::uint64_t max_size) {
  std::lock_guard lock(state_->mutex);
  auto f = state_->file(path);
  if (!f) return f.error();
  const std::string& content = *(*f)->content;
  if (content.size() > max_size)
    return make_error(Errc::invalid_argument, "'" + path + "' is larger than " + std::to_string(max_size) + " bytes");
  return content;
}

Result<void> MemoryDriver::put_content(const std::string& path, std::string_view content) {
  auto bytes = std::make_shared<const std::string>(content);
  std::lock_guard lock(state_->mutex);
  if (auto r = state_->make_parents(path); !r) return r;
  auto it = state_->nodes.find(path);
  if (it != state_->nodes.end() && !it->second) return make_error(Errc::io, "'" + path + "' is a directory");
  // A new file, as a rename puts one in place: an open writer keeps the old one.
  state_->nodes[path] = state_->new_file(std::move(bytes));
  return ok();
}

Result<std::unique_ptr<FileReader>> MemoryDriver::reader(const std::string& path) {
  std::lock_guard lock(state_->mutex);
  auto f = state_->file(path);
  if (!f) return f.error();
  return std::unique_ptr<FileReader>(new MemoryReader((*f)->content));
}

Result<std::unique_ptr<FileWriter>> MemoryDriver::writer(const std::string& path, bool append) {
  std::lock_guard lock(state_->mutex);
  if (auto r = state_->make_parents(path); !r) return r.error();
  auto it = state_->nodes.find(path);
  if (it != state_->nodes.end() && !it->second) return make_error(Errc::io, "'" + path + "' is a directory");
  auto& slot = state_->nodes[path];
  if (!slot) {
    slot = state_->new_file(std::make_shared<const std::string>());
  } else if (!append && !slot->content->empty()) {
    slot->content = std::make_shared<const std::string>();
    ++slot->generation;
    slot->modified = state_->clock();
  }
  return std::unique_ptr<FileWriter>(new MemoryWriter(state_, slot, slot->content->size()));
}

Result<FileInfo> MemoryDriver::stat(const std::string& path) {
  std::lock_guard lock(state_->mutex);
  auto it = state_->nodes.find(path);
  if (it == state_->nodes.end()) return make_error(Errc::not_found, "'" + path + "' does not exist");
  // (Directories keep no times here: their `modified` is the epoch.)
  if (!it->second) return FileInfo{0, true, FileVersion{}, {}};
  const FileData& f = *it->second;
  return FileInfo{f.content->size(), false, FileVersion{f.id, f.content->size(), f.generation, 1}, f.modified};
}

Result<std::vector<std::string>> MemoryDriver::list(const std::string& path) {
  std::lock_guard lock(state_->mutex);
  if (path != "/") {
    auto it = state_->nodes.find(path);
    if (it == state_->nodes.end()) return make_error(Errc::not_found, "'" + path + "' does not exist");
    if (it->second) return make_error(Errc::not_found, "'" + path + "' is not a directory");
  }
  const std::string prefix = path == "/" ? "/" : path + "/";
  std::vector<std::string> names;
  for (auto it = state_->nodes.lower_bound(prefix); it != state_->nodes.end(); ++it) {
    std::string_view rest(it->first);
    if (rest.compare(0, prefix.size(), prefix) != 0) break;
    rest.remove_prefix(prefix.size());
    // Parents are nodes of their own: a deeper path is listed through its first component.
    if (!rest.empty() && rest.find('/') == std::string_view::npos) names.emplace_back(rest);
  }
  return names;
}

Result<void> MemoryDriver::move(const std::string& from, const std::string& to, bool /*durable*/) {
  std::lock_guard lock(state_->mutex);
  auto f = state_->file(from);
  if (!f) return f.error().with_context("move to '" + to + "'");
  if (auto r = state_->make_parents(to); !r) return r;
  auto target = state_->nodes.find(to);
  if (target != state_->nodes.end() && !target->second)
    return make_error(Errc::io, "move '" + from + "': '" + to + "' is a directory");
  state_->nodes[to] = *f;
  state_->nodes.erase(from);
  return ok();
}

Result<void> MemoryDriver::remove(const std::string& path) {
  std::lock_guard lock(state_->mutex);
  state_->erase_tree(path);
  return ok();
}

Result<void> MemoryDriver::touch(const std::string& path) {
  std::lock_guard lock(state_->mutex);
  auto f = state_->file(path);
  if (!f) return f.error();
  (*f)->modified = state_->clock();
  ++(*f)->generation;
  return ok();
}

Result<void> MemoryDriver::create_exclusive(const std::string& path, std::string_view content) {
  auto bytes = std::make_shared<const std::string>(content);
  std::lock_guard lock(state_->mutex);
  if (state_->nodes.count(path)) return make_error(Errc::already_exists, "'" + path + "' exists");
  if (auto r = state_->make_parents(path); !r) return r;
  state_->nodes[path] = state_->new_file(std::move(bytes));
  return ok();
}

Result<void> MemoryDriver::remove_empty_dirs(const std::string& path) {
  std::lock_guard lock(state_->mutex);
  auto it = state_->nodes.find(path);
  if (it == state_->nodes.end() || it->second) return ok();
  // Deepest first: in reverse key order a directory comes after everything under it.
  const std::string prefix = path + "/";
  auto first = state_->nodes.lower_bound(prefix), last = state_->nodes.lower_bound(prefix + '\xff');
  std::vector<std::string> dirs;
  for (auto i = first; i != last; ++i)
    if (!i->second) dirs.push_back(i->first);
  dirs.push_back(path);
  std::sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& dir : dirs) {
    auto below = state_->nodes.lower_bound(dir + "/");
    if (below == state_->nodes.end() || below->first.compare(0, dir.size() + 1, dir + "/") != 0) state_->nodes.erase(dir);
  }
  return ok();
}

}  // namespace rs::registry
