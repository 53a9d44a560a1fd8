#include "broker/device_api.h"

#include <gtest/gtest.h>

namespace fleetgate::broker {
namespace {

constexpr std::string_view kAccepted = "$aws/certificates/create/json/accepted";

mqtt::Session subscribedTo(std::vector<std::pair<std::string, mqtt::Qos>> filters) {
  mqtt::Session session;
  for (auto& [filter, qos] : filters) session.subscriptions[filter] = mqtt::SubscribeOptions{qos};
  return session;
}

TEST(DeviceApiTest, ReplyGoesOutAtTheHighestQosTheSessionsMatchingFiltersGrant) {
  EXPECT_EQ(replyQos(subscribedTo({{std::string(kAccepted), mqtt::Qos::kAtLeastOnce}}), kAccepted),
            mqtt::Qos::kAtLeastOnce);
  EXPECT_EQ(replyQos(subscribedTo({{"$aws/certificates/create/json/+", mqtt::Qos::kAtMostOnce},
                                   {"$aws/certificates/#", mqtt::Qos::kAtLeastOnce}}),
                     kAccepted),
            mqtt::Qos::kAtLeastOnce);
}

TEST(DeviceApiTest, NoReplyToASessionThatDidNotSubscribeToTheTopic) {
  EXPECT_EQ(replyQos(subscribedTo({}), kAccepted), std::nullopt);
  EXPECT_EQ(replyQos(subscribedTo({{"$aws/certificates/create/json/rejected", mqtt::Qos::kAtLeastOnce}}),
                     kAccepted),
            std::nullopt);
  // `#` and `+/...` do not reach `$` topics (MQTT §4.7.2).
  EXPECT_EQ(replyQos(subscribedTo({{"#", mqtt::Qos::kAtLeastOnce},
                                   {"+/certificates/create/json/accepted", mqtt::Qos::kAtLeastOnce}}),
                     kAccepted),
            std::nullopt);
}

}  // namespace
}  // namespace fleetgate::broker
