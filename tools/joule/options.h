#pragma once
// Declarations of Joule's options, one function per area (each in its own options_*.cpp).

#include <string>
#include <vector>

#include "tools/joule/config.h"

namespace joule::cli {

/// The values of the top-level `method` option.
std::vector<std::string> method_names();

void register_core_options(Registry& registry);

}  // namespace joule::cli
