// Validation of what clients put in URLs, before anything touches storage.
#pragma once

#include <string_view>

namespace rs::registry {

// Repository names: path components [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* joined by '/',
// at most 255 characters (OCI distribution spec; registry:2's limit).
bool valid_repository_name(std::string_view name);

// Tags: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
bool valid_tag(std::string_view tag);

// Upload ids this server hands out: a lowercase 8-4-4-4-12 hex UUID.
bool valid_upload_id(std::string_view id);

}  // namespace rs::registry
