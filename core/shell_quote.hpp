// Quoting words for /bin/sh: for scripts the project writes, for the one command string ssh
// hands to the remote shell, and for messages. Commands themselves stay argv vectors.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rs {

enum class Quoting {
  when_needed,  // a word of only safe characters stays bare: ls -l /etc
  always,       // every word in single quotes: '/usr/bin/ssh' (assignments in env files)
};

// `word` as one /bin/sh word: single quotes, an embedded ' written as '\''. The empty word is ''.
std::string shell_quote(std::string_view word, Quoting quoting = Quoting::when_needed);

// The words of argv, each quoted when needed, joined by spaces: "sh -c 'echo hi'".
std::string shell_join(const std::vector<std::string>& argv);

}  // namespace rs
