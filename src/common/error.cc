#include "common/error.h"

#include <cstring>

namespace fleetgate {
namespace {

struct ErrorWire {
  std::string_view name;
  int status;
};

ErrorWire wire(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidRequest: return {"InvalidRequestException", 400};
    case ErrorKind::kThrottling: return {"ThrottlingException", 400};
    case ErrorKind::kUnauthorized: return {"UnauthorizedException", 401};
    case ErrorKind::kResourceNotFound: return {"ResourceNotFoundException", 404};
    case ErrorKind::kCertificateState: return {"CertificateStateException", 406};
    case ErrorKind::kResourceAlreadyExists: return {"ResourceAlreadyExistsException", 409};
    case ErrorKind::kDeleteConflict: return {"DeleteConflictException", 409};
    case ErrorKind::kVersionConflict: return {"VersionConflictException", 409};
    case ErrorKind::kVersionsLimitExceeded: return {"VersionsLimitExceededException", 409};
    case ErrorKind::kCertificateConflict: return {"CertificateConflictException", 409};
    case ErrorKind::kConflictingResourceUpdate: return {"ConflictingResourceUpdateException", 409};
    case ErrorKind::kLimitExceeded: return {"LimitExceededException", 410};
    case ErrorKind::kCertificateValidation: return {"CertificateValidationException", 400};
    case ErrorKind::kRegistrationCodeValidation:
      return {"RegistrationCodeValidationException", 400};
    case ErrorKind::kMalformedPolicy: return {"MalformedPolicyException", 400};
    case ErrorKind::kResourceRegistrationFailure:
      return {"ResourceRegistrationFailureException", 400};
    case ErrorKind::kSqlParse: return {"SqlParseException", 400};
    case ErrorKind::kServiceUnavailable: return {"ServiceUnavailableException", 503};
    case ErrorKind::kInternalFailure: return {"InternalFailureException", 500};
    case ErrorKind::kEnvironment: return {"InternalFailureException", 500};
    case ErrorKind::kMissingAuthenticationToken:
      return {"MissingAuthenticationTokenException", 403};
    case ErrorKind::kIncompleteSignature: return {"IncompleteSignatureException", 403};
    case ErrorKind::kInvalidSignature: return {"InvalidSignatureException", 403};
    case ErrorKind::kUnrecognizedClient: return {"UnrecognizedClientException", 403};
    case ErrorKind::kAccessDenied: return {"AccessDeniedException", 403};
    case ErrorKind::kUnknownOperation: return {"UnknownOperationException", 404};
    case ErrorKind::kMethodNotAllowed: return {"MethodNotAllowedException", 405};
    case ErrorKind::kRequestEntityTooLarge: return {"RequestEntityTooLargeException", 413};
  }
  return {"InternalFailureException", 500};
}

}  // namespace

std::string_view errorName(ErrorKind kind) { return wire(kind).name; }
int errorHttpStatus(ErrorKind kind) { return wire(kind).status; }

Error internalError(std::string cause) {
  return Error(ErrorKind::kInternalFailure, "An internal error occurred.", std::move(cause));
}

Error environmentError(std::string what, int errnum) {
  if (errnum != 0) {
    what += ": ";
    what += std::strerror(errnum);
  }
  return Error(ErrorKind::kEnvironment, "An internal error occurred.", std::move(what));
}

}  // namespace fleetgate
