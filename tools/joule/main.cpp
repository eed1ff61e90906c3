#include <iostream>

#include "tools/joule/args.h"
#include "tools/joule/commands.h"

int main(int argc, char** argv) {
  joule::cli::remember_command_line(argv);
  std::vector<std::string> args(argv + 1, argv + argc);
  return joule::cli::run_cli(args, std::cout, std::cerr);
}
