// Just-in-time provisioning (JITP) storm against fleetgate's broker; bench/run_jitp_bench.sh
// registers the CA with a JITP template, runs this and checks the things it made.
//
//   fleetgate-jitp-bench --host 127.0.0.1 --port P --ca server-root.pem --server-name NAME
//                        --device-ca ca.pem --device-ca-key ca.key [--devices N]
//                        [--concurrency C] [--threads T] [--tls 1.2|1.3] [--broker-pid PID]
//
// Makes N EC P-256 device keys and certificates (CN=<unique device name>, O=Bench) signed by the
// device CA, in memory. Each connection is a full TLS handshake (no resumption) presenting the
// chain device + CA, then an MQTT 3.1.1 CONNECT with client id = CN. At most C connections are
// in flight. Three phases, each timed:
//   storm:      every device connects once and must get CONNACK 5 (its certificate was
//               provisioned, this connect refused). Provisioned/s = N / (first connect to last
//               refusal).
//   settle:     every device reconnects until it gets CONNACK 0 (backoff 20 ms doubling to
//               500 ms, at most 20 attempts) and disconnects. Time from the storm's start until
//               every device has connected; retries needed.
//   registered: every (now registered) device connects once more: CONNACK 0, DISCONNECT.
// Rates are also printed divided by AWS IoT's default account quota of 500 connects/s.
//
// Prints human-readable lines and one `result mode=jitp ...` line. Every wait is bounded: each
// connection attempt by --connect-timeout, each phase by the watchdog (no progress for --timeout
// seconds: exit status 3). Exit status 1 when a device never connects or a registered device is
// refused.
#include <openssl/ssl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "bench_support.h"
#include "mqtt/codec.h"
#include "mqtt/packet.h"
#include "pki/authority.h"
#include "pki/certificate.h"
#include "pki/digest.h"
#include "pki/key.h"

namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;
using namespace fleetgate;
using namespace fleetgate::bench;

constexpr double kAwsConnectQuota = 500.0;  // AWS IoT Core default: connect requests/s/account
constexpr int kMaxAttempts = 20;            // settle: attempts per device
constexpr int kFirstBackoffMs = 20;
constexpr int kMaxBackoffMs = 500;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string ca_file;  // verifies the broker
  std::string server_name;
  std::string device_ca_file;
  std::string device_ca_key_file;
  int devices = 2000;
  int concurrency = 64;
  int threads = 2;
  std::string tls = "1.3";
  int broker_pid = 0;
  int timeout = 60;
  double connect_timeout = 20.0;
};

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

template <typename T>
T orDie(Result<T> r, const std::string& what) {
  if (!r.ok()) throw std::runtime_error(what + ": " + r.error().message());
  return std::move(r).value();
}

// ---- devices ----

struct Device {
  std::string name;  // CN and MQTT client id
  pki::PrivateKey key;
  pki::Certificate certificate;
};

// N keys and certificates, made on `threads` threads (the CA only reads its own state).
std::vector<Device> makeDevices(const pki::CertificateAuthority& ca, int n, int threads) {
  const std::string run =
      std::to_string(getpid()) + "-" +
      std::to_string(std::chrono::system_clock::now().time_since_epoch() / std::chrono::seconds(1));
  const auto now = std::chrono::system_clock::now();
  std::vector<std::optional<Device>> made(static_cast<std::size_t>(n));
  std::atomic<int> next{0};
  std::mutex mutex;
  std::string failure;
  auto work = [&] {
    pki::SecureRandom random;
    for (int i; (i = next++) < n;) {
      try {
        std::string name = "jitp-" + run + "-" + std::to_string(i);
        auto key = orDie(pki::PrivateKey::generate(pki::KeyType::kEcP256), "key generation");
        pki::IssueProfile profile;
        profile.subject.attributes = {{"CN", name}, {"O", "Bench"}};
        profile.not_before = now - std::chrono::hours(1);
        profile.not_after = now + std::chrono::hours(48);
        auto cert = orDie(ca.issue(key.publicKeyDer(), profile, random), "issue");
        made[static_cast<std::size_t>(i)].emplace(
            Device{std::move(name), std::move(key), std::move(cert)});
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex);
        if (failure.empty()) failure = e.what();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, threads); ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (!failure.empty()) throw std::runtime_error("making device certificates: " + failure);
  std::vector<Device> devices;
  devices.reserve(made.size());
  for (auto& d : made) devices.push_back(std::move(*d));
  return devices;
}

// ---- one device connection ----

// The MQTT 3.1.1 return code of a CONNACK (the decoder maps them to reason codes).
int v311ReturnCode(mqtt::ReasonCode reason) {
  switch (reason) {
    case mqtt::ReasonCode::kSuccess:
      return 0;
    case mqtt::ReasonCode::kUnsupportedProtocolVersion:
      return 1;
    case mqtt::ReasonCode::kClientIdentifierNotValid:
      return 2;
    case mqtt::ReasonCode::kServerUnavailable:
      return 3;
    case mqtt::ReasonCode::kBadUserNameOrPassword:
      return 4;
    case mqtt::ReasonCode::kNotAuthorized:
      return 5;
    default:
      return 0x100 + static_cast<int>(reason);
  }
}

// A connection with a deadline: the timer closes it when an attempt takes too long.
struct TimedConn : Conn {
  TimedConn(asio::io_context& io, ssl::context& tls) : Conn(io, tls, 256), timer(io) {}

  asio::steady_timer timer;
  bool timed_out = false;
};

// What one connection attempt came to: the CONNACK return code, or a failure before it.
struct Attempt {
  int code = -1;      // CONNACK return code; -1 when none arrived
  std::string error;  // stage and cause when code == -1
};

// TCP connect, full TLS handshake presenting device + CA, CONNECT (client id = CN), CONNACK;
// on CONNACK 0 also DISCONNECT. The connection is closed afterwards either way.
asio::awaitable<Attempt> connectOnce(asio::io_context& io, ssl::context& tls,
                                     const tcp::endpoint& ep, const Options& o,
                                     const Device& device, X509* chain_ca) {
  auto c = std::make_shared<TimedConn>(io, tls);
  c->timer.expires_after(std::chrono::duration_cast<Steady::duration>(
      std::chrono::duration<double>(o.connect_timeout)));
  // Holds the connection until it fires or is cancelled, so it never outlives it.
  c->timer.async_wait([c](const boost::system::error_code& ec) {
    if (ec) return;
    c->timed_out = true;
    c->close();
  });
  Attempt result;
  const char* stage = "tcp connect";
  try {
    co_await c->stream.next_layer().async_connect(ep, asio::use_awaitable);
    c->stream.next_layer().set_option(tcp::no_delay(true));
    stage = "tls handshake";
    SSL* s = c->stream.native_handle();
    if (SSL_use_certificate(s, device.certificate.native()) != 1 ||
        SSL_use_PrivateKey(s, device.key.native()) != 1 || SSL_add1_chain_cert(s, chain_ca) != 1) {
      throw std::runtime_error("cannot set the client certificate chain");
    }
    setServerNameIndication(s, o.server_name);
    co_await c->stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
    stage = "mqtt connect";
    encodeOrDie(cleanConnect(device.name, 60), c->write_buf);
    co_await writeBuffered(*c);
    stage = "connack";
    mqtt::Packet p = co_await readPacket(*c);
    auto* ack = std::get_if<mqtt::Connack>(&p);
    if (!ack) throw std::runtime_error("first packet is not CONNACK");
    result.code = v311ReturnCode(ack->reason);
    if (result.code == 0) {
      stage = "disconnect";
      encodeOrDie(mqtt::Disconnect{}, c->write_buf);
      co_await writeBuffered(*c);
    }
  } catch (const std::exception& e) {
    // A CONNACK already read stands: a failed DISCONNECT after it does not undo the connect.
    if (result.code == -1) {
      result.error = std::string(stage) + ": " + (c->timed_out ? "timed out" : errorText(e));
    }
  }
  c->timer.cancel();
  c->close();
  co_return result;
}

// Counts outcomes by kind ("connack 5", "tls handshake: connection reset", ...) and keeps the
// first few device names for each.
class Outcomes {
 public:
  void add(const std::string& what, const std::string& device) {
    std::lock_guard lock(mutex_);
    auto& [count, examples] = by_kind_[what];
    ++count;
    if (examples.size() < 3) examples.push_back(device);
  }
  long total() {
    std::lock_guard lock(mutex_);
    long n = 0;
    for (auto& [kind, entry] : by_kind_) n += entry.first;
    return n;
  }
  void print(const char* phase) {
    std::lock_guard lock(mutex_);
    for (auto& [kind, entry] : by_kind_) {
      std::string names;
      for (auto& e : entry.second) names += (names.empty() ? "" : ", ") + e;
      std::printf("  %s: %ld x %s (e.g. %s)\n", phase, entry.first, kind.c_str(), names.c_str());
    }
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::pair<long, std::vector<std::string>>> by_kind_;
};

std::string describe(const Attempt& a) {
  return a.code >= 0 ? "CONNACK " + std::to_string(a.code) : a.error;
}

// Runs `body(index, device)` for every device with `loops` coroutines spread over the workers;
// returns once all are done.
template <typename Body>
void forEachDevice(Workers& w, int loops, int devices, Watchdog& dog, Body body) {
  std::atomic<int> next{0}, done{0}, running{loops};
  auto loop = [&](std::size_t index) -> asio::awaitable<void> {
    for (int id; (id = next++) < devices;) {
      co_await body(index, static_cast<std::size_t>(id));
      dog.progress(++done);
    }
    --running;
  };
  spawnLoops(w, loops, loop);
  waitUntil([&] { return running == 0; });
}

struct PhaseCpu {
  double broker = 0, client = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"fleetgate JITP storm benchmark"};
  app.add_option("--host", o.host, "Broker address (127.0.0.1 only)")
      ->check(CLI::IsMember({"127.0.0.1"}));
  app.add_option("--port", o.port)->required();
  app.add_option("--ca", o.ca_file, "CA file that verifies the broker's certificate")->required();
  app.add_option("--server-name", o.server_name,
                 "Name checked in the broker's certificate (and "
                 "sent as SNI unless an IP address)");
  app.add_option("--device-ca", o.device_ca_file, "Registered JITP CA certificate (PEM)")
      ->required();
  app.add_option("--device-ca-key", o.device_ca_key_file, "Its private key (PEM)")->required();
  app.add_option("--devices", o.devices, "Devices (2000)")->check(CLI::Range(1, 1000000));
  app.add_option("--concurrency", o.concurrency, "Connections in flight (64)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--threads", o.threads, "Client threads, one io_context each")
      ->check(CLI::Range(1, 64));
  app.add_option("--tls", o.tls)->check(CLI::IsMember({"1.2", "1.3"}));
  app.add_option("--broker-pid", o.broker_pid, "Broker process, for its CPU time (optional)");
  app.add_option("--timeout", o.timeout, "Seconds without progress before failing")
      ->check(CLI::Range(1, 3600));
  app.add_option("--connect-timeout", o.connect_timeout, "Seconds one connection attempt may take")
      ->check(CLI::Range(0.1, 600.0));
  CLI11_PARSE(app, argc, argv);
  if (o.server_name.empty()) o.server_name = o.host;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // phase lines as they happen, also into a pipe
  raiseFileLimit();

  try {
    Watchdog dog("fleetgate-jitp-bench", o.timeout);
    dog.phase("devices", o.devices);
    auto ca_cert = orDie(pki::Certificate::fromPem(readFile(o.device_ca_file)), "--device-ca");
    auto ca_key =
        orDie(pki::PrivateKey::fromPem(readFile(o.device_ca_key_file)), "--device-ca-key");
    auto ca = orDie(pki::CertificateAuthority::create(
                        ca_cert, std::make_shared<pki::SoftwareSigner>(std::move(ca_key))),
                    "device CA");
    const auto make_start = Steady::now();
    const std::vector<Device> devices = makeDevices(ca, o.devices, o.threads);
    std::printf("made %d device keys and certificates in %.2f s (CN=%s ... %s, O=Bench)\n",
                o.devices, seconds(Steady::now() - make_start), devices.front().name.c_str(),
                devices.back().name.c_str());
    X509* chain_ca = ca.certificate().native();

    const tcp::endpoint ep(asio::ip::make_address(o.host), static_cast<std::uint16_t>(o.port));
    Workers w(o.threads, [&] { return makeTlsClientContext(o.tls, o.ca_file, o.server_name); });
    const int n = o.devices;
    const int loops = std::min(o.concurrency, n);
    auto cpuNow = [&] { return PhaseCpu{processCpuSeconds(o.broker_pid), clientCpuSeconds()}; };
    auto cpuSince = [&](const PhaseCpu& from) {
      PhaseCpu now = cpuNow();
      return PhaseCpu{o.broker_pid > 0 ? now.broker - from.broker : -1, now.client - from.client};
    };

    // ---- storm ----
    std::vector<std::uint8_t> connected(static_cast<std::size_t>(n), 0);
    Outcomes storm_outcomes;
    std::atomic<int> refused{0};
    std::mutex last_mutex;
    Steady::time_point last_refusal{};
    dog.phase("storm", n);
    const PhaseCpu storm_cpu0 = cpuNow();
    const auto storm_start = Steady::now();
    forEachDevice(w, loops, n, dog,
                  [&](std::size_t index, std::size_t id) -> asio::awaitable<void> {
                    const Device& d = devices[id];
                    Attempt a = co_await connectOnce(w.io(index), w.tls(index), ep, o, d, chain_ca);
                    if (a.code == 5) {
                      ++refused;
                      std::lock_guard lock(last_mutex);
                      last_refusal = std::max(last_refusal, Steady::now());
                    } else {
                      storm_outcomes.add(describe(a), d.name);
                      if (a.code == 0)
                        connected[id] = 1;  // already registered: nothing to provision
                    }
                  });
    const auto storm_end = Steady::now();
    const PhaseCpu storm_cpu = cpuSince(storm_cpu0);
    const double storm_s = seconds((refused > 0 ? last_refusal : storm_end) - storm_start);
    const double provisioned_per_s = storm_s > 0 ? refused / storm_s : 0;
    std::printf(
        "storm: %d devices, %d in flight (TLS %s): %d refused with CONNACK 5 as "
        "provisioned, %ld otherwise; first connect to last refusal %.2f s: %.0f "
        "provisioned/s (%.2fx AWS's %.0f connects/s quota)\n",
        n, loops, o.tls.c_str(), refused.load(), storm_outcomes.total(), storm_s, provisioned_per_s,
        provisioned_per_s / kAwsConnectQuota, kAwsConnectQuota);
    storm_outcomes.print("storm");

    // ---- settle ----
    Outcomes settle_outcomes;
    std::atomic<long> retries{0};
    std::atomic<int> settled{0}, never{0};
    std::mutex settle_mutex;
    Steady::time_point last_success = storm_end;
    dog.phase("settle", n);
    const PhaseCpu settle_cpu0 = cpuNow();
    const auto settle_start = Steady::now();
    forEachDevice(
        w, loops, n, dog, [&](std::size_t index, std::size_t id) -> asio::awaitable<void> {
          const Device& d = devices[id];
          int backoff_ms = kFirstBackoffMs;
          for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
            Attempt a = co_await connectOnce(w.io(index), w.tls(index), ep, o, d, chain_ca);
            if (a.code == 0) {
              connected[id] = 1;
              ++settled;
              std::lock_guard lock(settle_mutex);
              last_success = std::max(last_success, Steady::now());
              co_return;
            }
            settle_outcomes.add(describe(a), d.name);
            if (attempt == kMaxAttempts) break;
            ++retries;
            asio::steady_timer t(w.io(index), std::chrono::milliseconds(backoff_ms));
            co_await t.async_wait(asio::use_awaitable);
            backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
            dog.tick();
          }
          ++never;
        });
    const PhaseCpu settle_cpu = cpuSince(settle_cpu0);
    const double settle_s = seconds(Steady::now() - settle_start);
    // -1 when some device never connected.
    const double all_connected_s = never > 0 ? -1.0 : seconds(last_success - storm_start);
    if (never > 0) {
      std::printf(
          "settle: %d of %d devices connected (CONNACK 0) in %.2f s, %ld retries; %d "
          "NEVER CONNECTED in %d attempts\n",
          settled.load(), n, settle_s, retries.load(), never.load(), kMaxAttempts);
    } else {
      std::printf(
          "settle: %d of %d devices connected (CONNACK 0) in %.2f s, %ld retries; every "
          "device connected %.2f s after the storm's start\n",
          settled.load(), n, settle_s, retries.load(), all_connected_s);
    }
    settle_outcomes.print("settle refused/failed");

    // ---- registered ----
    Outcomes registered_outcomes;
    std::atomic<int> accepted{0};
    dog.phase("registered", n);
    const PhaseCpu registered_cpu0 = cpuNow();
    const auto registered_start = Steady::now();
    forEachDevice(w, loops, n, dog,
                  [&](std::size_t index, std::size_t id) -> asio::awaitable<void> {
                    const Device& d = devices[id];
                    Attempt a = co_await connectOnce(w.io(index), w.tls(index), ep, o, d, chain_ca);
                    if (a.code == 0) {
                      ++accepted;
                    } else {
                      registered_outcomes.add(describe(a), d.name);
                    }
                  });
    const double registered_s = seconds(Steady::now() - registered_start);
    const PhaseCpu registered_cpu = cpuSince(registered_cpu0);
    const double registered_per_s = registered_s > 0 ? accepted / registered_s : 0;
    std::printf(
        "registered: %d of %d connects accepted in %.2f s: %.0f connects/s (%.2fx AWS's "
        "quota)\n",
        accepted.load(), n, registered_s, registered_per_s, registered_per_s / kAwsConnectQuota);
    registered_outcomes.print("registered refused/failed");

    auto perConnectMs = [](double cpu, int count) {
      return cpu >= 0 && count > 0 ? cpu * 1000 / count : -1.0;
    };
    if (o.broker_pid > 0) {
      std::printf(
          "broker CPU: storm %.2f s (%.2f ms per provisioned device), settle %.2f s, "
          "registered %.2f s (%.2f ms per connect); client CPU %.2f / %.2f / %.2f s\n",
          storm_cpu.broker, perConnectMs(storm_cpu.broker, refused), settle_cpu.broker,
          registered_cpu.broker, perConnectMs(registered_cpu.broker, accepted), storm_cpu.client,
          settle_cpu.client, registered_cpu.client);
    }
    std::printf(
        "result mode=jitp devices=%d concurrency=%d tls=%s storm_refused=%d "
        "storm_other=%ld storm_s=%.3f provisioned_per_s=%.1f settle_s=%.3f "
        "settled=%d never_connected=%d retries=%ld all_connected_s=%.3f "
        "registered_accepted=%d registered_s=%.3f registered_connects_per_s=%.1f "
        "ratio_vs_aws_quota=%.3f registered_ratio_vs_aws_quota=%.3f "
        "broker_cpu_ms_per_provision=%.3f broker_cpu_ms_per_registered_connect=%.3f "
        "client_cpu_s=%.2f\n",
        n, loops, o.tls.c_str(), refused.load(), storm_outcomes.total(), storm_s, provisioned_per_s,
        settle_s, settled.load(), never.load(), retries.load(), all_connected_s, accepted.load(),
        registered_s, registered_per_s, provisioned_per_s / kAwsConnectQuota,
        registered_per_s / kAwsConnectQuota, perConnectMs(storm_cpu.broker, refused),
        perConnectMs(registered_cpu.broker, accepted),
        storm_cpu.client + settle_cpu.client + registered_cpu.client);
    dog.phase("exit", 0);
    w.stop();
    std::fflush(stdout);
    int missing = 0;
    for (auto c : connected) missing += c ? 0 : 1;
    if (never > 0 || missing > 0) {
      std::fprintf(stderr, "fleetgate-jitp-bench: %d of %d devices NEVER CONNECTED\n",
                   std::max(never.load(), missing), n);
      return 1;
    }
    if (accepted != n) {
      std::fprintf(stderr, "fleetgate-jitp-bench: %d registered connects FAILED\n", n - accepted);
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fleetgate-jitp-bench: %s\n", e.what());
    return 2;
  }
}
