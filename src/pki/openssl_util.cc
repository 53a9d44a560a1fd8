#include "pki/openssl_util.h"

#include <arpa/inet.h>
#include <openssl/core_names.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <ctime>

#include "common/encoding.h"

namespace fleetgate::pki::internal {
namespace {

constexpr std::string_view kBegin = "-----BEGIN ";
constexpr std::string_view kEnd = "-----END ";
constexpr std::string_view kDashes = "-----";

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\f\v";
  std::size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  std::size_t last = s.find_last_not_of(kSpace);
  return s.substr(first, last - first + 1);
}

// RFC 7468 labels are printable ASCII without '-' at either end; accepting only upper case,
// digits and single spaces is enough for every label this project reads.
bool isValidLabel(std::string_view label) {
  if (label.empty() || label.front() == ' ' || label.back() == ' ') return false;
  for (char c : label) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ')) return false;
  }
  return true;
}

int invokeGenerationCallback(EVP_PKEY_CTX* ctx) {
  const auto* cancel = static_cast<const std::atomic<bool>*>(EVP_PKEY_CTX_get_app_data(ctx));
  return cancel != nullptr && cancel->load(std::memory_order_relaxed) ? 0 : 1;
}

// RFC 4514 "#hex" form of the value's DER, for values that are not valid strings.
std::string hexValue(const ASN1_STRING* value) {
  std::unique_ptr<ASN1_TYPE, Deleter<ASN1_TYPE, ASN1_TYPE_free>> type(ASN1_TYPE_new());
  if (type == nullptr || ASN1_TYPE_set1(type.get(), ASN1_STRING_type(value), value) != 1) {
    return "#";
  }
  return "#" + hexEncode(i2dString<ASN1_TYPE>(type.get(), i2d_ASN1_TYPE));
}

}  // namespace

std::string drainErrors() {
  constexpr int kMaxReported = 8;
  std::string out;
  int count = 0;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    if (count++ >= kMaxReported) continue;
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    if (!out.empty()) out += "; ";
    out += text.data();
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
      out += " (";
      out += data;
      out += ")";
    }
  }
  ERR_clear_error();
  return out;
}

Error opensslError(ErrorKind kind, std::string message) {
  std::string cause = drainErrors();
  return Error(kind, std::move(message), cause.empty() ? std::string("openssl") : cause);
}

Result<std::vector<PemBlock>> parsePem(std::string_view text, ErrorKind kind) {
  if (text.size() > kMaxInputBytes) return Error(kind, "PEM input is too large");
  std::vector<PemBlock> blocks;
  std::string label;  // non-empty while inside a block
  std::string body;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = trim(text.substr(pos, eol - pos));
    pos = eol + 1;

    const bool is_begin = line.starts_with(kBegin);
    const bool is_end = line.starts_with(kEnd);
    if (label.empty()) {
      if (is_end) return Error(kind, "malformed PEM: END line without BEGIN");
      if (!is_begin) continue;  // text around blocks is allowed
      if (line.size() < kBegin.size() + kDashes.size() || !line.ends_with(kDashes)) {
        return Error(kind, "malformed PEM: bad BEGIN line");
      }
      label = std::string(line.substr(kBegin.size(), line.size() - kBegin.size() - kDashes.size()));
      if (!isValidLabel(label)) return Error(kind, "malformed PEM: bad BEGIN line");
      body.clear();
      continue;
    }
    if (is_begin) return Error(kind, "malformed PEM: BEGIN line inside a block");
    if (is_end) {
      if (line != std::string(kEnd) + label + std::string(kDashes)) {
        return Error(kind, "malformed PEM: END line does not match BEGIN line");
      }
      if (body.empty()) return Error(kind, "malformed PEM: empty block");
      std::optional<std::string> der = base64Decode(body);
      if (!der) return Error(kind, "malformed PEM: invalid base64");
      blocks.push_back(PemBlock{std::move(label), std::move(*der)});
      label.clear();
      continue;
    }
    // RFC 1421 headers only appear on encrypted blocks, which this project never reads.
    if (line.find(':') != std::string_view::npos) {
      return Error(kind, "encrypted or annotated PEM blocks are not supported");
    }
    for (char c : line) {
      if (c != ' ' && c != '\t') body.push_back(c);
    }
  }
  if (!label.empty()) return Error(kind, "malformed PEM: block is not terminated");
  return blocks;
}

std::string toPem(std::string_view label, std::string_view der) {
  constexpr std::size_t kLine = 64;
  std::string b64 = base64Encode(der);
  std::string out;
  out.reserve(b64.size() + b64.size() / kLine + 2 * label.size() + 40);
  out.append(kBegin).append(label).append(kDashes).push_back('\n');
  for (std::size_t i = 0; i < b64.size(); i += kLine) {
    out.append(b64, i, kLine).push_back('\n');
  }
  out.append(kEnd).append(label).append(kDashes).push_back('\n');
  return out;
}

DistinguishedName toDistinguishedName(const X509_NAME* name) {
  DistinguishedName dn;
  if (name == nullptr) return dn;
  const int count = X509_NAME_entry_count(name);
  dn.attributes.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    const ASN1_OBJECT* object = X509_NAME_ENTRY_get_object(entry);
    const ASN1_STRING* value = X509_NAME_ENTRY_get_data(entry);
    std::string key;
    if (int nid = OBJ_obj2nid(object); nid != NID_undef) {
      key = OBJ_nid2sn(nid);
    } else {
      std::array<char, 128> oid{};
      int length = OBJ_obj2txt(oid.data(), static_cast<int>(oid.size()), object, 1);
      key = length > 0 ? std::string(oid.data()) : std::string("?");
    }
    unsigned char* utf8 = nullptr;
    int length = ASN1_STRING_to_UTF8(&utf8, value);
    if (length >= 0) {
      dn.attributes.emplace_back(std::move(key), std::string(reinterpret_cast<char*>(utf8),
                                                             static_cast<std::size_t>(length)));
      OPENSSL_free(utf8);
    } else {
      dn.attributes.emplace_back(std::move(key), hexValue(value));
    }
  }
  return dn;
}

Status setName(X509_NAME* name, const DistinguishedName& dn, ErrorKind kind) {
  constexpr std::size_t kMaxAttributeBytes = 1024;
  for (const auto& [key, value] : dn.attributes) {
    if (value.size() > kMaxAttributeBytes) {
      return Error(kind, "subject attribute " + key + " is too long");
    }
    if (X509_NAME_add_entry_by_txt(name, key.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
      return opensslError(kind, "subject attribute " + key + " is not valid");
    }
  }
  return {};
}

std::string nameDer(const X509_NAME* name) { return i2dString<X509_NAME>(name, i2d_X509_NAME); }

Result<TimePoint> toTimePoint(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    return opensslError(ErrorKind::kCertificateValidation, "certificate has an invalid time");
  }
  using namespace std::chrono;
  const sys_days day = year{tm.tm_year + 1900} / month{static_cast<unsigned>(tm.tm_mon + 1)} /
                       std::chrono::day{static_cast<unsigned>(tm.tm_mday)};
  return TimePoint(day + hours{tm.tm_hour} + minutes{tm.tm_min} + seconds{tm.tm_sec});
}

std::int64_t toUnixSeconds(TimePoint t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string keyStrengthProblem(const EVP_PKEY* key) {
  constexpr std::string_view kAccepted =
      "the public key must be RSA (2048 bits or more) or EC (P-256, P-384 or P-521)";
  if (key == nullptr) return std::string(kAccepted);
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(key) < 2048) return "RSA keys must be at least 2048 bits";
      return {};
    case EVP_PKEY_EC: {
      std::array<char, 64> encoding{};
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING, encoding.data(),
                                         encoding.size(), nullptr) == 1 &&
          std::strcmp(encoding.data(), OSSL_PKEY_EC_ENCODING_GROUP) != 0) {
        return "EC keys must name their curve (explicit curve parameters are not accepted)";
      }
      std::array<char, 64> group{};
      if (EVP_PKEY_get_group_name(key, group.data(), group.size(), nullptr) != 1) {
        return "EC keys must use curve P-256, P-384 or P-521";
      }
      if (isAcceptedCurve(group.data())) return {};
      return "EC keys must use curve P-256, P-384 or P-521";
    }
    default:
      return std::string(kAccepted);
  }
}

bool isAcceptedCurve(std::string_view group_name) {
  return group_name == "prime256v1" || group_name == "secp384r1" || group_name == "secp521r1";
}

Status checkAltNames(const std::vector<std::string>& dns_names,
                     const std::vector<std::string>& ip_addresses) {
  for (const auto& dns : dns_names) {
    const bool ascii =
        !dns.empty() && dns.size() <= 253 &&
        std::all_of(dns.begin(), dns.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (!ascii) return Error(ErrorKind::kInvalidRequest, "invalid DNS name in subjectAltName");
  }
  for (const auto& ip : ip_addresses) {
    if (!ipAddressBytes(ip)) {
      return Error(ErrorKind::kInvalidRequest, "invalid IP address in subjectAltName: " + ip);
    }
  }
  return {};
}

std::optional<std::string> ipAddressBytes(const std::string& text) {
  std::array<char, 16> address{};
  if (inet_pton(AF_INET, text.c_str(), address.data()) == 1) {
    return std::string(address.data(), 4);
  }
  if (inet_pton(AF_INET6, text.c_str(), address.data()) == 1) {
    return std::string(address.data(), 16);
  }
  return std::nullopt;
}

Status setSignatureAlgorithm(X509_ALGOR* field, SignatureAlgorithm algorithm) {
  // RFC 5758 §3.2: the ECDSA identifiers have no parameters; RFC 4055 §5: the RSA ones a NULL.
  const bool ecdsa = algorithm == SignatureAlgorithm::kEcdsaSha256;
  ASN1_OBJECT* identifier =
      OBJ_nid2obj(ecdsa ? NID_ecdsa_with_SHA256 : NID_sha256WithRSAEncryption);
  if (identifier == nullptr ||
      X509_ALGOR_set0(field, identifier, ecdsa ? V_ASN1_UNDEF : V_ASN1_NULL, nullptr) != 1) {
    return internalError("signature algorithm: " + drainErrors());
  }
  return {};
}

Status setSignatureValue(ASN1_BIT_STRING* field, std::string_view signature) {
  if (signature.empty()) return internalError("the signer returned an empty signature");
  if (ASN1_STRING_set(field, signature.data(), static_cast<int>(signature.size())) != 1) {
    return internalError("signature value: out of memory");
  }
  // A signature is whole bytes: say so, or the encoder counts trailing zero bits as unused
  // (what ASN1_item_sign does too).
  field->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
  field->flags |= ASN1_STRING_FLAG_BITS_LEFT;
  return {};
}

Result<PrivateKey> generateKey(KeyType type, const std::atomic<bool>* cancel) {
  ErrorScope scope;
  const bool ec = type == KeyType::kEcP256;
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, ec ? "EC" : "RSA", nullptr));
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) != 1) {
    return internalError("key generation setup failed: " + drainErrors());
  }
  const int configured = ec ? EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256")
                            : EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), 2048);
  if (configured != 1) return internalError("key generation setup failed: " + drainErrors());
  if (cancel != nullptr) {
    EVP_PKEY_CTX_set_app_data(ctx.get(), const_cast<std::atomic<bool>*>(cancel));
    EVP_PKEY_CTX_set_cb(ctx.get(), invokeGenerationCallback);
  }
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &key) != 1) {
    if (cancel != nullptr && cancel->load()) {
      drainErrors();
      return Error(ErrorKind::kServiceUnavailable, "key generation was cancelled",
                   "key pool stopping");
    }
    return internalError("key generation failed: " + drainErrors());
  }
  return PrivateKey(key);
}

namespace {

std::string asn1Text(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> generalNames(const X509* certificate, int nid) {
  std::vector<std::pair<std::string, std::string>> out;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, nid, nullptr, nullptr)));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    switch (name->type) {
      case GEN_DNS:
        out.emplace_back("DNSName", asn1Text(name->d.dNSName));
        break;
      case GEN_EMAIL:
        out.emplace_back("RFC822Name", asn1Text(name->d.rfc822Name));
        break;
      case GEN_URI:
        out.emplace_back("UniformResourceIdentifier", asn1Text(name->d.uniformResourceIdentifier));
        break;
      case GEN_IPADD: {
        const ASN1_OCTET_STRING* ip = name->d.iPAddress;
        std::array<char, INET6_ADDRSTRLEN> buffer{};
        const int length = ASN1_STRING_length(ip);
        const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : 0;
        if (family != 0 &&
            inet_ntop(family, ASN1_STRING_get0_data(ip), buffer.data(), buffer.size()) != nullptr) {
          out.emplace_back("IPAddress", buffer.data());
        }
        break;
      }
      case GEN_DIRNAME:
        out.emplace_back("DirectoryName",
                         toDistinguishedName(name->d.directoryName).toString());
        break;
      default:
        break;
    }
  }
  return out;
}

}  // namespace fleetgate::pki::internal
