#pragma once
// The joule subcommands. Each returns the process exit code:
//   0 success, 1 runtime error (bad file, corrupt checkpoint, ...), 2 usage error (bad config,
//   unknown key, bad value), 3 training diverged (the last good checkpoint is kept).

#include <ostream>
#include <string>
#include <vector>

namespace joule::cli {

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

int cmd_train(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_sample(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_eval(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_compose(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_export(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int cmd_gof(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace joule::cli
