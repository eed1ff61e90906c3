#include "joule/methods/method.h"

#include <c10/util/Exception.h>

#include <algorithm>

namespace joule::methods {

namespace {

// Other methods' keys, for a hint when a document sets one of them ("it is an option of method rbm").
// Keys renamed when the LSD critic became a parameter group of the trainer.
const std::vector<std::pair<std::string, std::string>>& renamed_keys() {
  static const std::vector<std::pair<std::string, std::string>> renamed{
      {"lsd.critic_steps", "optim.critic.updates"},        {"lsd.critic_lr", "optim.critic.lr"},
      {"lsd.critic_beta1", "optim.critic.beta1"},          {"lsd.critic_beta2", "optim.critic.beta2"},
      {"lsd.critic_weight_decay", "optim.critic.weight_decay"}, {"lsd.fresh_critic_batches", "optim.critic.fresh_batches"}};
  return renamed;
}

std::string other_method_hint(const std::string& self, const std::string& key) {
  for (const auto& [old_key, new_key] : renamed_keys()) {
    if (key == old_key) return "it is now '" + new_key + "' (the critic's parameter group)";
  }
  std::vector<std::string> owners;
  for (const auto& info : registry()) {
    if (info.name == self) continue;
    auto m = info.create();
    for (const auto& f : m->schema()) {
      if (f.key == key) {
        owners.push_back(info.name);
        break;
      }
    }
  }
  if (owners.empty()) return "";
  std::string list;
  for (const auto& o : owners) list += (list.empty() ? "" : ", ") + o;
  return "it is an option of method " + list + ", not of method " + self;
}

}  // namespace

config::Document upgrade_saved_config(const config::Document& saved) {
  config::Document doc = saved;
  for (const auto& [old_key, new_key] : renamed_keys()) {
    if (!doc.has(old_key)) continue;
    if (!doc.has(new_key)) doc.set(new_key, doc.get_text(old_key), doc.origin(old_key));
    doc.erase(old_key);
  }
  // The old registry wrote every method's keys into every run's config; keep this method's.
  const std::string name = doc.get_text("method", "ebm");
  auto method = create(name);
  std::vector<std::string> known;
  for (const auto& f : method->schema()) known.push_back(f.key);
  for (const auto& key : doc.keys()) {
    if (key != "method" && std::find(known.begin(), known.end(), key) == known.end()) doc.erase(key);
  }
  return doc;
}

void Method::configure(const config::Document& doc) {
  const std::string named = doc.get_text("method", name());
  if (named != name()) {
    throw config::ConfigError(doc.origin("method") + ": this is method '" + name() + "', but the configuration says method = '" +
                              named + "'");
  }
  config::ReadOptions opts;
  opts.ignore = {"method"};
  const std::string self = name();
  opts.hint = [self](const std::string& key) { return other_method_hint(self, key); };
  auto& cfg = config();
  config::read([&cfg](config::Fields& f) { cfg.visit(f); }, doc, opts);
}

std::string Method::config_toml() {
  auto& cfg = config();
  return config::to_toml([&cfg](config::Fields& f) { cfg.visit(f); },
                         "# Resolved Joule configuration (every option, defaults included).\nmethod = \"" + name() + "\"\n\n");
}

std::vector<config::FieldInfo> Method::schema() {
  auto& cfg = config();
  return config::schema([&cfg](config::Fields& f) { cfg.visit(f); });
}

void Method::build(torch::Device device) {
  auto& cfg = config();
  config::validate([&cfg](config::Fields& f) { cfg.visit(f); });
  device_ = device;
  Parts parts = build_parts(device);
  TORCH_CHECK(parts.objective && parts.data, "method '", name(), "' built no objective or no data");
  std::vector<train::ParamGroup> groups = parts.before;
  groups.emplace_back("model", std::vector<std::string>{"model"}, cfg.train.optimizer.options().updates(1).every(1));
  groups.insert(groups.end(), parts.after.begin(), parts.after.end());
  trainer_ = std::make_unique<train::Trainer>(std::move(parts.modules), std::move(groups), parts.objective, parts.data,
                                              cfg.train.options(static_cast<uint64_t>(cfg.run.seed)));
}

train::Trainer& Method::trainer() {
  TORCH_CHECK(trainer_, "method '", name(), "' is not built yet: call build() first");
  return *trainer_;
}

void Method::train() { trainer().train(); }

void Method::add_periodic_evaluation(const Monitor& monitor, int64_t every,
                                     std::function<std::vector<std::pair<std::string, double>>()> measure,
                                     const std::string& shown, const std::string& label) {
  if (every <= 0) return;
  auto metrics = monitor.metrics;
  auto progress = monitor.progress;
  trainer().add_callback(std::make_shared<train::PeriodicCallback>(
      every,
      [metrics, progress, measure = std::move(measure), shown, label](train::Trainer&, int64_t step) {
        const auto values = measure();
        if (metrics) metrics->log(step, values);
        if (!progress) return;
        for (const auto& [n, v] : values) {
          if (n == shown) progress->set_extra(label, v);
        }
      },
      /*at_end=*/false));
}

std::unique_ptr<Method> create(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& info : registry()) {
    if (info.name == name) return info.create();
    names.push_back(info.name);
  }
  const std::string near = config::closest_match(name, names);
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw config::ConfigError("unknown method '" + name + "'" + (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                            "; methods: " + list);
}

std::unique_ptr<Method> create(const config::Document& doc) {
  std::unique_ptr<Method> m;
  try {
    m = create(doc.get_text("method", "ebm"));
  } catch (const config::ConfigError& e) {
    throw config::ConfigError(doc.origin("method") + ": " + e.what());
  }
  m->configure(doc);
  return m;
}

}  // namespace joule::methods
