#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace fleetgate {

// The AWS error names a client can see. Each maps to one wire name and one HTTP status
// (spec §1.3); the edges (REST, MQTT) translate, nothing else does.
enum class ErrorKind {
  kInvalidRequest,
  kThrottling,
  kUnauthorized,
  kResourceNotFound,
  kCertificateState,
  kResourceAlreadyExists,
  kDeleteConflict,
  kVersionConflict,
  kVersionsLimitExceeded,
  kCertificateConflict,
  kConflictingResourceUpdate,
  kLimitExceeded,
  kCertificateValidation,
  kRegistrationCodeValidation,
  kMalformedPolicy,
  kResourceRegistrationFailure,
  kSqlParse,
  kServiceUnavailable,
  kInternalFailure,
  // Something around the program is wrong, not the program or a client: a port in use, a data
  // directory missing, read-only or not ours. Clients see an internal failure; the operator is
  // told what is wrong (the cause) by the command that failed.
  kEnvironment,
  // Transport-level refusals of the REST edge (SigV4, routing, size).
  kMissingAuthenticationToken,
  kIncompleteSignature,
  kInvalidSignature,
  kUnrecognizedClient,
  kAccessDenied,
  kUnknownOperation,
  kMethodNotAllowed,
  kRequestEntityTooLarge,
};

std::string_view errorName(ErrorKind kind);
int errorHttpStatus(ErrorKind kind);

// One error type for the whole project: the AWS error name, a message that is safe to show a
// client, and the internal cause that only goes to the log.
class Error {
 public:
  Error(ErrorKind kind, std::string message, std::string cause = {})
      : kind_(kind), message_(std::move(message)), cause_(std::move(cause)) {}

  ErrorKind kind() const { return kind_; }
  std::string_view name() const { return errorName(kind_); }
  int httpStatus() const { return errorHttpStatus(kind_); }
  const std::string& message() const { return message_; }
  const std::string& cause() const { return cause_; }

  // ResourceAlreadyExistsException names the resource that already exists.
  Error&& withResource(std::string id, std::string arn) && {
    resource_id_ = std::move(id);
    resource_arn_ = std::move(arn);
    return std::move(*this);
  }
  const std::string& resourceId() const { return resource_id_; }
  const std::string& resourceArn() const { return resource_arn_; }

 private:
  ErrorKind kind_;
  std::string message_;
  std::string cause_;
  std::string resource_id_;
  std::string resource_arn_;
};

Error internalError(std::string cause);
// What is wrong around the program, for the operator: "cannot listen on 127.0.0.1:8883: Address
// already in use". `errnum` (an errno value), when given, is appended as its text.
Error environmentError(std::string what, int errnum = 0);

// Result<T> holds a value or an Error. Result<void> holds nothing or an Error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const& { return *error_; }
  Error&& error() && { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace fleetgate

#define FG_CONCAT_INNER(a, b) a##b
#define FG_CONCAT(a, b) FG_CONCAT_INNER(a, b)

// Returns the error of a Result/Status expression from the enclosing function.
#define FG_RETURN_IF_ERROR(expr) FG_RETURN_IF_ERROR_IMPL(FG_CONCAT(fg_status_, __LINE__), expr)
#define FG_RETURN_IF_ERROR_IMPL(tmp, expr)            \
  do {                                                \
    auto tmp = (expr);                                \
    if (!tmp.ok()) return std::move(tmp).error();     \
  } while (0)

// `FG_ASSIGN_OR_RETURN(auto x, makeX());` declares x from the value or returns the error.
#define FG_ASSIGN_OR_RETURN(lhs, expr) \
  FG_ASSIGN_OR_RETURN_IMPL(FG_CONCAT(fg_result_, __LINE__), lhs, expr)
#define FG_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)      \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).error();       \
  lhs = std::move(tmp).value()
