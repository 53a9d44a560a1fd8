// Control-plane throughput through the real HTTPS API, next to the same crypto work done
// in-process in the same run.
//
//   fleetgate-api-bench --port P --ca server-root-ca.pem --credentials aws-credentials
//                       --operation csr|keys --key-type ec|rsa --clients 1,8,32 --requests N
//
// API side: each client thread holds one keep-alive TLS connection and sends SigV4-signed
// CreateCertificateFromCsr (a fresh CSR each time) or CreateKeysAndCertificate requests; every
// answer must be 200. In-process side: the same work without HTTP, TLS, SigV4 or the database
// (csr: parse and verify the CSR, issue and PEM-encode the certificate; keys: generate the key,
// issue, PEM-encode certificate and key), one thread. Prints rates and API/in-process ratios.
#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "cli/setup.h"
#include "pki/authority.h"
#include "pki/certificate_request.h"
#include "pki/digest.h"
#include "sigv4/sigv4.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using WallClock = std::chrono::steady_clock;
using namespace fleetgate;

struct Options {
  int port = 0;
  std::string ca_file;
  std::string credentials_file;
  std::string region = "us-east-1";
  std::string operation = "csr";
  std::string key_type = "ec";
  std::vector<int> clients{1, 8, 32};
  int requests = 2000;
  int inprocess_requests = 2000;
};

pki::KeyType keyType(const Options& o) {
  return o.key_type == "rsa" ? pki::KeyType::kRsa2048 : pki::KeyType::kEcP256;
}

// CSRs made before any timing starts, so the client side spends no key generation in the run.
std::vector<std::string> makeCsrs(std::size_t n) {
  std::vector<std::string> csrs;
  for (std::size_t i = 0; i < n; ++i) {
    auto key = pki::PrivateKey::generate(pki::KeyType::kEcP256);
    pki::DistinguishedName subject{{{"CN", "bench-device-" + std::to_string(i)}}};
    csrs.push_back(*pki::CertificateRequest::createPem(*key, subject));
  }
  return csrs;
}

double inProcessRate(const Options& o, const std::vector<std::string>& csrs) {
  pki::SecureRandom random;
  auto ca_key = pki::PrivateKey::generate(pki::KeyType::kEcP256);
  pki::IssueProfile ca_profile;
  ca_profile.subject.attributes = {{"CN", "bench CA"}};
  ca_profile.not_before = std::chrono::system_clock::now();
  ca_profile.not_after = ca_profile.not_before + std::chrono::hours(24 * 3650);
  ca_profile.is_ca = true;
  auto ca_signer = std::make_shared<pki::SoftwareSigner>(std::move(ca_key).value());
  auto ca_cert = pki::CertificateAuthority::selfSign(*ca_signer, ca_profile, random);
  pki::CertificateAuthority ca(*ca_cert, ca_signer);
  pki::IssueProfile profile;
  profile.subject.attributes = {{"CN", "AWS IoT Certificate"}};
  profile.not_before = std::chrono::system_clock::now();
  profile.not_after = profile.not_before + std::chrono::hours(24 * 365);

  const int n = o.operation == "keys" && o.key_type == "rsa" ? std::min(o.inprocess_requests, 20)
                                                             : o.inprocess_requests;
  std::size_t bytes = 0;
  auto start = WallClock::now();
  for (int i = 0; i < n; ++i) {
    if (o.operation == "csr") {
      auto request =
          pki::CertificateRequest::fromPem(csrs[static_cast<std::size_t>(i) % csrs.size()]);
      auto cert = ca.issueForRequest(*request, profile, random);
      bytes += cert->pem().size();
    } else {
      auto key = pki::PrivateKey::generate(keyType(o));
      auto cert = ca.issue(key->publicKeyDer(), profile, random);
      bytes += cert->pem().size() + key->privateKeyPem().size() + key->publicKeyPem().size();
    }
  }
  double seconds = std::chrono::duration<double>(WallClock::now() - start).count();
  if (bytes == 0) std::abort();
  return n / seconds;
}

// One client: a keep-alive TLS connection sending `count` requests. Returns how many got 200.
int runClient(const Options& o, const cli::Credentials& creds, const std::vector<std::string>& csrs,
              std::atomic<std::size_t>& next_csr, int count) {
  asio::io_context io;
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.load_verify_file(o.ca_file);
  tls.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, tls);
  asio::ip::tcp::resolver resolver(io);
  beast::get_lowest_layer(stream).connect(resolver.resolve("127.0.0.1", std::to_string(o.port)));
  stream.handshake(asio::ssl::stream_base::client);
  const std::string host = "127.0.0.1:" + std::to_string(o.port);
  int ok = 0;
  beast::flat_buffer buffer;
  for (int i = 0; i < count; ++i) {
    std::string path, query, body;
    if (o.operation == "csr") {
      path = "/certificates";
      query = "setAsActive=true";
      body = nlohmann::json{{"certificateSigningRequest", csrs[next_csr++ % csrs.size()]}}.dump();
    } else {
      path = "/keys-and-certificate";
      query = "setAsActive=true";
    }
    const std::string date = sigv4::formatAmzDate(std::chrono::system_clock::now());
    std::vector<std::pair<std::string, std::string>> headers{{"host", host}, {"x-amz-date", date}};
    std::string authorization =
        sigv4::sign({"POST", path, query, headers, body}, creds.access_key_id,
                    creds.secret_access_key, o.region, "iot", date);
    http::request<http::string_body> req{http::verb::post, path + "?" + query, 11};
    req.set(http::field::host, host);
    req.set("x-amz-date", date);
    req.set(http::field::authorization, authorization);
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    req.keep_alive(true);
    http::write(stream, req);
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    if (res.result_int() == 200) {
      ++ok;
    } else if (ok == 0 && i == 0) {
      std::fprintf(stderr, "unexpected %d: %s\n", res.result_int(), res.body().c_str());
    }
  }
  beast::error_code ec;
  stream.shutdown(ec);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"fleetgate control-plane throughput benchmark"};
  app.add_option("--port", o.port)->required();
  app.add_option("--ca", o.ca_file)->required();
  app.add_option("--credentials", o.credentials_file)->required();
  app.add_option("--region", o.region);
  app.add_option("--operation", o.operation)->check(CLI::IsMember({"csr", "keys"}));
  app.add_option("--key-type", o.key_type, "key type the server hands out (keys)")
      ->check(CLI::IsMember({"ec", "rsa"}));
  app.add_option("--clients", o.clients)->delimiter(',');
  app.add_option("--requests", o.requests, "API requests per client count");
  app.add_option("--inprocess-requests", o.inprocess_requests);
  CLI11_PARSE(app, argc, argv);

  auto creds_or = cli::readCredentials(o.credentials_file);
  if (!creds_or.ok()) {
    std::fprintf(stderr, "%s\n", creds_or.error().cause().c_str());
    return 1;
  }
  const cli::Credentials creds = *creds_or;
  std::vector<std::string> csrs;
  if (o.operation == "csr") {
    csrs = makeCsrs(static_cast<std::size_t>(std::max(o.requests, o.inprocess_requests)));
  }
  const double reference = inProcessRate(o, csrs);
  const char* name = o.operation == "csr" ? "CreateCertificateFromCsr" : "CreateKeysAndCertificate";
  std::printf("%s (%s keys), in-process reference: %.0f/s on one thread\n", name,
              o.key_type.c_str(), reference);
  std::printf("%-8s %10s %12s %10s\n", "clients", "requests", "api req/s", "api/inproc");
  std::atomic<std::size_t> next_csr{0};
  for (int clients : o.clients) {
    const int per_client = std::max(1, o.requests / clients);
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    auto start = WallClock::now();
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&] { ok += runClient(o, creds, csrs, next_csr, per_client); });
    }
    for (auto& t : threads) t.join();
    double seconds = std::chrono::duration<double>(WallClock::now() - start).count();
    const int total = per_client * clients;
    if (ok != total) {
      std::fprintf(stderr, "only %d of %d requests succeeded\n", ok.load(), total);
      return 1;
    }
    std::printf("%-8d %10d %12.0f %10.2f\n", clients, total, total / seconds,
                total / seconds / reference);
  }
  return 0;
}
