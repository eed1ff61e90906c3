#pragma once
// Declarations of Joule's options, one function per area (each in its own options_*.cpp).

#include <string>
#include <vector>

#include "tools/joule/config.h"

namespace joule::cli {

/// `spec` restricted to the given commands (an option that only `train`, or `train` and `eval`,
/// accept; others reject it as unknown).
inline OptionSpec only(OptionSpec spec, std::vector<std::string> commands) {
  spec.commands = std::move(commands);
  return spec;
}

/// Options shared by every method and those of the neural-EBM method. Other methods add
/// their own register_*_options() (in options_<method>.cpp), extend the `method` and
/// `data.dataset` choices with Registry::extend_choices, and are listed in registry.cpp.
void register_core_options(Registry& registry);
/// JEM: classifiers as joint energy models (options_jem.cpp).
void register_jem_options(Registry& registry);
/// LSD / score matching objectives, the ICA method and `joule gof` (options_lsd.cpp).
void register_lsd_options(Registry& registry);
/// Restricted Boltzmann machines (options_rbm.cpp).
void register_rbm_options(Registry& registry);

}  // namespace joule::cli
