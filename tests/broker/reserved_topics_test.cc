#include "broker/reserved_topics.h"

#include <gtest/gtest.h>

namespace fleetgate::broker {
namespace {

TEST(ReservedTopicsTest, OrdinaryTopicsAreLeftToThePolicy) {
  EXPECT_TRUE(clientMayPublish("dev/1/telemetry"));
  EXPECT_TRUE(clientMaySubscribe("dev/+/telemetry"));
  EXPECT_TRUE(clientMaySubscribe("#"));  // matches no `$` topic anyway
}

TEST(ReservedTopicsTest, DeviceApiTopicsAreUsable) {
  EXPECT_TRUE(clientMayPublish("$aws/things/t1/shadow/update"));
  EXPECT_TRUE(clientMayPublish("$aws/things/t1/jobs/get"));
  EXPECT_TRUE(clientMayPublish("$aws/certificates/create/json"));
  EXPECT_TRUE(clientMayPublish("$aws/certificates/create-from-csr/cbor"));
  EXPECT_TRUE(clientMayPublish("$aws/provisioning-templates/tpl/provision/json"));
  EXPECT_TRUE(clientMaySubscribe("$aws/things/t1/shadow/update/accepted"));
  EXPECT_TRUE(clientMaySubscribe("$aws/things/+/shadow/#"));
  EXPECT_TRUE(clientMaySubscribe("$aws/certificates/create/json/+"));
}

TEST(ReservedTopicsTest, EventsAreForSubscribersOnly) {
  EXPECT_TRUE(clientMaySubscribe("$aws/events/presence/connected/+"));
  EXPECT_TRUE(clientMaySubscribe("$aws/events/#"));
  EXPECT_FALSE(clientMayPublish("$aws/events/presence/connected/forged"));
}

TEST(ReservedTopicsTest, BasicIngestIsPublishOnly) {
  EXPECT_TRUE(isBasicIngest("$aws/rules/my_rule/data"));
  EXPECT_TRUE(clientMayPublish("$aws/rules/my_rule/data"));
  EXPECT_FALSE(clientMaySubscribe("$aws/rules/my_rule/data"));
  EXPECT_FALSE(isBasicIngest("$aws/rules/my_rule"));
  EXPECT_FALSE(isBasicIngest("$aws/rules//x"));
}

TEST(ReservedTopicsTest, EverythingElseUnderDollarIsRefused) {
  EXPECT_FALSE(clientMayPublish("$SYS/broker/uptime"));
  EXPECT_FALSE(clientMaySubscribe("$SYS/#"));
  EXPECT_FALSE(clientMaySubscribe("$aws/#"));
  EXPECT_FALSE(clientMaySubscribe("$aws/+/presence"));
  EXPECT_FALSE(clientMayPublish("$aws/things/t1/other"));
  EXPECT_FALSE(clientMayPublish("$aws/things//shadow/update"));
  EXPECT_FALSE(clientMaySubscribe("$aws/things/#"));
  EXPECT_FALSE(clientMayPublish("$aws/certificates/delete/json"));
  EXPECT_FALSE(clientMayPublish("$share/group/topic"));
}

}  // namespace
}  // namespace fleetgate::broker
