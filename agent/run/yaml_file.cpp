#include "agent/run/yaml_file.hpp"

#include "core/yaml_tree.hpp"

#include <fstream>

namespace rs::agent {

int line_of(const YAML::Mark& mark) { return mark.line >= 0 ? mark.line + 1 : 0; }

int line_of(const YAML::Node& node) { return line_of(node.Mark()); }

Result<std::string> read_yaml_file(const std::string& path, const std::string& what, Problems& problems) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problems.push_back(Problem{path, 0, "", "cannot read the " + what + " file"});
    return make_error(Errc::not_found, what + " '" + path + "': cannot read it");
  }
  std::string text(kMaxYamlFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxYamlFileBytes) {
    problems.push_back(Problem{path, 0, "", "larger than 4 MiB"});
    return make_error(Errc::invalid_argument, what + " '" + path + "': too large");
  }
  return text;
}

std::optional<YAML::Node> load_yaml(const std::string& text, const std::string& file, Problems& problems) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    problems.push_back(Problem{file, line_of(e.mark), "", "not valid YAML: " + e.msg});
    return std::nullopt;
  }
  // Keys that are lists, keys set twice: refused here, so no reader meets them.
  auto found = check_yaml_tree(doc);
  for (auto& p : found) problems.push_back(Problem{file, p.line, std::move(p.key), std::move(p.message)});
  if (!found.empty()) return std::nullopt;
  return doc;
}

}  // namespace rs::agent
