#include "tools/joule/config.h"
#include "tools/joule/options.h"

namespace joule::cli {

const Registry& Registry::global() {
  // Built once; each area declares its options in its own options_*.cpp.
  static const Registry registry = [] {
    Registry r;
    register_core_options(r);
    register_jem_options(r);
    register_lsd_options(r);
    register_rbm_options(r);
    return r;
  }();
  return registry;
}

}  // namespace joule::cli
