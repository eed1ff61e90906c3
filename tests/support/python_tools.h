#pragma once
// Where the interop tests find the Python packages scripts/setup.sh test installs with pip
// (tensorboard, safetensors): $JOULE_PY_TOOLS, else ~/.cache/joule/pip-tools (as setup.sh).
#include <cstdlib>
#include <string>

namespace joule::testing {

inline std::string python_tools() {
  if (const char* p = std::getenv("JOULE_PY_TOOLS")) return p;
  const char* cache = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  return (cache ? std::string(cache) : std::string(home ? home : "/tmp") + "/.cache") + "/joule/pip-tools";
}

}  // namespace joule::testing
