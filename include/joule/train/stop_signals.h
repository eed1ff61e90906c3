#pragma once
// Graceful stop on SIGINT / SIGTERM for programs that train: the first signal asks running
// trainers to stop after their current step (train::request_interrupt(); train_run then saves
// and throws InterruptedError) instead of ending the process.
//
//   joule::train::StopSignalScope stop("stopping after this step (Ctrl-C again to quit)\n");
//   joule::methods::train_run(method, "runs/x");   // Ctrl-C: checkpoint saved, InterruptedError
//
// The handler runs on an alternate signal stack. With the handler on the interrupted thread's
// own stack, SIGINT during MALA sampling (width 128, Joule's oneDNN sgemm path) corrupted the
// heap in 5 of 12 runs (CLI and Python). The crash surfaced inside oneDNN's sgemm, whose JIT code
// most likely keeps data below its stack pointer, where a handler frame lands. On the alternate
// stack: 0 of 36 (docs/reliability.md).

#include <signal.h>

namespace joule::train {

/// While alive, SIGINT and SIGTERM request an interrupt (see the header comment); the previous
/// handlers and alternate stack come back when it ends. Create it on the thread that trains
/// (the main thread, which the kernel picks for signals sent to the process).
class StopSignalScope {
 public:
  /// `message`: written to stderr (async-signal-safely) at the first signal; null = nothing. It
  /// must outlive the scope (a string literal). `second_signal_quits`: a second signal takes the
  /// default action (ends the process) rather than being ignored while the step finishes.
  explicit StopSignalScope(const char* message = nullptr, bool second_signal_quits = true);
  ~StopSignalScope();
  StopSignalScope(const StopSignalScope&) = delete;
  StopSignalScope& operator=(const StopSignalScope&) = delete;

 private:
  struct sigaction old_int_ {}, old_term_ {};
  stack_t old_stack_ {};
  bool own_stack_ = false;
};

}  // namespace joule::train
