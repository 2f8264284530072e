// `npm run test:asan` (run by .ci/run): the test files that drive the native code, against the
// AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/ (the script sets
// ORTEX_ADDON and preloads the ASan runtime). Left out: the RSS leak tests (ASan's quarantine
// holds freed memory), the tests that assert latencies (event-loop delay, the batcher's
// latency target: ASan slows every run several times over), and the files that exercise only
// TypeScript or the HTTP server.
//
// retry: a few kept tests bound a time too (a deadline's lateness, a process's exit), which
// ASan's slowdown on a busy machine can overrun. A sanitizer finding aborts the test process,
// and vitest fails the run on that whatever the retries.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  test: {
    ...base.test,
    retry: 2,
    include: [
      'test/inference-session.test.ts',
      'test/drop-in.test.ts',
      'test/tensor.test.ts',
      'test/values.test.ts',
      'test/models.test.ts',
      'test/conformance.test.ts',
      'test/io-binding.test.ts',
      'test/native-guards.test.ts',
      'test/run-control.test.ts',
      'test/execution-providers.test.ts',
      'test/custom-ops.test.ts',
      'test/threads.test.ts',
      'test/hash.test.ts',
      'test/batcher.test.ts',
      'test/batcher-policy.test.ts',
      'test/batcher-property.test.ts',
      'test/batcher-threads.test.ts',
      'test/mpsc-queue.test.ts',
      'test/sanitizers.test.ts',
    ],
  },
});
