#include "registry/tls.hpp"

#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

using namespace rs::registry;

namespace {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* x) const { X509_free(x); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

Key make_key() { return Key(EVP_EC_gen("P-256")); }

// A certificate for `key` named CN=`name`, signed by `issuer` (itself when null), valid
// from `from_days` to `to_days` (days from now).
Cert make_cert(const std::string& name, EVP_PKEY* key, long serial, const X509* issuer, EVP_PKEY* issuer_key,
               bool ca, long from_days = -1, long to_days = 30) {
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), to_days * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? const_cast<X509*>(issuer) : cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* ext =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  X509_add_ext(cert.get(), ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256());
  return cert;
}

void write_cert(const std::filesystem::path& path, const X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f);
  PEM_write_X509(f, cert);
  std::fclose(f);
}

void write_key(const std::filesystem::path& path, EVP_PKEY* key, const char* passphrase = nullptr) {
  FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f);
  if (passphrase)
    PEM_write_PrivateKey(f, key, EVP_aes_128_cbc(), reinterpret_cast<const unsigned char*>(passphrase),
                         static_cast<int>(std::strlen(passphrase)), nullptr, nullptr);
  else PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

// A CA and a server certificate it signed, written to DIR/{ca,server,server.key}.pem.
struct Pki {
  Key ca_key = make_key();
  Cert ca = make_cert("test-ca", ca_key.get(), 1, nullptr, nullptr, true);
  Key server_key = make_key();
  Cert server = make_cert("registry.test", server_key.get(), 0x1234, ca.get(), ca_key.get(), false);

  explicit Pki(const std::filesystem::path& dir) : dir(dir) {
    write_cert(dir / "ca.pem", ca.get());
    write_cert(dir / "server.pem", server.get());
    write_key(dir / "server.key", server_key.get());
  }
  TlsOptions options() const { return {(dir / "server.pem").string(), (dir / "server.key").string(), {}, {}}; }
  std::filesystem::path dir;
};

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

// A client context trusting `ca`, at most TLS `max_version`, with a certificate if given.
std::unique_ptr<SSL_CTX, CtxFree> client_context(const X509* ca, int max_version = 0, X509* cert = nullptr,
                                                 EVP_PKEY* key = nullptr) {
  std::unique_ptr<SSL_CTX, CtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), const_cast<X509*>(ca));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_security_level(ctx.get(), 0);  // let the client offer old versions: the server must refuse
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION);
  if (max_version) SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  if (cert) {
    SSL_CTX_use_certificate(ctx.get(), cert);
    SSL_CTX_use_PrivateKey(ctx.get(), key);
  }
  return ctx;
}

// A whole handshake in memory; returns the server's serial seen by the client, or "" when
// either side failed. (TLS 1.3 sends the server's verdict on the client's certificate after
// the client finished: one more round of reads settles it.)
std::string handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx) {
  std::unique_ptr<SSL, SslFree> server(SSL_new(server_ctx)), client(SSL_new(client_ctx));
  BIO *a = nullptr, *b = nullptr;
  BIO_new_bio_pair(&a, 0, &b, 0);
  SSL_set_bio(server.get(), a, a);
  SSL_set_bio(client.get(), b, b);
  SSL_set_accept_state(server.get());
  SSL_set_connect_state(client.get());
  bool server_done = false, client_done = false;
  for (int round = 0; round < 20 && !(server_done && client_done); ++round) {
    if (!client_done) {
      int r = SSL_do_handshake(client.get());
      if (r == 1) client_done = true;
      else if (SSL_get_error(client.get(), r) != SSL_ERROR_WANT_READ) return "";
    }
    if (!server_done) {
      int r = SSL_do_handshake(server.get());
      if (r == 1) server_done = true;
      else if (SSL_get_error(server.get(), r) != SSL_ERROR_WANT_READ) return "";
    }
  }
  if (!server_done || !client_done) return "";
  char byte = 0;
  std::size_t n = 0;
  SSL_write_ex(server.get(), "x", 1, &n);
  if (SSL_read_ex(client.get(), &byte, 1, &n) != 1 || byte != 'x') return "";
  X509* peer = SSL_get_peer_certificate(client.get());
  if (!peer) return "";
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out = hex;
  OPENSSL_free(hex);
  BN_free(bn);
  X509_free(peer);
  ERR_clear_error();
  return out;
}

}  // namespace

TEST_CASE("TLS: a certificate and its key make a context that serves handshakes") {
  rs::testing::TempDir dir;
  Pki pki(dir.path);
  auto tls = TlsContexts::load(pki.options());
  REQUIRE(tls.ok());
  CHECK_THAT((*tls)->describe(), Catch::Contains("subject 'CN=registry.test', serial 1234, valid until"));
  CHECK((*tls)->validity_problem().empty());
  auto client = client_context(pki.ca.get());
  CHECK(handshake((*tls)->current().get(), client.get()) == "1234");
}

TEST_CASE("TLS: below TLS 1.2 is refused; minimumtls tls1.3 refuses 1.2 too") {
  rs::testing::TempDir dir;
  Pki pki(dir.path);
  auto tls12 = TlsContexts::load(pki.options());
  REQUIRE(tls12.ok());
  CHECK(handshake((*tls12)->current().get(), client_context(pki.ca.get(), TLS1_1_VERSION).get()).empty());
  CHECK(handshake((*tls12)->current().get(), client_context(pki.ca.get(), TLS1_VERSION).get()).empty());
  CHECK(handshake((*tls12)->current().get(), client_context(pki.ca.get(), TLS1_2_VERSION).get()) == "1234");
  auto options = pki.options();
  options.minimum = TlsVersion::tls13;
  auto tls13 = TlsContexts::load(options);
  REQUIRE(tls13.ok());
  CHECK(handshake((*tls13)->current().get(), client_context(pki.ca.get(), TLS1_2_VERSION).get()).empty());
  CHECK(handshake((*tls13)->current().get(), client_context(pki.ca.get()).get()) == "1234");
}

TEST_CASE("TLS: with clientcas only a client with a certificate of one of them gets in") {
  rs::testing::TempDir dir;
  Pki pki(dir.path);
  Key other_ca_key = make_key();
  Cert other_ca = make_cert("other-ca", other_ca_key.get(), 9, nullptr, nullptr, true);
  write_cert(dir.path / "other-ca.pem", other_ca.get());
  Key client_key = make_key();
  Cert good = make_cert("alice", client_key.get(), 77, pki.ca.get(), pki.ca_key.get(), false);
  Cert foreign = make_cert("mallory", client_key.get(), 78, other_ca.get(), other_ca_key.get(), false);
  Cert self_signed = make_cert("eve", client_key.get(), 79, nullptr, nullptr, false);
  auto options = pki.options();
  options.client_cas = {(dir.path / "ca.pem").string()};
  auto tls = TlsContexts::load(options);
  REQUIRE(tls.ok());
  CHECK_THAT((*tls)->describe(), Catch::Contains("clients need a certificate of 1 CA(s)"));
  SSL_CTX* server = (*tls)->current().get();
  for (int version : {TLS1_2_VERSION, 0}) {
    INFO("max version " << version);
    CHECK(handshake(server, client_context(pki.ca.get(), version).get()).empty());
    CHECK(handshake(server, client_context(pki.ca.get(), version, foreign.get(), client_key.get()).get()).empty());
    CHECK(handshake(server, client_context(pki.ca.get(), version, self_signed.get(), client_key.get()).get()).empty());
    CHECK(handshake(server, client_context(pki.ca.get(), version, good.get(), client_key.get()).get()) == "1234");
  }
  // Two CA files: the other CA's clients get in too.
  options.client_cas.push_back((dir.path / "other-ca.pem").string());
  auto both = TlsContexts::load(options);
  REQUIRE(both.ok());
  CHECK(handshake((*both)->current().get(), client_context(pki.ca.get(), 0, foreign.get(), client_key.get()).get()) ==
        "1234");
}

TEST_CASE("TLS: files that cannot make a context are refused with the file and the cause") {
  rs::testing::TempDir dir;
  Pki pki(dir.path);
  auto error_of = [](const TlsOptions& o) {
    auto r = TlsContexts::load(o);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
  };
  auto o = pki.options();
  o.certificate = (dir.path / "absent.pem").string();
  CHECK_THAT(error_of(o), Catch::Contains("certificate '" + o.certificate + "'") && Catch::Contains("No such file"));

  Key stranger = make_key();
  write_key(dir.path / "stranger.key", stranger.get());
  o = pki.options();
  o.key = (dir.path / "stranger.key").string();
  CHECK_THAT(error_of(o), Catch::Contains("does not belong to certificate"));

  std::ofstream(dir.path / "empty.pem") << "not a certificate\n";
  o = pki.options();
  o.certificate = (dir.path / "empty.pem").string();
  CHECK_THAT(error_of(o), Catch::Contains("no PEM certificate in it"));
  o = pki.options();
  o.key = (dir.path / "empty.pem").string();
  CHECK_THAT(error_of(o), Catch::Contains("no PEM private key in it"));

  std::ofstream(dir.path / "broken.pem") << "-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n";
  o = pki.options();
  o.certificate = (dir.path / "broken.pem").string();
  CHECK_THAT(error_of(o), Catch::Contains("certificate 1:"));

  write_key(dir.path / "encrypted.key", pki.server_key.get(), "secret");
  o = pki.options();
  o.key = (dir.path / "encrypted.key").string();
  CHECK_THAT(error_of(o), Catch::Contains("encrypted (a passphrase cannot be asked for"));

  o = pki.options();
  o.client_cas = {(dir.path / "empty.pem").string()};
  CHECK_THAT(error_of(o), Catch::Contains("client CA '") && Catch::Contains("no PEM certificate"));

  o = pki.options();
  o.certificate = dir.path.string();
  CHECK_THAT(error_of(o), Catch::Contains("not a regular file"));

  std::ofstream(dir.path / "huge.pem") << std::string(kMaxTlsFileBytes + 1, 'A');
  o = pki.options();
  o.certificate = (dir.path / "huge.pem").string();
  CHECK_THAT(error_of(o), Catch::Contains("larger than 1048576 bytes"));
}

TEST_CASE("TLS: an expired certificate is served, and said to be expired") {
  rs::testing::TempDir dir;
  Pki pki(dir.path);
  Cert old = make_cert("registry.test", pki.server_key.get(), 5, pki.ca.get(), pki.ca_key.get(), false, -30, -1);
  write_cert(dir.path / "server.pem", old.get());
  auto tls = TlsContexts::load(pki.options());
  REQUIRE(tls.ok());
  CHECK_THAT((*tls)->validity_problem(), Catch::Contains("expired on"));
  Cert early = make_cert("registry.test", pki.server_key.get(), 6, pki.ca.get(), pki.ca_key.get(), false, 2, 30);
  write_cert(dir.path / "server.pem", early.get());
  auto later = TlsContexts::load(pki.options());
  REQUIRE(later.ok());
  CHECK_THAT((*later)->validity_problem(), Catch::Contains("is not valid before"));
}

TEST_CASE("TLS: reload swaps the context for new connections; a bad pair keeps the old one") {
  rs::testing::TempDir dir;
  Pki pki(dir.path);
  auto loaded = TlsContexts::load(pki.options());
  REQUIRE(loaded.ok());
  TlsContexts& tls = **loaded;
  auto client = client_context(pki.ca.get());
  auto before = tls.current();  // what a connection in flight holds

  Key new_key = make_key();
  Cert renewed = make_cert("registry.test", new_key.get(), 0x5678, pki.ca.get(), pki.ca_key.get(), false);
  write_cert(dir.path / "server.pem", renewed.get());
  write_key(dir.path / "server.key", new_key.get());
  auto r = tls.reload();
  REQUIRE(r.ok());
  CHECK_THAT(*r, Catch::Contains("serial 5678"));
  CHECK_THAT(tls.describe(), Catch::Contains("serial 5678"));
  CHECK(handshake(tls.current().get(), client.get()) == "5678");
  CHECK(handshake(before.get(), client.get()) == "1234");  // the old context still works

  // A certificate without its key (renewal half done), then a broken file: the last good stays.
  Key third_key = make_key();
  Cert third = make_cert("registry.test", third_key.get(), 0x9abc, pki.ca.get(), pki.ca_key.get(), false);
  write_cert(dir.path / "server.pem", third.get());
  auto half = tls.reload();
  REQUIRE_FALSE(half.ok());
  CHECK_THAT(half.error().message, Catch::Contains("does not belong"));
  std::ofstream(dir.path / "server.pem", std::ios::trunc) << "garbage\n";
  REQUIRE_FALSE(tls.reload().ok());
  CHECK_THAT(tls.describe(), Catch::Contains("serial 5678"));
  CHECK(handshake(tls.current().get(), client.get()) == "5678");
}
