#include "bench_support.h"

#include <openssl/x509v3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <variant>

namespace fleetgate::bench {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using Clock = std::chrono::steady_clock;

// ---- process accounting ----

double processCpuSeconds(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  // After "pid (comm)": field 3 is the state; utime and stime are fields 14 and 15.
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long processRssKb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double clientCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

void raiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) std::perror("setrlimit(RLIMIT_NOFILE)");
}

unsigned long fileLimit() {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  return static_cast<unsigned long>(limit.rlim_cur);
}

// ---- watchdog ----

Watchdog::Watchdog(std::string program, int timeout_seconds)
    : program_(std::move(program)), timeout_(timeout_seconds) {
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  stop_ = true;
  thread_.join();
}

void Watchdog::phase(const std::string& name, long expected) {
  std::lock_guard lock(mutex_);
  phase_ = name;
  expected_ = expected;
  progress_ = 0;
  tick();
}

void Watchdog::run() {
  std::uint64_t seen = ticks_;
  auto last = Clock::now();
  while (!stop_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (std::uint64_t now_ticks = ticks_; now_ticks != seen) {
      seen = now_ticks;
      last = Clock::now();
    } else if (Clock::now() - last > std::chrono::seconds(timeout_)) {
      std::lock_guard lock(mutex_);
      std::fprintf(stderr,
                   "%s: TIMEOUT: no progress for %d s in phase '%s' "
                   "(%ld of %ld done)\n",
                   program_.c_str(), timeout_, phase_.c_str(), progress_.load(), expected_);
      std::fflush(stdout);
      std::fflush(stderr);
      std::_Exit(3);
    }
  }
}

// ---- TLS client ----

ssl::context makeTlsClientContext(const std::string& tls_version, const std::string& ca_file,
                                  const std::string& server_name) {
  ssl::context tls(ssl::context::tls_client);
  SSL_CTX* h = tls.native_handle();
  const int version = tls_version == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION;
  SSL_CTX_set_min_proto_version(h, version);
  SSL_CTX_set_max_proto_version(h, version);
  // Every connection is a full handshake, as for a fleet of devices coming online.
  SSL_CTX_set_session_cache_mode(h, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(h, SSL_OP_NO_TICKET);
  SSL_CTX_set_mode(h, SSL_MODE_RELEASE_BUFFERS);
  tls.load_verify_file(ca_file);
  tls.set_verify_mode(ssl::verify_peer);
  // Name check set once on the context rather than a verify callback per connection.
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(h);
  boost::system::error_code ec;
  asio::ip::make_address(server_name, ec);
  const int ok = ec ? X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), 0)
                    : X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str());
  if (ok != 1) throw std::runtime_error("bad --server-name " + server_name);
  return tls;
}

void setServerNameIndication(SSL* ssl, const std::string& server_name) {
  boost::system::error_code ec;
  asio::ip::make_address(server_name, ec);
  if (ec) SSL_set_tlsext_host_name(ssl, server_name.c_str());
}

Workers::Workers(int threads, const std::function<ssl::context()>& make_tls) {
  for (int i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>(make_tls()));
  for (auto& w : workers_) w->thread = std::thread([io = &w->io] { io->run(); });
}

void Workers::stop() {
  for (auto& w : workers_) w->guard.reset();
  for (auto& w : workers_) {
    w->io.stop();
    if (w->thread.joinable()) w->thread.join();
  }
}

// ---- one MQTT connection ----

namespace {

mqtt::DecoderOptions clientDecoderOptions() {
  mqtt::DecoderOptions options;
  options.version = kMqttVersion;  // the stream starts with CONNACK
  return options;
}

}  // namespace

Conn::Conn(asio::io_context& io, ssl::context& tls, std::size_t read_buffer)
    : stream(io, tls), decoder(clientDecoderOptions()), read_buf(read_buffer) {}

void Conn::close() {
  boost::system::error_code ec;
  stream.next_layer().close(ec);
}

std::string errorText(const std::exception& e) {
  if (auto* se = dynamic_cast<const boost::system::system_error*>(&e)) return se->code().message();
  return e.what();
}

std::string describe(const mqtt::DecodeError& e) { return "undecodable packet: " + e.detail; }

void encodeOrDie(const mqtt::Packet& p, std::string& out) {
  if (!mqtt::encodeTo(p, kMqttVersion, out)) throw std::logic_error("cannot encode packet");
}

mqtt::Connect cleanConnect(const std::string& client_id, std::uint16_t keep_alive) {
  mqtt::Connect connect;
  connect.version = kMqttVersion;
  connect.clean_start = true;
  connect.keep_alive = keep_alive;
  connect.client_id = client_id;
  return connect;
}

asio::awaitable<mqtt::Packet> readPacket(Conn& c) {
  for (;;) {
    auto r = c.decoder.next();
    if (auto* p = std::get_if<mqtt::Packet>(&r)) co_return std::move(*p);
    if (auto* e = std::get_if<mqtt::DecodeError>(&r)) throw std::runtime_error(describe(*e));
    std::size_t n =
        co_await c.stream.async_read_some(asio::buffer(c.read_buf), asio::use_awaitable);
    c.decoder.feed(std::string_view(c.read_buf.data(), n));
  }
}

asio::awaitable<void> writeBuffered(Conn& c) {
  co_await asio::async_write(c.stream, asio::buffer(c.write_buf), asio::use_awaitable);
  c.write_buf.clear();
}

}  // namespace fleetgate::bench
