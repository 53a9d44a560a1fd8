# One interface target carries the project's warning policy; every library links it.
add_library(fleetgate_warnings INTERFACE)
target_compile_options(fleetgate_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion
  $<$<BOOL:${FLEETGATE_WERROR}>:-Werror>)
