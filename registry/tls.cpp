#include "registry/tls.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rs::registry {
namespace {

// TLS 1.2's suites: forward secrecy and AEAD only (Mozilla's "intermediate" list without
// DHE); TLS 1.3's are OpenSSL's defaults, all of them fine.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr unsigned char kSessionIdContext[] = "registry-setup";

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

// OpenSSL's reason for the last failure (its error queue emptied), or `fallback`.
std::string openssl_reason(const char* fallback) {
  unsigned long code = 0, last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return fallback;
  const char* reason = ERR_reason_error_string(last);
  return reason ? reason : fallback;
}

// A whole file, at most kMaxTlsFileBytes; the error names the file.
Result<std::string> read_small_file(const std::string& path, const char* what) {
  const std::string where = std::string(what) + " '" + path + "'";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return errno_error(where, errno);
  struct stat st{};
  std::string text;
  Result<std::string> out = make_error(Errc::invalid_argument, where + ": not a regular file");
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    text.resize(kMaxTlsFileBytes + 1);
    std::size_t got = 0;
    ssize_t n = 0;
    while (got < text.size() && ((n = ::read(fd, text.data() + got, text.size() - got)) > 0 || (n < 0 && errno == EINTR)))
      if (n > 0) got += static_cast<std::size_t>(n);
    if (n < 0) out = errno_error(where, errno);
    else if (got > kMaxTlsFileBytes)
      out = make_error(Errc::invalid_argument, where + ": larger than " + std::to_string(kMaxTlsFileBytes) + " bytes");
    else {
      text.resize(got);
      out = std::move(text);
    }
  }
  ::close(fd);
  return out;
}

BioPtr memory_bio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every PEM certificate of a file's text, in order (none: an error).
Result<std::vector<X509Ptr>> read_certificates(const std::string& path, const char* what) {
  auto text = read_small_file(path, what);
  if (!text) return text.error();
  BioPtr bio = memory_bio(*text);
  std::vector<X509Ptr> out;
  ERR_clear_error();
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(cert);
  // The loop ends at the end of the text (a "no start line" error) or at a broken block.
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (!clean_end && last != 0) {
    return make_error(Errc::invalid_argument, std::string(what) + " '" + path + "': certificate " +
                                                  std::to_string(out.size() + 1) + ": " + openssl_reason("unreadable"));
  }
  ERR_clear_error();
  if (out.empty())
    return make_error(Errc::invalid_argument, std::string(what) + " '" + path + "': no PEM certificate in it");
  return out;
}

// An encrypted key would ask for a passphrase on the terminal (also on SIGHUP): refused.
int no_passphrase(char*, int, int, void*) { return -1; }

Result<KeyPtr> read_key(const std::string& path) {
  auto text = read_small_file(path, "key");
  if (!text) return text.error();
  BioPtr bio = memory_bio(*text);
  ERR_clear_error();
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    const bool encrypted = text->find("ENCRYPTED") != std::string::npos;
    return make_error(Errc::invalid_argument,
                      "key '" + path + "': " +
                          (encrypted ? std::string("encrypted (a passphrase cannot be asked for; decrypt it with "
                                                   "openssl pkey -in KEY -out KEY.plain)")
                                     : "no PEM private key in it (" + openssl_reason("unreadable") + ")"));
  }
  return key;
}

std::string name_text(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n > 0 ? n : 0));
}

std::string serial_text(const X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (!bn) return "?";
  char* hex = BN_bn2hex(bn);
  std::string out = hex ? hex : "?";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

std::string time_text(const ASN1_TIME* t) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(bio.get(), t);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n > 0 ? n : 0));
}

}  // namespace

struct TlsContexts::Built {
  std::shared_ptr<ssl_ctx_st> context;
  std::string description;
  std::string validity_problem;

  // A context from the files as they are now.
  static Result<Built> from(const TlsOptions& o) {
    auto chain = read_certificates(o.certificate, "certificate");
    if (!chain) return chain.error();
    auto key = read_key(o.key);
    if (!key) return key.error();
    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
    if (!ctx) return make_error(Errc::internal, "TLS context: " + openssl_reason("out of memory"));
    SSL_CTX* c = ctx.get();
    ERR_clear_error();
    if (SSL_CTX_use_certificate(c, (*chain)[0].get()) != 1)
      return make_error(Errc::invalid_argument, "certificate '" + o.certificate + "': " + openssl_reason("refused"));
    for (std::size_t i = 1; i < chain->size(); ++i)
      if (SSL_CTX_add1_chain_cert(c, (*chain)[i].get()) != 1)
        return make_error(Errc::invalid_argument, "certificate '" + o.certificate + "': chain certificate " +
                                                      std::to_string(i + 1) + ": " + openssl_reason("refused"));
    // (A renewal half done, a new certificate beside the old key, is the usual cause.)
    if (X509_check_private_key((*chain)[0].get(), key->get()) != 1) {
      ERR_clear_error();
      return make_error(Errc::invalid_argument,
                        "key '" + o.key + "' does not belong to certificate '" + o.certificate + "'");
    }
    if (SSL_CTX_use_PrivateKey(c, key->get()) != 1 || SSL_CTX_check_private_key(c) != 1)
      return make_error(Errc::invalid_argument, "key '" + o.key + "': " + openssl_reason("refused"));
    SSL_CTX_set_min_proto_version(c, o.minimum == TlsVersion::tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(c, kTls12Ciphers);
    // Kernel TLS where the kernel has it (sendfile over TLS); no renegotiation (a client could
    // make the server spend a handshake's CPU at will); a peer that closes without close_notify
    // ends the connection like a plain close (HTTP's lengths say whether a body was whole).
    SSL_CTX_set_options(c, SSL_OP_ENABLE_KTLS | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                               SSL_OP_NO_COMPRESSION);
    // Idle connections give their record buffers back (~34 KiB each); a write is retried from
    // wherever its buffer is.
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_id_context(c, kSessionIdContext, sizeof kSessionIdContext - 1);
    SSL_CTX_set_default_passwd_cb(c, no_passphrase);
    std::size_t cas = 0;
    if (!o.client_cas.empty()) {
      X509_STORE* store = SSL_CTX_get_cert_store(c);
      STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
      SSL_CTX_set_client_CA_list(c, names);  // owned by the context from here
      for (const auto& file : o.client_cas) {
        auto certs = read_certificates(file, "client CA");
        if (!certs) return certs.error();
        for (const auto& cert : *certs) {
          if (X509_STORE_add_cert(store, cert.get()) != 1 || SSL_CTX_add_client_CA(c, cert.get()) != 1)
            return make_error(Errc::invalid_argument, "client CA '" + file + "': " + openssl_reason("refused"));
          ++cas;
        }
      }
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    X509* leaf = (*chain)[0].get();
    Built out;
    out.description = "subject '" + name_text(X509_get_subject_name(leaf)) + "', serial " + serial_text(leaf) +
                      ", valid until " + time_text(X509_get0_notAfter(leaf)) +
                      (cas ? ", clients need a certificate of " + std::to_string(cas) + " CA(s)" : std::string());
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
      out.validity_problem = "certificate '" + o.certificate + "' expired on " + time_text(X509_get0_notAfter(leaf));
    else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
      out.validity_problem =
          "certificate '" + o.certificate + "' is not valid before " + time_text(X509_get0_notBefore(leaf));
    out.context = std::move(ctx);
    return out;
  }
};

TlsContexts::TlsContexts(TlsOptions options) : options_(std::move(options)) {}
TlsContexts::~TlsContexts() = default;

Result<std::unique_ptr<TlsContexts>> TlsContexts::load(TlsOptions options) {
  auto built = Built::from(options);
  if (!built) return built.error();
  std::unique_ptr<TlsContexts> out(new TlsContexts(std::move(options)));
  out->current_ = std::move(built->context);
  out->description_ = std::move(built->description);
  out->validity_problem_ = std::move(built->validity_problem);
  return out;
}

std::shared_ptr<ssl_ctx_st> TlsContexts::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

Result<std::string> TlsContexts::reload() {
  // Built outside the lock: new connections keep getting the old context meanwhile.
  auto built = Built::from(options_);
  if (!built) return built.error();
  std::lock_guard lock(mutex_);
  current_ = std::move(built->context);
  description_ = std::move(built->description);
  validity_problem_ = std::move(built->validity_problem);
  return description_;
}

std::string TlsContexts::describe() const {
  std::lock_guard lock(mutex_);
  return description_;
}

std::string TlsContexts::validity_problem() const {
  std::lock_guard lock(mutex_);
  return validity_problem_;
}

}  // namespace rs::registry
