// MQTT-over-mutual-TLS load against one broker (fleetgate or a peer such as mosquitto); the
// script bench/run_broker_bench.sh runs it against both and prints the ratios.
//
//   fleetgate-broker-bench --host 127.0.0.1 --port P --ca server-root.pem --cert client.pem
//                          --key client.key --broker-pid PID --mode connect|throughput|idle
//                          [--tls 1.2|1.3] [--connections N] [--concurrency C] [--qos 0|1]
//                          [--subscribers S] [--messages M] [--server-name NAME]
//
// connect:    C loops, each: TCP connect, full TLS handshake with the client certificate (no
//             session resumption), MQTT 3.1.1 CONNECT (clean session, unique client id),
//             CONNACK, DISCONNECT, close; N connections in all. Rate, and the broker's CPU
//             (utime+stime from /proc/PID/stat) per connection.
// throughput: S subscribers on bench/1 at QoS q, one publisher sending M PUBLISHes of 64 bytes
//             (QoS 1: at most --window unacknowledged). Deliveries per second at the
//             subscribers, from the first publish to the last receipt; QoS 0 losses counted.
// idle:       N connections (CONNECT/CONNACK done, keep-alive 1200 s) opened with C handshakes
//             in flight and held; the broker's VmRSS before and after, per connection.
//
// Prints human-readable lines and one `result key=value ...` line. Every wait is bounded: a
// phase that makes no progress for --timeout seconds ends the program with exit status 3.
// Exit status 1 when connections fail, QoS 1 messages are lost or idle connections are not all
// held.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <openssl/ssl.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "bench_support.h"
#include "mqtt/codec.h"
#include "mqtt/packet.h"

namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace fleetgate;
using namespace fleetgate::bench;

constexpr char kTopic[] = "bench/1";
constexpr std::size_t kPayloadSize = 64;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;  // defaults to --host
  int broker_pid = 0;
  std::string mode = "connect";
  std::string tls = "1.3";
  int connections = 0;  // connect: 3000, idle: 10000
  int concurrency = 0;  // connect: 32, idle: 64
  int qos = 0;
  int subscribers = 1;
  int messages = 0;  // 100000 / subscribers, at least 100
  int window = 100;  // QoS 1 in-flight limit (AWS IoT: 100)
  int threads = 2;
  int timeout = 60;     // seconds without progress before giving up
  double settle = 3.0;  // idle: seconds between the last CONNACK and the RSS reading
  double hold = 0.0;    // idle: extra seconds to keep the connections after the reading
};

// ---- threads: one io_context and one TLS context each ----

ssl::context makeTlsContext(const Options& o) {
  ssl::context tls = makeTlsClientContext(o.tls, o.ca_file, o.server_name);
  tls.use_certificate_chain_file(o.cert_file);
  tls.use_private_key_file(o.key_file, ssl::context::pem);
  return tls;
}

// ---- one MQTT connection ----

// Closes each connection on its own thread and returns once all are closed, so that the caller
// may destroy them.
void closeAll(const std::vector<Conn*>& conns) {
  std::atomic<std::size_t> closed{0};
  for (Conn* c : conns) {
    asio::post(c->stream.get_executor(), [c, &closed] {
      c->close();
      ++closed;
    });
  }
  waitUntil([&] { return closed == conns.size(); });
}

// TCP connect, TLS handshake, CONNECT, CONNACK (which must accept).
asio::awaitable<void> openSession(Conn& c, const tcp::endpoint& ep, const Options& o,
                                  const std::string& client_id, std::uint16_t keep_alive) {
  const char* stage = "tcp connect";
  try {
    co_await c.stream.next_layer().async_connect(ep, asio::use_awaitable);
    c.stream.next_layer().set_option(tcp::no_delay(true));
    stage = "tls handshake";
    setServerNameIndication(c.stream.native_handle(), o.server_name);
    co_await c.stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
    stage = "mqtt connect";
    encodeOrDie(cleanConnect(client_id, keep_alive), c.write_buf);
    co_await writeBuffered(c);
    stage = "connack";
    mqtt::Packet p = co_await readPacket(c);
    auto* ack = std::get_if<mqtt::Connack>(&p);
    if (!ack) throw std::runtime_error("first packet is not CONNACK");
    if (ack->reason != mqtt::ReasonCode::kSuccess) {
      throw std::runtime_error("CONNACK refused, reason 0x" +
                               std::to_string(static_cast<int>(ack->reason)));
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(stage) + ": " + errorText(e));
  }
}

// First failures, printed once the run ends.
class Errors {
 public:
  void add(const std::string& what) {
    ++count_;
    std::lock_guard lock(mutex_);
    if (first_.size() < 5) first_.push_back(what);
  }
  int count() const { return count_; }
  void print() {
    std::lock_guard lock(mutex_);
    for (auto& e : first_) std::fprintf(stderr, "  error: %s\n", e.c_str());
  }

 private:
  std::atomic<int> count_{0};
  std::mutex mutex_;
  std::vector<std::string> first_;
};

std::string clientId(const char* kind, long n) {
  return "bench-" + std::string(kind) + "-" + std::to_string(getpid()) + "-" + std::to_string(n);
}

struct TlsInfo {
  std::mutex mutex;
  std::string version, cipher;
  void record(Conn& c) {
    std::lock_guard lock(mutex);
    if (!cipher.empty()) return;
    version = SSL_get_version(c.stream.native_handle());
    cipher = SSL_get_cipher_name(c.stream.native_handle());
  }
};

// ---- connect ----

int runConnect(const Options& o, Workers& w, const tcp::endpoint& ep, Watchdog& dog) {
  const int total = o.connections > 0 ? o.connections : 3000;
  const int loops = o.concurrency > 0 ? o.concurrency : 32;
  std::atomic<int> next{0}, done{0}, running{loops};
  Errors errors;
  TlsInfo info;
  dog.phase("connect", total);

  auto loop = [&](std::size_t index) -> asio::awaitable<void> {
    for (int id; (id = next++) < total;) {
      Conn c(w.io(index), w.tls(index), 512);
      try {
        co_await openSession(c, ep, o, clientId("c", id), 60);
        info.record(c);
        encodeOrDie(mqtt::Disconnect{}, c.write_buf);
        co_await writeBuffered(c);
        ++done;
      } catch (const std::exception& e) {
        errors.add(errorText(e));
      }
      c.close();
      dog.progress(done);
    }
    --running;
  };

  const double cpu0 = processCpuSeconds(o.broker_pid);
  const double client0 = clientCpuSeconds();
  const auto start = Clock::now();
  spawnLoops(w, loops, loop);
  waitUntil([&] { return running == 0; });
  const double elapsed = seconds(Clock::now() - start);
  const double cpu = processCpuSeconds(o.broker_pid) - cpu0;
  const double client_cpu = clientCpuSeconds() - client0;

  const int ok = done;
  std::printf("connect tls=%s (%s %s): %d connections, %d loops, %.2f s: %.0f connects/s, "
              "broker CPU %.3f ms/connect, client CPU %.2f s\n",
              o.tls.c_str(), info.version.c_str(), info.cipher.c_str(), ok, loops, elapsed,
              ok / elapsed, ok ? cpu * 1000 / ok : 0.0, client_cpu);
  std::printf("result mode=connect tls=%s connects=%d failed=%d concurrency=%d seconds=%.3f "
              "rate=%.1f broker_cpu_s=%.2f broker_cpu_ms_per_connect=%.4f client_cpu_s=%.2f "
              "cipher=%s\n",
              o.tls.c_str(), ok, errors.count(), loops, elapsed, ok / elapsed, cpu,
              ok ? cpu * 1000 / ok : 0.0, client_cpu, info.cipher.c_str());
  if (errors.count() > 0) {
    std::fprintf(stderr, "fleetgate-broker-bench: %d of %d connections FAILED\n", errors.count(),
                 total);
    errors.print();
    return 1;
  }
  return 0;
}

// ---- throughput ----

struct Subscriber {
  std::unique_ptr<Conn> conn;
  std::vector<std::uint8_t> seen;  // by sequence number
  long received = 0;               // distinct messages
  long duplicates = 0;
  std::atomic<std::int64_t> last_receipt_ns{0};  // since the bench's epoch
};

int runThroughput(const Options& o, Workers& w, const tcp::endpoint& ep, Watchdog& dog) {
  const int subs = o.subscribers;
  const long messages = o.messages > 0 ? o.messages : std::max(100, 100000 / subs);
  const long expected = messages * subs;
  const auto qos = o.qos == 1 ? mqtt::Qos::kAtLeastOnce : mqtt::Qos::kAtMostOnce;
  const std::size_t window = static_cast<std::size_t>(std::clamp(o.window, 1, 100));
  const auto epoch = Clock::now();
  Errors errors;
  std::atomic<int> ready{0}, running{0};
  std::atomic<long> delivered{0}, duplicates{0};
  std::atomic<bool> stopping{false}, publisher_done{false};
  std::atomic<std::int64_t> publish_start_ns{0}, publish_end_ns{0};
  auto now_ns = [&] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - epoch).count();
  };

  std::vector<std::unique_ptr<Subscriber>> subscribers;
  for (int i = 0; i < subs; ++i) {
    auto s = std::make_unique<Subscriber>();
    auto index = static_cast<std::size_t>(i + 1);  // the publisher takes worker 0
    s->conn = std::make_unique<Conn>(w.io(index), w.tls(index), 64 * 1024);
    s->seen.assign(static_cast<std::size_t>(messages), 0);
    subscribers.push_back(std::move(s));
  }

  auto subscriber = [&](Subscriber& s, int i) -> asio::awaitable<void> {
    Conn& c = *s.conn;
    try {
      co_await openSession(c, ep, o, clientId("s", i), 1200);
      mqtt::Subscribe sub;
      sub.packet_id = 1;
      mqtt::Subscription filter;
      filter.filter = kTopic;
      filter.options.qos = qos;
      sub.subscriptions.push_back(filter);
      encodeOrDie(sub, c.write_buf);
      co_await writeBuffered(c);
      mqtt::Packet p = co_await readPacket(c);
      auto* ack = std::get_if<mqtt::Suback>(&p);
      const auto granted = qos == mqtt::Qos::kAtLeastOnce ? mqtt::ReasonCode::kGrantedQos1
                                                          : mqtt::ReasonCode::kSuccess;
      if (!ack || ack->reasons.size() != 1 || ack->reasons[0] != granted) {
        throw std::runtime_error("SUBACK missing or QoS not granted");
      }
      ++ready;
      dog.tick();
      mqtt::PublishResponse puback;
      puback.type = mqtt::PacketType::kPuback;
      while (s.received < messages) {
        std::size_t n =
            co_await c.stream.async_read_some(asio::buffer(c.read_buf), asio::use_awaitable);
        c.decoder.feed(std::string_view(c.read_buf.data(), n));
        long fresh = 0;
        for (;;) {
          auto r = c.decoder.next();
          if (std::holds_alternative<std::monostate>(r)) break;
          if (auto* e = std::get_if<mqtt::DecodeError>(&r)) throw std::runtime_error(describe(*e));
          auto* pub = std::get_if<mqtt::Publish>(&std::get<mqtt::Packet>(r));
          if (!pub) continue;  // PINGRESP and the like
          std::uint64_t seq = ~0ull;
          if (pub->payload.size() == kPayloadSize) std::memcpy(&seq, pub->payload.data(), 8);
          if (seq < s.seen.size() && !s.seen[seq]) {
            s.seen[seq] = 1;
            ++fresh;
          } else {
            ++s.duplicates;
            ++duplicates;
          }
          if (pub->qos == mqtt::Qos::kAtLeastOnce) {
            puback.packet_id = pub->packet_id;
            encodeOrDie(puback, c.write_buf);
          }
        }
        if (fresh) {
          s.received += fresh;
          s.last_receipt_ns = now_ns();
          delivered += fresh;
          dog.tick();
        }
        if (!c.write_buf.empty()) co_await writeBuffered(c);
      }
    } catch (const std::exception& e) {
      if (!stopping) errors.add(std::string("subscriber: ") + errorText(e));
    }
    --running;
  };

  auto publisher = [&](Conn& c) -> asio::awaitable<void> {
    try {
      co_await openSession(c, ep, o, clientId("p", 0), 1200);
      ++ready;
      // Start when every subscriber holds its subscription.
      while (ready < subs + 1) {
        if (stopping) throw std::runtime_error("stopped before publishing");
        asio::steady_timer t(c.stream.get_executor(), std::chrono::milliseconds(1));
        co_await t.async_wait(asio::use_awaitable);
      }
      mqtt::Publish pub;
      pub.topic = kTopic;
      pub.qos = qos;
      pub.payload.assign(kPayloadSize, 'x');
      publish_start_ns = now_ns();
      if (qos == mqtt::Qos::kAtMostOnce) {
        constexpr long kBatch = 256;  // ~18 KB per write
        for (long seq = 0; seq < messages;) {
          for (long end = std::min(messages, seq + kBatch); seq < end; ++seq) {
            std::memcpy(pub.payload.data(), &seq, 8);
            encodeOrDie(pub, c.write_buf);
          }
          co_await writeBuffered(c);
        }
      } else {
        std::vector<std::uint8_t> in_flight(65536, 0);
        std::size_t outstanding = 0;
        std::uint16_t next_id = 0;
        long seq = 0, acked = 0;
        while (acked < messages) {
          while (outstanding < window && seq < messages) {
            do {
              ++next_id;
            } while (next_id == 0 || in_flight[next_id]);
            in_flight[next_id] = 1;
            ++outstanding;
            pub.packet_id = next_id;
            std::memcpy(pub.payload.data(), &seq, 8);
            encodeOrDie(pub, c.write_buf);
            ++seq;
          }
          if (!c.write_buf.empty()) co_await writeBuffered(c);
          std::size_t n =
              co_await c.stream.async_read_some(asio::buffer(c.read_buf), asio::use_awaitable);
          c.decoder.feed(std::string_view(c.read_buf.data(), n));
          for (;;) {
            auto r = c.decoder.next();
            if (std::holds_alternative<std::monostate>(r)) break;
            if (auto* e = std::get_if<mqtt::DecodeError>(&r)) {
              throw std::runtime_error(describe(*e));
            }
            auto* ack = std::get_if<mqtt::PublishResponse>(&std::get<mqtt::Packet>(r));
            if (!ack || ack->type != mqtt::PacketType::kPuback) continue;
            if (!in_flight[ack->packet_id]) throw std::runtime_error("PUBACK for unknown id");
            in_flight[ack->packet_id] = 0;
            --outstanding;
            ++acked;
          }
        }
      }
      publish_end_ns = now_ns();
      publisher_done = true;
      dog.tick();
    } catch (const std::exception& e) {
      if (!stopping) errors.add(std::string("publisher: ") + errorText(e));
    }
    --running;
  };

  dog.phase("throughput: subscribe", subs + 1);
  running = subs + 1;
  for (int i = 0; i < subs; ++i) {
    auto index = static_cast<std::size_t>(i + 1);
    asio::co_spawn(w.io(index), subscriber(*subscribers[static_cast<std::size_t>(i)], i),
                   asio::detached);
  }
  waitUntil([&] { return ready == subs || errors.count() > 0; });
  Conn pub_conn(w.io(0), w.tls(0), 16 * 1024);
  asio::co_spawn(w.io(0), publisher(pub_conn), asio::detached);
  waitUntil([&] { return ready == subs + 1 || errors.count() > 0; });

  dog.phase("throughput: deliver", expected);
  const double cpu0 = processCpuSeconds(o.broker_pid);
  const double client0 = clientCpuSeconds();
  // QoS 0 may lose messages: the run ends once the publisher is done and nothing has arrived
  // for two seconds. QoS 1 must deliver everything (the watchdog ends a stall).
  long last_count = -1;
  auto last_change = Clock::now();
  waitUntil([&] {
    long d = delivered;
    dog.progress(d);
    if (d != last_count) {
      last_count = d;
      last_change = Clock::now();
    }
    if (errors.count() > 0) return true;
    if (d >= expected && (qos == mqtt::Qos::kAtMostOnce || publisher_done)) return true;
    return qos == mqtt::Qos::kAtMostOnce && publisher_done &&
           Clock::now() - last_change > std::chrono::seconds(2);
  });
  const double cpu = processCpuSeconds(o.broker_pid) - cpu0;
  const double client_cpu = clientCpuSeconds() - client0;

  dog.phase("throughput: close", subs + 1);
  stopping = true;
  std::vector<Conn*> all{&pub_conn};
  for (auto& s : subscribers) all.push_back(s->conn.get());
  closeAll(all);
  waitUntil([&] { return running == 0; });

  std::int64_t last = 0;
  for (auto& s : subscribers) last = std::max<std::int64_t>(last, s->last_receipt_ns);
  const double elapsed = static_cast<double>(last - publish_start_ns) / 1e9;
  const double publish_s =
      static_cast<double>((publish_end_ns ? publish_end_ns.load() : last) - publish_start_ns) /
      1e9;
  const long got = delivered;
  const long lost = expected - got;
  const double rate = elapsed > 0 ? static_cast<double>(got) / elapsed : 0;
  std::printf("throughput qos=%d 1:%d: %ld messages, %ld of %ld deliveries in %.3f s: "
              "%.0f deliveries/s (publisher %.3f s), lost %ld, duplicates %ld, client CPU %.2f s\n",
              o.qos, subs, messages, got, expected, elapsed, rate, publish_s, lost,
              duplicates.load(), client_cpu);
  std::printf("result mode=throughput qos=%d subscribers=%d messages=%ld expected=%ld "
              "delivered=%ld lost=%ld duplicates=%ld seconds=%.3f rate=%.1f publish_seconds=%.3f "
              "broker_cpu_s=%.2f client_cpu_s=%.2f\n",
              o.qos, subs, messages, expected, got, lost, duplicates.load(), elapsed, rate,
              publish_s, cpu, client_cpu);
  if (errors.count() > 0) {
    std::fprintf(stderr, "fleetgate-broker-bench: throughput run FAILED\n");
    errors.print();
    return 1;
  }
  if (qos == mqtt::Qos::kAtLeastOnce && lost != 0) {
    std::fprintf(stderr, "fleetgate-broker-bench: QoS 1 LOST %ld messages\n", lost);
    return 1;
  }
  if (lost > 0) std::printf("note: QoS 0 lost %ld of %ld deliveries\n", lost, expected);
  return 0;
}

// ---- idle ----

int runIdle(const Options& o, Workers& w, const tcp::endpoint& ep, Watchdog& dog) {
  const int total = o.connections > 0 ? o.connections : 10000;
  const int loops = o.concurrency > 0 ? o.concurrency : 64;
  std::atomic<int> next{0}, opened{0}, lost{0}, openers{loops}, holders{0};
  std::atomic<bool> stopping{false};
  Errors errors, drops;
  std::vector<std::unique_ptr<Conn>> conns(static_cast<std::size_t>(total));

  // Keeps one read pending: any byte or error before the end means the broker let go.
  auto hold = [&](Conn& c) -> asio::awaitable<void> {
    try {
      co_await c.stream.async_read_some(asio::buffer(c.read_buf), asio::use_awaitable);
      if (!stopping) drops.add("broker sent data to an idle connection");
    } catch (const std::exception& e) {
      if (!stopping) drops.add(std::string("idle connection closed: ") + errorText(e));
    }
    if (!stopping) ++lost;
    --holders;
  };
  auto opener = [&](std::size_t index) -> asio::awaitable<void> {
    for (int id; (id = next++) < total;) {
      auto& slot = conns[static_cast<std::size_t>(id)];
      slot = std::make_unique<Conn>(w.io(index), w.tls(index), 64);
      try {
        co_await openSession(*slot, ep, o, clientId("i", id), 1200);
        ++holders;
        asio::co_spawn(w.io(index), hold(*slot), asio::detached);
        dog.progress(++opened);
      } catch (const std::exception& e) {
        errors.add(errorText(e));
        slot->close();
      }
    }
    --openers;
  };

  const long rss0 = processRssKb(o.broker_pid);
  const double cpu0 = processCpuSeconds(o.broker_pid);
  const double client0 = clientCpuSeconds();
  dog.phase("idle: open", total);
  const auto start = Clock::now();
  spawnLoops(w, loops, opener);
  waitUntil([&] { return openers == 0; });
  const double open_s = seconds(Clock::now() - start);
  const double client_cpu = clientCpuSeconds() - client0;
  dog.phase("idle: settle", 0);
  for (auto until = Clock::now() + std::chrono::duration<double>(o.settle); Clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    dog.tick();
  }
  const long rss1 = processRssKb(o.broker_pid);
  const double cpu = processCpuSeconds(o.broker_pid) - cpu0;
  for (auto until = Clock::now() + std::chrono::duration<double>(o.hold); Clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    dog.tick();
  }
  const int held = opened - lost;

  dog.phase("idle: close", total);
  stopping = true;
  std::vector<Conn*> all;
  for (auto& c : conns) {
    if (c) all.push_back(c.get());
  }
  closeAll(all);
  waitUntil([&] { return holders == 0; });

  const double kb = held > 0 ? static_cast<double>(rss1 - rss0) / held : 0;
  std::printf("idle: held %d of %d connections (opened in %.2f s, %d handshakes in flight); "
              "broker VmRSS %ld -> %ld KiB: %.2f KiB per connection; client CPU %.2f s\n",
              held, total, open_s, loops, rss0, rss1, kb, client_cpu);
  std::printf("result mode=idle tls=%s connections=%d held=%d failed=%d lost=%d "
              "open_seconds=%.3f rss_before_kb=%ld rss_after_kb=%ld kb_per_connection=%.3f "
              "broker_cpu_s=%.2f client_cpu_s=%.2f\n",
              o.tls.c_str(), total, held, errors.count(), lost.load(), open_s, rss0, rss1, kb,
              cpu, client_cpu);
  conns.clear();
  if (held != total) {
    std::fprintf(stderr,
                 "fleetgate-broker-bench: FAILED TO HOLD ALL CONNECTIONS: held %d of %d "
                 "(%d failed to open, %d dropped; open-file limit %lu)\n",
                 held, total, errors.count(), lost.load(), fileLimit());
    errors.print();
    drops.print();
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"fleetgate MQTT-over-mTLS broker benchmark"};
  app.add_option("--host", o.host, "Broker address (127.0.0.1 only)")
      ->check(CLI::IsMember({"127.0.0.1"}));
  app.add_option("--port", o.port)->required();
  app.add_option("--ca", o.ca_file, "CA file that verifies the broker's certificate")->required();
  app.add_option("--cert", o.cert_file, "Client certificate (PEM)")->required();
  app.add_option("--key", o.key_file, "Client private key (PEM)")->required();
  app.add_option("--broker-pid", o.broker_pid, "Broker process for CPU and RSS")->required();
  app.add_option("--server-name", o.server_name, "Name checked in the broker's certificate (and "
                                                 "sent as SNI unless an IP address)");
  app.add_option("--mode", o.mode)->check(CLI::IsMember({"connect", "throughput", "idle"}));
  app.add_option("--tls", o.tls)->check(CLI::IsMember({"1.2", "1.3"}));
  app.add_option("--connections", o.connections, "connect: 3000; idle: 10000");
  app.add_option("--concurrency", o.concurrency, "connect: loops (32); idle: handshakes (64)");
  app.add_option("--qos", o.qos)->check(CLI::Range(0, 1));
  app.add_option("--subscribers", o.subscribers)->check(CLI::Range(1, 10000));
  app.add_option("--messages", o.messages, "Messages published (100000 / subscribers)");
  app.add_option("--window", o.window, "QoS 1 in-flight publishes (<= 100)")
      ->check(CLI::Range(1, 100));
  app.add_option("--threads", o.threads, "Client threads, one io_context each")
      ->check(CLI::Range(1, 64));
  app.add_option("--timeout", o.timeout, "Seconds without progress before failing")
      ->check(CLI::Range(1, 3600));
  app.add_option("--settle", o.settle, "idle: seconds before reading the broker's RSS")
      ->check(CLI::Range(0.0, 600.0));
  app.add_option("--hold", o.hold, "idle: seconds to hold after the reading")
      ->check(CLI::Range(0.0, 3600.0));
  CLI11_PARSE(app, argc, argv);
  if (o.server_name.empty()) o.server_name = o.host;

  raiseFileLimit();
  if (processCpuSeconds(o.broker_pid) < 0 || processRssKb(o.broker_pid) < 0) {
    std::fprintf(stderr, "fleetgate-broker-bench: cannot read /proc/%d\n", o.broker_pid);
    return 2;
  }
  try {
    Watchdog dog("fleetgate-broker-bench", o.timeout);
    const tcp::endpoint ep(asio::ip::make_address(o.host), static_cast<std::uint16_t>(o.port));
    Workers workers(o.threads, [&] { return makeTlsContext(o); });
    int rc = 0;
    if (o.mode == "connect") rc = runConnect(o, workers, ep, dog);
    if (o.mode == "throughput") rc = runThroughput(o, workers, ep, dog);
    if (o.mode == "idle") rc = runIdle(o, workers, ep, dog);
    dog.phase("exit", 0);
    workers.stop();
    std::fflush(stdout);
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fleetgate-broker-bench: %s\n", e.what());
    return 2;
  }
}
