// Per-env state of the addon (main thread and each worker_thread have their own),
// stored as Node-API instance data and freed at env teardown.
#pragma once

#include <memory>

#include "run_executor.h"

namespace ortex {

struct AddonData {
  std::unique_ptr<RunExecutor> executor;  // created by the first run()
};

}  // namespace ortex
