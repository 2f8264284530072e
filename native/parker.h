// Parker: lets one thread sleep until another has something for it, with a deadline,
// without a mutex on the waking side. Linux futex; ortex ships for linux-x64 only.
//
// A wake-up is a token: Unpark() leaves one if the owner is not parked, so a Park() that
// comes later returns at once. Hence the owner's loop "take all work; Park()" never misses
// work handed over between its last look and its sleep.
//
//   state_: kEmpty (no token, owner awake), kNotified (token), kParked (owner asleep)
//   Unpark (any thread):  if state_ != kNotified: if exchange(kNotified) == kParked: wake
//   Park (owner only):    kNotified -> kEmpty and return; else kEmpty -> kParked, sleep on
//                         the futex while it reads kParked, then take the state back to kEmpty.
// All operations on state_ are seq_cst: Unpark's first load may skip the exchange only
// because, in the single total order, a load that reads kNotified comes before the owner's
// exchange that consumes the token, which comes before the owner's next look for work, so
// that look sees whatever the unparking thread published before calling Unpark.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <ctime>

namespace ortex {

class Parker {
 public:
  // Any thread.
  void Unpark() {
    if (state_.load(std::memory_order_seq_cst) == kNotified) return;
    if (state_.exchange(kNotified, std::memory_order_seq_cst) == kParked)
      syscall(SYS_futex, &state_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }

  // Owner thread only. Returns when unparked or once timeout_ns (< 0: no timeout) has passed;
  // may return early (spuriously): callers re-check their condition.
  void Park(int64_t timeout_ns) {
    if (state_.exchange(kEmpty, std::memory_order_seq_cst) == kNotified) return;
    int32_t expected = kEmpty;
    if (!state_.compare_exchange_strong(expected, kParked, std::memory_order_seq_cst)) {
      state_.store(kEmpty, std::memory_order_seq_cst);  // a token arrived meanwhile: consume it
      return;
    }
    if (timeout_ns != 0) {
      timespec ts{};
      timespec* tsp = nullptr;
      if (timeout_ns > 0) {
        ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000);
        ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000);
        tsp = &ts;
      }
      syscall(SYS_futex, &state_, FUTEX_WAIT_PRIVATE, kParked, tsp, nullptr, 0);
    }
    state_.store(kEmpty, std::memory_order_seq_cst);
  }

 private:
  static constexpr int32_t kEmpty = 0, kNotified = 1, kParked = 2;
  // futex needs a 32-bit int at this address.
  static_assert(sizeof(std::atomic<int32_t>) == sizeof(int32_t), "futex word must be 32 bits");
  alignas(64) std::atomic<int32_t> state_{kEmpty};
};

}  // namespace ortex
