#include "api/router.h"

#include "common/encoding.h"

namespace fleetgate::api {
namespace {

std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 1;  // the leading '/'
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

bool isParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

void Router::add(std::string method, std::string_view path_template, std::string operation,
                 RouteHandler handler) {
  Route route{std::move(method), {}, std::move(operation), std::move(handler)};
  for (auto segment : splitPath(path_template)) route.segments.emplace_back(segment);
  routes_.push_back(std::move(route));
}

Result<Router::Match> Router::match(std::string_view method, std::string_view raw_path) const {
  if (raw_path.empty() || raw_path.front() != '/') {
    return Error(ErrorKind::kUnknownOperation, "Unknown operation.");
  }
  auto segments = splitPath(raw_path);
  const Route* best = nullptr;
  int best_literals = -1;
  bool path_matched = false;
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    int literals = 0;
    bool fits = true;
    for (std::size_t i = 0; i < segments.size() && fits; ++i) {
      if (isParam(route.segments[i])) {
        fits = !segments[i].empty();
      } else {
        fits = route.segments[i] == segments[i];
        ++literals;
      }
    }
    if (!fits) continue;
    path_matched = true;
    if (route.method == method && literals > best_literals) {
      best = &route;
      best_literals = literals;
    }
  }
  if (!best) {
    if (path_matched) return Error(ErrorKind::kMethodNotAllowed, "Method not allowed.");
    return Error(ErrorKind::kUnknownOperation, "Unknown operation.");
  }
  Match match{best, {}};
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string& segment = best->segments[i];
    if (!isParam(segment)) continue;
    auto decoded = percentDecode(segments[i]);
    if (!decoded) return Error(ErrorKind::kInvalidRequest, "The request path is not valid.");
    match.params.emplace(segment.substr(1, segment.size() - 2), std::move(*decoded));
  }
  return match;
}

}  // namespace fleetgate::api
