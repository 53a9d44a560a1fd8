// What the MQTT benchmarks (broker_bench.cc, jitp_bench.cc) share: process accounting, the
// watchdog that bounds every wait, and the pieces of an MQTT 3.1.1 client over TLS.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mqtt/codec.h"
#include "mqtt/packet.h"

namespace fleetgate::bench {

inline double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// ---- process accounting ----

// utime + stime of the whole process (all threads) in seconds, or -1.
double processCpuSeconds(int pid);
// VmRSS in KiB, or -1.
long processRssKb(int pid);
// utime + stime of this process in seconds.
double clientCpuSeconds();
// Soft RLIMIT_NOFILE up to the hard limit: thousands of connections need as many descriptors.
void raiseFileLimit();
// The soft RLIMIT_NOFILE, for failure messages.
unsigned long fileLimit();

// ---- watchdog: ends the program when a phase stops making progress ----

class Watchdog {
 public:
  // `program` prefixes the TIMEOUT message.
  Watchdog(std::string program, int timeout_seconds);
  ~Watchdog();
  void phase(const std::string& name, long expected);
  void tick() { ++ticks_; }
  void progress(long done) {
    progress_ = done;
    tick();
  }

 private:
  void run();

  std::string program_;
  int timeout_;
  std::atomic<std::uint64_t> ticks_{0};
  std::atomic<long> progress_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::string phase_ = "start";
  long expected_ = 0;
  std::thread thread_;
};

// Polls `done` every 2 ms; the watchdog bounds the wait.
template <typename Predicate>
void waitUntil(Predicate done) {
  while (!done()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

// ---- TLS client ----

// A client context for one TLS version ("1.2" or "1.3") that verifies the broker against
// `ca_file` and `server_name` (a host name or an IP address); no client certificate.
boost::asio::ssl::context makeTlsClientContext(const std::string& tls_version,
                                               const std::string& ca_file,
                                               const std::string& server_name);

// Sends `server_name` as SNI unless it is an IP address, which SNI cannot carry.
void setServerNameIndication(SSL* ssl, const std::string& server_name);

// One io_context and one TLS context per thread, each thread running its io_context, so that
// connections on different threads share no SSL_CTX.
class Workers {
 public:
  Workers(int threads, const std::function<boost::asio::ssl::context()>& make_tls);
  ~Workers() { stop(); }
  void stop();
  boost::asio::io_context& io(std::size_t i) { return workers_[i % workers_.size()]->io; }
  boost::asio::ssl::context& tls(std::size_t i) { return workers_[i % workers_.size()]->tls; }

 private:
  struct Worker {
    explicit Worker(boost::asio::ssl::context t) : tls(std::move(t)) {}
    boost::asio::io_context io{1};
    boost::asio::ssl::context tls;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{
        io.get_executor()};
    std::thread thread;
  };
  std::vector<std::unique_ptr<Worker>> workers_;
};

// Starts the coroutines make_loop(0) ... make_loop(loops - 1), spread over the workers. Takes the
// lambda by reference: a coroutine lambda's captures live in the lambda, which must outlive them.
template <typename MakeLoop>
void spawnLoops(Workers& w, int loops, const MakeLoop& make_loop) {
  for (int i = 0; i < loops; ++i) {
    auto index = static_cast<std::size_t>(i);
    boost::asio::co_spawn(w.io(index), make_loop(index), boost::asio::detached);
  }
}

// ---- one MQTT connection ----

inline constexpr mqtt::ProtocolVersion kMqttVersion = mqtt::ProtocolVersion::kV311;

struct Conn {
  Conn(boost::asio::io_context& io, boost::asio::ssl::context& tls, std::size_t read_buffer);
  void close();

  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream;
  mqtt::Decoder decoder;
  std::vector<char> read_buf;
  std::string write_buf;
};

// An exception's message; Asio's system errors without their source location.
std::string errorText(const std::exception& e);

std::string describe(const mqtt::DecodeError& e);

void encodeOrDie(const mqtt::Packet& p, std::string& out);

// CONNECT with a clean session, as a device coming online sends it.
mqtt::Connect cleanConnect(const std::string& client_id, std::uint16_t keep_alive);

// Next complete packet, reading as needed.
boost::asio::awaitable<mqtt::Packet> readPacket(Conn& c);

// Writes all of write_buf and empties it.
boost::asio::awaitable<void> writeBuffered(Conn& c);

}  // namespace fleetgate::bench
