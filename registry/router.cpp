#include "registry/router.hpp"

#include "registry/names.hpp"

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

std::string join(const std::vector<std::string_view>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
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

Route match_route(std::string_view target) {
  Route route;
  auto qmark = target.find('?');
  std::string_view path = target.substr(0, qmark);
  if (qmark != std::string_view::npos) route.query = parse_query(target.substr(qmark + 1));

  if (path == "/v2" || path == "/v2/") {
    route.kind = RouteKind::base;
    return route;
  }
  if (path.substr(0, 4) != "/v2/") return route;
  path.remove_prefix(4);
  if (path == "_catalog") {
    route.kind = RouteKind::catalog;
    return route;
  }

  // The name may hold '/', so the endpoint is recognised from the end of the path.
  auto parts = split(path);
  const std::size_t n = parts.size();
  std::size_t name_parts = 0;
  if (n >= 3 && parts[n - 2] == "tags" && parts[n - 1] == "list") {
    route.kind = RouteKind::tags_list;
    name_parts = n - 2;
  } else if (n >= 4 && parts[n - 3] == "blobs" && parts[n - 2] == "uploads") {
    route.kind = parts[n - 1].empty() ? RouteKind::upload_start : RouteKind::upload;
    route.reference = std::string(parts[n - 1]);
    name_parts = n - 3;
  } else if (n >= 3 && parts[n - 2] == "blobs" && parts[n - 1] == "uploads") {
    route.kind = RouteKind::upload_start;  // without the trailing slash
    name_parts = n - 2;
  } else if (n >= 3 && parts[n - 2] == "manifests") {
    route.kind = RouteKind::manifest;
    name_parts = n - 2;
  } else if (n >= 3 && parts[n - 2] == "blobs") {
    route.kind = RouteKind::blob;
    name_parts = n - 2;
  } else if (n >= 3 && parts[n - 2] == "referrers") {
    route.kind = RouteKind::referrers;
    name_parts = n - 2;
  } else {
    // No endpoint: a bad name is still reported as such, which is what clients act on.
    route.kind = valid_repository_name(path) ? RouteKind::not_found : RouteKind::invalid_name;
    return route;
  }
  if (route.kind != RouteKind::upload && route.kind != RouteKind::upload_start && route.kind != RouteKind::tags_list)
    route.reference = std::string(parts[n - 1]);
  route.name = join(parts, name_parts);
  if (!valid_repository_name(route.name)) route.kind = RouteKind::invalid_name;
  return route;
}

}  // namespace rs::registry
