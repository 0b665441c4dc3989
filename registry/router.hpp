// Pure matching of a request (method and target) to an endpoint of the v2 API, by the
// route table in router.cpp. Names, digests, tags and upload ids are validated here and
// only here: an endpoint receives them parsed, and nothing unchecked can reach storage.
#pragma once

#include "core/digest.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace rs::registry {

// One per method and path of the API (router.cpp has the table).
enum class Endpoint {
  none,             // no endpoint: see RouteMatch::error
  base,             // GET, HEAD   /v2/
  catalog,          // GET, HEAD   /v2/_catalog
  list_tags,        // GET, HEAD   /v2/<name>/tags/list
  get_manifest,     // GET, HEAD   /v2/<name>/manifests/<reference>
  put_manifest,     // PUT         /v2/<name>/manifests/<reference>
  delete_manifest,  // DELETE      /v2/<name>/manifests/<reference>
  get_blob,         // GET, HEAD   /v2/<name>/blobs/<digest>
  delete_blob,      // DELETE      /v2/<name>/blobs/<digest>
  start_upload,     // POST        /v2/<name>/blobs/uploads/  (?mount=&from=, ?digest=)
  upload_status,    // GET         /v2/<name>/blobs/uploads/<uuid>
  patch_upload,     // PATCH       /v2/<name>/blobs/uploads/<uuid>    a chunk
  commit_upload,    // PUT         /v2/<name>/blobs/uploads/<uuid>?digest=
  cancel_upload,    // DELETE      /v2/<name>/blobs/uploads/<uuid>
  list_referrers,   // GET, HEAD   /v2/<name>/referrers/<subject>
};

// A manifest as a URL names it: by digest or by tag.
struct Reference {
  std::optional<Digest> digest;
  std::string tag;  // when there is no digest

  std::string str() const { return digest ? digest->str() : tag; }
};

// Why a request reaches no endpoint, as the client is told (an OCI error, detail null).
struct RouteError {
  int status = 404;
  std::string code;
  std::string message;
};

struct RouteMatch {
  // The route the method picked; also set when one of its values was refused (error), so
  // that the API can answer in the endpoint's order: a manifest PUT refuses a bad reference
  // after its body, a mount is tried before a bad ?digest= beside it is refused.
  Endpoint endpoint = Endpoint::none;
  std::optional<RouteError> error;

  std::string name;              // <name>: a valid repository name
  Reference reference;           // <reference>
  Digest digest;                 // <digest>, <subject>, commit_upload's ?digest=
  std::string upload_id;         // <uuid>: an id this server could have handed out
  std::optional<Digest> mount;   // start_upload's ?mount=, unless ?from= names no repository
  std::string mount_from;        // start_upload's ?from= (with ?mount=; empty: none given)
  std::optional<Digest> monolithic;  // start_upload's ?digest=: the body is the whole blob
  std::map<std::string, std::string> query;  // every query value, decoded

  std::string query_value(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  }
  bool has_query(const std::string& key) const { return query.count(key) > 0; }
};

// The endpoint of `method` on `target` (raw, not decoded) with its values, or the error.
RouteMatch match_route(std::string_view method, std::string_view target);

// Decodes %XX and '+' in a query component; false if malformed.
bool percent_decode(std::string_view in, std::string& out);

}  // namespace rs::registry
