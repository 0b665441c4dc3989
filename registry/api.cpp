#include "registry/api.hpp"

#include "core/log.hpp"

#include "registry/manifest.hpp"
#include "registry/names.hpp"
#include "registry/range.hpp"

#include <algorithm>
#include <charconv>

namespace rs::registry {

namespace {

struct Ctx {
  Store& store;
  const ApiOptions& options;
};

Dispatch reply(Response r) { return Dispatch{std::move(r), nullptr}; }

// Storage failures: the client gets the reason, and so does the server's log (the access
// line alone would only say 500).
Response server_error(const Error& e) {
  static const auto log = rs::log::get("registry");
  log->error("answering 500: {}", e.message);
  return error_response(500, "UNKNOWN", e.message);
}

Response method_not_allowed() { return error_response(405, "UNSUPPORTED", "method not allowed on this endpoint"); }

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

Dispatch upload_start(Ctx ctx, const Request& req, const Route& route) {
  if (req.method != "POST") return reply(method_not_allowed());
  const std::string& name = route.name;
  // Cross-repository mount, falling back to a new session when the blob is not there.
  if (route.has_query("mount")) {
    auto d = Digest::parse(route.query_value("mount"));
    if (!d) return reply(digest_invalid(d.error()));
    std::string from = route.query_value("from");
    if (!from.empty() && !valid_repository_name(from))
      return reply(error_response(400, "NAME_INVALID", "invalid repository name in 'from'"));
    bool mounted = false;
    if (!from.empty()) {
      mounted = ctx.store.mount_blob(name, from, *d).ok();
    }
    if (mounted) return reply(blob_created(name, *d));
  }
  if (route.has_query("digest")) {
    // Single-request monolithic upload: the body is the whole blob.
    auto d = Digest::parse(route.query_value("digest"));
    if (!d) return reply(digest_invalid(d.error()));
    auto id = ctx.store.create_upload(name);
    if (!id) return reply(server_error(id.error()));
    return open_upload_sink(ctx, name, *id, *d, /*cancel_on_abort=*/true);
  }
  auto id = ctx.store.create_upload(name);
  if (!id) return reply(server_error(id.error()));
  return reply(upload_progress(name, *id, 0, 202));
}

Dispatch upload(Ctx ctx, const Request& req, const Route& route) {
  const std::string& name = route.name;
  const std::string& id = route.reference;
  if (!valid_upload_id(id)) return reply(upload_unknown());

  if (req.method == "GET") {
    auto size = ctx.store.upload_size(name, id);
    if (!size) return reply(size.error().code == Errc::not_found ? upload_unknown() : server_error(size.error()));
    return reply(upload_progress(name, id, *size, 204));
  }
  if (req.method == "DELETE") {
    auto r = ctx.store.cancel_upload(name, id);
    if (!r) {
      if (r.error().code == Errc::not_found) return reply(upload_unknown());
      if (r.error().code == Errc::conflict) return reply(error_response(409, "BLOB_UPLOAD_INVALID", r.error().message));
      return reply(server_error(r.error()));
    }
    return reply(no_content(204));
  }
  if (req.method == "PATCH") {
    auto size = ctx.store.upload_size(name, id);
    if (!size) return reply(size.error().code == Errc::not_found ? upload_unknown() : server_error(size.error()));
    if (auto cr = req.header("Content-Range"); !cr.empty()) {
      auto range = parse_content_range(cr);
      if (!range) return reply(error_response(400, "BLOB_UPLOAD_INVALID", "malformed Content-Range"));
      if (range->first != *size) {
        // Chunks must continue exactly where the upload stands.
        Response r = error_response(416, "BLOB_UPLOAD_INVALID",
                                    "Content-Range starts at " + std::to_string(range->first) +
                                        ", the upload has " + std::to_string(*size) + " bytes");
        r.set("Location", upload_location(name, id));
        r.set("Range", upload_range(*size));
        r.set("Docker-Upload-UUID", id);
        return reply(std::move(r));
      }
      if (auto cl = req.header("Content-Length"); !cl.empty() && cl != std::to_string(range->length()))
        return reply(error_response(416, "BLOB_UPLOAD_INVALID", "Content-Range and Content-Length disagree"));
    }
    return open_upload_sink(ctx, name, id, std::nullopt, false);
  }
  if (req.method == "PUT") {
    auto d = Digest::parse(route.query_value("digest"));
    if (!d) return reply(digest_invalid(d.error().with_context("query parameter 'digest'")));
    return open_upload_sink(ctx, name, id, *d, false);
  }
  return reply(method_not_allowed());
}

// ---- blobs ----

Dispatch blob(Ctx ctx, const Request& req, const Route& route) {
  auto d = Digest::parse(route.reference);
  if (!d) return reply(digest_invalid(d.error()));
  if (req.method == "DELETE") {
    if (!ctx.options.delete_enabled) return reply(error_response(405, "UNSUPPORTED", "deletion is disabled"));
    auto r = ctx.store.unlink_blob(route.name, *d);
    if (!r) {
      if (r.error().code == Errc::not_found)
        return reply(error_response(404, "BLOB_UNKNOWN", "blob unknown to registry", "\"" + d->str() + "\""));
      return reply(server_error(r.error()));
    }
    return reply(no_content(202));
  }
  if (req.method != "GET" && req.method != "HEAD") return reply(method_not_allowed());
  auto size = ctx.store.blob_size(route.name, *d);
  if (!size) {
    if (size.error().code == Errc::not_found)
      return reply(error_response(404, "BLOB_UNKNOWN", "blob unknown to registry", "\"" + d->str() + "\""));
    return reply(server_error(size.error()));
  }
  Response r;
  r.set("Content-Type", "application/octet-stream");
  r.set("Docker-Content-Digest", d->str());
  r.set("ETag", "\"" + d->str() + "\"");
  r.set("Accept-Ranges", "bytes");
  r.set("Cache-Control", "max-age=31536000");
  std::uint64_t first = 0, length = *size;
  if (auto rh = req.header("Range"); !rh.empty()) {
    auto range = resolve_range(rh, *size);
    if (range.status == RangeStatus::unsatisfiable) {
      Response e = error_response(416, "RANGE_INVALID", "requested range not satisfiable");
      e.set("Content-Range", "bytes */" + std::to_string(*size));
      return reply(std::move(e));
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
    return reply(std::move(r));
  }
  auto file = ctx.store.open_blob(*d);
  if (!file) return reply(server_error(file.error()));
  r.file = std::move(*file);
  r.file_offset = first;
  r.file_length = length;
  return reply(std::move(r));
}

// ---- manifests ----

struct Reference {
  std::optional<Digest> digest;
  std::string tag;
};

// Parses a manifest reference; a Response when it is malformed.
std::variant<Reference, Response> parse_reference(const std::string& ref, bool for_write) {
  if (ref.find(':') != std::string::npos) {
    auto d = Digest::parse(ref);
    if (!d) return digest_invalid(d.error());
    return Reference{*d, {}};
  }
  if (!valid_tag(ref)) {
    if (for_write) return error_response(400, "TAG_INVALID", "invalid tag '" + ref + "'");
    return error_response(404, "MANIFEST_UNKNOWN", "manifest unknown");
  }
  return Reference{std::nullopt, ref};
}

Response manifest_unknown(const std::string& ref) {
  // (Appended, not "\"" + ... + "\"": g++ 12 -O3 warns wrongly about that chain here.)
  std::string detail = "\"";
  detail += json_escape(ref);
  detail += '"';
  return error_response(404, "MANIFEST_UNKNOWN", "manifest unknown", detail);
}

Response get_manifest(Ctx ctx, const Request& req, const Route& route) {
  auto parsed = parse_reference(route.reference, false);
  if (auto* e = std::get_if<Response>(&parsed)) return std::move(*e);
  auto& ref = std::get<Reference>(parsed);
  Digest digest;
  if (ref.digest) {
    digest = *ref.digest;
  } else {
    auto d = ctx.store.resolve_tag(route.name, ref.tag);
    if (!d) return d.error().code == Errc::not_found ? manifest_unknown(route.reference) : server_error(d.error());
    digest = *d;
  }
  auto m = ctx.store.get_manifest(route.name, digest);
  if (!m) return m.error().code == Errc::not_found ? manifest_unknown(route.reference) : server_error(m.error());
  Response r;
  r.set("Content-Type", m->media_type);
  r.set("Docker-Content-Digest", digest.str());
  r.set("ETag", "\"" + digest.str() + "\"");
  if (req.method == "HEAD") {
    r.head = true;
    r.head_length = m->bytes.size();
  } else {
    r.body = std::move(m->bytes);
  }
  return r;
}

Response put_manifest(Ctx ctx, const Route& route, std::string_view content_type, const std::string& body) {
  auto parsed = parse_reference(route.reference, true);
  if (auto* e = std::get_if<Response>(&parsed)) return std::move(*e);
  auto& ref = std::get<Reference>(parsed);

  auto m = parse_manifest(body, content_type);
  if (!m) return error_response(400, "MANIFEST_INVALID", m.error().message);
  Digest digest = digest_of(body, ref.digest ? ref.digest->algorithm : DigestAlgorithm::sha256);
  if (ref.digest && digest != *ref.digest)
    return error_response(400, "DIGEST_INVALID", "manifest digest is " + digest.str() + ", not " + ref.digest->str());
  // Everything the manifest references must already be in the repository.
  for (const auto& b : m->blobs) {
    if (b.has_urls) continue;
    if (!ctx.store.blob_size(route.name, b.digest))
      return error_response(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", "\"" + b.digest.str() + "\"");
  }
  for (const auto& child : m->manifests) {
    if (!ctx.store.has_manifest(route.name, child.digest))
      return error_response(400, "MANIFEST_BLOB_UNKNOWN", "manifest unknown to registry",
                            "\"" + child.digest.str() + "\"");
  }
  if (auto r = ctx.store.put_manifest(route.name, digest, body); !r) return server_error(r.error());
  if (!ref.digest)
    if (auto r = ctx.store.tag(route.name, ref.tag, digest); !r) return server_error(r.error());
  Response r;
  r.status = 201;
  r.set("Location", "/v2/" + route.name + "/manifests/" + digest.str());
  r.set("Docker-Content-Digest", digest.str());
  if (m->subject) r.set("OCI-Subject", m->subject->digest.str());
  return r;
}

class ManifestSink final : public BodySink {
 public:
  ManifestSink(Ctx ctx, Route route, std::string content_type)
      : ctx_(ctx), route_(std::move(route)), content_type_(std::move(content_type)) {}

  std::optional<Response> write(const char* data, std::size_t size) override {
    if (body_.size() + size > ctx_.store.options().max_manifest_bytes)
      return error_response(413, "SIZE_INVALID",
                            "manifest is larger than " + std::to_string(ctx_.store.options().max_manifest_bytes) + " bytes");
    body_.append(data, size);
    return std::nullopt;
  }
  Response finish() override { return put_manifest(ctx_, route_, content_type_, body_); }

 private:
  Ctx ctx_;
  Route route_;
  std::string content_type_;
  std::string body_;
};

Response delete_manifest(Ctx ctx, const Route& route) {
  if (!ctx.options.delete_enabled) return error_response(405, "UNSUPPORTED", "deletion is disabled");
  auto parsed = parse_reference(route.reference, false);
  if (auto* e = std::get_if<Response>(&parsed)) return std::move(*e);
  auto& ref = std::get<Reference>(parsed);
  auto r = ref.digest ? ctx.store.delete_manifest(route.name, *ref.digest) : ctx.store.untag(route.name, ref.tag);
  if (!r) return r.error().code == Errc::not_found ? manifest_unknown(route.reference) : server_error(r.error());
  return no_content(202);
}

Dispatch manifest(Ctx ctx, const Request& req, const Route& route) {
  if (req.method == "GET" || req.method == "HEAD") return reply(get_manifest(ctx, req, route));
  if (req.method == "DELETE") return reply(delete_manifest(ctx, route));
  if (req.method != "PUT") return reply(method_not_allowed());
  if (auto cl = req.header("Content-Length"); !cl.empty()) {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), n);
    if (ec == std::errc() && n > ctx.store.options().max_manifest_bytes)
      return reply(error_response(413, "SIZE_INVALID",
                                  "manifest is larger than " + std::to_string(ctx.store.options().max_manifest_bytes) + " bytes"));
  }
  Dispatch d;
  d.sink = std::make_unique<ManifestSink>(ctx, route, std::string(req.header("Content-Type")));
  return d;
}

// ---- listings ----

// One page of a sorted list per ?n= and ?last=, with a Link header to the next page.
std::variant<std::vector<std::string>, Response> paginate(const std::vector<std::string>& all, const Route& route,
                                                          std::size_t default_max, const std::string& path,
                                                          std::string* link) {
  std::size_t n = default_max;
  if (route.has_query("n")) {
    const std::string v = route.query_value("n");
    std::size_t parsed = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
    if (ec != std::errc() || p != v.data() + v.size())
      return error_response(400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested");
    n = std::min(parsed, default_max);
  }
  auto begin = all.begin();
  if (route.has_query("last")) begin = std::upper_bound(all.begin(), all.end(), route.query_value("last"));
  std::size_t available = static_cast<std::size_t>(all.end() - begin);
  std::vector<std::string> page(begin, begin + static_cast<long>(std::min(n, available)));
  if (available > page.size() && !page.empty())
    *link = "<" + path + "?n=" + std::to_string(n) + "&last=" + page.back() + ">; rel=\"next\"";
  return page;
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

Response tags_list(Ctx ctx, const Route& route) {
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

Response catalog(Ctx ctx, const Route& route) {
  auto repos = ctx.store.list_repositories();
  if (!repos) return server_error(repos.error());
  std::string link;
  auto page = paginate(*repos, route, ctx.options.max_list_entries, "/v2/_catalog", &link);
  if (auto* e = std::get_if<Response>(&page)) return std::move(*e);
  Response r = json_response("{\"repositories\":" + json_string_array(std::get<0>(page)) + "}");
  if (!link.empty()) r.set("Link", link);
  return r;
}

Response referrers(Ctx ctx, const Route& route) {
  auto subject = Digest::parse(route.reference);
  if (!subject) return digest_invalid(subject.error());
  std::string filter = route.query_value("artifactType");
  std::vector<Referrer> found;
  auto digests = ctx.store.list_manifests(route.name);
  if (digests) {
    for (const auto& d : *digests) {
      auto stored = ctx.store.get_manifest(route.name, d);
      if (!stored) continue;
      auto m = parse_manifest(stored->bytes, "");
      if (!m || !m->subject || m->subject->digest != *subject) continue;
      if (!filter.empty() && m->artifact_type != filter) continue;
      found.push_back({m->media_type, d, stored->bytes.size(), m->artifact_type, m->annotations_json});
    }
  }
  std::sort(found.begin(), found.end(), [](const Referrer& a, const Referrer& b) { return a.digest.hex < b.digest.hex; });
  Response r;
  r.set("Content-Type", std::string(media::kOciIndex));
  if (!filter.empty()) r.set("OCI-Filters-Applied", "artifactType");
  r.body = referrers_index(found);
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

Api::Api(Store& store, ApiOptions options) : store_(store), options_(options) {}

Dispatch Api::handle(const Request& req) const {
  Ctx ctx{store_, options_};
  Route route = match_route(req.target);
  const bool read = req.method == "GET" || req.method == "HEAD";
  switch (route.kind) {
    case RouteKind::base: {
      if (!read) return reply(method_not_allowed());
      return reply(json_response("{}"));
    }
    case RouteKind::catalog:
      return reply(read ? catalog(ctx, route) : method_not_allowed());
    case RouteKind::tags_list:
      return reply(read ? tags_list(ctx, route) : method_not_allowed());
    case RouteKind::referrers:
      return reply(read ? referrers(ctx, route) : method_not_allowed());
    case RouteKind::manifest:
      return manifest(ctx, req, route);
    case RouteKind::blob:
      return blob(ctx, req, route);
    case RouteKind::upload_start:
      return upload_start(ctx, req, route);
    case RouteKind::upload:
      return upload(ctx, req, route);
    case RouteKind::invalid_name:
      return reply(error_response(400, "NAME_INVALID", "invalid repository name"));
    case RouteKind::not_found:
      break;
  }
  return reply(error_response(404, "NOT_FOUND", "no such endpoint"));
}

}  // namespace rs::registry
