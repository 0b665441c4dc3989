// The registry's TLS material, made on the control machine: a certificate authority of its
// own (EC P-256, kept in a directory there, the key 0600) and, per registry host, a server
// certificate it signs for the names clients use. Also the judge of a certificate already
// on a host: still valid for those names, from that authority, for long enough.
#pragma once

#include "core/result.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace rs::agent {

struct KeyPair {
  std::string certificate_pem;
  std::string key_pem;
};

inline constexpr int kCaDays = 3650;
inline constexpr int kServerCertDays = 397;
// A server certificate with less left than this is issued again.
inline constexpr int kRenewDays = 30;

// `dir`/ca.crt and `dir`/ca.key, made when neither exists (the directory too, 0700). Safe when
// several hosts' tasks ask at once, also from several processes (a lock file in `dir`). One of
// the two without the other is an error: an authority is never replaced silently.
Result<KeyPair> ensure_certificate_authority(const std::string& dir);

// A server certificate for `names` (IP addresses and DNS names; the first is the subject's
// CN) signed by `ca`, valid `days` from an hour ago, with a fresh EC P-256 key.
Result<KeyPair> issue_server_certificate(const KeyPair& ca, const std::vector<std::string>& names,
                                         int days = kServerCertDays);

// Why `pair` is not a certificate a client trusting `ca_pem` accepts for every one of `names`
// for at least `min_days` more (its key matching it); empty when it is.
std::string judge_server_certificate(const KeyPair& pair, const std::string& ca_pem,
                                     const std::vector<std::string>& names, int min_days = kRenewDays);

// What a certificate says of itself, for facts: "CN=..., until 2027-01-05".
struct CertificateSummary {
  std::vector<std::string> names;  // its subjectAltName entries
  std::chrono::system_clock::time_point not_after;
  std::string text;
};
Result<CertificateSummary> summarize_certificate(const std::string& pem);

// Days from now until `t` (negative: past).
long days_until(std::chrono::system_clock::time_point t);

}  // namespace rs::agent
