#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <cstdint>

namespace fleetgate {

std::string hexEncode(std::span<const std::uint8_t> bytes);
std::string hexEncode(std::string_view bytes);
std::string base64Encode(std::string_view bytes);
// Standard alphabet with padding; nullopt on any invalid character or length.
std::optional<std::string> base64Decode(std::string_view text);
// Percent-decoding of a URI component ('+' is not a space here); nullopt on a bad escape.
std::optional<std::string> percentDecode(std::string_view text);
// RFC 3986 unreserved characters stay, everything else is %XX (SigV4 canonical form).
std::string percentEncode(std::string_view text, bool keep_slash);
bool isValidUtf8(std::string_view text);

}  // namespace fleetgate
