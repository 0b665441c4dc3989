#include "registry/jwt.hpp"

#include "registry/htpasswd.hpp"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <fstream>

namespace rs::registry {
namespace {

constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;
constexpr std::size_t kMaxBundleBytes = 1024 * 1024;
constexpr std::size_t kMaxChainCertificates = 8;

// OpenSSL's error for `what`, its queue emptied (it is per thread, and would mislead the next
// caller).
Error openssl_error(const std::string& what) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  char text[256] = "unknown error";
  if (code) ERR_error_string_n(code, text, sizeof text);
  return make_error(Errc::invalid_argument, what + ": " + text);
}

Result<std::string> read_small_file(const std::string& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_error("'" + path + "'", errno);
  std::string text(limit + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > limit)
    return make_error(Errc::invalid_argument, "'" + path + "': larger than " + std::to_string(limit) + " bytes");
  return text;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

Bio memory_bio(std::string_view bytes) { return Bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size()))); }

PublicKey own(EVP_PKEY* key) { return PublicKey(key, EVP_PKEY_free); }

const EVP_MD* digest_of(std::string_view alg) {
  if (alg == "ES256" || alg == "RS256") return EVP_sha256();
  if (alg == "ES384" || alg == "RS384") return EVP_sha384();
  if (alg == "RS512") return EVP_sha512();
  return nullptr;
}

// The size of r and s in a JOSE ECDSA signature, or 0 when `alg` is not ECDSA.
std::size_t ecdsa_half(std::string_view alg) { return alg == "ES256" ? 32 : alg == "ES384" ? 48 : 0; }

bool key_fits(std::string_view alg, EVP_PKEY* key) {
  const int type = EVP_PKEY_get_base_id(key), bits = EVP_PKEY_get_bits(key);
  if (alg == "ES256") return type == EVP_PKEY_EC && bits == 256;
  if (alg == "ES384") return type == EVP_PKEY_EC && bits == 384;
  return alg.substr(0, 2) == "RS" && type == EVP_PKEY_RSA && bits >= 2048;
}

std::string base64_encode_std(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out = base64_encode_std(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string padded;
  padded.reserve(text.size() + 3);
  for (char c : text) {
    if (c == '+' || c == '/' || c == '=') return std::nullopt;
    padded += c == '-' ? '+' : c == '_' ? '/' : c;
  }
  while (padded.size() % 4) padded += '=';
  return base64_decode(padded);
}

std::string libtrust_key_id(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int size = i2d_PUBKEY(key, &der);
  if (size <= 0) {
    ERR_clear_error();
    return {};
  }
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int hash_size = 0;
  EVP_Digest(der, static_cast<std::size_t>(size), hash, &hash_size, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  // 30 bytes are 240 bits: 48 base32 characters, no padding.
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string b32;
  unsigned buffer = 0, bits = 0;
  for (int i = 0; i < 30; ++i) {
    buffer = (buffer << 8) | hash[i];
    bits += 8;
    while (bits >= 5) {
      b32 += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  std::string out;
  for (std::size_t i = 0; i < b32.size(); i += 4) {
    if (i) out += ':';
    out.append(b32, i, 4);
  }
  return out;
}

Result<SigningKey> SigningKey::from(PublicKey key) {
  SigningKey k;
  const int type = EVP_PKEY_get_base_id(key.get()), bits = EVP_PKEY_get_bits(key.get());
  if (type == EVP_PKEY_EC && bits == 256) k.alg_ = "ES256";
  else if (type == EVP_PKEY_EC && bits == 384) k.alg_ = "ES384";
  else if (type == EVP_PKEY_RSA && bits >= 2048) k.alg_ = "RS256";
  else return make_error(Errc::invalid_argument, "not an EC P-256, EC P-384 or RSA (2048 bits or more) key");
  k.kid_ = libtrust_key_id(key.get());
  k.key_ = std::move(key);
  return k;
}

Result<SigningKey> SigningKey::load(const std::string& path) {
  auto text = read_small_file(path, kMaxKeyFileBytes);
  if (!text) return text.error();
  auto bio = memory_bio(*text);
  // No passphrase prompt: an encrypted key is refused, never asked for on a terminal.
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
  if (!key) return openssl_error("signing key '" + path + "'");
  auto made = from(own(key));
  if (!made) return make_error(Errc::invalid_argument, "signing key '" + path + "': " + made.error().message);
  return made;
}

Result<SigningKey> SigningKey::generate() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) return openssl_error("generating an EC P-256 key");
  return from(own(key));
}

Result<std::string> SigningKey::pem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return openssl_error("writing the signing key");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

Result<std::string> SigningKey::sign(const std::string& header_fields, const std::string& payload) const {
  std::string header = "{\"alg\":\"" + alg_ + "\",\"kid\":\"" + kid_ + "\"";
  if (!header_fields.empty()) header += ",";
  header += header_fields;
  header += "}";
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t size = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, digest_of(alg_), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    return openssl_error("signing a token");
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    return openssl_error("signing a token");
  signature.resize(size);
  if (const std::size_t half = ecdsa_half(alg_)) {
    // OpenSSL gives DER; JOSE wants r || s, each zero-padded to the curve's size.
    const auto* p = reinterpret_cast<const unsigned char*>(signature.data());
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(size)),
                                                              ECDSA_SIG_free);
    if (!sig) return openssl_error("signing a token");
    std::string raw(2 * half, '\0');
    auto* out = reinterpret_cast<unsigned char*>(raw.data());
    if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, static_cast<int>(half)) < 0 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + half, static_cast<int>(half)) < 0)
      return openssl_error("signing a token");
    signature = std::move(raw);
  }
  return input + "." + base64url_encode(signature);
}

Result<Jws> split_jws(std::string_view token) {
  auto bad = [](const char* why) { return make_error(Errc::invalid_argument, std::string("malformed token: ") + why); };
  if (token.size() > kMaxTokenBytes) return bad("too long");
  const auto first = token.find('.');
  if (first == std::string_view::npos) return bad("not header.payload.signature");
  const auto second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return bad("not header.payload.signature");
  auto header = base64url_decode(token.substr(0, first));
  auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
  auto signature = base64url_decode(token.substr(second + 1));
  if (!header || !payload || !signature) return bad("not base64url");
  return Jws{std::move(*header), std::move(*payload), std::string(token.substr(0, second)), std::move(*signature)};
}

bool verify_signature(std::string_view alg, EVP_PKEY* key, std::string_view input, std::string_view signature) {
  const EVP_MD* md = digest_of(alg);
  if (!md || !key || !key_fits(alg, key)) return false;
  std::string der;
  if (const std::size_t half = ecdsa_half(alg)) {
    if (signature.size() != 2 * half) return false;
    const auto* raw = reinterpret_cast<const unsigned char*>(signature.data());
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(ECDSA_SIG_new(), ECDSA_SIG_free);
    BIGNUM* r = BN_bin2bn(raw, static_cast<int>(half), nullptr);
    BIGNUM* s = BN_bin2bn(raw + half, static_cast<int>(half), nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      ERR_clear_error();
      return false;
    }
    unsigned char* out = nullptr;
    const int size = i2d_ECDSA_SIG(sig.get(), &out);
    if (size <= 0) {
      ERR_clear_error();
      return false;
    }
    der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(size));
    OPENSSL_free(out);
    signature = der;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  const bool good = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
                    EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                                     signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                                     input.size()) == 1;
  ERR_clear_error();
  return good;
}

Result<CertificateBundle> load_certificate_bundle(const std::string& path) {
  auto text = read_small_file(path, kMaxBundleBytes);
  if (!text) return text.error();
  auto bio = memory_bio(*text);
  CertificateBundle bundle;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    bundle.certificates.emplace_back(cert, X509_free);
  ERR_clear_error();  // (the end of the bundle reads as an error)
  if (bundle.certificates.empty())
    return make_error(Errc::invalid_argument, "certificate bundle '" + path + "': no PEM certificate in it");
  return bundle;
}

Result<PublicKey> verify_x5c(const std::vector<std::string>& chain, const CertificateBundle& roots) {
  if (chain.empty() || chain.size() > kMaxChainCertificates)
    return make_error(Errc::invalid_argument, "x5c: 1 to 8 certificates expected");
  std::vector<std::shared_ptr<X509>> certs;
  for (const auto& encoded : chain) {
    auto der = base64_decode(encoded);
    if (!der) return make_error(Errc::invalid_argument, "x5c: not base64");
    const auto* p = reinterpret_cast<const unsigned char*>(der->data());
    X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der->size()));
    if (!cert || p != reinterpret_cast<const unsigned char*>(der->data()) + der->size()) {
      X509_free(cert);
      ERR_clear_error();
      return make_error(Errc::invalid_argument, "x5c: not a DER certificate");
    }
    certs.emplace_back(cert, X509_free);
  }
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
  struct StackFree {
    void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
  };
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  if (!store || !ctx || !untrusted) return openssl_error("x5c");
  for (const auto& root : roots.certificates) X509_STORE_add_cert(store.get(), root.get());
  for (std::size_t i = 1; i < certs.size(); ++i) sk_X509_push(untrusted.get(), certs[i].get());
  if (X509_STORE_CTX_init(ctx.get(), store.get(), certs[0].get(), untrusted.get()) != 1) return openssl_error("x5c");
  if (X509_verify_cert(ctx.get()) != 1) {
    const int why = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return make_error(Errc::invalid_argument,
                      std::string("x5c: the chain is not trusted: ") + X509_verify_cert_error_string(why));
  }
  EVP_PKEY* key = X509_get_pubkey(certs[0].get());
  if (!key) return openssl_error("x5c");
  return own(key);
}

}  // namespace rs::registry
