#include "joule/train/stop_signals.h"

#include <unistd.h>

#include <cstring>
#include <vector>

#include "joule/train/trainer.h"

namespace joule::train {

namespace {

const char* g_message = nullptr;

extern "C" void on_stop_signal(int) {
  if (g_message) {
    ssize_t ignored = ::write(STDERR_FILENO, g_message, std::strlen(g_message));
    (void)ignored;
  }
  request_interrupt();
}

// One alternate stack per thread that installs handlers; 64 KiB is far above what the handler
// needs (SIGSTKSZ is 8 KiB on x86-64 glibc, more on AVX-512 machines: MINSIGSTKSZ grows).
thread_local std::vector<char> t_alt_stack;

}  // namespace

StopSignalScope::StopSignalScope(const char* message, bool second_signal_quits) {
  g_message = message;
  // Keep an alternate stack that is already set (Python's faulthandler installs one).
  stack_t current {};
  if (::sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE)) {
    if (t_alt_stack.empty()) t_alt_stack.resize(size_t{1} << 16);
    stack_t ss {};
    ss.ss_sp = t_alt_stack.data();
    ss.ss_size = t_alt_stack.size();
    own_stack_ = ::sigaltstack(&ss, &old_stack_) == 0;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_ONSTACK | (second_signal_quits ? SA_RESETHAND : 0);
  ::sigaction(SIGINT, &sa, &old_int_);
  ::sigaction(SIGTERM, &sa, &old_term_);
}

StopSignalScope::~StopSignalScope() {
  ::sigaction(SIGINT, &old_int_, nullptr);
  ::sigaction(SIGTERM, &old_term_, nullptr);
  if (own_stack_) ::sigaltstack(&old_stack_, nullptr);
}

}  // namespace joule::train
