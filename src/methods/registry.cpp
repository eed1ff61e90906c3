// Every method Joule knows: one line each. A new method is a folder under src/methods/, its
// header in include/joule/methods/, a preset in configs/ and a line here.
#include "joule/methods/actor_critic.h"
#include "joule/methods/discrete_vae.h"
#include "joule/methods/ebm.h"
#include "joule/methods/ffjord.h"
#include "joule/methods/icd.h"
#include "joule/methods/ica.h"
#include "joule/methods/jem.h"
#include "joule/methods/method.h"
#include "joule/methods/rbm.h"
#include "joule/methods/relax_toy.h"
#include "joule/methods/vera.h"
#include "joule/methods/video_vae.h"

namespace joule::methods {

const std::vector<MethodInfo>& registry() {
  static const std::vector<MethodInfo> methods{
      {"ebm", "neural energy by CD/PCD, score matching or LSD on 2-D toy data or a table",
       [] { return std::unique_ptr<Method>(new EbmMethod()); }},
      {"ica", "linear ICA with an exact likelihood, by MLE, LSD, score matching or CD",
       [] { return std::unique_ptr<Method>(new IcaMethod()); }},
      {"rbm", "restricted Boltzmann machines by CD-k, PCD or parallel tempering",
       [] { return std::unique_ptr<Method>(new RbmMethod()); }},
      {"jem", "classifiers as joint energy models (JEM), and the cross-entropy baseline",
       [] { return std::unique_ptr<Method>(new JemMethod()); }},
      {"vera", "energies and JEM classifiers trained against a generator instead of MCMC (VERA)",
       [] { return std::unique_ptr<Method>(new VeraMethod()); }},
      {"icd", "image energies by improved contrastive divergence (KL and entropy terms, augmented chains, multi-scale)",
       [] { return std::unique_ptr<Method>(new IcdMethod()); }},
      {"ffjord", "continuous normalising flows (FFJORD) by exact maximum likelihood on Joule's ODE solvers",
       [] { return std::unique_ptr<Method>(new FfjordMethod()); }},
      {"actor_critic", "policy gradients on cart-pole: A2C's value baseline or the RELAX control variate",
       [] { return std::unique_ptr<Method>(new ActorCriticMethod()); }},
      {"discrete_vae", "Bernoulli-latent VAEs by REINFORCE, REBAR, RELAX or straight-through, or (reweighted) wake-sleep",
       [] { return std::unique_ptr<Method>(new DiscreteVaeMethod()); }},
      {"relax_toy", "gradients through Bernoulli choices on the RELAX toy: REINFORCE, REBAR, RELAX, straight-through",
       [] { return std::unique_ptr<Method>(new RelaxToyMethod()); }},
      {"video_vae", "identity versus pose in video: a per-frame VAE with a factored (slow identity) sequence prior",
       [] { return std::unique_ptr<Method>(new VideoVaeMethod()); }},
  };
  return methods;
}

}  // namespace joule::methods
