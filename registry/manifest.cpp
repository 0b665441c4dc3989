#include "registry/manifest.hpp"

#include <nlohmann/json.hpp>

namespace rs::registry {
namespace {

using json = nlohmann::json;

bool is_manifest_type(std::string_view t) {
  return t == media::kDockerManifest || t == media::kOciManifest;
}
bool is_index_type(std::string_view t) { return t == media::kDockerManifestList || t == media::kOciIndex; }

// The media type without parameters ("; charset=utf-8").
std::string_view bare_type(std::string_view t) {
  auto semi = t.find(';');
  t = t.substr(0, semi);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  return t;
}

Error invalid(const std::string& message) { return make_error(Errc::invalid_argument, message); }

// Whether the JSON text nests arrays and objects at most `limit` deep (brackets inside
// strings do not count). One pass, no recursion: what is refused is never parsed.
bool nesting_within(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

Result<Descriptor> parse_descriptor(const json& j, const std::string& where) {
  if (!j.is_object()) return invalid(where + " is not an object");
  Descriptor d;
  auto mt = j.find("mediaType");
  if (mt == j.end() || !mt->is_string()) return invalid(where + ".mediaType is missing");
  d.media_type = mt->get<std::string>();
  auto dg = j.find("digest");
  if (dg == j.end() || !dg->is_string()) return invalid(where + ".digest is missing");
  auto digest = Digest::parse(dg->get<std::string>());
  if (!digest) return invalid(where + ".digest: " + digest.error().message);
  d.digest = *digest;
  auto sz = j.find("size");
  if (sz == j.end() || !sz->is_number_integer() || sz->get<std::int64_t>() < 0)
    return invalid(where + ".size must be a non-negative integer");
  d.size = sz->get<std::int64_t>();
  if (auto urls = j.find("urls"); urls != j.end()) {
    if (!urls->is_array()) return invalid(where + ".urls must be an array");
    d.has_urls = !urls->empty();
  }
  return d;
}

Result<std::vector<Descriptor>> parse_descriptors(const json& doc, const char* key, bool required) {
  std::vector<Descriptor> out;
  auto it = doc.find(key);
  if (it == doc.end()) {
    if (required) return invalid(std::string("\"") + key + "\" is missing");
    return out;
  }
  if (!it->is_array()) return invalid(std::string("\"") + key + "\" must be an array");
  for (std::size_t i = 0; i < it->size(); ++i) {
    auto d = parse_descriptor((*it)[i], std::string(key) + "[" + std::to_string(i) + "]");
    if (!d) return d.error();
    out.push_back(std::move(*d));
  }
  return out;
}

json descriptor_json(const Referrer& r) {
  json d = {{"mediaType", r.media_type}, {"digest", r.digest.str()}, {"size", r.size}};
  if (!r.artifact_type.empty()) d["artifactType"] = r.artifact_type;
  if (!r.annotations_json.empty()) d["annotations"] = json::parse(r.annotations_json, nullptr, false);
  return d;
}

}  // namespace

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

Result<Manifest> parse_manifest(std::string_view bytes, std::string_view content_type) {
  // Serializing a deep tree again (annotations) recursed once per level and overflowed the stack.
  if (!nesting_within(bytes, kMaxManifestDepth))
    return invalid("manifest nests arrays or objects deeper than " + std::to_string(kMaxManifestDepth) + " levels");
  json doc = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return invalid("manifest is not valid JSON");
  if (!doc.is_object()) return invalid("manifest is not a JSON object");
  // Compared as a JSON number: 4294967298 read as an int is 2.
  auto sv = doc.find("schemaVersion");
  if (sv == doc.end() || !sv->is_number_integer() || *sv != 2)
    return invalid("schemaVersion must be 2 (schema 1 manifests are not supported)");

  Manifest m;
  std::string body_type;
  if (auto mt = doc.find("mediaType"); mt != doc.end()) {
    if (!mt->is_string()) return invalid("mediaType must be a string");
    body_type = mt->get<std::string>();
  }
  std::string_view declared = bare_type(content_type);
  if (is_manifest_type(declared) || is_index_type(declared)) {
    // Docker's schema 2 requires the field (registry:2 refuses it missing); OCI's does not.
    if (body_type.empty() && (declared == media::kDockerManifest || declared == media::kDockerManifestList))
      return invalid("mediaType is missing; a Docker manifest must name '" + std::string(declared) + "' in its body");
    if (!body_type.empty() && body_type != declared)
      return invalid("mediaType '" + body_type + "' does not match Content-Type '" + std::string(declared) + "'");
    m.media_type = std::string(declared);
  } else if (!body_type.empty()) {
    m.media_type = body_type;
  } else {
    m.media_type = std::string(doc.contains("manifests") ? media::kOciIndex : media::kOciManifest);
  }
  if (!is_manifest_type(m.media_type) && !is_index_type(m.media_type))
    return invalid("unsupported manifest media type '" + m.media_type + "'");
  m.is_index = is_index_type(m.media_type);

  if (m.is_index) {
    auto children = parse_descriptors(doc, "manifests", true);
    if (!children) return children.error();
    m.manifests = std::move(*children);
  } else {
    auto cfg = doc.find("config");
    if (cfg == doc.end()) return invalid("\"config\" is missing");
    auto config = parse_descriptor(*cfg, "config");
    if (!config) return config.error();
    auto layers = parse_descriptors(doc, "layers", m.media_type == media::kDockerManifest);
    if (!layers) return layers.error();
    m.artifact_type = config->media_type;
    m.blobs.push_back(std::move(*config));
    for (auto& l : *layers) m.blobs.push_back(std::move(l));
  }
  if (auto at = doc.find("artifactType"); at != doc.end()) {
    if (!at->is_string()) return invalid("artifactType must be a string");
    m.artifact_type = at->get<std::string>();
  }
  if (auto subject = doc.find("subject"); subject != doc.end()) {
    auto s = parse_descriptor(*subject, "subject");
    if (!s) return s.error();
    m.subject = std::move(*s);
  }
  if (auto ann = doc.find("annotations"); ann != doc.end()) {
    if (!ann->is_object()) return invalid("annotations must be an object");
    m.annotations_json = ann->dump();
  }
  return m;
}

std::string stored_media_type(std::string_view bytes) {
  if (!nesting_within(bytes, kMaxManifestDepth)) return std::string(media::kOciManifest);
  json doc = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (doc.is_object()) {
    if (auto mt = doc.find("mediaType"); mt != doc.end() && mt->is_string()) return mt->get<std::string>();
    if (doc.contains("manifests")) return std::string(media::kOciIndex);
  }
  return std::string(media::kOciManifest);
}

std::string referrers_index(const std::vector<Referrer>& referrers) {
  json manifests = json::array();
  for (const auto& r : referrers) manifests.push_back(descriptor_json(r));
  json index = {{"schemaVersion", 2}, {"mediaType", media::kOciIndex}, {"manifests", std::move(manifests)}};
  return index.dump();
}

std::string referrer_descriptor(const Referrer& referrer) { return descriptor_json(referrer).dump(); }

Result<Referrer> parse_referrer_descriptor(std::string_view text) {
  if (!nesting_within(text, kMaxManifestDepth)) return invalid("descriptor nests too deep");
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  auto d = parse_descriptor(doc, "descriptor");
  if (!d) return d.error();
  Referrer r{std::move(d->media_type), d->digest, static_cast<std::uint64_t>(d->size), "", ""};
  if (auto at = doc.find("artifactType"); at != doc.end()) {
    if (!at->is_string()) return invalid("descriptor.artifactType must be a string");
    r.artifact_type = at->get<std::string>();
  }
  if (auto ann = doc.find("annotations"); ann != doc.end()) {
    if (!ann->is_object()) return invalid("descriptor.annotations must be an object");
    r.annotations_json = ann->dump();
  }
  return r;
}

}  // namespace rs::registry
