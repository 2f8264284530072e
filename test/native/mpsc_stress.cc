// mpsc_stress: the batcher's request queue (native/mpsc_queue.h) and its consumer's parker
// (native/parker.h), driven hard in the batcher's pattern and checked.
//
//   ortex_mpsc_stress <producers> <items per producer> <seed> [stall_ms=2000]
//
// Prints one JSON line: {"ok":true|false, ...counts..., "error"?: "..."}; exits 0 when ok.
//
// P producer threads each push M items, with random yields, pauses and sleeps between pushes,
// and Unpark the consumer after every push (Batcher::Enqueue). One consumer pops until the
// queue looks empty and then parks, mostly without a timeout (the scheduler with nothing
// scheduled), sometimes with a short one (a queue delay or a deadline), exactly as
// Scheduler::Loop does: a null Pop while Empty() is false is a push caught mid-way, retried.
//
// Checked:
//   - every item arrives exactly once and each producer's items in the order it pushed them
//     (per-producer FIFO, memory-ordering claim 3 of mpsc_queue.h);
//   - the payload a producer wrote before pushing is what the consumer reads (claim 1);
//   - nodes are reused, as the batcher reuses its Requests: each producer cycles through a
//     pool of R nodes (R from the seed, down to 1) and takes a node back only once the
//     consumer has released it. A small pool is a ping-pong: the producer waits on the
//     consumer after nearly every push, so the queue keeps going empty and the consumer
//     keeps parking, and every push must wake it;
//   - no lost wake-up: a watchdog fails the run if the consumer makes no progress for
//     stall_ms while pushed items wait in the queue. With a pool of 1, or once every
//     producer has finished, nothing else would ever wake a consumer that missed a wake-up,
//     so a lost one turns into a stall the watchdog sees.
// Failures print the JSON and _exit at once: a broken queue must not hang the test.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mpsc_queue.h"
#include "parker.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define ORTEX_STRESS_RELAX() _mm_pause()
#else
#define ORTEX_STRESS_RELAX() std::this_thread::yield()
#endif

namespace {

using ortex::MpscNode;
using ortex::MpscQueue;
using ortex::Parker;

// splitmix64: a seeded generator, one per thread, so a failing seed replays the same choices.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return n ? Next() % n : 0; }

 private:
  uint64_t s_;
};

struct Item {
  MpscNode node;  // first member: Pop hands back &node, which is the item's address
  uint32_t producer = 0;
  uint32_t seq = 0;
  uint64_t payload = 0;                 // written before the push, checked after the pop
  std::atomic<bool> in_queue{false};    // producer sets before pushing; consumer clears when done
};
static_assert(offsetof(Item, node) == 0, "the node must be the item's first member");

uint64_t PayloadOf(uint32_t producer, uint32_t seq) {
  return (static_cast<uint64_t>(producer) << 32 | seq) * 0x9e3779b97f4a7c15ULL ^ 0x5bd1e995ULL;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Random delays between operations: mostly none, some busy-waits, a few yields and sleeps,
// so that pushes interleave at every point and the queue keeps emptying and refilling.
void Jitter(Rng& rng) {
  const uint64_t r = rng.Below(1024);
  if (r < 96) {
    for (uint64_t i = rng.Below(256); i > 0; i--) ORTEX_STRESS_RELAX();
  } else if (r < 112) {
    std::this_thread::yield();
  } else if (r < 114) {
    std::this_thread::sleep_for(std::chrono::microseconds(rng.Below(50)));
  }
}

struct Run {
  uint32_t producers = 0;
  uint32_t items = 0;
  uint64_t seed = 0;
  uint32_t pool = 0;  // nodes per producer
  int64_t stall_ms = 2000;

  MpscQueue queue;
  Parker parker;
  std::vector<std::unique_ptr<Item[]>> pools;

  std::atomic<uint64_t> pushed{0};    // pushes completed (counted after the push and the Unpark)
  std::atomic<uint64_t> consumed{0};  // items the consumer has checked
  std::atomic<bool> go{false};
  std::atomic<uint32_t> ready{0};
  std::atomic<bool> finished{false};  // consumer done
  int64_t t0_ms = 0;

  // Consumer only, reported at the end.
  uint64_t parks = 0, timed_parks = 0, not_ready = 0;
};

Run* g_run = nullptr;

[[noreturn]] void Fail(const std::string& error) {
  const Run& r = *g_run;
  std::printf(
      "{\"ok\":false,\"producers\":%u,\"items\":%u,\"seed\":%" PRIu64 ",\"pool\":%u,\"pushed\":%" PRIu64
      ",\"consumed\":%" PRIu64 ",\"ms\":%" PRId64 ",\"error\":\"%s\"}\n",
      r.producers, r.items, r.seed, r.pool, r.pushed.load(), r.consumed.load(), NowMs() - r.t0_ms, error.c_str());
  std::fflush(stdout);
  _exit(1);
}

void Produce(Run* run, uint32_t p) {
  Rng rng(run->seed * 1000003 + p + 1);
  Item* pool = run->pools[p].get();
  run->ready.fetch_add(1);
  while (!run->go.load(std::memory_order_acquire)) ORTEX_STRESS_RELAX();
  for (uint32_t seq = 0; seq < run->items; seq++) {
    Item* it = &pool[seq % run->pool];
    // Reuse only what the consumer has released (the batcher reuses a Request once its
    // completion has come back). Waiting here on a consumer that missed its wake-up is the
    // stall the watchdog reports.
    while (it->in_queue.load(std::memory_order_acquire)) std::this_thread::yield();
    it->producer = p;
    it->seq = seq;
    it->payload = PayloadOf(p, seq);
    it->in_queue.store(true, std::memory_order_relaxed);
    run->queue.Push(&it->node);
    run->parker.Unpark();
    run->pushed.fetch_add(1, std::memory_order_relaxed);
    Jitter(rng);
  }
}

void Consume(Run* run) {
  Rng rng(run->seed ^ 0xc0ffee);
  const uint64_t total = static_cast<uint64_t>(run->producers) * run->items;
  std::vector<uint32_t> next(run->producers, 0);
  uint64_t done = 0;
  while (done < total) {
    MpscNode* n = run->queue.Pop();
    if (n) {
      Item* it = reinterpret_cast<Item*>(n);
      const uint32_t p = it->producer, seq = it->seq;
      if (p >= run->producers) Fail("popped an item of unknown producer " + std::to_string(p));
      if (seq != next[p]) {
        Fail("producer " + std::to_string(p) + ": expected item " + std::to_string(next[p]) + " next but popped " +
             std::to_string(seq) + (seq < next[p] ? " (a duplicate)" : " (one was lost or overtaken)"));
      }
      if (it->payload != PayloadOf(p, seq))
        Fail("producer " + std::to_string(p) + " item " + std::to_string(seq) + ": payload written before the push not seen");
      next[p]++;
      done++;
      it->in_queue.store(false, std::memory_order_release);
      run->consumed.store(done, std::memory_order_relaxed);
      if (rng.Below(64) == 0) Jitter(rng);  // let the queue fill up now and then
      continue;
    }
    if (!run->queue.Empty()) {
      // A producer has swung head_ and not yet linked its node: look again (Scheduler::Loop).
      run->not_ready++;
      ORTEX_STRESS_RELAX();
      continue;
    }
    run->parks++;
    if (rng.Below(8) == 0) {
      run->timed_parks++;
      run->parker.Park(static_cast<int64_t>(rng.Below(20000)));  // 0..20 µs; 0 never sleeps
    } else {
      run->parker.Park(-1);
    }
  }
  if (!run->queue.Empty()) Fail("the queue is not empty after every item was consumed");
  if (run->queue.Pop() != nullptr) Fail("Pop returned a node after every item was consumed");
  run->finished.store(true, std::memory_order_release);
}

void Watch(Run* run) {
  uint64_t last = run->consumed.load();
  int64_t last_change = NowMs();
  const int64_t limit_ms = 120000;
  while (!run->finished.load(std::memory_order_acquire)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const int64_t now = NowMs();
    const uint64_t c = run->consumed.load(std::memory_order_relaxed);
    const uint64_t p = run->pushed.load(std::memory_order_relaxed);
    if (c != last) {
      last = c;
      last_change = now;
    } else if (p > c && now - last_change > run->stall_ms) {
      Fail("lost wake-up: the consumer made no progress for " + std::to_string(now - last_change) + " ms with " +
           std::to_string(p - c) + " pushed item(s) waiting");
    }
    if (now - run->t0_ms > limit_ms) Fail("did not finish within " + std::to_string(limit_ms) + " ms");
  }
}

bool ParseU64(const char* s, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno || !end || *end || end == s) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t producers = 0, items = 0, seed = 0, stall_ms = 2000;
  if (argc < 4 || argc > 5 || !ParseU64(argv[1], &producers) || !ParseU64(argv[2], &items) || !ParseU64(argv[3], &seed) ||
      (argc == 5 && !ParseU64(argv[4], &stall_ms)) || producers < 1 || producers > 256 || items < 1 ||
      items > 100000000) {
    std::fprintf(stderr, "usage: %s <producers 1..256> <items per producer >= 1> <seed> [stall_ms=2000]\n", argv[0]);
    return 2;
  }
  auto run = std::make_unique<Run>();
  g_run = run.get();
  run->producers = static_cast<uint32_t>(producers);
  run->items = static_cast<uint32_t>(items);
  run->seed = seed;
  run->stall_ms = static_cast<int64_t>(stall_ms);
  // Pool size from the seed: 1 (strict ping-pong), a few, or one node per item (no reuse).
  static const uint32_t kPools[] = {1, 2, 3, 8, 64, 0};
  const uint32_t pick = kPools[Rng(seed).Below(sizeof(kPools) / sizeof(kPools[0]))];
  run->pool = pick == 0 ? run->items : std::min(pick, run->items);
  for (uint32_t p = 0; p < run->producers; p++) run->pools.emplace_back(new Item[run->pool]);

  run->t0_ms = NowMs();
  std::thread watchdog(Watch, run.get());
  std::vector<std::thread> threads;
  for (uint32_t p = 0; p < run->producers; p++) threads.emplace_back(Produce, run.get(), p);
  while (run->ready.load() < run->producers) std::this_thread::yield();
  run->go.store(true, std::memory_order_release);
  Consume(run.get());
  for (auto& t : threads) t.join();
  watchdog.join();
  std::printf("{\"ok\":true,\"producers\":%u,\"items\":%u,\"seed\":%" PRIu64 ",\"pool\":%u,\"consumed\":%" PRIu64
              ",\"parks\":%" PRIu64 ",\"timedParks\":%" PRIu64 ",\"notReady\":%" PRIu64 ",\"ms\":%" PRId64 "}\n",
              run->producers, run->items, run->seed, run->pool, run->consumed.load(), run->parks, run->timed_parks,
              run->not_ready, NowMs() - run->t0_ms);
  return 0;
}
