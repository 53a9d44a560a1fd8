#include "broker/lifecycle.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace fleetgate::broker {
namespace {

using nlohmann::json;

LifecycleIdentity who() {
  LifecycleIdentity id;
  id.client_id = "186b5";
  id.session_identifier = "a4666d2a7d844ae4ac5d7b38c9cb7967";
  id.principal_identifier = std::string(64, 'f');
  id.ip_address = "192.0.2.0";
  id.version_number = 3;
  return id;
}

TEST(LifecycleTest, ConnectedHasExactlyTheAwsFields) {
  LifecycleIdentity id = who();
  id.thing_name = "exampleThing";
  json j = json::parse(connectedEvent(id, 1573002230757));
  EXPECT_EQ(j, json::parse(R"({"clientId":"186b5","thingName":"exampleThing",
    "timestamp":1573002230757,"eventType":"connected",
    "sessionIdentifier":"a4666d2a7d844ae4ac5d7b38c9cb7967",
    "principalIdentifier":"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ipAddress":"192.0.2.0","versionNumber":3})"));
}

TEST(LifecycleTest, DisconnectedCarriesTheReasonAndNoAddress) {
  json j = json::parse(disconnectedEvent(who(), 5, mqtt::DisconnectReason::kDuplicateClientId));
  EXPECT_EQ(j["disconnectReason"], "DUPLICATE_CLIENTID");
  EXPECT_EQ(j["clientInitiatedDisconnect"], false);
  EXPECT_EQ(j["versionNumber"], 3);
  EXPECT_FALSE(j.contains("ipAddress"));
  EXPECT_FALSE(j.contains("thingName"));  // no exclusive thing
  j = json::parse(disconnectedEvent(who(), 5, mqtt::DisconnectReason::kClientInitiated));
  EXPECT_EQ(j["disconnectReason"], "CLIENT_INITIATED_DISCONNECT");
  EXPECT_EQ(j["clientInitiatedDisconnect"], true);
}

TEST(LifecycleTest, ConnectFailedAndSubscriptionEvents) {
  json failed = json::parse(connectFailedEvent(who(), 7, "AUTHORIZATION_FAILED"));
  EXPECT_EQ(failed["eventType"], "connect_failed");
  EXPECT_EQ(failed["connectFailureReason"], "AUTHORIZATION_FAILED");
  EXPECT_EQ(failed["ipAddress"], "192.0.2.0");
  EXPECT_FALSE(failed.contains("versionNumber"));
  json sub = json::parse(subscriptionEvent(who(), 8, true, {"foo/bar", "device/data"}));
  EXPECT_EQ(sub["eventType"], "subscribed");
  EXPECT_EQ(sub["topics"], json::parse(R"(["foo/bar","device/data"])"));
  EXPECT_FALSE(sub.contains("ipAddress"));
  EXPECT_EQ(json::parse(subscriptionEvent(who(), 8, false, {"a"}))["eventType"], "unsubscribed");
}

TEST(LifecycleTest, CertificateRegisteredHasExactlyTheJitrFields) {
  json j = json::parse(certificateRegisteredEvent({"c1", "ca1", "123456789012", 1500}, 1600));
  EXPECT_EQ(j, json::parse(R"({"certificateId":"c1","caCertificateId":"ca1","timestamp":1600,
      "certificateStatus":"PENDING_ACTIVATION","awsAccountId":"123456789012",
      "certificateRegistrationTimestamp":"1500"})"));
  EXPECT_EQ(certificateRegisteredTopic("ca1"), "$aws/events/certificates/registered/ca1");
}

TEST(LifecycleTest, TopicsAndWildcardClientIds) {
  EXPECT_EQ(connectedTopic("c1"), "$aws/events/presence/connected/c1");
  EXPECT_EQ(disconnectedTopic("c1"), "$aws/events/presence/disconnected/c1");
  EXPECT_EQ(connectFailedTopic("c1"), "$aws/events/presence/connect_failed/c1");
  EXPECT_EQ(subscribedTopic("c1"), "$aws/events/subscriptions/subscribed/c1");
  EXPECT_EQ(unsubscribedTopic("c1"), "$aws/events/subscriptions/unsubscribed/c1");
  EXPECT_TRUE(emitsLifecycleEvents("device-1"));
  EXPECT_FALSE(emitsLifecycleEvents("a+b"));
  EXPECT_FALSE(emitsLifecycleEvents("#"));
}

}  // namespace
}  // namespace fleetgate::broker
