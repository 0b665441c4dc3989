#include "agent/modules/registry_tls.hpp"

#include "core/atomic_file.hpp"
#include "core/fd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <memory>
#include <optional>

namespace rs::agent {
namespace {

template <typename T, void (*Free)(T*)>
struct Freer {
  void operator()(T* p) const { Free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Freer<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Freer<X509, X509_free>>;
using Bio = std::unique_ptr<BIO, Freer<BIO, BIO_free_all>>;

std::string openssl_error(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return what + ": " + buf;
}

Error tls_error(const std::string& what) { return Error{Errc::internal, openssl_error(what)}; }

Cert read_cert(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  Cert c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return c;
}

Key read_key(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  // A passphrase callback that gives none: an encrypted key is refused, never prompted for.
  Key k(PEM_read_bio_PrivateKey(bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  ERR_clear_error();
  return k;
}

Result<std::string> cert_pem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return tls_error("write certificate");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

Result<std::string> key_pem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return tls_error("write key");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

bool is_ip(const std::string& name) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 || ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

Result<void> add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return tls_error("extension '" + value + "'");
  const int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (added != 1) return tls_error("add extension '" + value + "'");
  return ok();
}

// A certificate for `key` named `cn`, valid `days` from an hour ago, serial random; not signed.
Result<Cert> new_certificate(EVP_PKEY* key, const std::string& cn, int days) {
  Cert cert(X509_new());
  if (!cert) return tls_error("new certificate");
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return tls_error("serial");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  const bool serial_set = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  if (!serial_set || X509_set_version(cert.get(), 2) != 1) return tls_error("certificate serial");
  // An hour back: a host whose clock is a little behind accepts it at once.
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, nullptr))
    return tls_error("certificate validity");
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_pubkey(cert.get(), key) != 1)
    return tls_error("certificate subject");
  return cert;
}

Result<Key> new_ec_key() {
  Key key(EVP_EC_gen("P-256"));
  if (!key) return tls_error("EC P-256 key");
  return key;
}

Result<std::optional<std::string>> read_small_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>();
    return errno_error("open '" + path + "'", errno);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read '" + path + "'", errno);
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > 1024 * 1024) return make_error(Errc::invalid_argument, "'" + path + "' is over 1 MiB");
  }
  return std::optional<std::string>(std::move(out));
}

Result<KeyPair> make_certificate_authority() {
  auto key = new_ec_key();
  if (!key) return key.error();
  char host[256] = "control machine";
  (void)::gethostname(host, sizeof host - 1);
  auto cert = new_certificate(key->get(), std::string("registry-setup CA (") + host + ")", kCaDays);
  if (!cert) return cert.error();
  X509_set_issuer_name(cert->get(), X509_get_subject_name(cert->get()));
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                            std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                            std::pair{NID_subject_key_identifier, "hash"}})
    if (auto r = add_extension(cert->get(), cert->get(), nid, value); !r) return r.error();
  if (X509_sign(cert->get(), key->get(), EVP_sha256()) == 0) return tls_error("sign CA certificate");
  auto c = cert_pem(cert->get());
  if (!c) return c.error();
  auto k = key_pem(key->get());
  if (!k) return k.error();
  return KeyPair{*c, *k};
}

}  // namespace

Result<KeyPair> ensure_certificate_authority(const std::string& dir) {
  if (auto made = make_dirs(dir, 0700); !made) return made.error();
  const std::string lock_path = dir + "/.lock";
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return errno_error("open '" + lock_path + "'", errno);
  // flock is per open file: the tasks of several hosts in this process wait for each other too.
  while (::flock(lock.get(), LOCK_EX) != 0)
    if (errno != EINTR) return errno_error("lock '" + lock_path + "'", errno);
  const std::string crt_path = dir + "/ca.crt", key_path = dir + "/ca.key";
  auto crt = read_small_file(crt_path);
  if (!crt) return crt.error();
  auto key = read_small_file(key_path);
  if (!key) return key.error();
  if (*crt && *key) {
    Cert c = read_cert(**crt);
    Key k = read_key(**key);
    if (!c) return make_error(Errc::invalid_argument, "'" + crt_path + "' holds no PEM certificate");
    if (!k) return make_error(Errc::invalid_argument, "'" + key_path + "' holds no unencrypted PEM key");
    if (X509_check_private_key(c.get(), k.get()) != 1) {
      ERR_clear_error();
      return make_error(Errc::invalid_argument, "'" + key_path + "' is not the key of '" + crt_path + "'");
    }
    return KeyPair{**crt, **key};
  }
  if (*crt || *key)
    return make_error(Errc::conflict, "'" + (*crt ? key_path : crt_path) + "' is missing beside '" +
                                          (*crt ? crt_path : key_path) +
                                          "': restore it, or remove both to make a new authority (every client "
                                          "then trusts the new one after the next apply)");
  auto made = make_certificate_authority();
  if (!made) return made.error();
  // The key first: a certificate on disk always has its key beside it.
  if (auto r = write_file_atomic(key_path, made->key_pem, 0600); !r) return r.error();
  if (auto r = write_file_atomic(crt_path, made->certificate_pem, 0644); !r) return r.error();
  return made;
}

Result<KeyPair> issue_server_certificate(const KeyPair& ca, const std::vector<std::string>& names, int days) {
  if (names.empty()) return make_error(Errc::invalid_argument, "a server certificate needs at least one name");
  Cert ca_cert = read_cert(ca.certificate_pem);
  Key ca_key = read_key(ca.key_pem);
  if (!ca_cert || !ca_key) return make_error(Errc::invalid_argument, "the certificate authority cannot be read");
  auto key = new_ec_key();
  if (!key) return key.error();
  auto cert = new_certificate(key->get(), names.front(), days);
  if (!cert) return cert.error();
  if (X509_set_issuer_name(cert->get(), X509_get_subject_name(ca_cert.get())) != 1) return tls_error("issuer");
  std::string san;
  for (const auto& n : names) {
    if (n.empty() || n.find_first_of(",: \t\n") != std::string::npos || n.size() > 253) {
      if (!is_ip(n)) return make_error(Errc::invalid_argument, "'" + n + "' is not a host name or IP address");
    }
    if (!san.empty()) san += ',';
    san += is_ip(n) ? "IP:" : "DNS:";
    san += n;
  }
  for (auto [nid, value] : {std::pair{NID_basic_constraints, std::string("critical,CA:FALSE")},
                            std::pair{NID_key_usage, std::string("critical,digitalSignature")},
                            std::pair{NID_ext_key_usage, std::string("serverAuth")},
                            std::pair{NID_subject_key_identifier, std::string("hash")},
                            std::pair{NID_authority_key_identifier, std::string("keyid:always")},
                            std::pair{NID_subject_alt_name, san}})
    if (auto r = add_extension(cert->get(), ca_cert.get(), nid, value); !r) return r.error();
  if (X509_sign(cert->get(), ca_key.get(), EVP_sha256()) == 0) return tls_error("sign server certificate");
  auto c = cert_pem(cert->get());
  if (!c) return c.error();
  auto k = key_pem(key->get());
  if (!k) return k.error();
  return KeyPair{*c, *k};
}

std::string judge_server_certificate(const KeyPair& pair, const std::string& ca_pem,
                                     const std::vector<std::string>& names, int min_days) {
  Cert cert = read_cert(pair.certificate_pem);
  if (!cert) return "no PEM certificate";
  Key key = read_key(pair.key_pem);
  if (!key) return "no unencrypted PEM key";
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return "the key is not the certificate's";
  }
  Cert ca = read_cert(ca_pem);
  if (!ca) return "no CA certificate to check it against";
  std::unique_ptr<X509_STORE, Freer<X509_STORE, X509_STORE_free>> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, Freer<X509_STORE_CTX, X509_STORE_CTX_free>> ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) {
    ERR_clear_error();
    return "cannot check the chain (out of memory?)";
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  // Valid now and still `min_days` from now.
  X509_VERIFY_PARAM_set_time(param, std::time(nullptr) + static_cast<std::time_t>(min_days) * 86400);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    if (err == X509_V_ERR_CERT_HAS_EXPIRED)
      return "expires within " + std::to_string(min_days) + " days";
    return std::string("not from this authority: ") + X509_verify_cert_error_string(err);
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert.get())) > 0) return "not valid yet";
  for (const auto& n : names) {
    const int match = is_ip(n) ? X509_check_ip_asc(cert.get(), n.c_str(), 0)
                               : X509_check_host(cert.get(), n.c_str(), n.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                                                 nullptr);
    if (match != 1) return "not valid for '" + n + "'";
  }
  return {};
}

long days_until(std::chrono::system_clock::time_point t) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::hours>(t - std::chrono::system_clock::now()).count() / 24);
}

Result<CertificateSummary> summarize_certificate(const std::string& pem) {
  Cert cert = read_cert(pem);
  if (!cert) return make_error(Errc::invalid_argument, "no PEM certificate");
  CertificateSummary s;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
    if (g->type == GEN_DNS) {
      const auto* d = g->d.dNSName;
      s.names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(d)), ASN1_STRING_length(d));
    } else if (g->type == GEN_IPADD) {
      const auto* ip = g->d.iPAddress;
      char buf[INET6_ADDRSTRLEN] = "";
      const int len = ASN1_STRING_length(ip);
      if (len == 4 || len == 16) ::inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), buf, sizeof buf);
      s.names.emplace_back(buf);
    }
  }
  GENERAL_NAMES_free(sans);
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) return make_error(Errc::invalid_argument, "bad notAfter");
  s.not_after = std::chrono::system_clock::from_time_t(::timegm(&tm));
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d", &tm);
  std::string names;
  for (const auto& n : s.names) names += (names.empty() ? "" : " ") + n;
  s.text = "for " + (names.empty() ? std::string("(no names)") : names) + ", until " + date;
  return s;
}

}  // namespace rs::agent
