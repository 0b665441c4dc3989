#include "core/args.hpp"

#include <charconv>

namespace rs {

Result<Args> parse_args(const std::vector<std::string>& argv, const ArgSpec& spec) {
  Args args;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      args.rest.assign(argv.begin() + static_cast<long>(i) + 1, argv.end());
      break;
    }
    if (a.size() > 1 && a[0] == '-') {
      std::string name = a, value;
      bool inline_value = false;
      if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
        name = a.substr(0, eq);
        value = a.substr(eq + 1);
        inline_value = true;
      }
      // -vv counts as two -v.
      if (name.size() > 2 && name[1] != '-' && name.find_first_not_of(name[1], 1) == std::string::npos &&
          spec.flags.count(name.substr(0, 2))) {
        args.flags[name.substr(0, 2)] += static_cast<int>(name.size() - 1);
        continue;
      }
      if (spec.flags.count(name)) {
        if (inline_value) return make_error(Errc::invalid_argument, "option '" + name + "' takes no value");
        args.flags[name]++;
      } else if (spec.options.count(name)) {
        if (!inline_value) {
          if (i + 1 >= argv.size())
            return make_error(Errc::invalid_argument, "option '" + name + "' needs a value");
          value = argv[++i];
        }
        args.options[name] = value;
        args.repeated[name].push_back(value);
      } else {
        return make_error(Errc::invalid_argument, "unknown option '" + name + "'");
      }
      continue;
    }
    args.positionals.push_back(a);
  }
  return args;
}

Result<int> parse_positive_int(const std::string& option, const std::string& text) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value <= 0)
    return make_error(Errc::invalid_argument, "option '" + option + "' needs a positive number, got '" + text + "'");
  return value;
}

}  // namespace rs
