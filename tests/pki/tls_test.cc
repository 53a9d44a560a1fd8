#include "pki/tls.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "pki/authority.h"
#include "pki/digest.h"
#include "pki/test_util.h"

namespace fleetgate::pki {
namespace {

using namespace std::chrono;
using testing::mustRun;
using testing::readFile;
using testing::TempDir;
using testing::writeFile;
using State = TlsSession::State;

const TimePoint kNow = floor<seconds>(system_clock::now());
constexpr const char* kServerName = "iot.example.com";

DistinguishedName name(std::initializer_list<std::pair<std::string, std::string>> attributes) {
  return DistinguishedName{{attributes.begin(), attributes.end()}};
}

IssueProfile profile(DistinguishedName subject, bool is_ca) {
  IssueProfile p;
  p.subject = std::move(subject);
  p.not_before = kNow - hours(1);
  p.not_after = kNow + hours(24 * 30);
  p.is_ca = is_ca;
  if (is_ca) p.path_length = 1;
  return p;
}

// A certificate, its key, and the chain PEM a TLS endpoint would load.
struct Identity {
  Certificate certificate;
  std::string chain_file;
  std::string key_file;
};

// Builds every CA, certificate and file the tests use, once.
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    SecureRandom random;
    root_ = new CertificateAuthority(makeRoot("Fleet Root", random));
    other_root_ = new CertificateAuthority(makeRoot("Unknown Root", random));
    intermediate_ = new CertificateAuthority(makeIntermediate(*root_, "Devices CA", random));
    writeFile(dir_->file("ca.pem"), root_->certificate().pem());

    IssueProfile server = profile(name({{"CN", kServerName}}), false);
    server.dns_names = {kServerName};
    server.ip_addresses = {"127.0.0.1"};
    server.server_auth = true;
    server_ = new Identity(issue(*root_, server, "server", {}, random));

    IssueProfile device = profile(name({{"O", "Acme"}, {"CN", "device-1"}}), false);
    device.dns_names = {"device-1.example.com"};
    device_ = new Identity(issue(*root_, device, "device", {}, random));
    chained_device_ = new Identity(
        issue(*intermediate_, device, "chained", {intermediate_->certificate()}, random));
    stranger_ = new Identity(issue(*other_root_, device, "stranger", {}, random));
  }

  static void TearDownTestSuite() {
    delete stranger_;
    delete chained_device_;
    delete device_;
    delete server_;
    delete intermediate_;
    delete other_root_;
    delete root_;
    delete dir_;
  }

  static CertificateAuthority makeRoot(const std::string& common_name, Random& random) {
    auto key = PrivateKey::generate(KeyType::kEcP256);
    EXPECT_TRUE(key.ok());
    auto signer = std::make_shared<SoftwareSigner>(std::move(key).value());
    auto certificate = CertificateAuthority::selfSign(
        *signer, profile(name({{"O", "Acme"}, {"CN", common_name}}), true), random);
    EXPECT_TRUE(certificate.ok()) << certificate.error().message();
    return CertificateAuthority(std::move(certificate).value(), std::move(signer));
  }

  static CertificateAuthority makeIntermediate(const CertificateAuthority& parent,
                                               const std::string& common_name, Random& random) {
    auto key = PrivateKey::generate(KeyType::kEcP256);
    EXPECT_TRUE(key.ok());
    auto certificate = parent.issue(
        key->publicKeyDer(), profile(name({{"O", "Acme"}, {"CN", common_name}}), true), random);
    EXPECT_TRUE(certificate.ok()) << certificate.error().message();
    return CertificateAuthority(std::move(certificate).value(),
                                std::make_shared<SoftwareSigner>(std::move(key).value()));
  }

  static Identity issue(const CertificateAuthority& ca, const IssueProfile& p,
                        const std::string& file_name, const std::vector<Certificate>& extra,
                        Random& random) {
    auto key = PrivateKey::generate(KeyType::kEcP256);
    EXPECT_TRUE(key.ok());
    auto certificate = ca.issue(key->publicKeyDer(), p, random);
    EXPECT_TRUE(certificate.ok()) << certificate.error().message();
    std::string chain = certificate->pem();
    for (const auto& c : extra) chain += c.pem();
    Identity identity{*certificate, dir_->file(file_name + ".pem"), dir_->file(file_name + ".key")};
    writeFile(identity.chain_file, chain);
    writeKey(identity.key_file, key->privateKeyPem());
    return identity;
  }

  static void writeKey(const std::string& path, const std::string& pem) {
    writeFile(path, pem);
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }

  static std::shared_ptr<TlsServerContext> serverContext(std::vector<std::string> alpn = {},
                                                         bool require_alpn = false) {
    TlsServerOptions options;
    options.certificate_chain_file = server_->chain_file;
    options.private_key_file = server_->key_file;
    options.alpn_protocols = std::move(alpn);
    options.require_alpn = require_alpn;
    auto context = TlsServerContext::create(options);
    EXPECT_TRUE(context.ok()) << context.error().message() << " " << context.error().cause();
    return context.ok() ? *context : nullptr;
  }

  static std::shared_ptr<TlsClientContext> clientContext(const Identity* identity,
                                                         std::vector<std::string> alpn = {},
                                                         int max_version = 0) {
    TlsClientOptions options;
    options.ca_file = dir_->file("ca.pem");
    if (identity != nullptr) {
      options.certificate_chain_file = identity->chain_file;
      options.private_key_file = identity->key_file;
    }
    options.alpn_protocols = std::move(alpn);
    options.max_version = max_version;
    auto context = TlsClientContext::create(options);
    EXPECT_TRUE(context.ok()) << context.error().message() << " " << context.error().cause();
    return context.ok() ? *context : nullptr;
  }

  // Moves ciphertext between the two sessions until neither has anything to send, delivering
  // at most `chunk` bytes per receive call.
  static void pump(TlsSession& client, TlsSession& server, std::string& client_plain,
                   std::string& server_plain, std::size_t chunk = SIZE_MAX) {
    auto deliver = [chunk](TlsSession& from, TlsSession& to, std::string& plain) {
      std::string bytes;
      if (!from.takeOutgoing(bytes)) return false;
      for (std::size_t i = 0; i < bytes.size(); i += chunk) {
        to.receive(std::string_view(bytes).substr(i, chunk), plain);
      }
      return true;
    };
    for (int round = 0; round < 20; ++round) {
      const bool a = deliver(client, server, server_plain);
      const bool b = deliver(server, client, client_plain);
      if (!a && !b) return;
    }
    ADD_FAILURE() << "sessions kept talking";
  }

  static void pump(TlsSession& client, TlsSession& server, std::size_t chunk = SIZE_MAX) {
    std::string client_plain;
    std::string server_plain;
    pump(client, server, client_plain, server_plain, chunk);
    EXPECT_EQ(client_plain, "");
    EXPECT_EQ(server_plain, "");
  }

  static void expectDataFlows(TlsSession& client, TlsSession& server) {
    ASSERT_TRUE(client.send("hello from client"));
    ASSERT_TRUE(server.send("hello from server"));
    std::string client_plain;
    std::string server_plain;
    pump(client, server, client_plain, server_plain);
    EXPECT_EQ(server_plain, "hello from client");
    EXPECT_EQ(client_plain, "hello from server");
    EXPECT_EQ(client.state(), State::kOpen);
    EXPECT_EQ(server.state(), State::kOpen);
  }

  static TempDir* dir_;
  static CertificateAuthority* root_;
  static CertificateAuthority* other_root_;
  static CertificateAuthority* intermediate_;
  static Identity* server_;
  static Identity* device_;
  static Identity* chained_device_;
  static Identity* stranger_;
};

TempDir* TlsTest::dir_ = nullptr;
CertificateAuthority* TlsTest::root_ = nullptr;
CertificateAuthority* TlsTest::other_root_ = nullptr;
CertificateAuthority* TlsTest::intermediate_ = nullptr;
Identity* TlsTest::server_ = nullptr;
Identity* TlsTest::device_ = nullptr;
Identity* TlsTest::chained_device_ = nullptr;
Identity* TlsTest::stranger_ = nullptr;

TEST_F(TlsTest, Tls13HandshakeAndDataBothWays) {
  auto server = TlsSession::accept(serverContext());
  auto client = TlsSession::connect(clientContext(device_), kServerName);
  EXPECT_EQ(client->state(), State::kHandshaking);
  pump(*client, *server);
  ASSERT_EQ(server->state(), State::kOpen) << server->failureReason();
  ASSERT_EQ(client->state(), State::kOpen) << client->failureReason();
  EXPECT_EQ(server->protocolVersion(), "TLSv1.3");
  EXPECT_EQ(client->protocolVersion(), "TLSv1.3");
  EXPECT_EQ(server->peerCertificateId(), device_->certificate.id());
  EXPECT_EQ(client->peerCertificateId(), server_->certificate.id());
  EXPECT_EQ(server->serverName(), kServerName);
  EXPECT_EQ(server->alpnProtocol(), "");
  expectDataFlows(*client, *server);
}

TEST_F(TlsTest, Tls12HandshakeAndDataBothWays) {
  auto server = TlsSession::accept(serverContext());
  auto client = TlsSession::connect(clientContext(device_, {}, 12), kServerName);
  pump(*client, *server);
  ASSERT_EQ(server->state(), State::kOpen) << server->failureReason();
  ASSERT_EQ(client->state(), State::kOpen) << client->failureReason();
  EXPECT_EQ(server->protocolVersion(), "TLSv1.2");
  EXPECT_EQ(server->peerCertificateId(), device_->certificate.id());
  EXPECT_EQ(server->serverName(), kServerName);
  expectDataFlows(*client, *server);
}

TEST_F(TlsTest, LargeDataIsDeliveredIntact) {
  auto server = TlsSession::accept(serverContext());
  auto client = TlsSession::connect(clientContext(device_), kServerName);
  pump(*client, *server);
  ASSERT_EQ(server->state(), State::kOpen);
  std::string big(200 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 251);
  ASSERT_TRUE(client->send(big));
  std::string client_plain;
  std::string server_plain;
  pump(*client, *server, client_plain, server_plain, 1000);
  EXPECT_EQ(server_plain, big);
}

TEST_F(TlsTest, NoServerNameMeansNoSni) {
  auto server = TlsSession::accept(serverContext());
  auto client = TlsSession::connect(clientContext(device_), "");
  pump(*client, *server);
  ASSERT_EQ(server->state(), State::kOpen) << server->failureReason();
  EXPECT_EQ(server->serverName(), "");
}

TEST_F(TlsTest, ClientChecksServerName) {
  auto server = TlsSession::accept(serverContext());
  auto client = TlsSession::connect(clientContext(device_), "other.example.com");
  pump(*client, *server);
  EXPECT_EQ(client->state(), State::kFailed);
  EXPECT_NE(client->failureReason(), "");
  EXPECT_EQ(server->state(), State::kFailed);  // the client's alert arrived

  auto server2 = TlsSession::accept(serverContext());
  auto by_ip = TlsSession::connect(clientContext(device_), "127.0.0.1");
  pump(*by_ip, *server2);
  EXPECT_EQ(by_ip->state(), State::kOpen) << by_ip->failureReason();
  EXPECT_EQ(server2->serverName(), "");  // IP literals are not sent as SNI

  auto server3 = TlsSession::accept(serverContext());
  auto wrong_ip = TlsSession::connect(clientContext(device_), "127.0.0.2");
  pump(*wrong_ip, *server3);
  EXPECT_EQ(wrong_ip->state(), State::kFailed);
}

TEST_F(TlsTest, AlpnAwsProtocolIsSelected) {
  auto context = serverContext({"x-amzn-mqtt-ca", "mqtt"});
  auto server = TlsSession::accept(context);
  auto client =
      TlsSession::connect(clientContext(device_, {"mqtt", "x-amzn-mqtt-ca"}), kServerName);
  pump(*client, *server);
  ASSERT_EQ(server->state(), State::kOpen) << server->failureReason();
  EXPECT_EQ(server->alpnProtocol(), "x-amzn-mqtt-ca");  // server preference wins
  EXPECT_EQ(client->alpnProtocol(), "x-amzn-mqtt-ca");
}

TEST_F(TlsTest, AlpnWithoutCommonProtocolIsRefused) {
  for (int version : {0, 12}) {
    auto server = TlsSession::accept(serverContext({"x-amzn-mqtt-ca"}));
    auto client = TlsSession::connect(clientContext(device_, {"h2"}, version), kServerName);
    pump(*client, *server);
    EXPECT_EQ(server->state(), State::kFailed);
    EXPECT_NE(server->failureReason().find("ALPN"), std::string::npos) << server->failureReason();
    EXPECT_EQ(client->state(), State::kFailed);
    EXPECT_NE(client->failureReason().find("application protocol"), std::string::npos)
        << client->failureReason();
  }
}

TEST_F(TlsTest, ClientWithoutAlpnIsAcceptedUnlessRequired) {
  auto server = TlsSession::accept(serverContext({"x-amzn-mqtt-ca"}));
  auto client = TlsSession::connect(clientContext(device_), kServerName);
  pump(*client, *server);
  EXPECT_EQ(server->state(), State::kOpen) << server->failureReason();
  EXPECT_EQ(server->alpnProtocol(), "");

  auto strict = TlsSession::accept(serverContext({"x-amzn-mqtt-ca"}, true));
  auto plain = TlsSession::connect(clientContext(device_), kServerName);
  pump(*plain, *strict);
  EXPECT_EQ(strict->state(), State::kFailed);
  EXPECT_NE(strict->failureReason().find("ALPN"), std::string::npos) << strict->failureReason();
  EXPECT_EQ(plain->state(), State::kFailed);

  auto strict_ok = TlsSession::accept(serverContext({"x-amzn-mqtt-ca"}, true));
  auto with_alpn = TlsSession::connect(clientContext(device_, {"x-amzn-mqtt-ca"}), kServerName);
  pump(*with_alpn, *strict_ok);
  EXPECT_EQ(strict_ok->state(), State::kOpen) << strict_ok->failureReason();
  EXPECT_EQ(strict_ok->alpnProtocol(), "x-amzn-mqtt-ca");
}

TEST_F(TlsTest, ServerWithoutAlpnIgnoresClientAlpn) {
  auto server = TlsSession::accept(serverContext());
  auto client = TlsSession::connect(clientContext(device_, {"x-amzn-mqtt-ca"}), kServerName);
  pump(*client, *server);
  EXPECT_EQ(server->state(), State::kOpen) << server->failureReason();
  EXPECT_EQ(server->alpnProtocol(), "");
  EXPECT_EQ(client->alpnProtocol(), "");
}

TEST_F(TlsTest, ClientWithoutCertificateIsRefused) {
  for (int version : {0, 12}) {
    SCOPED_TRACE(version);
    auto server = TlsSession::accept(serverContext());
    auto client = TlsSession::connect(clientContext(nullptr, {}, version), kServerName);
    pump(*client, *server);
    EXPECT_EQ(server->state(), State::kFailed);
    EXPECT_NE(server->failureReason(), "");
    EXPECT_EQ(server->peerCertificateId(), "");
    // The server's alert reached the client.
    EXPECT_EQ(client->state(), State::kFailed);
    EXPECT_NE(client->failureReason().find("alert"), std::string::npos) << client->failureReason();
  }
}

TEST_F(TlsTest, CertificateFromUnknownCaIsAcceptedAndIdentifiedById) {
  auto server = TlsSession::accept(serverContext());
  auto client = TlsSession::connect(clientContext(stranger_), kServerName);
  pump(*client, *server);
  ASSERT_EQ(server->state(), State::kOpen) << server->failureReason();
  EXPECT_EQ(server->peerCertificateId(), stranger_->certificate.id());
  EXPECT_NE(server->peerCertificateId(), device_->certificate.id());
  EXPECT_EQ(server->peerCertificateId(), sha256Hex(stranger_->certificate.der()));
}

TEST_F(TlsTest, ClientWithoutMatchingKeyCannotLoadIt) {
  // OpenSSL refuses a key that does not belong to the certificate before any handshake; a
  // client forging CertificateVerify would need a hand-written TLS stack.
  TlsClientOptions options;
  options.ca_file = dir_->file("ca.pem");
  options.certificate_chain_file = device_->chain_file;
  options.private_key_file = stranger_->key_file;
  auto context = TlsClientContext::create(options);
  ASSERT_FALSE(context.ok());
  EXPECT_NE(context.error().message().find(stranger_->key_file), std::string::npos);
}

TEST_F(TlsTest, ServerContextErrorsNameTheFile) {
  TlsServerOptions options;
  options.certificate_chain_file = dir_->file("missing.pem");
  options.private_key_file = server_->key_file;
  auto missing = TlsServerContext::create(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("missing.pem"), std::string::npos);

  options.certificate_chain_file = server_->chain_file;
  options.private_key_file = device_->key_file;
  auto mismatch = TlsServerContext::create(options);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().message().find("does not match"), std::string::npos);

  options.private_key_file = server_->key_file;
  options.alpn_protocols = {""};
  EXPECT_FALSE(TlsServerContext::create(options).ok());
}

TEST_F(TlsTest, HandshakeDeliveredByteByByte) {
  for (int version : {0, 12}) {
    auto server = TlsSession::accept(serverContext({"x-amzn-mqtt-ca"}));
    auto client =
        TlsSession::connect(clientContext(device_, {"x-amzn-mqtt-ca"}, version), kServerName);
    pump(*client, *server, 1);
    ASSERT_EQ(server->state(), State::kOpen) << server->failureReason();
    ASSERT_EQ(client->state(), State::kOpen) << client->failureReason();
    EXPECT_EQ(server->peerCertificateId(), device_->certificate.id());
    EXPECT_EQ(server->alpnProtocol(), "x-amzn-mqtt-ca");
    ASSERT_TRUE(client->send("ping"));
    std::string client_plain;
    std::string server_plain;
    pump(*client, *server, client_plain, server_plain, 1);
    EXPECT_EQ(server_plain, "ping");
  }
}

TEST_F(TlsTest, TruncatedHandshakeWaits) {
  auto server = TlsSession::accept(serverContext());
  auto client = TlsSession::connect(clientContext(device_), kServerName);
  std::string hello;
  ASSERT_TRUE(client->takeOutgoing(hello));
  std::string plain;
  EXPECT_EQ(server->receive(std::string_view(hello).substr(0, hello.size() / 2), plain),
            State::kHandshaking);
  std::string nothing;
  EXPECT_FALSE(server->takeOutgoing(nothing));
  EXPECT_EQ(server->receive(std::string_view(hello).substr(hello.size() / 2), plain),
            State::kHandshaking);
  pump(*client, *server);
  EXPECT_EQ(server->state(), State::kOpen) << server->failureReason();
}

TEST_F(TlsTest, GarbageClientHelloFails) {
  auto server = TlsSession::accept(serverContext());
  std::string plain;
  EXPECT_EQ(server->receive("GET / HTTP/1.1\r\nHost: x\r\n\r\n", plain), State::kFailed);
  EXPECT_NE(server->failureReason(), "");
  EXPECT_EQ(plain, "");
  // Final: more input changes nothing, and nothing can be sent.
  EXPECT_EQ(server->receive("more", plain), State::kFailed);
  EXPECT_FALSE(server->send("x"));

  auto other = TlsSession::accept(serverContext());
  const std::string bad_record("\x16\x03\x01\x00\x05\xff\xff\xff\xff\xff", 10);
  EXPECT_EQ(other->receive(bad_record, plain), State::kFailed);
  std::string alert;
  EXPECT_TRUE(other->takeOutgoing(alert));  // the alert is still there to send
}

TEST_F(TlsTest, PeerChainHasLeafThenIntermediates) {
  auto server = TlsSession::accept(serverContext());
  auto client = TlsSession::connect(clientContext(chained_device_), kServerName);
  pump(*client, *server);
  ASSERT_EQ(server->state(), State::kOpen) << server->failureReason();
  const std::vector<std::string> chain = server->peerChainDer();
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0], chained_device_->certificate.der());
  EXPECT_EQ(chain[1], intermediate_->certificate().der());
  EXPECT_EQ(server->peerCertificateId(), chained_device_->certificate.id());

  auto server2 = TlsSession::accept(serverContext());
  auto single = TlsSession::connect(clientContext(device_), kServerName);
  pump(*single, *server2);
  ASSERT_EQ(server2->state(), State::kOpen);
  EXPECT_EQ(server2->peerChainDer(), std::vector<std::string>{device_->certificate.der()});
  // The client side sees the server's chain, leaf first.
  EXPECT_EQ(single->peerChainDer(), std::vector<std::string>{server_->certificate.der()});
}

TEST_F(TlsTest, PeerCertificateNames) {
  auto server = TlsSession::accept(serverContext());
  auto client = TlsSession::connect(clientContext(chained_device_), kServerName);
  pump(*client, *server);
  ASSERT_EQ(server->state(), State::kOpen) << server->failureReason();
  const PeerCertificateNames names = server->peerCertificateNames();
  EXPECT_EQ(names.subject.first("CN"), "device-1");
  EXPECT_EQ(names.subject.first("O"), "Acme");
  EXPECT_EQ(names.subject.attributes.front().first, "O");  // certificate order
  EXPECT_EQ(names.issuer.first("CN"), "Devices CA");
  EXPECT_EQ(
      names.subject_alt_names,
      (std::vector<std::pair<std::string, std::string>>{{"DNSName", "device-1.example.com"}}));
  EXPECT_TRUE(names.issuer_alt_names.empty());
  EXPECT_EQ(names.serial, chained_device_->certificate.serialHex());
}

TEST_F(TlsTest, PeerCertificateNamesOfEveryAltNameKind) {
  // A self-signed client certificate made by the openssl CLI: TLS accepts it (no chain check).
  const std::string config = dir_->file("alt.cnf");
  writeFile(config,
            "[req]\ndistinguished_name=dn\n[dn]\n[alt]\n"
            "subjectAltName=DNS:a.example.com,email:ops@example.com,URI:spiffe://acme/d,"
            "IP:10.0.0.1,IP:2001:db8::1,dirName:dir\n"
            "issuerAltName=DNS:issuer.example.com\n"
            "[dir]\nO=Acme\nCN=dir name\n");
  mustRun("openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout " +
          dir_->file("alt.key") + " -out " + dir_->file("alt.pem") + " -days 2 -subj " +
          "'/C=US/O=Acme/CN=alt' -config " + config + " -extensions alt");
  auto certificate = Certificate::fromPem(readFile(dir_->file("alt.pem")));
  ASSERT_TRUE(certificate.ok());
  Identity alt{*certificate, dir_->file("alt.pem"), dir_->file("alt.key")};

  auto server = TlsSession::accept(serverContext());
  auto client = TlsSession::connect(clientContext(&alt), kServerName);
  pump(*client, *server);
  ASSERT_EQ(server->state(), State::kOpen) << server->failureReason();
  const PeerCertificateNames names = server->peerCertificateNames();
  EXPECT_EQ(names.subject.toString(), "CN=alt,O=Acme,C=US");
  EXPECT_EQ(names.issuer.toString(), "CN=alt,O=Acme,C=US");
  EXPECT_EQ(names.subject_alt_names, (std::vector<std::pair<std::string, std::string>>{
                                         {"DNSName", "a.example.com"},
                                         {"RFC822Name", "ops@example.com"},
                                         {"UniformResourceIdentifier", "spiffe://acme/d"},
                                         {"IPAddress", "10.0.0.1"},
                                         {"IPAddress", "2001:db8::1"},
                                         {"DirectoryName", "CN=dir name,O=Acme"}}));
  EXPECT_EQ(names.issuer_alt_names,
            (std::vector<std::pair<std::string, std::string>>{{"DNSName", "issuer.example.com"}}));
  EXPECT_EQ(names.serial, certificate->serialHex());
}

TEST_F(TlsTest, CloseNotifyFromClientClosesServer) {
  auto server = TlsSession::accept(serverContext());
  auto client = TlsSession::connect(clientContext(device_), kServerName);
  pump(*client, *server);
  ASSERT_EQ(server->state(), State::kOpen);
  ASSERT_TRUE(client->send("last words"));
  client->close();
  EXPECT_EQ(client->state(), State::kClosed);
  EXPECT_FALSE(client->send("too late"));
  std::string bytes;
  ASSERT_TRUE(client->takeOutgoing(bytes));
  std::string plain;
  EXPECT_EQ(server->receive(bytes, plain), State::kClosed);
  EXPECT_EQ(plain, "last words");
  std::string reply;
  EXPECT_TRUE(server->takeOutgoing(reply));  // the server's own close_notify
  EXPECT_FALSE(server->send("x"));
}

TEST_F(TlsTest, ServerCloseReachesClient) {
  auto server = TlsSession::accept(serverContext());
  auto client = TlsSession::connect(clientContext(device_, {}, 12), kServerName);
  pump(*client, *server);
  ASSERT_EQ(server->state(), State::kOpen);
  server->close();
  EXPECT_EQ(server->state(), State::kClosed);
  std::string bytes;
  ASSERT_TRUE(server->takeOutgoing(bytes));
  std::string plain;
  EXPECT_EQ(client->receive(bytes, plain), State::kClosed);
}

TEST_F(TlsTest, SessionsOnSeveralThreadsShareContexts) {
  auto server_context = serverContext({"x-amzn-mqtt-ca"});
  auto client_context = clientContext(device_, {"x-amzn-mqtt-ca"});
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto server = TlsSession::accept(server_context);
        auto client = TlsSession::connect(client_context, kServerName);
        pump(*client, *server);
        if (server->state() == State::kOpen &&
            server->peerCertificateId() == device_->certificate.id()) {
          ++opened;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(opened.load(), 10);
}

TEST_F(TlsTest, RandomBytesNeverOpenASession) {
  auto context = serverContext({"x-amzn-mqtt-ca"});
  std::mt19937 random(12345);
  int failed = 0;
  constexpr int kRounds = 300;
  for (int round = 0; round < kRounds; ++round) {
    auto server = TlsSession::accept(context);
    std::string bytes(random() % 600 + 1, '\0');
    for (char& c : bytes) c = static_cast<char>(random() & 0xff);
    std::string plain;
    const State state = server->receive(bytes, plain);
    EXPECT_NE(state, State::kOpen);
    EXPECT_EQ(plain, "");
    std::string out;
    server->takeOutgoing(out);
    if (state == State::kFailed) {
      ++failed;
      EXPECT_NE(server->failureReason(), "");
    }
  }
  // A few random prefixes can look like the start of a record and wait for more.
  EXPECT_GT(failed, kRounds * 9 / 10);
}

TEST_F(TlsTest, MutatedClientHellosNeverOpenASession) {
  auto context = serverContext({"x-amzn-mqtt-ca"});
  auto client_context = clientContext(device_, {"x-amzn-mqtt-ca"});
  std::string hello;
  ASSERT_TRUE(TlsSession::connect(client_context, kServerName)->takeOutgoing(hello));
  std::mt19937 random(54321);
  for (int round = 0; round < 300; ++round) {
    std::string mutated = hello;
    const int flips = static_cast<int>(random() % 4) + 1;
    for (int i = 0; i < flips; ++i) {
      mutated[random() % mutated.size()] = static_cast<char>(random() & 0xff);
    }
    auto server = TlsSession::accept(context);
    std::string plain;
    const State state = server->receive(mutated, plain);
    EXPECT_NE(state, State::kOpen);
    std::string out;
    server->takeOutgoing(out);
    if (state == State::kFailed) {
      EXPECT_NE(server->failureReason(), "");
    }
  }
}

}  // namespace
}  // namespace fleetgate::pki
