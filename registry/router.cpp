#include "registry/router.hpp"

#include "registry/names.hpp"

#include <algorithm>
#include <iterator>
#include <vector>

namespace rs::registry {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string key, value;
    if (!percent_decode(pair.substr(0, eq), key)) continue;
    if (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), value)) continue;
    out.emplace(std::move(key), std::move(value));  // the first occurrence wins
  }
  return out;
}

// The components of a path: "/v2/a/b" -> "", "v2", "a", "b".
std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    auto slash = path.find('/', start);
    parts.push_back(path.substr(start, slash == std::string_view::npos ? path.npos : slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

struct Route {
  std::string_view pattern;
  std::string_view methods;  // separated by spaces
  Endpoint endpoint;
};

// The v2 API. The first pattern that fits the path wins; rows with the same pattern are one
// resource (and adjacent), and a method none of them lists is answered 405. <name> stands for one or more
// path components, so the rest of a pattern is matched from the end of the path (a name may
// hold "blobs" or "manifests"). <name>, <digest> and <uuid> are checked as soon as the path
// fits, whatever the method; <reference> and <subject> once a row's method was chosen (a
// tag that may not be written may still be asked for: 404, not 400).
constexpr Route kRoutes[] = {
    {"/v2/", "GET HEAD", Endpoint::base},
    {"/v2", "GET HEAD", Endpoint::base},
    {"/v2/_catalog", "GET HEAD", Endpoint::catalog},
    {"/v2/<name>/tags/list", "GET HEAD", Endpoint::list_tags},
    {"/v2/<name>/blobs/uploads/", "POST", Endpoint::start_upload},
    {"/v2/<name>/blobs/uploads/<uuid>", "GET", Endpoint::upload_status},
    {"/v2/<name>/blobs/uploads/<uuid>", "PATCH", Endpoint::patch_upload},
    {"/v2/<name>/blobs/uploads/<uuid>", "PUT", Endpoint::commit_upload},
    {"/v2/<name>/blobs/uploads/<uuid>", "DELETE", Endpoint::cancel_upload},
    {"/v2/<name>/blobs/uploads", "POST", Endpoint::start_upload},
    {"/v2/<name>/manifests/<reference>", "GET HEAD", Endpoint::get_manifest},
    {"/v2/<name>/manifests/<reference>", "PUT", Endpoint::put_manifest},
    {"/v2/<name>/manifests/<reference>", "DELETE", Endpoint::delete_manifest},
    {"/v2/<name>/blobs/<digest>", "GET HEAD", Endpoint::get_blob},
    {"/v2/<name>/blobs/<digest>", "DELETE", Endpoint::delete_blob},
    {"/v2/<name>/referrers/<subject>", "GET HEAD", Endpoint::list_referrers},
};

// What a pattern's placeholders stand for in one path.
struct Fit {
  std::string name;
  std::string_view digest, uuid, reference, subject;
};

enum class Slot { literal, name, digest, uuid, reference, subject };

// A pattern split into its components once: those before <name> are matched from the
// start of the path, those after it from the end.
struct Shape {
  struct Segment {
    std::string_view text;
    Slot slot;
  };
  std::vector<Segment> segments;
  std::size_t name_at;  // segments.size() when there is no <name>
  bool has(Slot slot) const {
    return std::any_of(segments.begin(), segments.end(), [slot](const Segment& s) { return s.slot == slot; });
  }
};

Slot slot_of(std::string_view segment) {
  if (segment == "<name>") return Slot::name;
  if (segment == "<digest>") return Slot::digest;
  if (segment == "<uuid>") return Slot::uuid;
  if (segment == "<reference>") return Slot::reference;
  if (segment == "<subject>") return Slot::subject;
  return Slot::literal;
}

const std::vector<Shape>& shapes() {
  static const std::vector<Shape> kShapes = [] {
    std::vector<Shape> out;
    for (const Route& r : kRoutes) {
      Shape shape{{}, 0};
      for (std::string_view segment : split(r.pattern)) shape.segments.push_back({segment, slot_of(segment)});
      shape.name_at = static_cast<std::size_t>(
          std::find_if(shape.segments.begin(), shape.segments.end(),
                       [](const Shape::Segment& s) { return s.slot == Slot::name; }) -
          shape.segments.begin());
      out.push_back(std::move(shape));
    }
    return out;
  }();
  return kShapes;
}

// Whether `path` has the shape of a pattern; if so, `fit` holds the placeholders' text.
bool fits(const Shape& shape, const std::vector<std::string_view>& path, Fit& fit) {
  const auto& segments = shape.segments;
  const bool has_name = shape.name_at < segments.size();
  const std::size_t prefix = shape.name_at;
  const std::size_t suffix = has_name ? segments.size() - prefix - 1 : 0;
  if (has_name ? path.size() < prefix + 1 + suffix : path.size() != segments.size()) return false;
  for (std::size_t i = 0; i < prefix; ++i)
    if (segments[i].text != path[i]) return false;
  if (!has_name) return true;
  const std::size_t name_end = path.size() - suffix;
  for (std::size_t j = 0; j < suffix; ++j) {
    const Shape::Segment& segment = segments[prefix + 1 + j];
    std::string_view part = path[name_end + j];
    switch (segment.slot) {
      case Slot::literal:
        if (segment.text != part) return false;
        break;
      case Slot::digest: fit.digest = part; break;
      case Slot::uuid: fit.uuid = part; break;
      case Slot::reference: fit.reference = part; break;
      case Slot::subject: fit.subject = part; break;
      case Slot::name: return false;  // (one <name> per pattern)
    }
  }
  for (std::size_t i = prefix; i < name_end; ++i) {
    if (i > prefix) fit.name += '/';
    fit.name += path[i];
  }
  return true;
}

bool lists_method(std::string_view methods, std::string_view method) {
  while (!methods.empty()) {
    auto space = methods.find(' ');
    if (methods.substr(0, space) == method) return true;
    methods = space == std::string_view::npos ? std::string_view() : methods.substr(space + 1);
  }
  return false;
}

RouteError error(int status, std::string code, std::string message) {
  return RouteError{status, std::move(code), std::move(message)};
}

RouteError digest_invalid(const Error& e) { return error(400, "DIGEST_INVALID", e.message); }

// A manifest reference: a digest if it has a ':', else a tag. An invalid tag is unknown
// to a read (404) and refused for a write (400).
std::optional<RouteError> parse_reference(std::string_view text, bool for_write, Reference& out) {
  if (text.find(':') != std::string_view::npos) {
    auto d = Digest::parse(text);
    if (!d) return digest_invalid(d.error());
    out.digest = std::move(*d);
    return std::nullopt;
  }
  if (!valid_tag(text)) {
    if (for_write) return error(400, "TAG_INVALID", "invalid tag '" + std::string(text) + "'");
    return error(404, "MANIFEST_UNKNOWN", "manifest unknown");
  }
  out.tag = std::string(text);
  return std::nullopt;
}

// The values a route takes besides its path: checked once its method chose it.
std::optional<RouteError> parse_route_values(Endpoint endpoint, const Fit& fit, RouteMatch& m) {
  switch (endpoint) {
    case Endpoint::get_manifest:
    case Endpoint::delete_manifest:
      return parse_reference(fit.reference, false, m.reference);
    case Endpoint::put_manifest:
      return parse_reference(fit.reference, true, m.reference);
    case Endpoint::list_referrers: {
      auto d = Digest::parse(fit.subject);
      if (!d) return digest_invalid(d.error());
      m.digest = std::move(*d);
      return std::nullopt;
    }
    case Endpoint::start_upload: {
      // Cross-repository mount (?mount=&from=) and single-request upload (?digest=).
      // A ?from= that names no repository mounts nothing: the upload starts as a session
      // (the spec's SHOULD); without ?from= the registry looks for the blob itself.
      // (With an error, m.mount says that the error is the ?digest= one, which the API
      // refuses only if the mount fails.)
      if (m.has_query("mount")) {
        auto d = Digest::parse(m.query_value("mount"));
        if (!d) return digest_invalid(d.error());
        std::string from = m.query_value("from");
        if (!m.has_query("from") || valid_repository_name(from)) {
          m.mount = std::move(*d);
          m.mount_from = std::move(from);
        }
      }
      if (m.has_query("digest")) {
        auto d = Digest::parse(m.query_value("digest"));
        if (!d) return digest_invalid(d.error());
        m.monolithic = std::move(*d);
      }
      return std::nullopt;
    }
    case Endpoint::commit_upload: {
      auto d = Digest::parse(m.query_value("digest"));
      if (!d) return digest_invalid(d.error().with_context("query parameter 'digest'"));
      m.digest = std::move(*d);
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+') {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

RouteMatch match_route(std::string_view method, std::string_view target) {
  RouteMatch m;
  auto qmark = target.find('?');
  std::string_view path = target.substr(0, qmark);
  if (qmark != std::string_view::npos) m.query = parse_query(target.substr(qmark + 1));
  const auto parts = split(path);

  const auto& all = shapes();
  Fit fit;
  std::size_t fitted = 0;
  while (fitted < all.size() && !fits(all[fitted], parts, fit)) fit = Fit{}, ++fitted;
  if (fitted == all.size()) {
    // No endpoint: a bad name is still reported as such, which is what clients act on.
    const bool bad_name = path.substr(0, 4) == "/v2/" && !valid_repository_name(path.substr(4));
    m.error = bad_name ? error(400, "NAME_INVALID", "invalid repository name")
                       : error(404, "NOT_FOUND", "no such endpoint");
    return m;
  }
  const Shape& shape = all[fitted];
  if (shape.has(Slot::name) && !valid_repository_name(fit.name)) {
    m.error = error(400, "NAME_INVALID", "invalid repository name");
    return m;
  }
  m.name = std::move(fit.name);
  if (shape.has(Slot::digest)) {
    auto d = Digest::parse(fit.digest);
    if (!d) {
      m.error = digest_invalid(d.error());
      return m;
    }
    m.digest = std::move(*d);
  }
  if (shape.has(Slot::uuid)) {
    if (!valid_upload_id(fit.uuid)) {
      m.error = error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry");
      return m;
    }
    m.upload_id = std::string(fit.uuid);
  }

  // The rows of one resource are adjacent in the table.
  for (std::size_t i = fitted; i < all.size() && kRoutes[i].pattern == kRoutes[fitted].pattern; ++i) {
    if (lists_method(kRoutes[i].methods, method)) {
      m.endpoint = kRoutes[i].endpoint;
      m.error = parse_route_values(m.endpoint, fit, m);
      return m;
    }
  }
  m.error = error(405, "UNSUPPORTED", "method not allowed on this endpoint");
  return m;
}

}  // namespace rs::registry
