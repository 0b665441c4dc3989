// Pure matching of a request target to a route of the v2 API. Names, digests and
// upload ids are validated here, before anything can reach storage.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace rs::registry {

enum class RouteKind {
  base,          // /v2/
  catalog,       // /v2/_catalog
  tags_list,     // /v2/<name>/tags/list
  manifest,      // /v2/<name>/manifests/<reference>
  blob,          // /v2/<name>/blobs/<digest>
  upload_start,  // /v2/<name>/blobs/uploads/
  upload,        // /v2/<name>/blobs/uploads/<id>
  referrers,     // /v2/<name>/referrers/<digest>
  invalid_name,  // a v2 route whose name breaks the grammar
  not_found,     // nothing matches
};

struct Route {
  RouteKind kind = RouteKind::not_found;
  std::string name;       // repository
  std::string reference;  // tag or digest (manifest), digest (blob, referrers), id (upload)
  std::map<std::string, std::string> query;  // decoded values

  std::string query_value(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  }
  bool has_query(const std::string& key) const { return query.count(key) > 0; }
};

Route match_route(std::string_view target);

// Decodes %XX and '+' in a query component; false if malformed.
bool percent_decode(std::string_view in, std::string& out);

}  // namespace rs::registry
