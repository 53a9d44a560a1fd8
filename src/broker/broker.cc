// Threading: one event loop per worker thread. A connection's TLS handshake and CONNECT run on
// the worker that accepted it; once authorized, it moves to the worker that owns its client id
// (hash of account and client id), so sessions, takeover and the subscriptions of a client are
// touched by one thread only and need no lock. A PUBLISH is matched against the publisher's
// worker's subscription tree directly and posted to the other workers for theirs: nothing global
// is locked on the publish path (retained messages aside).
#include "broker/broker.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <functional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "broker/authorizer.h"
#include "broker/device_api.h"
#include "broker/lifecycle.h"
#include "broker/metrics.h"
#include "broker/reserved_topics.h"
#include "broker/retained_store.h"
#include "broker/router.h"
#include "broker/session_table.h"
#include "pki/tls.h"

namespace fleetgate::broker {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using mqtt::DisconnectReason;
using mqtt::ReasonCode;
using policy::Action;
using policy::ResourceKind;

namespace {

// spec §9.6: the will goes out on every end except a plain client DISCONNECT.
bool sendsWill(DisconnectReason reason, bool requested) {
  return reason != DisconnectReason::kClientInitiated || requested;
}

// Properties a subscriber may see (MQTT 5 §3.3.4): the alias is per connection, and a will's
// delay interval is for the broker.
mqtt::Properties forwardedProperties(mqtt::Properties properties) {
  std::erase_if(properties, [](const mqtt::Property& p) {
    return p.id == mqtt::PropertyId::kTopicAlias ||
           p.id == mqtt::PropertyId::kSubscriptionIdentifier ||
           p.id == mqtt::PropertyId::kWillDelayInterval;
  });
  return properties;
}

class Worker;

}  // namespace

struct Broker::Impl {
  Impl(BrokerOptions o, BrokerDependencies d)
      : options(std::move(o)),
        deps(d),
        authorizer(d.registry, d.certificates, d.clock, options.default_account_id,
                   options.domain, options.require_server_name) {}

  Worker& homeOf(std::string_view account_id, std::string_view client_id);
  // Delivers to every worker's subscribers; `origin` is the publishing session (MQTT 5 no-local).
  void route(Worker& from, const std::string& account_id, const mqtt::MessagePtr& message,
             mqtt::SubscriberId origin);
  void publishEvent(Worker& from, const std::string& account_id, std::string topic,
                    std::string payload);
  // Offers a routed message to the topic-rule engine.
  void observe(std::string_view account_id, std::string_view topic, std::string_view payload,
               std::string_view client_id, std::string_view principal, mqtt::Qos qos,
               int rule_depth) const {
    if (!deps.observer) return;
    deps.observer(mqtt::RoutedMessage{account_id, topic, payload, client_id, principal,
                                static_cast<int>(qos), rule_depth});
  }
  void onRegistryEvent(const registry::Event& event);
  std::int64_t nowMillis() const { return toEpochMillis(deps.clock.now()); }
  SteadyTime steadyNow() const { return deps.monotonic_clock.now(); }

  BrokerOptions options;
  BrokerDependencies deps;
  Authorizer authorizer;
  RetainedStore retained;
  std::shared_ptr<pki::TlsServerContext> tls_mqtt;
  std::shared_ptr<pki::TlsServerContext> tls_alpn;
  std::vector<std::unique_ptr<Worker>> workers;
  // Auto-registration and device API requests write to the registry; they run here, never on a
  // worker's event loop.
  std::optional<asio::thread_pool> blocking_pool;
  std::uint16_t mqtt_port = 0;
  std::uint16_t alpn_port = 0;
  bool started = false;
  bool stopped = false;

  // Subscriptions to `$aws/events/...` across all workers: lifecycle events are not even built
  // while nobody could receive them (most connects). A subscription racing with a connect may
  // miss that one event; AWS documents lifecycle events as best effort too.
  std::atomic<std::int64_t> event_subscriptions{0};

  std::mutex events_mutex;
  RegistryEventCounts registry_events;
  // Lets the registry's event subscription outlive the broker harmlessly.
  struct EventSink {
    std::mutex mutex;
    Impl* impl = nullptr;
  };
  std::shared_ptr<EventSink> sink = std::make_shared<EventSink>();
};

// Defined here, declared opaque in session_record.h.
struct Client {
  enum class Phase { kHandshake, kAwaitingConnect, kMoving, kActive, kClosing };

  Worker* worker;
  std::uint64_t id;
  std::optional<tcp::socket> socket;
  std::unique_ptr<pki::TlsSession> tls;
  mqtt::Connection connection;
  Phase phase = Phase::kHandshake;
  SteadyTime started;
  std::string source_ip;
  std::string out;      // ciphertext waiting to be written
  std::string writing;  // ciphertext being written
  bool write_in_progress = false;
  Worker* move_target = nullptr;  // set with Phase::kMoving
  bool peer_closed = false;       // TLS close_notify seen; applied after pipelined packets
  bool finished = false;

  // Set at CONNECT.
  std::shared_ptr<const Identity> identity;
  Authorization auth;
  SessionRecord* session = nullptr;
  LifecycleIdentity lifecycle;
  bool connect_clean = true;
  std::uint32_t connect_expiry = 0;  // seconds, already capped
  bool expiry_capped = false;
  bool assigned_client_id = false;
  bool dirty = false;  // has deliveries to flush

  Client(Worker& w, std::uint64_t client_id, tcp::socket s, std::unique_ptr<pki::TlsSession> t,
         const mqtt::ConnectionLimits& limits, SteadyTime now)
      : worker(&w),
        id(client_id),
        socket(std::move(s)),
        tls(std::move(t)),
        connection(limits),
        started(now) {}
};

namespace {

using ClientPtr = std::shared_ptr<Client>;

class Worker {
 public:
  Worker(Broker::Impl& broker, std::size_t index)
      : broker_(broker),
        index_(index),
        sweep_(io_),
        router_(broker.event_subscriptions),
        sessions_(router_, index, kIdStride, broker.options.max_offline_messages),
        read_buffer_(64 * 1024, '\0') {}

  asio::io_context& io() { return io_; }
  const WorkerMetrics& metrics() const { return metrics_; }

  // Closes a descriptor whose socket other descriptors still share. Asio's close() leaves the
  // descriptor in this loop's epoll set (it counts on close() to remove it, which it does only
  // once the last descriptor of the socket closes), and the stale entry would go on reporting
  // the shared socket's readiness; release() deletes it from the set first.
  static void closeShared(tcp::acceptor& acceptor) {
    boost::system::error_code ec;
    const int fd = acceptor.release(ec);
    if (!ec) ::close(fd);
  }

  // Accepts on `listening`, a duplicate of the one listening socket every worker shares.
  Status acceptOn(int listening, const tcp::endpoint& endpoint,
                  std::shared_ptr<pki::TlsServerContext> tls) {
    boost::system::error_code ec;
    auto acceptor = std::make_unique<tcp::acceptor>(io_);
    acceptor->assign(endpoint.protocol(), listening, ec);
    if (ec) {
      ::close(listening);
      return environmentError("cannot accept on " + endpoint.address().to_string() + ":" +
                              std::to_string(endpoint.port()) + ": " + ec.message());
    }
    accept(*acceptor, std::move(tls));
    acceptors_.push_back(std::move(acceptor));
    return {};
  }

  void start() {
    scheduleSweep();
    thread_ = std::thread([this] { io_.run(); });
  }

  // Runs on this worker: closes everything, then lets the loop end.
  void shutdown() {
    stopping_ = true;
    for (auto& a : acceptors_) closeShared(*a);
    sweep_.cancel();
    std::vector<ClientPtr> all;
    for (auto& [id, c] : clients_) all.push_back(c);
    for (auto& c : all) {
      if (c->phase == Client::Phase::kActive) {
        c->connection.close(DisconnectReason::kServerInitiated, ReasonCode::kServerShuttingDown);
        closed(c);
      } else {
        finish(c);
      }
    }
    // Goodbyes get a moment to go out; a client that does not read cannot hold the stop.
    if (clients_.empty()) return;
    sweep_.expires_after(std::chrono::seconds(2));
    sweep_.async_wait([this](boost::system::error_code ec) {
      if (!ec) io_.stop();
    });
  }

  void join() {
    if (thread_.joinable()) thread_.join();
  }

  void adopt(const ClientPtr& c, tcp::socket::native_handle_type fd, tcp::socket::protocol_type p) {
    c->worker = this;
    c->socket.emplace(io_, p, fd);
    c->socket->non_blocking(true);
    clients_[c->id] = c;
    WorkerMetrics::add(metrics_.sockets);
    if (stopping_) {
      finish(c);
      return;
    }
    attach(c);
    flushDirty();
    if (!c->finished && c->phase == Client::Phase::kActive) waitReadable(c);
  }

  // Sends what this batch of work produced: deliveries for other workers' clients (one post per
  // worker, not per message) and this worker's clients' new packets (one TLS record each).
  bool eventsWanted(std::string_view client_id) const {
    const bool wanted = broker_.event_subscriptions.load(std::memory_order_relaxed) > 0 ||
                        (broker_.deps.observer_wants_events &&
                         broker_.deps.observer_wants_events());
    return wanted && emitsLifecycleEvents(client_id);
  }

  void flushDirty() {
    for (std::size_t i = 0; i < outbox_.size(); ++i) {
      if (outbox_[i].empty()) continue;
      Worker* to = broker_.workers[i].get();
      asio::post(to->io(), [to, batch = std::move(outbox_[i])] {
        for (const Routed& r : batch) to->deliverLocal(r.account_id, r.message, r.origin);
        to->flushDirty();
      });
      outbox_[i].clear();
    }
    for (Client* d : dirty_) {
      d->dirty = false;
      auto it = clients_.find(d->id);
      if (it != clients_.end()) flush(it->second);
    }
    dirty_.clear();
  }

  // Queues a message for another worker's subscribers until flushDirty().
  void forward(std::size_t worker, const std::string& account_id, const mqtt::MessagePtr& message,
               mqtt::SubscriberId origin) {
    if (outbox_.size() <= worker) outbox_.resize(broker_.workers.size());
    outbox_[worker].push_back(Routed{account_id, message, origin});
  }

  std::size_t index() const { return index_; }

  void deliverLocal(const std::string& account_id, const mqtt::MessagePtr& message,
                    mqtt::SubscriberId origin);
  void reauthorize(const std::string& account_id);
  // The receive gate of an active client: the policy in force for it now (reauthorize() keeps
  // c.auth current), asked by its connection for every PUBLISH it writes.
  bool mayReceive(const Client& c, const mqtt::Message& message);

 private:
  void accept(tcp::acceptor& acceptor, std::shared_ptr<pki::TlsServerContext> tls) {
    acceptor.async_accept(io_, [this, &acceptor, tls](boost::system::error_code ec,
                                                      tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) onAccepted(std::move(socket), tls);
      accept(acceptor, tls);
    });
  }

  void onAccepted(tcp::socket socket, const std::shared_ptr<pki::TlsServerContext>& tls) {
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    socket.non_blocking(true, ec);
    auto remote = socket.remote_endpoint(ec);
    if (ec) return;
    auto c = std::make_shared<Client>(*this, next_client_id_++ * kIdStride + index_,
                                      std::move(socket), pki::TlsSession::accept(tls),
                                      broker_.options.limits, broker_.steadyNow());
    c->source_ip = remote.address().to_string();
    clients_[c->id] = c;
    WorkerMetrics::add(metrics_.sockets);
    waitReadable(c);
  }

  void waitReadable(const ClientPtr& c) {
    c->socket->async_wait(tcp::socket::wait_read, [this, c](boost::system::error_code ec) {
      if (c->finished || c->worker != this) return;
      if (ec) {
        lost(c);
        return;
      }
      onReadable(c);
    });
  }

  void onReadable(const ClientPtr& c) {
    // Read into the worker's buffer, so an idle connection holds no read buffer of its own.
    for (int i = 0; i < 4 && !c->finished; ++i) {
      boost::system::error_code ec;
      const std::size_t n = c->socket->read_some(asio::buffer(read_buffer_), ec);
      if (ec == asio::error::would_block) break;
      if (ec) {
        lost(c);
        return;
      }
      WorkerMetrics::add(metrics_.bytes_in, n);
      process(c, std::string_view(read_buffer_.data(), n));
      if (c->phase == Client::Phase::kMoving) {
        flushDirty();
        // Handing the client over must be the last thing this thread does with it: from the
        // post on, its home worker owns it.
        if (!c->write_in_progress) moveNow(c);
        return;
      }
      if (c->phase == Client::Phase::kClosing) {
        flushDirty();
        return;
      }
    }
    flushDirty();
    if (c->finished) return;
    waitReadable(c);
  }

  void process(const ClientPtr& c, std::string_view ciphertext) {
    plaintext_.clear();
    const auto state = c->tls->receive(ciphertext, plaintext_);
    if (state == pki::TlsSession::State::kFailed) {
      if (c->phase == Client::Phase::kHandshake) {
        WorkerMetrics::add(
            metrics_.auth_failures[static_cast<std::size_t>(AuthFailure::kTlsHandshake)]);
        spdlog::debug("mqtt: TLS handshake from {} failed: {}", c->source_ip,
                      c->tls->failureReason());
      }
      flushTls(c);
      if (c->phase == Client::Phase::kActive) {
        c->connection.lost();
        closed(c);
      } else {
        finishAfterWrite(c);
      }
      return;
    }
    if (c->phase == Client::Phase::kHandshake && state == pki::TlsSession::State::kOpen) {
      c->phase = Client::Phase::kAwaitingConnect;
      WorkerMetrics::add(metrics_.handshakes);
    }
    if (!plaintext_.empty()) receiveAndHandle(c, plaintext_);
    if (state == pki::TlsSession::State::kClosed) c->peer_closed = true;
    if (c->phase == Client::Phase::kMoving) return;  // the home worker applies peer_closed
    if (c->peer_closed && !c->connection.closed()) c->connection.lost();
    flush(c);
    if (c->connection.closed()) closed(c);
  }

  // Feeds plaintext to the protocol core and acts on what it asks. Re-entered by attach() for
  // the packets a client pipelined behind CONNECT, hence the swap of the scratch vector.
  void receiveAndHandle(const ClientPtr& c, std::string_view plaintext) {
    std::vector<mqtt::ConnectionEvent> events;
    events.swap(events_);
    events.clear();
    c->connection.receive(plaintext, broker_.steadyNow(), events);
    // Packets the client sent before its DISCONNECT (or before a malformed one) still count;
    // once a decision here closes the connection, nothing after it does.
    const bool closed_by_client = c->connection.closed();
    for (auto& event : events) {
      if (c->phase == Client::Phase::kMoving) break;
      if (c->connection.closed() && !closed_by_client) break;
      if (auto* connect = std::get_if<mqtt::ConnectRequested>(&event)) {
        onConnect(c, std::move(connect->connect));
      } else if (auto* publish = std::get_if<mqtt::PublishReceived>(&event)) {
        onPublish(c, publish->publish);
      } else if (auto* subscribe = std::get_if<mqtt::SubscribeRequested>(&event)) {
        onSubscribe(c, *subscribe);
      } else if (auto* unsubscribe = std::get_if<mqtt::UnsubscribeRequested>(&event)) {
        onUnsubscribe(c, unsubscribe->unsubscribe);
      }
    }
    events.clear();
    events_.swap(events);
  }

  void onConnect(const ClientPtr& c, mqtt::Connect connect) {
    auto identity = std::make_shared<Identity>();
    identity->certificate_id = c->tls->peerCertificateId();
    identity->server_name = c->tls->serverName();
    identity->context = connectionContext(c->tls->peerCertificateNames(), c->source_ip);
    const bool assigned = connect.client_id.empty();
    if (assigned) connect.client_id = broker_.deps.random.hex(16);
    identity->context.client_id = connect.client_id;
    identity->context.persistent_connect = !connect.clean_start;
    if (connect.will) identity->context.last_will_topic = connect.will->topic;
    identity->will = connect.will;

    AuthOutcome outcome = broker_.authorizer.authorize(
        identity->certificate_id, identity->server_name, identity->context,
        identity->will ? &*identity->will : nullptr);
    c->lifecycle.client_id = connect.client_id;
    c->lifecycle.principal_identifier = identity->certificate_id;
    c->lifecycle.ip_address = c->source_ip;
    c->lifecycle.session_identifier = broker_.deps.random.uuid();
    if (auto* refusal = std::get_if<Refusal>(&outcome)) {
      if (refusal->failure == AuthFailure::kUnknownCertificate && broker_.deps.auto_registrar) {
        autoRegister(c, identity->server_name);
        return;
      }
      if (refusal->certificate && refusal->certificate->ca_id &&
          refusal->certificate->status == registry::CertificateStatus::kPendingActivation) {
        announceRegistration({refusal->certificate->id, *refusal->certificate->ca_id,
                              refusal->certificate->account_id,
                              toEpochMillis(refusal->certificate->creation_date)});
      }
      refuse(c, *refusal, identity->server_name);
      return;
    }
    c->auth = std::move(std::get<Authorization>(outcome));
    c->identity = std::move(identity);
    c->lifecycle.thing_name = c->auth.exclusive_thing;
    c->connect_clean = connect.clean_start;
    c->assigned_client_id = assigned;
    // MQTT 3.1.1 cleanSession=0: AWS keeps the session one hour. MQTT 5: the client's Session
    // Expiry Interval, capped to the same hour (and the cap announced in CONNACK).
    const std::uint32_t cap = broker_.options.max_session_expiry;
    std::uint32_t requested = connect.clean_start ? 0 : cap;
    if (connect.version == mqtt::ProtocolVersion::kV5) {
      const auto* p = mqtt::findProperty(connect.properties, mqtt::PropertyId::kSessionExpiryInterval);
      requested = p != nullptr ? p->integer : 0;
    }
    c->connect_expiry = std::min(requested, cap);
    c->expiry_capped = requested > cap;
    Worker& home = broker_.homeOf(c->auth.account.id, connect.client_id);
    if (&home == this) {
      attach(c);
    } else {
      move(c, home);
    }
  }

  // JITP/JITR (spec §4, §5). The attempt that registers a certificate is refused either way: the
  // device connects again once the registration is done (JITP) or activated (JITR). Its CONNECT
  // waits for the outcome, so that a prompt retry finds the registration in place.
  void autoRegister(const ClientPtr& c, const std::string& server_name) {
    auto account = broker_.authorizer.accountFor(server_name);
    if (!account) {
      refuse(c, Refusal{AuthFailure::kUnknownAccount, "no account for the server name"},
             server_name);
      return;
    }
    provisioning::UnknownDevice device{*account, c->tls->peerChainDer(), !server_name.empty()};
    asio::post(*broker_.blocking_pool,
               [this, c, server_name, device = std::move(device)] {
                 auto result = broker_.deps.auto_registrar->run(device);
                 asio::post(io_, [this, c, server_name, account_id = device.account.id,
                                  result = std::move(result)] {
                   onAutoRegistered(c, server_name, account_id, result);
                 });
               });
  }

  void onAutoRegistered(const ClientPtr& c, const std::string& server_name,
                        const std::string& account_id,
                        const provisioning::AutoRegistration& result) {
    using Outcome = provisioning::AutoRegistration::Outcome;
    AuthFailure failure = AuthFailure::kUnknownCertificate;
    switch (result.outcome) {
      case Outcome::kProvisioned:
        failure = AuthFailure::kJustProvisioned;
        if (result.shared) break;
        WorkerMetrics::add(metrics_.jitp_provisioned);
        spdlog::info("mqtt: provisioned certificate {} (JITP)", result.certificate_id);
        break;
      case Outcome::kPendingActivation:
        failure = AuthFailure::kPendingActivation;
        if (!result.shared) {
          WorkerMetrics::add(metrics_.jitr_registered);
          spdlog::info("mqtt: registered certificate {} PENDING_ACTIVATION (JITR)",
                       result.certificate_id);
        }
        announceRegistration({result.certificate_id, result.ca_certificate_id, account_id,
                              toEpochMillis(result.registered_at)});
        break;
      case Outcome::kFailed:
        if (result.shared) break;
        WorkerMetrics::add(metrics_.auto_registration_failures);
        spdlog::warn("mqtt: auto-registration of certificate {} failed: {}",
                     result.certificate_id, result.detail);
        break;
      case Outcome::kNotEligible:
        break;
    }
    if (c->finished || c->connection.closed()) return;
    refuse(c, Refusal{failure, result.detail}, server_name);
    flush(c);
    if (c->connection.closed()) closed(c);
  }

  void announceRegistration(const CertificateRegistration& registration) {
    broker_.publishEvent(*this, registration.account_id,
                         certificateRegisteredTopic(registration.ca_certificate_id),
                         certificateRegisteredEvent(registration, broker_.nowMillis()));
    flushDirty();
  }

  void refuse(const ClientPtr& c, const Refusal& refusal, const std::string& server_name) {
    WorkerMetrics::add(metrics_.auth_failures[static_cast<std::size_t>(refusal.failure)]);
    if (refusal.failure == AuthFailure::kConnectDenied ||
        refusal.failure == AuthFailure::kWillDenied) {
      WorkerMetrics::add(metrics_.policy_denials[static_cast<std::size_t>(Action::kConnect)]);
    }
    spdlog::debug("mqtt: refused client {} from {}: {}", c->lifecycle.client_id, c->source_ip,
                  refusal.detail);
    c->connection.refuse(refusal.failure == AuthFailure::kServerError
                             ? ReasonCode::kServerUnavailable
                             : ReasonCode::kNotAuthorized);
    // The event goes to the account the client addressed, when there is one.
    if (eventsWanted(c->lifecycle.client_id) &&
        refusal.failure != AuthFailure::kUnknownAccount) {
      if (auto account = broker_.authorizer.accountFor(server_name)) {
        broker_.publishEvent(*this, account->id, connectFailedTopic(c->lifecycle.client_id),
                             connectFailedEvent(c->lifecycle, broker_.nowMillis(),
                                                "AUTHORIZATION_FAILED"));
      }
    }
  }

  // Marks the client for its home worker; onReadable or onWritten hands it over once this thread
  // is done with it.
  void move(const ClientPtr& c, Worker& home) {
    c->phase = Client::Phase::kMoving;
    c->move_target = &home;
  }

  void moveNow(const ClientPtr& c) {
    Worker& home = *c->move_target;
    boost::system::error_code ec;
    const auto protocol = c->socket->local_endpoint(ec).protocol();
    const auto fd = c->socket->release(ec);
    c->socket.reset();
    clients_.erase(c->id);
    metrics_.sockets.fetch_sub(1, std::memory_order_relaxed);
    if (ec) {
      c->finished = true;
      return;
    }
    asio::post(home.io(), [&home, c, fd, protocol] { home.adopt(c, fd, protocol); });
  }

  void attach(const ClientPtr& c);

  void onPublish(const ClientPtr& c, mqtt::Publish& publish) {
    const policy::CompiledPolicy& policy = *c->auth.policy;
    if (!clientMayPublish(publish.topic)) {
      c->connection.completePublish(publish, ReasonCode::kTopicNameInvalid);
      return;
    }
    if (!isAllowed(policy.check(Action::kPublish, ResourceKind::kTopic, publish.topic)) ||
        (publish.retain &&
         !isAllowed(policy.check(Action::kRetainPublish, ResourceKind::kTopic, publish.topic)))) {
      WorkerMetrics::add(metrics_.policy_denials[static_cast<std::size_t>(
          publish.retain ? Action::kRetainPublish : Action::kPublish)]);
      c->connection.completePublish(publish, ReasonCode::kNotAuthorized);
      return;
    }
    WorkerMetrics::add(metrics_.messages_in);
    const std::string& account_id = c->auth.account.id;
    if (isBasicIngest(publish.topic)) {
      // Basic Ingest reaches the named rule only, never a subscriber.
      broker_.observe(account_id, publish.topic, publish.payload, c->session->client_id,
                      c->identity->certificate_id, publish.qos, 0);
    } else if (broker_.deps.device_api != nullptr &&
               broker_.deps.device_api->handles(publish.topic)) {
      askDeviceApi(c, publish);  // a request reaches the service that answers it, nobody else
    } else {
      auto message = std::make_shared<mqtt::Message>();
      message->topic = std::move(publish.topic);
      message->payload = std::move(publish.payload);
      message->qos = publish.qos;
      message->retain = publish.retain;
      message->properties = forwardedProperties(std::move(publish.properties));
      if (message->retain) broker_.retained.put(account_id, message);
      broker_.route(*this, account_id, message, c->session->id);
      broker_.observe(account_id, message->topic, message->payload, c->session->client_id,
                      c->identity->certificate_id, message->qos, 0);
    }
    c->connection.completePublish(publish, ReasonCode::kSuccess);
  }

  void askDeviceApi(const ClientPtr& c, mqtt::Publish& publish) {
    DeviceRequest request{c->auth.account.id,          c->auth.account.region,
                          c->session->client_id,       c->identity->certificate_id,
                          std::move(publish.topic),    std::move(publish.payload)};
    asio::post(*broker_.blocking_pool, [this, c, request = std::move(request)] {
      auto replies = broker_.deps.device_api->handle(request);
      asio::post(io_, [this, c, replies = std::move(replies)] { onDeviceReplies(c, replies); });
    });
  }

  // Replies go to the connection that asked, if it is still there, on the topics it subscribed
  // to; its receive gate has the last word like for any message.
  void onDeviceReplies(const ClientPtr& c, const std::vector<DeviceReply>& replies) {
    if (c->finished || c->phase != Client::Phase::kActive || c->session == nullptr) return;
    for (const DeviceReply& reply : replies) {
      const auto qos = replyQos(*c->session->state, reply.topic);
      if (!qos) continue;
      auto message = std::make_shared<mqtt::Message>();
      message->topic = reply.topic;
      message->payload = reply.payload;
      message->qos = *qos;
      deliverTo(*c, mqtt::Delivery{std::move(message), *qos, false});
    }
    flushDirty();
  }

  void onSubscribe(const ClientPtr& c, const mqtt::SubscribeRequested& request) {
    const auto& subs = request.subscribe.subscriptions;
    std::vector<ReasonCode> reasons(subs.size());
    std::vector<std::string> granted;
    std::vector<bool> is_new(subs.size(), false);
    SessionRecord& s = *c->session;
    for (std::size_t i = 0; i < subs.size(); ++i) {
      const auto& sub = subs[i];
      if (request.refused[i] != ReasonCode::kSuccess) {
        reasons[i] = request.refused[i];
      } else if (!clientMaySubscribe(sub.filter)) {
        reasons[i] = ReasonCode::kTopicFilterInvalid;
      } else if (!isAllowed(c->auth.policy->check(Action::kSubscribe, ResourceKind::kTopicFilter,
                                                   sub.filter))) {
        WorkerMetrics::add(metrics_.policy_denials[static_cast<std::size_t>(Action::kSubscribe)]);
        reasons[i] = ReasonCode::kNotAuthorized;
      } else if (s.state->subscriptions.size() >= broker_.options.limits.max_subscriptions &&
                 !s.state->subscriptions.contains(sub.filter)) {
        // Counted against what is granted, the filters before it in this batch included.
        reasons[i] = ReasonCode::kQuotaExceeded;
      } else {
        reasons[i] = sub.options.qos == mqtt::Qos::kAtLeastOnce ? ReasonCode::kGrantedQos1
                                                                 : ReasonCode::kSuccess;
        is_new[i] = router_.subscribe(s, sub.filter, sub.options);
        granted.push_back(sub.filter);
      }
    }
    c->connection.completeSubscribe(request.subscribe.packet_id, reasons);
    if (c->connection.closed()) return;
    // Retained messages go only to a filter that is exactly their topic (spec §9.5).
    for (std::size_t i = 0; i < subs.size(); ++i) {
      const auto& sub = subs[i];
      const bool wanted = sub.options.retain_handling == mqtt::RetainHandling::kSendOnSubscribe ||
                          (sub.options.retain_handling == mqtt::RetainHandling::kSendIfNew &&
                           is_new[i]);
      if (static_cast<std::uint8_t>(reasons[i]) >= 0x80 || !wanted ||
          sub.filter.find_first_of("+#") != std::string::npos) {
        continue;
      }
      auto message = broker_.retained.get(s.account_id, sub.filter);
      if (!message) continue;
      deliverTo(*c, mqtt::Delivery{message, std::min(message->qos, sub.options.qos), true});
    }
    if (!granted.empty() && eventsWanted(s.client_id)) {
      broker_.publishEvent(*this, s.account_id, subscribedTopic(s.client_id),
                           subscriptionEvent(c->lifecycle, broker_.nowMillis(), true, granted));
    }
  }

  void onUnsubscribe(const ClientPtr& c, const mqtt::Unsubscribe& request) {
    SessionRecord& s = *c->session;
    std::vector<ReasonCode> reasons;
    std::vector<std::string> removed;
    for (const std::string& filter : request.filters) {
      const bool existed = router_.unsubscribe(s, filter);
      if (existed) removed.push_back(filter);
      reasons.push_back(existed ? ReasonCode::kSuccess : ReasonCode::kNoSubscriptionExisted);
    }
    c->connection.completeUnsubscribe(request.packet_id, reasons);
    if (!removed.empty() && eventsWanted(s.client_id)) {
      broker_.publishEvent(*this, s.account_id, unsubscribedTopic(s.client_id),
                           subscriptionEvent(c->lifecycle, broker_.nowMillis(), false, removed));
    }
  }

  // Encrypts what the protocol core wrote and starts writing it.
  void flush(const ClientPtr& c) {
    if (c->finished) return;
    if (c->connection.takeOutgoing(pending_plaintext_)) {
      if (c->tls->state() == pki::TlsSession::State::kOpen) c->tls->send(pending_plaintext_);
      pending_plaintext_.clear();
    }
    flushTls(c);
  }

  void flushTls(const ClientPtr& c) {
    c->tls->takeOutgoing(c->out);
    startWrite(c);
  }

  void startWrite(const ClientPtr& c) {
    if (c->write_in_progress || c->out.empty() || c->finished || !c->socket) return;
    c->writing.swap(c->out);
    c->write_in_progress = true;
    asio::async_write(*c->socket, asio::buffer(c->writing),
                      [this, c](boost::system::error_code ec, std::size_t n) {
                        c->write_in_progress = false;
                        onWritten(c, ec, n);
                      });
  }

  void onWritten(const ClientPtr& c, boost::system::error_code ec, std::size_t n);

  // The protocol core closed the connection (any reason): end the session's use of it, say
  // goodbye at the TLS level and close the socket once the last bytes are out.
  void closed(const ClientPtr& c);
  void detach(const ClientPtr& c);

  void lost(const ClientPtr& c) {
    if (c->finished) return;
    if (c->phase == Client::Phase::kActive) {
      c->connection.lost();
      closed(c);
      flushDirty();  // the will and the disconnected event
    } else {
      finish(c);
    }
  }

  void finishAfterWrite(const ClientPtr& c) {
    c->phase = Client::Phase::kClosing;
    if (!c->write_in_progress && c->out.empty()) finish(c);
  }

  void finish(const ClientPtr& c) {
    if (c->finished) return;
    c->finished = true;
    boost::system::error_code ec;
    if (c->socket) {
      c->socket->shutdown(tcp::socket::shutdown_both, ec);
      c->socket->close(ec);
    }
    clients_.erase(c->id);
    metrics_.sockets.fetch_sub(1, std::memory_order_relaxed);
    if (stopping_ && clients_.empty()) sweep_.cancel();  // the loop may end now
  }

  void deliverTo(Client& c, mqtt::Delivery delivery);

  void scheduleSweep() {
    sweep_.expires_after(std::chrono::seconds(1));
    sweep_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      sweep();
      scheduleSweep();
    });
  }

  void sweep();

  Broker::Impl& broker_;
  const std::size_t index_;
  asio::io_context io_{1};
  std::thread thread_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  asio::steady_timer sweep_;
  // Client and session ids are n * kIdStride + the worker's index: unique across workers.
  static constexpr std::uint64_t kIdStride = 64;

  WorkerMetrics metrics_;
  std::uint64_t next_client_id_ = 1;
  bool stopping_ = false;

  std::unordered_map<std::uint64_t, ClientPtr> clients_;
  Router router_;
  SessionTable sessions_;

  // Scratch reused across calls, so steady-state traffic does not allocate for them.
  std::string read_buffer_;
  std::string plaintext_;
  std::string pending_plaintext_;
  std::vector<mqtt::ConnectionEvent> events_;
  std::vector<Client*> dirty_;
  struct Routed {
    std::string account_id;
    mqtt::MessagePtr message;
    mqtt::SubscriberId origin;
  };
  std::vector<std::vector<Routed>> outbox_;  // per target worker
};


void Worker::attach(const ClientPtr& c) {
  const SteadyTime now = broker_.steadyNow();
  const std::string& client_id = c->identity->context.client_id;
  SessionRecord* held = sessions_.find(c->auth.account.id, client_id);
  if (held != nullptr && held->client != nullptr) {
    // spec §9.3: the new connection wins; the old one ends with DUPLICATE_CLIENTID.
    ClientPtr old = clients_.at(held->client->id);
    old->connection.close(DisconnectReason::kDuplicateClientId, ReasonCode::kSessionTakenOver);
    closed(old);
  }
  auto [s, present] = sessions_.open({c->auth.account.id, c->auth.account.region, client_id,
                                      c->identity, c->auth.policy, c->connect_clean,
                                      c->connect_expiry});
  s->client = c.get();
  c->session = s;
  c->lifecycle.version_number = sessions_.nextVersion(c->auth.account.id, client_id, now);

  mqtt::AcceptOptions options;
  options.session_present = present;
  if (c->expiry_capped) options.session_expiry = c->connect_expiry;
  if (c->assigned_client_id) options.assigned_client_id = client_id;
  c->phase = Client::Phase::kActive;
  c->connection.accept(
      s->state, [this, client = c.get()](const mqtt::Message& m) { return mayReceive(*client, m); },
      options, now);
  WorkerMetrics::add(metrics_.connects);
  WorkerMetrics::add(metrics_.connections);
  if (eventsWanted(client_id)) {
    broker_.publishEvent(*this, s->account_id, connectedTopic(client_id),
                         connectedEvent(c->lifecycle, broker_.nowMillis()));
  }
  receiveAndHandle(c, {});  // whatever the client sent behind its CONNECT
  if (c->peer_closed && !c->connection.closed()) c->connection.lost();
  flush(c);
  if (c->connection.closed()) closed(c);
}

void Worker::deliverLocal(const std::string& account_id, const mqtt::MessagePtr& message,
                          mqtt::SubscriberId origin) {
  router_.match(account_id, message->topic,
                [&](SessionRecord& s, const mqtt::SubscribeOptions& options) {
    if (options.no_local && s.id == origin) return;
    mqtt::Delivery delivery{message, std::min(message->qos, options.qos),
                            options.retain_as_published && message->retain};
    if (s.client != nullptr) {
      // The connection's receive gate checks the policy when the message is written.
      deliverTo(*s.client, std::move(delivery));
    } else if (delivery.qos == mqtt::Qos::kAtLeastOnce) {
      // Not queued when the policy refuses it now; a resume checks it again when it leaves.
      if (!s.policy ||
          !isAllowed(s.policy->check(Action::kReceive, ResourceKind::kTopic, message->topic))) {
        WorkerMetrics::add(metrics_.policy_denials[static_cast<std::size_t>(Action::kReceive)]);
        return;
      }
      if (!sessions_.queueOffline(s, std::move(delivery))) {
        WorkerMetrics::add(metrics_.messages_dropped);
      }
    }
  });
}

void Worker::reauthorize(const std::string& account_id) {
  for (SessionRecord* s : sessions_.ofAccount(account_id)) {
    const Identity& who = *s->identity;
    AuthOutcome outcome = broker_.authorizer.authorize(who.certificate_id, who.server_name,
                                                       who.context, who.will ? &*who.will : nullptr);
    if (auto* refusal = std::get_if<Refusal>(&outcome)) {
      spdlog::info("mqtt: client {} no longer authorized: {}", s->client_id, refusal->detail);
      s->policy = nullptr;  // an offline session receives nothing more
      if (s->client != nullptr) {
        ClientPtr c = clients_.at(s->client->id);
        c->connection.close(DisconnectReason::kAuthError, ReasonCode::kNotAuthorized);
        closed(c);  // may destroy *s
      }
      continue;
    }
    auto& auth = std::get<Authorization>(outcome);
    s->policy = auth.policy;
    if (s->client != nullptr) s->client->auth = auth;
    sessions_.prune(*s);  // subscriptions the new policy no longer allows end now
  }
  flushDirty();
}

bool Worker::mayReceive(const Client& c, const mqtt::Message& message) {
  if (c.auth.policy &&
      isAllowed(c.auth.policy->check(Action::kReceive, ResourceKind::kTopic, message.topic))) {
    return true;
  }
  WorkerMetrics::add(metrics_.policy_denials[static_cast<std::size_t>(Action::kReceive)]);
  return false;
}

void Worker::deliverTo(Client& c, mqtt::Delivery delivery) {
  switch (c.connection.deliver(std::move(delivery))) {
    case mqtt::DeliveryResult::kAccepted: WorkerMetrics::add(metrics_.messages_out); break;
    case mqtt::DeliveryResult::kDropped: WorkerMetrics::add(metrics_.messages_dropped); break;
    case mqtt::DeliveryResult::kDenied: break;  // counted by mayReceive
  }
  if (!c.dirty) {
    c.dirty = true;
    dirty_.push_back(&c);
  }
}

void Worker::onWritten(const ClientPtr& c, boost::system::error_code ec, std::size_t n) {
  c->writing.clear();
  if (c->finished) return;
  if (ec) {
    c->out.clear();
    lost(c);
    return;
  }
  WorkerMetrics::add(metrics_.bytes_out, n);
  if (c->writing.capacity() > 16 * 1024) std::string().swap(c->writing);
  if (c->phase == Client::Phase::kMoving) {
    moveNow(c);
    return;
  }
  if (!c->out.empty()) {
    startWrite(c);
  } else if (c->phase == Client::Phase::kClosing) {
    finish(c);
  }
}

void Worker::closed(const ClientPtr& c) {
  if (c->finished || c->phase == Client::Phase::kClosing) return;
  if (c->phase == Client::Phase::kActive) detach(c);
  flush(c);  // the CONNACK or DISCONNECT the core wrote last
  c->tls->close();
  flushTls(c);
  finishAfterWrite(c);
}

void Worker::detach(const ClientPtr& c) {
  SessionRecord* s = c->session;
  const DisconnectReason reason = c->connection.closeReason();
  metrics_.connections.fetch_sub(1, std::memory_order_relaxed);
  WorkerMetrics::add(metrics_.disconnects[static_cast<std::size_t>(reason)]);
  if (c->connection.closeDetail().size() > 0) {
    spdlog::debug("mqtt: client {} closed: {}", s->client_id, c->connection.closeDetail());
  }
  s->client = nullptr;
  c->session = nullptr;
  if (c->identity->will && sendsWill(reason, c->connection.willRequested())) {
    const mqtt::Will& will = *c->identity->will;
    auto message = std::make_shared<mqtt::Message>();
    message->topic = will.topic;
    message->payload = will.payload;
    message->qos = will.qos;
    message->retain = will.retain;
    message->properties = forwardedProperties(will.properties);
    if (message->retain) broker_.retained.put(s->account_id, message);
    broker_.route(*this, s->account_id, message, s->id);
    broker_.observe(s->account_id, message->topic, message->payload, s->client_id,
                    c->identity->certificate_id, message->qos, 0);
  }
  if (eventsWanted(s->client_id)) {
    broker_.publishEvent(*this, s->account_id, disconnectedTopic(s->client_id),
                         disconnectedEvent(c->lifecycle, broker_.nowMillis(), reason));
  }
  WorkerMetrics::add(metrics_.messages_dropped, sessions_.detach(*s, broker_.steadyNow()));
}

void Worker::sweep() {
  const SteadyTime now = broker_.steadyNow();
  std::vector<ClientPtr> expired;
  for (const auto& [id, c] : clients_) {
    // kMoving here means a hand-over waiting on a write the client does not read.
    const bool connecting = c->phase == Client::Phase::kHandshake ||
                            c->phase == Client::Phase::kAwaitingConnect ||
                            c->phase == Client::Phase::kMoving;
    if ((connecting && now - c->started > broker_.options.connect_timeout) ||
        (c->phase == Client::Phase::kActive && c->connection.keepAliveExpired(now))) {
      expired.push_back(c);
    } else if (c->phase == Client::Phase::kActive && !c->write_in_progress && c->out.empty()) {
      // A client with nothing in flight gives back its buffers: idle connections stay small.
      c->connection.releaseMemory();
      c->tls->releaseBuffers();
      std::string().swap(c->out);
      std::string().swap(c->writing);
    }
  }
  for (const ClientPtr& c : expired) {
    if (c->phase == Client::Phase::kActive) {
      c->connection.close(DisconnectReason::kKeepAliveTimeout, ReasonCode::kKeepAliveTimeout);
      closed(c);
    } else {
      if (c->phase == Client::Phase::kHandshake) {
        WorkerMetrics::add(
            metrics_.auth_failures[static_cast<std::size_t>(AuthFailure::kTlsHandshake)]);
      }
      finish(c);
    }
  }
  sessions_.expire(now);
  flushDirty();
}

}  // namespace

Worker& Broker::Impl::homeOf(std::string_view account_id, std::string_view client_id) {
  const std::size_t h = std::hash<std::string>()(SessionTable::key(account_id, client_id));
  return *workers[h % workers.size()];
}

void Broker::Impl::route(Worker& from, const std::string& account_id,
                         const mqtt::MessagePtr& message, mqtt::SubscriberId origin) {
  for (std::size_t i = 0; i < workers.size(); ++i) {
    if (i != from.index()) from.forward(i, account_id, message, origin);
  }
  from.deliverLocal(account_id, message, origin);
}

void Broker::Impl::publishEvent(Worker& from, const std::string& account_id, std::string topic,
                                 std::string payload) {
  auto message = std::make_shared<mqtt::Message>();
  message->topic = std::move(topic);
  message->payload = std::move(payload);
  message->qos = mqtt::Qos::kAtLeastOnce;
  route(from, account_id, message, 0);
  observe(account_id, message->topic, message->payload, {}, {}, message->qos, 0);
}

void Broker::Impl::onRegistryEvent(const registry::Event& event) {
  static constexpr std::string_view kOperations[] = {"created", "updated", "deleted"};
  {
    std::lock_guard lock(events_mutex);
    ++registry_events[{std::string(registry::resourceName(event.resource)),
                       std::string(kOperations[static_cast<int>(event.operation)])}];
  }
  if (!authorizer.onRegistryEvent(event)) return;
  // Live enforcement: every worker re-authorizes the account's sessions now.
  for (auto& w : workers) {
    Worker* to = w.get();
    asio::post(to->io(), [to, account = event.account_id] { to->reauthorize(account); });
  }
}

Broker::Broker(BrokerOptions options, BrokerDependencies dependencies)
    : impl_(std::make_unique<Impl>(std::move(options), dependencies)) {}

Broker::~Broker() { stop(); }

Status Broker::start() {
  Impl& b = *impl_;
  if (b.started) return Error(ErrorKind::kInternalFailure, "broker already started");
  b.started = true;
  pki::TlsServerOptions tls;
  tls.certificate_chain_file = b.options.certificate_chain_file;
  tls.private_key_file = b.options.private_key_file;
  FG_ASSIGN_OR_RETURN(b.tls_mqtt, pki::TlsServerContext::create(tls));
  tls.alpn_protocols = {"x-amzn-mqtt-ca"};
  tls.require_alpn = true;
  FG_ASSIGN_OR_RETURN(b.tls_alpn, pki::TlsServerContext::create(tls));

  boost::system::error_code ec;
  const auto address = asio::ip::make_address(b.options.bind_address, ec);
  if (ec) return Error(ErrorKind::kInvalidRequest, "not an IP address: " + b.options.bind_address);
  const int count = b.options.workers > 0
                        ? b.options.workers
                        : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < count; ++i) {
    b.workers.push_back(std::make_unique<Worker>(b, static_cast<std::size_t>(i)));
  }
  // One listening socket per port, without SO_REUSEPORT: a port another process holds fails
  // the start instead of being shared with it. Every worker waits on a duplicate of it, and
  // whichever is free takes the next connection.
  auto listenAll = [&](int configured, const std::shared_ptr<pki::TlsServerContext>& context,
                       std::uint16_t& port) -> Status {
    if (configured < 0) return {};
    tcp::endpoint endpoint(address, static_cast<std::uint16_t>(configured));
    tcp::acceptor listening(b.workers[0]->io());
    listening.open(endpoint.protocol(), ec);
    if (!ec) listening.set_option(tcp::acceptor::reuse_address(true), ec);  // TIME_WAIT only
    if (!ec) listening.bind(endpoint, ec);
    if (!ec) listening.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return environmentError("cannot listen on " + endpoint.address().to_string() + ":" +
                              std::to_string(endpoint.port()) + ": " + ec.message());
    }
    endpoint = listening.local_endpoint();
    port = endpoint.port();
    Status added;
    for (auto& w : b.workers) {
      const int fd = ::dup(listening.native_handle());
      added = fd < 0 ? environmentError("cannot duplicate the listening socket", errno)
                     : w->acceptOn(fd, endpoint, context);
      if (!added.ok()) break;
    }
    Worker::closeShared(listening);
    return added;
  };
  FG_RETURN_IF_ERROR(listenAll(b.options.mqtt_port, b.tls_mqtt, b.mqtt_port));
  FG_RETURN_IF_ERROR(listenAll(b.options.alpn_port, b.tls_alpn, b.alpn_port));

  // Registrations are mostly waiting for their commit; enough of them in flight let the store's
  // group commit share one fsync among many (two threads measured ~160 registrations/s, one
  // fsync each).
  if (b.deps.auto_registrar != nullptr || b.deps.device_api != nullptr) b.blocking_pool.emplace(8);
  b.sink->impl = &b;
  b.deps.events.subscribe([sink = b.sink](const registry::Event& event) {
    std::lock_guard lock(sink->mutex);
    if (sink->impl != nullptr) sink->impl->onRegistryEvent(event);
  });
  for (auto& w : b.workers) w->start();
  return {};
}

void Broker::stop() {
  Impl& b = *impl_;
  if (!b.started || b.stopped) return;
  b.stopped = true;
  {
    std::lock_guard lock(b.sink->mutex);
    b.sink->impl = nullptr;
  }
  for (auto& w : b.workers) {
    Worker* to = w.get();
    asio::post(to->io(), [to] { to->shutdown(); });
  }
  for (auto& w : b.workers) w->join();
  if (b.blocking_pool) {
    b.blocking_pool->stop();
    b.blocking_pool->join();
  }
}

void Broker::publish(std::string account_id, std::string topic, std::string payload, int qos,
                     int rule_depth) {
  Impl& b = *impl_;
  // Posting after stop() is harmless: a stopped loop never runs the handler. The caller keeps the
  // broker alive until it stops publishing.
  if (b.workers.empty()) return;
  auto message = std::make_shared<mqtt::Message>();
  message->topic = std::move(topic);
  message->payload = std::move(payload);
  message->qos = qos > 0 ? mqtt::Qos::kAtLeastOnce : mqtt::Qos::kAtMostOnce;
  Worker& from = b.homeOf(account_id, message->topic);
  asio::post(from.io(), [&b, &from, account_id = std::move(account_id), message, rule_depth] {
    b.route(from, account_id, message, 0);
    b.observe(account_id, message->topic, message->payload, {}, {}, message->qos, rule_depth);
    from.flushDirty();
  });
}

std::uint16_t Broker::mqttPort() const { return impl_->mqtt_port; }
std::uint16_t Broker::alpnPort() const { return impl_->alpn_port; }

std::string Broker::metrics() const {
  std::vector<const WorkerMetrics*> workers;
  for (const auto& w : impl_->workers) workers.push_back(&w->metrics());
  RegistryEventCounts counts;
  {
    std::lock_guard lock(impl_->events_mutex);
    counts = impl_->registry_events;
  }
  return renderPrometheus(workers, counts);
}

}  // namespace fleetgate::broker
