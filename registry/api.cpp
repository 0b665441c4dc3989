#include "registry/api.hpp"

#include "core/log.hpp"

#include "registry/manifest.hpp"
#include "registry/range.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>

namespace rs::registry {

namespace {

struct Ctx {
  Store& store;
  const ApiOptions& options;
  MemoryBudget& buffered;
  std::function<bool(std::string_view)> may_list;  // the catalog's filter; empty: all
};

Dispatch reply(Response r) { return Dispatch{std::move(r), nullptr}; }

// Storage failures: the client gets the reason, and so does the server's log (the access
// line alone would only say 500).
Response server_error(const Error& e) {
  static const auto log = rs::log::get("registry");
  if (e.code == Errc::exhausted) {
    // Out of descriptors or memory for now: the client may retry, nothing is broken.
    log->warn("answering 503: {}", e.message);
    Response r = error_response(503, "UNAVAILABLE", "the registry is busy; retry later");
    r.set("Retry-After", "1");
    return r;
  }
  log->error("answering 500: {}", e.message);
  return error_response(500, "UNKNOWN", e.message);
}

Response buffers_full() {
  Response r = error_response(503, "UNAVAILABLE", "too many manifests are being received; retry later");
  r.set("Retry-After", "1");
  return r;
}

Response digest_invalid(const Error& e) { return error_response(400, "DIGEST_INVALID", e.message); }

Response no_content(int status) {
  Response r;
  r.status = status;
  return r;
}

std::string blob_location(const std::string& name, const Digest& d) { return "/v2/" + name + "/blobs/" + d.str(); }
std::string upload_location(const std::string& name, const std::string& id) {
  return "/v2/" + name + "/blobs/uploads/" + id;
}
// The Range header of upload responses: the bytes received so far, "0-0" when none.
std::string upload_range(std::uint64_t size) { return "0-" + std::to_string(size ? size - 1 : 0); }

Response upload_progress(const std::string& name, const std::string& id, std::uint64_t size, int status) {
  Response r;
  r.status = status;
  r.set("Location", upload_location(name, id));
  r.set("Range", upload_range(size));
  r.set("Docker-Upload-UUID", id);
  return r;
}

Response blob_created(const std::string& name, const Digest& d) {
  Response r;
  r.status = 201;
  r.set("Location", blob_location(name, d));
  r.set("Docker-Content-Digest", d.str());
  return r;
}

Response upload_unknown() { return error_response(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry"); }

// ---- uploads: a body streamed into an UploadWriter ----

class UploadSink final : public BodySink {
 public:
  UploadSink(Ctx ctx, std::unique_ptr<UploadWriter> writer, std::optional<Digest> commit_as, bool cancel_on_abort)
      : ctx_(ctx), writer_(std::move(writer)), commit_as_(std::move(commit_as)), cancel_on_abort_(cancel_on_abort) {}

  ~UploadSink() override {
    if (writer_ && cancel_on_abort_) {
      // A monolithic upload whose body never fully arrived: nothing of it is kept.
      std::string name = writer_->repository(), id = writer_->id();
      writer_.reset();
      (void)ctx_.store.cancel_upload(name, id);
    }
  }

  std::optional<Response> write(const char* data, std::size_t size) override {
    if (auto r = writer_->write(data, size); !r) return server_error(r.error());
    return std::nullopt;
  }

  std::span<char> buffer() override { return writer_->buffer(); }

  Response finish() override {
    std::string name = writer_->repository(), id = writer_->id();
    if (!commit_as_) {
      if (auto r = writer_->flush(); !r) return server_error(r.error());
      Response r = upload_progress(name, id, writer_->size(), 202);
      writer_.reset();
      return r;
    }
    auto committed = ctx_.store.commit_upload(std::move(writer_), *commit_as_);
    if (!committed) {
      if (committed.error().code == Errc::invalid_argument) return digest_invalid(committed.error());
      return server_error(committed.error());
    }
    return blob_created(name, *commit_as_);
  }

 private:
  Ctx ctx_;
  std::unique_ptr<UploadWriter> writer_;
  std::optional<Digest> commit_as_;
  bool cancel_on_abort_;
};

Dispatch open_upload_sink(Ctx ctx, const std::string& name, const std::string& id, std::optional<Digest> commit_as,
                          bool cancel_on_abort) {
  auto writer = ctx.store.open_upload(name, id);
  if (!writer) {
    if (writer.error().code == Errc::not_found) return reply(upload_unknown());
    if (writer.error().code == Errc::conflict)
      return reply(error_response(416, "BLOB_UPLOAD_INVALID", writer.error().message));
    return reply(server_error(writer.error()));
  }
  Dispatch d;
  d.sink = std::make_unique<UploadSink>(ctx, std::move(*writer), std::move(commit_as), cancel_on_abort);
  return d;
}

// POST /v2/<name>/blobs/uploads/: a mount, a single-request upload, or a new session.
Dispatch start_upload(Ctx ctx, const RouteMatch& m) {
  // Cross-repository mount, falling back to a new session when the blob is not there.
  // Without ?from= (automatic content discovery) any blob the registry holds is mounted;
  // with auth on, handle() has kept only mounts from a repository the caller may pull.
  if (m.mount) {
    auto mounted = m.mount_from.empty() ? ctx.store.mount_stored_blob(m.name, *m.mount)
                                        : ctx.store.mount_blob(m.name, m.mount_from, *m.mount);
    if (mounted) return reply(blob_created(m.name, *m.mount));
  }
  // A bad ?digest= beside a mount counts only now that the upload goes on without it.
  if (m.error) return reply(error_response(m.error->status, m.error->code, m.error->message));
  auto id = ctx.store.create_upload(m.name);
  // Too many uploads open: the client may come back once some are finished.
  if (!id && id.error().code == Errc::conflict)
    return reply(error_response(429, "TOOMANYREQUESTS", id.error().message));
  if (!id) return reply(server_error(id.error()));
  // Single-request monolithic upload: the body is the whole blob.
  if (m.monolithic) return open_upload_sink(ctx, m.name, *id, *m.monolithic, /*cancel_on_abort=*/true);
  return reply(upload_progress(m.name, *id, 0, 202));
}

// GET /v2/<name>/blobs/uploads/<uuid>: how many bytes have arrived.
Dispatch upload_status(Ctx ctx, const RouteMatch& m) {
  auto size = ctx.store.upload_size(m.name, m.upload_id);
  if (!size) return reply(size.error().code == Errc::not_found ? upload_unknown() : server_error(size.error()));
  return reply(upload_progress(m.name, m.upload_id, *size, 204));
}

// PATCH /v2/<name>/blobs/uploads/<uuid>: the next chunk, streamed or with a Content-Range.
Dispatch patch_upload(Ctx ctx, const Request& req, const RouteMatch& m) {
  auto size = ctx.store.upload_size(m.name, m.upload_id);
  if (!size) return reply(size.error().code == Errc::not_found ? upload_unknown() : server_error(size.error()));
  if (auto cr = req.header("Content-Range"); !cr.empty()) {
    auto range = parse_content_range(cr);
    if (!range) return reply(error_response(400, "BLOB_UPLOAD_INVALID", "malformed Content-Range"));
    if (range->first != *size) {
      // Chunks must continue exactly where the upload stands.
      Response r = error_response(416, "BLOB_UPLOAD_INVALID",
                                  "Content-Range starts at " + std::to_string(range->first) +
                                      ", the upload has " + std::to_string(*size) + " bytes");
      r.set("Location", upload_location(m.name, m.upload_id));
      r.set("Range", upload_range(*size));
      r.set("Docker-Upload-UUID", m.upload_id);
      return reply(std::move(r));
    }
    if (auto cl = req.header("Content-Length"); !cl.empty() && cl != std::to_string(range->length()))
      return reply(error_response(416, "BLOB_UPLOAD_INVALID", "Content-Range and Content-Length disagree"));
  }
  return open_upload_sink(ctx, m.name, m.upload_id, std::nullopt, false);
}

// PUT /v2/<name>/blobs/uploads/<uuid>?digest=: the last bytes (if any), then the blob is
// verified and stored.
Dispatch commit_upload(Ctx ctx, const RouteMatch& m) {
  return open_upload_sink(ctx, m.name, m.upload_id, m.digest, false);
}

// DELETE /v2/<name>/blobs/uploads/<uuid>.
Dispatch cancel_upload(Ctx ctx, const RouteMatch& m) {
  auto r = ctx.store.cancel_upload(m.name, m.upload_id);
  if (!r) {
    if (r.error().code == Errc::not_found) return reply(upload_unknown());
    if (r.error().code == Errc::conflict) return reply(error_response(409, "BLOB_UPLOAD_INVALID", r.error().message));
    return reply(server_error(r.error()));
  }
  return reply(no_content(204));
}

// ---- blobs ----

Response blob_unknown(const Digest& d) {
  // (Appended: see manifest_unknown.)
  std::string detail = "\"";
  detail += d.str();
  detail += '"';
  return error_response(404, "BLOB_UNKNOWN", "blob unknown to registry", detail);
}

// DELETE /v2/<name>/blobs/<digest>: unlinks the blob from the repository.
Response delete_blob(Ctx ctx, const RouteMatch& m) {
  auto r = ctx.store.unlink_blob(m.name, m.digest);
  if (!r) return r.error().code == Errc::not_found ? blob_unknown(m.digest) : server_error(r.error());
  return no_content(202);
}

// GET and HEAD /v2/<name>/blobs/<digest>, whole or a Range.
Response get_blob(Ctx ctx, const Request& req, const RouteMatch& m) {
  const Digest& d = m.digest;
  auto size = ctx.store.blob_size(m.name, d);
  if (!size) return size.error().code == Errc::not_found ? blob_unknown(d) : server_error(size.error());
  Response r;
  r.set("Content-Type", "application/octet-stream");
  r.set("Docker-Content-Digest", d.str());
  r.set("ETag", "\"" + d.str() + "\"");
  r.set("Accept-Ranges", "bytes");
  r.set("Cache-Control", "max-age=31536000");
  std::uint64_t first = 0, length = *size;
  if (auto rh = req.header("Range"); !rh.empty()) {
    auto range = resolve_range(rh, *size);
    if (range.status == RangeStatus::unsatisfiable) {
      Response e = error_response(416, "RANGE_INVALID", "requested range not satisfiable");
      e.set("Content-Range", "bytes */" + std::to_string(*size));
      return e;
    }
    if (range.status == RangeStatus::ok) {
      r.status = 206;
      first = range.range.first;
      length = range.range.length();
      r.set("Content-Range", "bytes " + std::to_string(range.range.first) + "-" + std::to_string(range.range.last) +
                                 "/" + std::to_string(*size));
    }
  }
  if (req.method == "HEAD") {
    r.head = true;
    r.head_length = length;
    return r;
  }
  auto file = ctx.store.open_blob(d);
  if (!file) return server_error(file.error());
  r.file = std::move(*file);
  r.file_offset = first;
  r.file_length = length;
  return r;
}

// ---- manifests ----

Response manifest_unknown(const Reference& ref) {
  // (Appended, not "\"" + ... + "\"": g++ 12 -O3 warns wrongly about that chain here.)
  std::string detail = "\"";
  detail += json_escape(ref.str());
  detail += '"';
  return error_response(404, "MANIFEST_UNKNOWN", "manifest unknown", detail);
}

Response manifest_too_large(Ctx ctx) {
  return error_response(413, "SIZE_INVALID",
                        "manifest is larger than " + std::to_string(ctx.store.options().max_manifest_bytes) + " bytes");
}

// GET and HEAD /v2/<name>/manifests/<reference>.
Response get_manifest(Ctx ctx, const Request& req, const RouteMatch& m) {
  Digest digest;
  if (m.reference.digest) {
    digest = *m.reference.digest;
  } else {
    auto d = ctx.store.resolve_tag(m.name, m.reference.tag);
    if (!d) return d.error().code == Errc::not_found ? manifest_unknown(m.reference) : server_error(d.error());
    digest = *d;
  }
  auto stored = ctx.store.get_manifest(m.name, digest);
  if (!stored) return stored.error().code == Errc::not_found ? manifest_unknown(m.reference) : server_error(stored.error());
  Response r;
  r.set("Content-Type", stored->media_type);
  r.set("Docker-Content-Digest", digest.str());
  r.set("ETag", "\"" + digest.str() + "\"");
  if (req.method == "HEAD") {
    r.head = true;
    r.head_length = stored->bytes.size();
  } else {
    r.body = std::move(stored->bytes);
  }
  return r;
}

// The body of a manifest PUT has arrived: checks it, stores it, tags it.
Response store_manifest(Ctx ctx, const RouteMatch& m, std::string_view content_type, const std::string& body) {
  // A bad reference is answered once the body has been read, as before the route table.
  if (m.error) return error_response(m.error->status, m.error->code, m.error->message);
  const Reference& ref = m.reference;
  auto parsed = parse_manifest(body, content_type);
  if (!parsed) return error_response(400, "MANIFEST_INVALID", parsed.error().message);
  Digest digest = digest_of(body, ref.digest ? ref.digest->algorithm : DigestAlgorithm::sha256);
  if (ref.digest && digest != *ref.digest)
    return error_response(400, "DIGEST_INVALID", "manifest digest is " + digest.str() + ", not " + ref.digest->str());
  // Everything the manifest references must already be in the repository: referenced
  // (touched), so that a garbage collection running now keeps it (gc.hpp).
  for (const auto& b : parsed->blobs) {
    if (b.has_urls) continue;
    if (!ctx.store.reference_blob(m.name, b.digest))
      return error_response(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", "\"" + b.digest.str() + "\"");
  }
  for (const auto& child : parsed->manifests) {
    if (!ctx.store.reference_manifest(m.name, child.digest))
      return error_response(400, "MANIFEST_BLOB_UNKNOWN", "manifest unknown to registry",
                            "\"" + child.digest.str() + "\"");
  }
  if (auto r = ctx.store.put_manifest(m.name, digest, body, *parsed); !r) return server_error(r.error());
  if (!ref.digest)
    if (auto r = ctx.store.tag(m.name, ref.tag, digest); !r) return server_error(r.error());
  Response r;
  r.status = 201;
  r.set("Location", "/v2/" + m.name + "/manifests/" + digest.str());
  r.set("Docker-Content-Digest", digest.str());
  if (parsed->subject) r.set("OCI-Subject", parsed->subject->digest.str());
  return r;
}

// A manifest's body, held in memory within the manifest limit and the budget shared by
// every manifest being received.
class ManifestSink final : public BodySink {
 public:
  // `reserved` bytes of ctx.buffered are the sink's already (the announced length).
  ManifestSink(Ctx ctx, RouteMatch match, std::string content_type, std::uint64_t reserved)
      : ctx_(ctx), match_(std::move(match)), content_type_(std::move(content_type)), reserved_(reserved) {
    body_.reserve(static_cast<std::size_t>(reserved));
  }
  ~ManifestSink() override { ctx_.buffered.give(reserved_); }

  std::optional<Response> write(const char* data, std::size_t size) override {
    const std::uint64_t max = ctx_.store.options().max_manifest_bytes;
    if (body_.size() + size > max) return manifest_too_large(ctx_);
    if (body_.size() + size > reserved_) {
      // A body of unknown length takes its budget in steps.
      std::uint64_t more = std::min(max, std::max<std::uint64_t>(body_.size() + size, 2 * reserved_ + kStep)) - reserved_;
      if (!ctx_.buffered.take(more)) return buffers_full();
      reserved_ += more;
    }
    body_.append(data, size);
    return std::nullopt;
  }
  Response finish() override { return store_manifest(ctx_, match_, content_type_, body_); }
  bool holds_body_in_memory() const override { return true; }

 private:
  static constexpr std::uint64_t kStep = 64 * 1024;
  Ctx ctx_;
  RouteMatch match_;
  std::string content_type_;
  std::uint64_t reserved_;
  std::string body_;
};

// PUT /v2/<name>/manifests/<reference>: the body, within the size limit, goes to a sink.
Dispatch put_manifest(Ctx ctx, const Request& req, RouteMatch m) {
  std::uint64_t announced = 0;
  if (auto cl = req.header("Content-Length"); !cl.empty()) {
    auto [p, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), announced);
    if (ec == std::errc() && announced > ctx.store.options().max_manifest_bytes) return reply(manifest_too_large(ctx));
    if (ec != std::errc()) announced = 0;
  }
  // The announced length is reserved before a byte is read: a full budget refuses now.
  if (!ctx.buffered.take(announced)) return reply(buffers_full());
  Dispatch d;
  d.sink = std::make_unique<ManifestSink>(ctx, std::move(m), std::string(req.header("Content-Type")), announced);
  return d;
}

// DELETE /v2/<name>/manifests/<reference>: by digest the manifest and its tags, by tag the tag.
Response delete_manifest(Ctx ctx, const RouteMatch& m) {
  const Reference& ref = m.reference;
  auto r = ref.digest ? ctx.store.delete_manifest(m.name, *ref.digest) : ctx.store.untag(m.name, ref.tag);
  if (!r) return r.error().code == Errc::not_found ? manifest_unknown(ref) : server_error(r.error());
  return no_content(202);
}

// ---- listings ----

// ?n=, at most `max` (without it: `max`), or the error to answer.
std::variant<std::size_t, Response> page_size(const RouteMatch& route, std::size_t max) {
  if (!route.has_query("n")) return max;
  const std::string v = route.query_value("n");
  std::size_t parsed = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
  if (ec != std::errc() || p != v.data() + v.size())
    return error_response(400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested");
  return std::min(parsed, max);
}

// The Link header to the page after `last`; `query` is the rest of the request's query
// ("a=b&"), which the next page keeps.
std::string next_page_link(const std::string& path, const std::string& query, std::size_t n, const std::string& last) {
  return "<" + path + "?" + query + "n=" + std::to_string(n) + "&last=" + last + ">; rel=\"next\"";
}

// One page of a sorted list per ?n= and ?last=, with a Link header to the next page.
std::variant<std::vector<std::string>, Response> paginate(const std::vector<std::string>& all, const RouteMatch& route,
                                                          std::size_t default_max, const std::string& path,
                                                          std::string* link) {
  auto size = page_size(route, default_max);
  if (auto* e = std::get_if<Response>(&size)) return std::move(*e);
  const std::size_t n = std::get<std::size_t>(size);
  auto begin = all.begin();
  if (route.has_query("last")) begin = std::upper_bound(all.begin(), all.end(), route.query_value("last"));
  std::size_t available = static_cast<std::size_t>(all.end() - begin);
  std::vector<std::string> page(begin, begin + static_cast<long>(std::min(n, available)));
  if (available > page.size() && !page.empty()) *link = next_page_link(path, "", n, page.back());
  return page;
}

// A query value as the router's percent_decode reads it back ('+' would be a space).
std::string query_escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string json_string_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"' + json_escape(items[i]) + '"';
  }
  return out + "]";
}

Response json_response(std::string body) {
  Response r;
  r.set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

// GET /v2/<name>/tags/list.
Response list_tags(Ctx ctx, const RouteMatch& route) {
  auto tags = ctx.store.list_tags(route.name);
  if (!tags) {
    if (tags.error().code == Errc::not_found)
      return error_response(404, "NAME_UNKNOWN", "repository name not known to registry",
                            "\"" + json_escape(route.name) + "\"");
    return server_error(tags.error());
  }
  std::string link;
  auto page = paginate(*tags, route, ctx.options.max_list_entries, "/v2/" + route.name + "/tags/list", &link);
  if (auto* e = std::get_if<Response>(&page)) return std::move(*e);
  Response r = json_response("{\"name\":\"" + json_escape(route.name) + "\",\"tags\":" +
                             json_string_array(std::get<0>(page)) + "}");
  if (!link.empty()) r.set("Link", link);
  return r;
}

// GET /v2/_catalog.
Response catalog(Ctx ctx, const RouteMatch& route) {
  auto repos = ctx.store.list_repositories();
  if (!repos) return server_error(repos.error());
  if (ctx.may_list) std::erase_if(*repos, [&](const std::string& name) { return !ctx.may_list(name); });
  std::string link;
  auto page = paginate(*repos, route, ctx.options.max_list_entries, "/v2/_catalog", &link);
  if (auto* e = std::get_if<Response>(&page)) return std::move(*e);
  Response r = json_response("{\"repositories\":" + json_string_array(std::get<0>(page)) + "}");
  if (!link.empty()) r.set("Link", link);
  return r;
}

// GET /v2/<name>/referrers/<subject>: an index of the manifests whose subject it is, from
// the store's subject index, paged by digest as tags are (?n=, ?last=, Link).
Response list_referrers(Ctx ctx, const RouteMatch& route) {
  auto size = page_size(route, ctx.options.max_list_entries);
  if (auto* e = std::get_if<Response>(&size)) return std::move(*e);
  ReferrerQuery query{route.query_value("artifactType"), route.query_value("last"), std::get<std::size_t>(size)};
  auto page = ctx.store.list_referrers(route.name, route.digest, query);
  if (!page) return server_error(page.error());
  Response r;
  r.set("Content-Type", std::string(media::kOciIndex));
  if (!query.artifact_type.empty()) r.set("OCI-Filters-Applied", "artifactType");
  if (page->more && !page->referrers.empty()) {
    const std::string filter = query.artifact_type.empty() ? "" : "artifactType=" + query_escape(query.artifact_type) + "&";
    r.set("Link", next_page_link("/v2/" + route.name + "/referrers/" + route.digest.str(), filter, query.limit,
                                 page->referrers.back().digest.str()));
  }
  r.body = referrers_index(page->referrers);
  return r;
}

}  // namespace

Response error_response(int status, std::string_view code, std::string_view message, std::string_view detail_json) {
  Response r;
  r.status = status;
  r.set("Content-Type", "application/json");
  r.body = "{\"errors\":[{\"code\":\"" + std::string(code) + "\",\"message\":\"" + json_escape(message) +
           "\",\"detail\":" + std::string(detail_json) + "}]}";
  return r;
}

bool MemoryBudget::take(std::uint64_t bytes) {
  std::uint64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (bytes > limit_ - std::min(used, limit_)) return false;
  } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  return true;
}

Api::Api(Store& store, ApiOptions options)
    : store_(store), options_(options), buffered_(std::make_unique<MemoryBudget>(options_.max_buffered_body_bytes)) {}

namespace {

// What an endpoint needs of its caller.
Need need_of(const RouteMatch& m) {
  switch (m.endpoint) {
    case Endpoint::catalog: return {Need::Kind::catalog, {}, 0};
    case Endpoint::list_tags:
    case Endpoint::get_manifest:
    case Endpoint::get_blob:
    case Endpoint::list_referrers: return {Need::Kind::repository, m.name, kPull};
    case Endpoint::put_manifest:
    case Endpoint::start_upload:
    case Endpoint::upload_status:
    case Endpoint::patch_upload:
    case Endpoint::commit_upload:
    case Endpoint::cancel_upload: return {Need::Kind::repository, m.name, kPush};
    case Endpoint::delete_manifest:
    case Endpoint::delete_blob: return {Need::Kind::repository, m.name, kDelete};
    case Endpoint::base:
    case Endpoint::none: break;
  }
  return {};
}

}  // namespace

Dispatch Api::handle(const Request& req) const {
  Ctx ctx{store_, options_, *buffered_, nullptr};
  std::optional<Caller> caller;
  if (gate_) {
    if (gate_->serves_tokens(req.target)) return reply(gate_->issue_token(req));
    auto who = gate_->identify(req);
    if (auto* refused = std::get_if<Response>(&who)) return reply(std::move(*refused));
    caller = std::move(std::get<Caller>(who));
  }
  RouteMatch m = match_route(req.method, req.target);
  if (gate_) {
    // (A name the router refused is no repository: knowing the caller is enough to hear why.)
    Need need = need_of(m);
    if (need.kind == Need::Kind::repository && m.name.empty()) need = {};
    if (auto refused = gate_->authorize(*caller, req, need)) return reply(std::move(*refused));
    // A mount only from a repository the caller may pull, never by content discovery across
    // repositories it may not see: else it is a plain upload (the spec's fallback).
    if (m.mount && (m.mount_from.empty() ? !gate_->discovers(*caller) : !(gate_->allowed(*caller, m.mount_from) & kPull))) {
      m.mount.reset();
      m.mount_from.clear();
    }
    // (Only the catalog, answered right here, uses it: the caller lives as long as this call.)
    if (m.endpoint == Endpoint::catalog)
      ctx.may_list = [this, &caller](std::string_view name) { return gate_->lists(*caller, name); };
  }
  // Deletion switched off is refused whatever the reference (the router cannot know).
  if ((m.endpoint == Endpoint::delete_manifest || m.endpoint == Endpoint::delete_blob) && !options_.delete_enabled)
    return reply(error_response(405, "UNSUPPORTED", "deletion is disabled"));
  // A manifest PUT is refused for its size first, for a bad reference after its body; a
  // mount is tried before a bad ?digest= is refused.
  const bool answer_later = m.endpoint == Endpoint::put_manifest || (m.endpoint == Endpoint::start_upload && m.mount);
  if (m.error && !answer_later) return reply(error_response(m.error->status, m.error->code, m.error->message));
  switch (m.endpoint) {
    case Endpoint::base: return reply(json_response("{}"));
    case Endpoint::catalog: return reply(catalog(ctx, m));
    case Endpoint::list_tags: return reply(list_tags(ctx, m));
    case Endpoint::get_manifest: return reply(get_manifest(ctx, req, m));
    case Endpoint::put_manifest: return put_manifest(ctx, req, std::move(m));
    case Endpoint::delete_manifest: return reply(delete_manifest(ctx, m));
    case Endpoint::get_blob: return reply(get_blob(ctx, req, m));
    case Endpoint::delete_blob: return reply(delete_blob(ctx, m));
    case Endpoint::start_upload: return start_upload(ctx, m);
    case Endpoint::upload_status: return upload_status(ctx, m);
    case Endpoint::patch_upload: return patch_upload(ctx, req, m);
    case Endpoint::commit_upload: return commit_upload(ctx, m);
    case Endpoint::cancel_upload: return cancel_upload(ctx, m);
    case Endpoint::list_referrers: return reply(list_referrers(ctx, m));
    case Endpoint::none: break;
  }
  // (The router gives every match without an endpoint an error.)
  return reply(error_response(404, "NOT_FOUND", "no such endpoint"));
}

}  // namespace rs::registry
