#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/api_request.h"
#include "common/error.h"

namespace fleetgate::api {

using RouteHandler = std::function<Result<Json>(ApiRequest&)>;

// Maps (method, path template) to an operation. Templates are literal segments and `{name}`
// parameters, e.g. "/things/{thingName}/principals"; a literal segment wins over a parameter.
class Router {
 public:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    std::string operation;  // AWS operation name, for logs and metrics
    RouteHandler handler;
  };
  struct Match {
    const Route* route;
    std::map<std::string, std::string> params;  // percent-decoded
  };

  void add(std::string method, std::string_view path_template, std::string operation,
           RouteHandler handler);
  // UnknownOperationException when no template fits the path, MethodNotAllowedException when
  // one fits but not with this method, InvalidRequestException for a bad percent-escape.
  Result<Match> match(std::string_view method, std::string_view raw_path) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace fleetgate::api
