// Input: one control byte, then a client's byte stream. The control byte picks the chunk size the
// stream is fed in, whether the broker accepts the CONNECT and whether the receive gate refuses
// topics of odd length. The connection must never crash, never exceed its in-flight window, stay
// closed once closed, and never write a PUBLISH the gate refused; every decision the broker makes
// is answered the way a broker would (PUBACK/SUBACK/UNSUBACK, one delivery per publish).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mqtt/connection.h"

using namespace fleetgate::mqtt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t control = data[0];
  const std::size_t chunk = 1 + (control & 0x1f);
  const bool accept = (control & 0x80) == 0;
  const bool deny_odd = (control & 0x40) != 0;
  auto allowed = [deny_odd](std::string_view topic) { return !deny_odd || topic.size() % 2 == 0; };
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  ConnectionLimits limits;
  limits.send_maximum = 4;
  Connection connection(limits);
  auto session = std::make_shared<Session>();
  const auto now = SteadyTime{} + std::chrono::hours(1);
  std::string out;
  bool was_closed = false;
  for (std::size_t pos = 0; pos < stream.size(); pos += chunk) {
    std::vector<ConnectionEvent> events;
    connection.receive(stream.substr(pos, chunk), now, events);
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (std::holds_alternative<ConnectRequested>(events[i])) {
        if (accept) {
          connection.accept(session, [&](const Message& m) { return allowed(m.topic); },
                            AcceptOptions{}, now);
          connection.receive({}, now, events);  // the packets held behind CONNECT
        } else {
          connection.refuse(ReasonCode::kNotAuthorized);
        }
      } else if (auto* p = std::get_if<PublishReceived>(&events[i])) {
        auto message = std::make_shared<Message>();
        message->topic = p->publish.topic;
        message->payload = p->publish.payload;
        message->qos = p->publish.qos;
        connection.deliver(Delivery{message, p->publish.qos, false});
        connection.completePublish(p->publish, ReasonCode::kSuccess);
      } else if (auto* s = std::get_if<SubscribeRequested>(&events[i])) {
        std::vector<ReasonCode> reasons = s->refused;
        connection.completeSubscribe(s->subscribe.packet_id, reasons);
      } else if (auto* u = std::get_if<UnsubscribeRequested>(&events[i])) {
        connection.completeUnsubscribe(
            u->unsubscribe.packet_id,
            std::vector<ReasonCode>(u->unsubscribe.filters.size(), ReasonCode::kSuccess));
      }
    }
    if (session->inflight.size() > limits.send_maximum) std::abort();
    if (was_closed && !connection.closed()) std::abort();
    was_closed = connection.closed();
    connection.takeOutgoing(out);
    Decoder written(DecoderOptions{kMaxRemainingLength, kMaxRemainingLength, connection.version()});
    written.feed(out);
    for (DecodeResult r = written.next(); std::holds_alternative<Packet>(r); r = written.next()) {
      const auto* publish = std::get_if<Publish>(&std::get<Packet>(r));
      if (publish != nullptr && !allowed(publish->topic)) std::abort();
    }
    out.clear();
  }
  connection.keepAliveExpired(now + std::chrono::hours(2));
  connection.releaseMemory();
  return 0;
}
