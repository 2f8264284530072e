// MpscQueue: the batcher's request queue. Many producers (the JS thread of every env that
// holds the model: the main thread and any worker_threads), one consumer (the batcher's
// scheduler thread). Intrusive: a request embeds its MpscNode, so pushing allocates nothing.
//
// Producers are wait-free: one atomic exchange and one store, no lock, no retry loop.
// The consumer is lock-free but may briefly see the queue as "not empty but not ready"
// (Pop returns nullptr while Empty() is false) when a producer has swung head_ and not yet
// linked its node; the consumer then retries (see Batcher::Drain).
//
// This is the intrusive node-based queue Dmitry Vyukov described, written from its idea:
//
//   head_ --> newest node ... tail_ --> oldest node, linked oldest-to-newest via next.
//
// Memory-ordering argument.
//   Push(n):  n->next = null                      (relaxed: n is not yet shared)
//             prev = head_.exchange(n, seq_cst)   (A)
//             prev->next.store(n, release)        (B)
//   Pop():    next = tail->next.load(acquire)     (C)
//   1. Everything a producer wrote into its request before Push (input bytes, dims,
//      deadline) happens-before the consumer reads it: B is a release store of the pointer
//      to n, C is an acquire load that reads it, so the writes sequenced before B (and hence
//      before A) are visible after C.
//   2. The exchange A is a single atomic read-modify-write on head_, so producers are totally
//      ordered on it and each one links itself behind exactly the node it replaced: no node is
//      lost or linked twice, whatever the interleaving. acq_rel makes prev's own
//      initialisation (its next = null) visible to the producer that links behind it.
//   3. Between A and B the list is momentarily cut: head_ points past a node whose
//      predecessor's next is still null. Pop sees tail->next == null with tail != head_ and
//      reports "not ready" instead of "empty"; it never skips ahead, so FIFO order per
//      producer is kept, and across producers the order is that of their exchanges.
//   4. The stub node keeps the list non-empty so Pop never has to touch head_ except to
//      tell "empty" from "not ready" and to re-insert the stub (with the same Push, so the
//      argument above covers it).
//   5. Empty() is a seq_cst load of head_: the waiting protocol (parker.h) pairs it with the
//      producer's Unpark so that a consumer about to sleep either sees the pushed node or
//      receives the wake-up.
// Only the consumer thread may call Pop and Empty; any thread may call Push.
#pragma once

#include <atomic>

namespace ortex {

struct MpscNode {
  std::atomic<MpscNode*> next{nullptr};
};

class MpscQueue {
 public:
  MpscQueue() : head_(&stub_), tail_(&stub_) {}
  MpscQueue(const MpscQueue&) = delete;
  MpscQueue& operator=(const MpscQueue&) = delete;

  // Any thread.
  void Push(MpscNode* n) {
    n->next.store(nullptr, std::memory_order_relaxed);
    MpscNode* prev = head_.exchange(n, std::memory_order_seq_cst);
    prev->next.store(n, std::memory_order_release);
  }

  // Consumer only. The oldest node, or nullptr when empty or not ready (see above).
  MpscNode* Pop() {
    MpscNode* tail = tail_;
    MpscNode* next = tail->next.load(std::memory_order_acquire);
    if (tail == &stub_) {
      if (!next) return nullptr;
      tail_ = next;
      tail = next;
      next = next->next.load(std::memory_order_acquire);
    }
    if (next) {
      tail_ = next;
      return tail;
    }
    if (tail != head_.load(std::memory_order_acquire)) return nullptr;  // a push is mid-way
    Push(&stub_);
    next = tail->next.load(std::memory_order_acquire);
    if (next) {
      tail_ = next;
      return tail;
    }
    return nullptr;
  }

  // Consumer only. True when no node has been pushed that Pop has not returned.
  bool Empty() const {
    // Drained, the list is the stub alone: Pop leaves tail_ on it and head_ points at it.
    return head_.load(std::memory_order_seq_cst) == &stub_ && tail_ == &stub_;
  }

 private:
  alignas(64) std::atomic<MpscNode*> head_;  // producers
  alignas(64) MpscNode* tail_;               // consumer
  MpscNode stub_;
};

}  // namespace ortex
