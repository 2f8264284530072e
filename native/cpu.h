// How many CPUs this process may run on (its affinity mask, as `taskset` sets it), which
// decides whether an idle thread may spin before sleeping: on one CPU, a spinning thread
// only delays the thread it is waiting for.
#pragma once

#include <sched.h>

namespace ortex {

inline int AvailableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return CPU_COUNT(&set);
}

}  // namespace ortex
