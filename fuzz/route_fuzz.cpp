// Any request line's method and target through the route table: what reaches an endpoint
// carries a valid name, digest or upload id (nothing unchecked can reach storage).
#include "registry/names.hpp"
#include "registry/router.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // "METHOD TARGET": the first space splits them.
  auto space = input.find(' ');
  std::string_view method = space == std::string_view::npos ? std::string_view("GET") : input.substr(0, space);
  std::string_view target = space == std::string_view::npos ? input : input.substr(space + 1);
  using namespace rs::registry;
  auto m = match_route(method, target);
  if (m.endpoint == Endpoint::none || m.error) return 0;
  if (m.endpoint != Endpoint::base && m.endpoint != Endpoint::catalog && !valid_repository_name(m.name)) std::abort();
  if (!m.upload_id.empty() && !valid_upload_id(m.upload_id)) std::abort();
  if (!m.reference.digest && !m.reference.tag.empty() && !valid_tag(m.reference.tag)) std::abort();
  return 0;
}
