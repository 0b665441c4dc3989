#include "registry/token_auth.hpp"

#include "tests/support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <fstream>

using namespace rs::registry;

namespace {

TokenOptions own_options(const rs::testing::TempDir& dir) {
  TokenOptions o;
  o.service = "registry.test:5000";
  o.issuer = "registry-setup";
  o.signingkey = (dir.path / "token.key").string();
  return o;
}

std::unique_ptr<TokenAuthority> authority(const TokenOptions& o, TokenAuthorityOptions tuning = {}) {
  auto a = TokenAuthority::create(o, /*create_key=*/true, std::move(tuning));
  REQUIRE(a.ok());
  return std::move(*a);
}

// A certificate for `key`, signed by `issuer_key` (itself for a root), PEM.
std::shared_ptr<X509> make_cert(EVP_PKEY* key, EVP_PKEY* issuer_key, const char* subject, const char* issuer) {
  std::shared_ptr<X509> cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(subject), -1, -1, 0);
  X509_NAME_add_entry_by_txt(X509_get_issuer_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(issuer), -1, -1, 0);
  if (key == issuer_key) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  REQUIRE(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0);
  return cert;
}

void write_pem(const std::string& path, const std::vector<std::shared_ptr<X509>>& certs) {
  BIO* bio = BIO_new_file(path.c_str(), "w");
  REQUIRE(bio);
  for (const auto& c : certs) PEM_write_bio_X509(bio, c.get());
  BIO_free(bio);
}

std::string der_base64(X509* cert) {
  unsigned char* der = nullptr;
  const int size = i2d_X509(cert, &der);
  std::string out(4 * ((static_cast<std::size_t>(size) + 2) / 3) + 1, '\0');
  out.resize(static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), der, size)));
  OPENSSL_free(der);
  return out;
}

std::string claims(const std::string& iss, const std::string& aud, long long exp, const std::string& sub = "alice") {
  return nlohmann::json{{"iss", iss}, {"aud", aud}, {"sub", sub}, {"exp", exp},
                        {"access", {{{"type", "repository"}, {"name", "team/app"}, {"actions", {"pull", "push"}}}}}}
      .dump();
}

long long in(long long seconds) {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
         seconds;
}

}  // namespace

TEST_CASE("own tokens: the key is made once (0600), a token carries exactly its grants and verifies") {
  rs::testing::TempDir dir;
  auto o = own_options(dir);
  auto a = authority(o);
  struct stat st{};
  REQUIRE(::stat(o.signingkey.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::ifstream key_file(o.signingkey);
  const std::string key_pem((std::istreambuf_iterator<char>(key_file)), {});
  CHECK(authority(o)->issues());  // the second start reuses the key
  std::ifstream again(o.signingkey);
  CHECK(std::string((std::istreambuf_iterator<char>(again)), {}) == key_pem);

  auto token = a->issue("alice", {{"repository", "team/app", kPull | kPush}, {"registry", "catalog", kAllActions}});
  REQUIRE(token.ok());
  auto c = a->verify(*token);
  REQUIRE(c.ok());
  CHECK(c->subject == "alice");
  CHECK(c->own);
  CHECK(c->granted("repository", "team/app") == (kPull | kPush));
  CHECK(c->granted("repository", "team/other") == 0);
  CHECK(c->granted("registry", "catalog") == kAllActions);
  // The header names the algorithm and the key as registry:2 looks them up.
  auto jws = split_jws(*token);
  REQUIRE(jws.ok());
  auto header = nlohmann::json::parse(jws->header);
  CHECK(header["alg"] == "ES256");
  CHECK(header["typ"] == "JWT");
  const std::string kid = header["kid"];
  CHECK(kid.size() == 59);  // 12 groups of 4, 11 colons
  CHECK(kid[4] == ':');
  auto payload = nlohmann::json::parse(jws->payload);
  CHECK(payload["iss"] == "registry-setup");
  CHECK(payload["aud"] == "registry.test:5000");
  CHECK(payload["exp"].get<long long>() - payload["iat"].get<long long>() == 300);
  CHECK(payload["access"][1]["actions"] == nlohmann::json::array({"*"}));
}

TEST_CASE("a tampered, truncated, re-signed or otherwise wrong token is refused, saying why") {
  rs::testing::TempDir dir;
  auto o = own_options(dir);
  auto a = authority(o);
  auto token = a->issue("bob", {{"repository", "app", kPull}});
  REQUIRE(token.ok());
  auto jws = split_jws(*token);
  REQUIRE(jws.ok());
  const auto dot1 = token->find('.'), dot2 = token->rfind('.');
  // The payload changed: pull became push.
  std::string payload = jws->payload;
  payload.replace(payload.find("\"pull\""), 6, "\"push\"");
  const std::string forged = token->substr(0, dot1 + 1) + base64url_encode(payload) + token->substr(dot2);
  auto refused = a->verify(forged);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().message, Catch::Contains("signature does not verify"));
  // alg none, and the signature dropped.
  const std::string none = base64url_encode(R"({"alg":"none","kid":")" + nlohmann::json::parse(jws->header)["kid"].get<std::string>() + "\"}") +
                           "." + base64url_encode(jws->payload) + ".";
  CHECK_FALSE(a->verify(none).ok());
  CHECK_FALSE(a->verify(token->substr(0, dot2)).ok());
  CHECK_FALSE(a->verify(token->substr(0, token->size() - 3)).ok());
  CHECK_FALSE(a->verify("").ok());
  CHECK_FALSE(a->verify(std::string(kMaxTokenBytes + 1, 'a')).ok());
  // Another key with the same issuer name is still another key.
  rs::testing::TempDir other_dir;
  auto other = authority(own_options(other_dir));
  auto strange = other->issue("bob", {{"repository", "app", kPull}});
  REQUIRE(strange.ok());
  auto untrusted = a->verify(*strange);
  REQUIRE_FALSE(untrusted.ok());
  CHECK_THAT(untrusted.error().message, Catch::Contains("signing key is not trusted"));
  // The same key for another service or issuer.
  auto for_other = o;
  for_other.service = "elsewhere";
  auto b = authority(for_other);
  auto wrong_aud = b->verify(*token);
  REQUIRE_FALSE(wrong_aud.ok());
  CHECK_THAT(wrong_aud.error().message, Catch::Contains("not for service 'elsewhere'"));
}

TEST_CASE("a token expires, also once it was verified and remembered") {
  rs::testing::TempDir dir;
  auto clock = std::make_shared<std::chrono::system_clock::time_point>(std::chrono::system_clock::now());
  TokenAuthorityOptions tuning;
  tuning.now = [clock] { return *clock; };
  auto a = authority(own_options(dir), tuning);
  auto token = a->issue("", {{"repository", "public/app", kPull}});
  REQUIRE(token.ok());
  auto c = a->verify(*token);
  REQUIRE(c.ok());
  CHECK(c->subject.empty());
  *clock += std::chrono::seconds(300 + 59);  // within the minute of leeway
  CHECK(a->verify(*token).ok());
  *clock += std::chrono::seconds(2);
  auto expired = a->verify(*token);
  REQUIRE_FALSE(expired.ok());
  CHECK_THAT(expired.error().message, Catch::Contains("expired"));
  // Not valid yet: issued by a clock an hour ahead of the verifier's.
  auto ahead = a->issue("x", {});
  REQUIRE(ahead.ok());
  *clock -= std::chrono::seconds(3600);
  auto early = a->verify(*ahead);
  REQUIRE_FALSE(early.ok());
  CHECK_THAT(early.error().message, Catch::Contains("not valid yet"));
}

TEST_CASE("an external issuer: tokens whose kid is a bundle certificate's key, or whose x5c chains to one") {
  rs::testing::TempDir dir;
  // The issuer's root, and a signing certificate under it.
  std::shared_ptr<EVP_PKEY> root_key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::shared_ptr<EVP_PKEY> leaf_key(EVP_RSA_gen(2048), EVP_PKEY_free);
  auto root = make_cert(root_key.get(), root_key.get(), "issuer root", "issuer root");
  auto leaf = make_cert(leaf_key.get(), root_key.get(), "issuer signer", "issuer root");
  const auto bundle = (dir.path / "bundle.pem").string();
  write_pem(bundle, {root});
  TokenOptions o;
  o.realm = "https://auth.test/token";
  o.service = "registry.test";
  o.issuer = "auth.test";
  o.rootcertbundle = bundle;
  auto a = authority(o);
  CHECK_FALSE(a->issues());
  CHECK_FALSE(a->issue("x", {}).ok());

  // kid: signed by the root's own key (ES256), named by its libtrust id.
  auto root_signer = [&] {
    const auto path = (dir.path / "root.key").string();
    BIO* bio = BIO_new_file(path.c_str(), "w");
    PEM_write_bio_PrivateKey(bio, root_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    BIO_free(bio);
    auto k = SigningKey::load(path);
    REQUIRE(k.ok());
    return std::move(*k);
  }();
  CHECK(root_signer.key_id() == libtrust_key_id(root_key.get()));
  auto by_kid = root_signer.sign("\"typ\":\"JWT\"", claims("auth.test", "registry.test", in(300)));
  REQUIRE(by_kid.ok());
  auto c = a->verify(*by_kid);
  REQUIRE(c.ok());
  CHECK_FALSE(c->own);
  CHECK(c->granted("repository", "team/app") == (kPull | kPush));
  CHECK_FALSE(a->verify(*root_signer.sign("", claims("someone else", "registry.test", in(300)))).ok());

  // x5c: signed by the leaf (RS256), the chain in the header.
  const auto leaf_path = (dir.path / "leaf.key").string();
  BIO* bio = BIO_new_file(leaf_path.c_str(), "w");
  PEM_write_bio_PrivateKey(bio, leaf_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  BIO_free(bio);
  auto leaf_signer = SigningKey::load(leaf_path);
  REQUIRE(leaf_signer.ok());
  CHECK(leaf_signer->algorithm() == "RS256");
  const std::string x5c = "\"x5c\":[\"" + der_base64(leaf.get()) + "\"]";
  auto by_chain = leaf_signer->sign(x5c, claims("auth.test", "registry.test", in(300)));
  REQUIRE(by_chain.ok());
  CHECK(a->verify(*by_chain).ok());
  // A chain to a root that is not in the bundle.
  std::shared_ptr<EVP_PKEY> stranger_key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  auto stranger_leaf = make_cert(leaf_key.get(), stranger_key.get(), "issuer signer", "stranger");
  auto by_stranger = leaf_signer->sign("\"x5c\":[\"" + der_base64(stranger_leaf.get()) + "\"]",
                                       claims("auth.test", "registry.test", in(300)));
  REQUIRE(by_stranger.ok());
  auto refused = a->verify(*by_stranger);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().message, Catch::Contains("not trusted"));
  // The leaf's key without its chain is not trusted (only the bundle's keys are, by kid).
  CHECK_FALSE(a->verify(*leaf_signer->sign("", claims("auth.test", "registry.test", in(300)))).ok());
}

TEST_CASE("scopes as clients write them") {
  auto s = parse_scope("repository:team/app:pull,push");
  REQUIRE(s);
  CHECK(*s == Grant{"repository", "team/app", kPull | kPush});
  auto with_port = parse_scope("repository:localhost:5000/app:pull");
  REQUIRE(with_port);
  CHECK(with_port->name == "localhost:5000/app");
  auto catalog = parse_scope("registry:catalog:*");
  REQUIRE(catalog);
  CHECK(catalog->actions == kAllActions);
  CHECK(scope_text(*catalog) == "registry:catalog:*");
  CHECK(parse_scope("repository:app:pull,fly")->actions == kPull);
  CHECK_FALSE(parse_scope("repository:app"));
  CHECK_FALSE(parse_scope("::pull"));
  CHECK(scope_text({"repository", "a", kPull | kPush}) == "repository:a:pull,push");
}

TEST_CASE("claims: times far in the future or past are clamped, never overflow the clock") {
  TokenOptions o;
  o.service = "s";
  o.issuer = "i";
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  auto far = read_claims(R"({"iss":"i","aud":"s","exp":16999999991})", o, now, std::chrono::seconds(60));
  REQUIRE(far.ok());
  CHECK(far->expires > now);
  auto huge = read_claims(R"({"iss":"i","aud":"s","exp":1e300})", o, now, std::chrono::seconds(60));
  CHECK(huge.ok());
  auto negative = read_claims(R"({"iss":"i","aud":"s","exp":-1e300})", o, now, std::chrono::seconds(60));
  REQUIRE_FALSE(negative.ok());
  CHECK_THAT(negative.error().message, Catch::Contains("expired"));
  auto late_nbf = read_claims(R"({"iss":"i","aud":"s","exp":1e300,"nbf":1e300})", o, now, std::chrono::seconds(60));
  REQUIRE_FALSE(late_nbf.ok());
  CHECK_THAT(late_nbf.error().message, Catch::Contains("not valid yet"));
}
