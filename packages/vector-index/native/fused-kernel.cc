// The 'fused' scoring engine's kernel: one pass over a block of pool rows computes the scores
// S = P · Qᵀ tile by tile (tile-gemm.h) and, while a tile of S is still in cache, the per-task
// max / mean vectors and the per-query candidates for the running top-K lists; the candidates are
// then merged into those lists in place. The onnxruntime graph of the 'blocked' engine runs its
// GEMM about as fast, but its ReduceMax, Max (floor) and TopK passes each read the whole
// [queries, rows] score matrix back from memory (62 MB per 16k-row block): ~40% of its time.
//
// Semantics match RunningTopK (packages/vector-index/src/topk.ts): lists sorted by score
// descending, ties to the lower row; a row enters a query's list only if it scores >= the query's
// floor and, once the list is full, strictly above its worst entry (an equal score loses to the
// lower row already there). Empty slots are id -1 / score -Infinity at the end.
#include <napi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tile-gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

// Rows per tile: the tile's scores (252 x ~960 floats, ~1 MB) are still in cache when the
// reductions read them; a multiple of the GEMM micro-kernel's 12 rows.
constexpr int kTileRows = 21 * rds::kRowsPerKernel;

// ---- float16 -> float32 -------------------------------------------------------------------

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);  // inf / NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {  // subnormal half: normalise
    int shifts = 0;
    while ((man & 0x400u) == 0) {
      man <<= 1;
      shifts++;
    }
    bits = sign | (static_cast<uint32_t>(113 - shifts) << 23) | ((man & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void HalfToFloatPortable(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = HalfToFloat(src[i]);
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) void HalfToFloatAvx512(const uint16_t* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
  }
  for (; i < n; i++) dst[i] = HalfToFloat(src[i]);
}

__attribute__((target("avx,f16c"))) void HalfToFloatF16c(const uint16_t* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  }
  for (; i < n; i++) dst[i] = HalfToFloat(src[i]);
}
#endif

// ---- top-K bookkeeping --------------------------------------------------------------------

// A candidate (score, global row) as one 64-bit key whose ascending order is list order: score
// descending, then row ascending. Sorting plain integers was 10x faster than sorting pairs with a
// comparator (per query, a few hundred candidates at a time, millions in a run). A score of -0
// is kept as +0 (they compare equal, and the tie must go by row).
using Candidate = uint64_t;

inline Candidate MakeCandidate(float score, int32_t row) {
  uint32_t bits;
  if (score == 0.0f) score = 0.0f;
  std::memcpy(&bits, &score, 4);
  const uint32_t ascending = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);  // orders like the float
  return (static_cast<uint64_t>(~ascending) << 32) | static_cast<uint32_t>(row);
}

inline float ScoreOf(Candidate c) {
  const uint32_t ascending = ~static_cast<uint32_t>(c >> 32);
  const uint32_t bits = (ascending & 0x80000000u) ? (ascending & 0x7fffffffu) : ~ascending;
  float score;
  std::memcpy(&score, &bits, 4);
  return score;
}

inline int32_t RowOf(Candidate c) { return static_cast<int32_t>(static_cast<uint32_t>(c)); }

// What a block needs to enter query lists: bars (floor, or the worst of a full list) and floors.
struct ListView {
  int32_t* ids;
  float* scores;
  const float* floors;
  int k;
};

// Lowest score a new row needs to be a candidate for list q (>=; the strict > for full lists is
// applied at merge time).
float BarOf(const ListView& lists, int q) {
  const int64_t last = static_cast<int64_t>(q) * lists.k + lists.k - 1;
  float worst = lists.ids[last] >= 0 ? lists.scores[last] : -INFINITY;
  return std::max(lists.floors[q], worst);
}

// Merge sorted candidates (all from rows after the list's) into list q in place; returns how
// many entered. Same algorithm as RunningTopK.merge: where candidate j lands is j + r[j] with r[j] the
// running entries ranking before it, then runs of running entries move right in one memmove each.
int MergeIntoList(const ListView& lists, int q, const Candidate* cands, int n, std::vector<int>& positions) {
  const int k = lists.k;
  int32_t* ids = lists.ids + static_cast<int64_t>(q) * k;
  float* scores = lists.scores + static_cast<int64_t>(q) * k;
  const bool full = ids[k - 1] >= 0;
  const float worst = scores[k - 1];
  const float floor = lists.floors[q];
  int nb = 0;
  while (nb < n && ScoreOf(cands[nb]) >= floor && (!full || ScoreOf(cands[nb]) > worst)) nb++;
  if (nb == 0) return 0;
  if (static_cast<int>(positions.size()) < nb) positions.resize(nb);
  int taken = 0;
  for (int j = 0, from = 0; j < nb; j++) {
    // First position >= from whose entry ranks after the candidate (empty, or a lower score);
    // equal scores stay before it (they are earlier rows).
    int lo = from, hi = k;
    const float s = ScoreOf(cands[j]);
    while (lo < hi) {
      int mid = (lo + hi) >> 1;
      if (ids[mid] >= 0 && scores[mid] >= s) lo = mid + 1;
      else hi = mid;
    }
    from = lo;
    if (from + j >= k) break;
    positions[j] = from;
    taken++;
  }
  for (int j = taken - 1, hi = k - taken; j >= 0; j--) {
    const int lo = positions[j];
    std::memmove(ids + lo + j + 1, ids + lo, sizeof(int32_t) * (hi - lo));
    std::memmove(scores + lo + j + 1, scores + lo, sizeof(float) * (hi - lo));
    ids[lo + j] = RowOf(cands[j]);
    scores[lo + j] = ScoreOf(cands[j]);
    hi = lo;
  }
  return taken;
}

// ---- per-row reductions (per instruction set; picked once, called once per row) -----------

// Each task's max over its queries' scores in `row` (queries of a task are contiguous).
void RowTaskMaxPortable(const float* row, const int* taskStarts, int tasks, float* out) {
  for (int task = 0; task < tasks; task++) {
    float m = -INFINITY;
    for (int j = taskStarts[task]; j < taskStarts[task + 1]; j++) m = row[j] > m ? row[j] : m;
    out[task] = m;
  }
}

// Every query whose score in `row` reaches its bar gets the row as a candidate.
void RowCandidatesPortable(const float* row, const float* bars, int queries, std::vector<Candidate>* cands, int32_t at) {
  for (int j = 0; j < queries; j++)
    if (row[j] >= bars[j]) cands[j].push_back(MakeCandidate(row[j], at));
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) void RowTaskMaxAvx512(const float* row, const int* taskStarts, int tasks, float* out) {
  for (int task = 0; task < tasks; task++) {
    const int end = taskStarts[task + 1];
    __m512 m = _mm512_set1_ps(-INFINITY);
    int j = taskStarts[task];
    for (; j + 16 <= end; j += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(row + j));
    if (j < end) {
      const __mmask16 tail = static_cast<__mmask16>((1u << (end - j)) - 1);
      m = _mm512_mask_max_ps(m, tail, m, _mm512_maskz_loadu_ps(tail, row + j));
    }
    out[task] = _mm512_reduce_max_ps(m);
  }
}

// One compare per 16 queries; most rows reach no bar at all.
__attribute__((target("avx512f"))) void RowCandidatesAvx512(const float* row, const float* bars, int queries, std::vector<Candidate>* cands, int32_t at) {
  for (int j = 0; j < queries; j += 16) {
    const __mmask16 live = queries - j >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (queries - j)) - 1);
    uint32_t hits = _mm512_mask_cmp_ps_mask(live, _mm512_maskz_loadu_ps(live, row + j), _mm512_maskz_loadu_ps(live, bars + j), _CMP_GE_OQ);
    while (hits) {
      const int q = j + __builtin_ctz(hits);
      hits &= hits - 1;
      cands[q].push_back(MakeCandidate(row[q], at));
    }
  }
}
#endif

// The code paths for one instruction-set variant; every variant gives the same bits (the GEMM
// is one FMA chain per score in all of them, the rest is exact).
struct Variant {
  const char* name;
  rds::KernelFn gemm;
  void (*halfToFloat)(const uint16_t*, float*, size_t);
  void (*taskMax)(const float*, const int*, int, float*);
  void (*candidates)(const float*, const float*, int, std::vector<Candidate>*, int32_t);
};

Variant VariantNamed(const char* name) {
#if defined(__x86_64__)
  if (std::strcmp(name, "avx512") == 0) return {"avx512", rds::KernelOf(name), HalfToFloatAvx512, RowTaskMaxAvx512, RowCandidatesAvx512};
  if (std::strcmp(name, "avx2") == 0) return {"avx2", rds::KernelOf(name), HalfToFloatF16c, RowTaskMaxPortable, RowCandidatesPortable};
#endif
  return {"portable", rds::KernelOf("portable"), HalfToFloatPortable, RowTaskMaxPortable, RowCandidatesPortable};
}

Variant BestVariant() {
  for (const char* name : {"avx512", "avx2"})
    if (rds::CpuSupports(name)) return VariantNamed(name);
  return VariantNamed("portable");
}

// Process-wide; useKernel() switches it (tests compare the variants).
Variant gVariant = BestVariant();

// ---- the scorer ---------------------------------------------------------------------------

struct Block {
  const void* pool = nullptr;
  bool float16 = false;
  int rows = 0;
  int32_t rowOffset = 0;
  ListView lists{nullptr, nullptr, nullptr, 0};  // k == 0: no lists wanted
  bool settle = false;                           // merge every candidate before returning
  float* maxOut = nullptr;                       // tasks x rows, or null
  float* meanOut = nullptr;
};

struct ThreadScratch {
  std::vector<float> tile;
  std::vector<float> sim;
  std::vector<float> bars;
  std::vector<float> taskMax;
  std::vector<std::vector<Candidate>> cands;  // per query
  std::vector<int> positions;
  int taken = 0;
};

class Scorer {
 public:
  // q: width x dims, the queries then (when means) one mean vector per task.
  Scorer(const float* q, int width, int dims, int queries, std::vector<int> taskStarts, bool means, int threads)
      : packed_(rds::PackQueries(q, width, dims)), d_(dims), nq_(queries), taskStarts_(std::move(taskStarts)),
        means_(means), threads_(threads), scratch_(threads) {
    tasks_ = static_cast<int>(taskStarts_.size()) - 1;
    panels_ = (width + rds::kPanel - 1) / rds::kPanel;
    ldc_ = panels_ * rds::kPanel;
  }

  int queries() const { return nq_; }
  int tasks() const { return tasks_; }
  int dims() const { return d_; }

  // Scores a block; returns the most entries any one query's list took from it. Candidates may
  // wait (per query, up to a few hundred) to be merged with later blocks' unless b.settle: each
  // merge moves most of a list (K entries), and all lists are tens of MB that a block would
  // otherwise stream through memory twice.
  int Score(const Block& b) {
    if (b.lists.k > 0) AdoptLists(b.lists);
    const int used = std::max(1, std::min(threads_, (b.rows + kTileRows - 1) / kTileRows));
    RunParallel(used, [&](int t) { ScoreRows(b, t, b.rows * static_cast<int64_t>(t) / used, b.rows * static_cast<int64_t>(t + 1) / used); });
    if (b.lists.k == 0) return 0;
    return MergePending(b.lists, used, b.settle);
  }

  // Merges every waiting candidate into the lists.
  void Settle(const ListView& lists) {
    AdoptLists(lists);
    MergePending(lists, 0, true);
  }

 private:
  // Waiting candidates belong to one set of lists: a different one first needs a settle.
  void AdoptLists(const ListView& lists) {
    if (listsOf_ != nullptr && listsOf_ != lists.ids) {
      for (const auto& p : pending_)
        if (!p.empty()) throw std::runtime_error("candidates of other lists are waiting: settle those lists first");
    }
    listsOf_ = lists.ids;
    pending_.resize(nq_);
  }

  int MergePending(const ListView& lists, int rowThreads, bool all) {
    RunParallel(threads_, [&](int t) { MergeQueries(lists, t, rowThreads, all, nq_ * static_cast<int64_t>(t) / threads_, nq_ * static_cast<int64_t>(t + 1) / threads_); });
    int taken = 0;
    for (int t = 0; t < threads_; t++) taken = std::max(taken, scratch_[t].taken);
    return taken;
  }

  // fn(0) .. fn(n-1), fn(0) on this thread; the first exception is rethrown after all joined.
  template <typename F>
  static void RunParallel(int n, F&& fn) {
    std::vector<std::exception_ptr> errors(n);
    auto guarded = [&](int t) {
      try {
        fn(t);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    };
    std::vector<std::thread> others;
    others.reserve(n - 1);
    for (int t = 1; t < n; t++) others.emplace_back(guarded, t);
    guarded(0);
    for (auto& th : others) th.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }

  // Phase 1, rows [r0, r1) of the block on thread t: GEMM tiles, vectors, candidates.
  void ScoreRows(const Block& b, int t, int r0, int r1) {
    ThreadScratch& s = scratch_[t];
    const bool lists = b.lists.k > 0;
    s.sim.resize(static_cast<size_t>(kTileRows) * ldc_);
    s.tile.resize(static_cast<size_t>(kTileRows) * d_);
    s.taskMax.resize(tasks_);
    if (lists) {
      s.cands.resize(nq_);
      for (auto& c : s.cands) c.clear();
      s.bars.resize(nq_ + 16);
      for (int q = 0; q < nq_; q++) s.bars[q] = BarOf(b.lists, q);
    }
    const int k = b.lists.k;
    for (int a = r0; a < r1; a += kTileRows) {
      const int n = std::min(kTileRows, r1 - a);
      // The GEMM takes whole micro-kernel rows: a short tile is padded with zero rows.
      const int padded = (n + rds::kRowsPerKernel - 1) / rds::kRowsPerKernel * rds::kRowsPerKernel;
      const float* x = s.tile.data();
      const size_t cells = static_cast<size_t>(n) * d_;
      if (b.float16) {
        gVariant.halfToFloat(static_cast<const uint16_t*>(b.pool) + static_cast<size_t>(a) * d_, s.tile.data(), cells);
      } else if (n == padded) {
        x = static_cast<const float*>(b.pool) + static_cast<size_t>(a) * d_;
      } else {
        std::memcpy(s.tile.data(), static_cast<const float*>(b.pool) + static_cast<size_t>(a) * d_, cells * sizeof(float));
      }
      if (n < padded) std::fill(s.tile.begin() + cells, s.tile.begin() + static_cast<size_t>(padded) * d_, 0.0f);
      float* sim = s.sim.data();
      rds::TileGemm(gVariant.gemm, x, padded, d_, packed_.data(), panels_, sim, ldc_);
      for (int r = 0; r < n; r++) {
        const float* row = sim + static_cast<size_t>(r) * ldc_;
        const int64_t at = a + r;
        if (b.maxOut) {
          gVariant.taskMax(row, taskStarts_.data(), tasks_, s.taskMax.data());
          for (int task = 0; task < tasks_; task++) {
            b.maxOut[task * static_cast<int64_t>(b.rows) + at] = s.taskMax[task];
            if (means_) b.meanOut[task * static_cast<int64_t>(b.rows) + at] = row[nq_ + task];
          }
        }
        if (lists) gVariant.candidates(row, s.bars.data(), nq_, s.cands.data(), static_cast<int32_t>(b.rowOffset + at));
      }
      // A query with far more candidates than its list can hold (no floor and an empty list, as in
      // the first blocks of a small pool) keeps only its best k; later rows must beat the k-th.
      if (lists) {
        for (int q = 0; q < nq_; q++) {
          auto& c = s.cands[q];
          if (static_cast<int>(c.size()) < 2 * k + kTileRows) continue;
          std::nth_element(c.begin(), c.begin() + (k - 1), c.end());
          c.resize(k);
          // Later rows of this thread rank after an equal score: they must be strictly above.
          s.bars[q] = std::max(s.bars[q], std::nextafter(ScoreOf(c[k - 1]), INFINITY));
        }
      }
    }
  }

  // Phase 2, queries [q0, q1) on thread t: each query's candidates from the row threads join
  // its waiting ones; once there are enough (or `all`), they are sorted and merged into its list.
  void MergeQueries(const ListView& lists, int t, int rowThreads, bool all, int q0, int q1) {
    ThreadScratch& s = scratch_[t];
    s.taken = 0;
    const int k = lists.k;
    const size_t mergeAt = std::max(256, k / 8);
    for (int q = q0; q < q1; q++) {
      auto& p = pending_[q];
      for (int rt = 0; rt < rowThreads; rt++) {
        const auto& c = scratch_[rt].cands[q];
        p.insert(p.end(), c.begin(), c.end());
      }
      if (p.empty() || (!all && p.size() < mergeAt)) continue;
      const int keep = std::min(static_cast<int>(p.size()), k);
      if (keep < static_cast<int>(p.size())) std::nth_element(p.begin(), p.begin() + keep, p.end());
      std::sort(p.begin(), p.begin() + keep);
      s.taken = std::max(s.taken, MergeIntoList(lists, q, p.data(), keep, s.positions));
      p.clear();
    }
  }

  std::vector<float> packed_;  // the queries (then the task means) in GEMM panels
  int d_, nq_, tasks_, panels_, ldc_;
  std::vector<int> taskStarts_;
  bool means_;
  int threads_;
  std::vector<ThreadScratch> scratch_;
  std::vector<std::vector<Candidate>> pending_;  // per query: candidates not merged yet
  const int32_t* listsOf_ = nullptr;              // the lists they are for
};

// ---- JS binding ---------------------------------------------------------------------------

template <typename T>
T* TypedData(const Napi::Env& env, const Napi::Value& v, napi_typedarray_type type, size_t minLength, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw Napi::TypeError::New(env, std::string("scoreBlock: ") + name + " has the wrong type");
  }
  auto arr = v.As<Napi::TypedArray>();
  if (arr.ElementLength() < minLength) {
    throw Napi::RangeError::New(env, std::string("scoreBlock: ") + name + " holds " + std::to_string(arr.ElementLength()) +
                                         " values, needs " + std::to_string(minLength));
  }
  return reinterpret_cast<T*>(static_cast<uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset());
}

class ScoreWorker : public Napi::AsyncWorker {
 public:
  ScoreWorker(Napi::Env env, Scorer* scorer, Block block, std::vector<Napi::Reference<Napi::Value>> keep, bool* busy)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), scorer_(scorer), block_(block),
        keep_(std::move(keep)), busy_(busy) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      taken_ = scorer_->Score(block_);
    } catch (const std::exception& e) {
      SetError(std::string("fused scoring kernel: ") + e.what());
    }
  }
  void OnOK() override {
    *busy_ = false;
    deferred_.Resolve(Napi::Number::New(Env(), taken_));
  }
  void OnError(const Napi::Error& e) override {
    *busy_ = false;
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Scorer* scorer_;
  Block block_;
  std::vector<Napi::Reference<Napi::Value>> keep_;  // the arrays stay alive while the worker reads them
  bool* busy_;
  int taken_ = 0;
};

class FusedScorer : public Napi::ObjectWrap<FusedScorer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FusedScorer", {InstanceMethod<&FusedScorer::ScoreBlock>("scoreBlock"), InstanceMethod<&FusedScorer::Settle>("settle")});
  }

  // new FusedScorer(q: Float32Array (width x dims), dims, queries, taskStarts: Int32Array(tasks+1), means: boolean, threads)
  explicit FusedScorer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FusedScorer>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 6) throw Napi::TypeError::New(env, "FusedScorer(q, dims, queries, taskStarts, means, threads)");
    const int dims = info[1].As<Napi::Number>().Int32Value();
    const int queries = info[2].As<Napi::Number>().Int32Value();
    const bool means = info[4].As<Napi::Boolean>().Value();
    const int threads = info[5].As<Napi::Number>().Int32Value();
    auto starts = info[3].As<Napi::Int32Array>();
    const int tasks = static_cast<int>(starts.ElementLength()) - 1;
    if (dims <= 0 || queries <= 0 || tasks <= 0 || threads <= 0) throw Napi::RangeError::New(env, "FusedScorer: dims, queries, tasks and threads must be positive");
    std::vector<int> taskStarts(starts.Data(), starts.Data() + tasks + 1);
    if (taskStarts[0] != 0 || taskStarts[tasks] != queries) throw Napi::RangeError::New(env, "FusedScorer: task starts must run from 0 to the query count");
    for (int t = 0; t < tasks; t++)
      if (taskStarts[t + 1] <= taskStarts[t]) throw Napi::RangeError::New(env, "FusedScorer: every task needs at least one query");
    const size_t width = static_cast<size_t>(queries) + (means ? tasks : 0);
    const float* q = TypedData<float>(env, info[0], napi_float32_array, width * dims, "q");
    scorer_ = std::make_unique<Scorer>(q, static_cast<int>(width), dims, queries, std::move(taskStarts), means, threads);
  }

  // scoreBlock(pool: Float32Array | Uint16Array (float16 bits), rows, rowOffset, k, ids, scores, floors, maxOut, meanOut, settle)
  //   -> Promise<number>: ids/scores/floors may be null when k = 0; maxOut/meanOut null when no vectors.
  //   Without settle, some candidates may wait for a later block or settle().
  Napi::Value ScoreBlock(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (busy_) throw Napi::Error::New(env, "scoreBlock: the previous block is still being scored");
    if (info.Length() < 10) throw Napi::TypeError::New(env, "scoreBlock(pool, rows, rowOffset, k, ids, scores, floors, maxOut, meanOut, settle)");
    Block b;
    b.rows = info[1].As<Napi::Number>().Int32Value();
    b.rowOffset = info[2].As<Napi::Number>().Int32Value();
    const int k = info[3].As<Napi::Number>().Int32Value();
    const int d = scorer_->dims(), nq = scorer_->queries(), tasks = scorer_->tasks();
    if (b.rows <= 0 || k < 0 || b.rowOffset < 0) throw Napi::RangeError::New(env, "scoreBlock: rows must be positive, k and rowOffset non-negative");
    const size_t cells = static_cast<size_t>(b.rows) * d;
    if (info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array) {
      b.float16 = true;
      b.pool = TypedData<uint16_t>(env, info[0], napi_uint16_array, cells, "pool");
    } else {
      b.pool = TypedData<float>(env, info[0], napi_float32_array, cells, "pool");
    }
    std::vector<Napi::Reference<Napi::Value>> keep;
    keep.push_back(Napi::Persistent(info.This()));
    keep.push_back(Napi::Persistent(info[0]));
    if (k > 0) {
      const size_t cellsK = static_cast<size_t>(nq) * k;
      b.lists = {TypedData<int32_t>(env, info[4], napi_int32_array, cellsK, "ids"), TypedData<float>(env, info[5], napi_float32_array, cellsK, "scores"),
                 TypedData<float>(env, info[6], napi_float32_array, nq, "floors"), k};
      for (int i = 4; i <= 6; i++) keep.push_back(Napi::Persistent(info[i]));
    }
    if (!info[7].IsNull() && !info[7].IsUndefined()) {
      const size_t cellsV = static_cast<size_t>(tasks) * b.rows;
      b.maxOut = TypedData<float>(env, info[7], napi_float32_array, cellsV, "maxOut");
      b.meanOut = TypedData<float>(env, info[8], napi_float32_array, cellsV, "meanOut");
      keep.push_back(Napi::Persistent(info[7]));
      keep.push_back(Napi::Persistent(info[8]));
    }
    b.settle = info[9].ToBoolean().Value();
    busy_ = true;
    auto* worker = new ScoreWorker(env, scorer_.get(), b, std::move(keep), &busy_);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  // settle(ids, scores, floors, k): merge every waiting candidate into these lists (a few ms).
  Napi::Value Settle(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (busy_) throw Napi::Error::New(env, "settle: a block is still being scored");
    const int k = info[3].As<Napi::Number>().Int32Value();
    const int nq = scorer_->queries();
    if (k <= 0) throw Napi::RangeError::New(env, "settle: k must be positive");
    const size_t cells = static_cast<size_t>(nq) * k;
    const ListView lists{TypedData<int32_t>(env, info[0], napi_int32_array, cells, "ids"), TypedData<float>(env, info[1], napi_float32_array, cells, "scores"),
                         TypedData<float>(env, info[2], napi_float32_array, nq, "floors"), k};
    try {
      scorer_->Settle(lists);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("fused scoring kernel: ") + e.what());
    }
    return env.Undefined();
  }

 private:
  std::unique_ptr<Scorer> scorer_;
  bool busy_ = false;
};

// gemmSeconds(rows, width, dims, threads): seconds for the kernel's GEMM alone over `rows` rows
// x `width` queries (random data, tiles split over `threads`), after a warm-up: the yardstick
// bench:score reads the fused engine against.
Napi::Value GemmSeconds(const Napi::CallbackInfo& info) {
  const int rows = info[0].As<Napi::Number>().Int32Value(), width = info[1].As<Napi::Number>().Int32Value();
  const int d = info[2].As<Napi::Number>().Int32Value(), threads = info[3].As<Napi::Number>().Int32Value();
  if (rows <= 0 || width <= 0 || d <= 0 || threads <= 0) throw Napi::RangeError::New(info.Env(), "gemmSeconds: sizes and threads must be positive");
  std::vector<float> q(static_cast<size_t>(width) * d);
  for (size_t i = 0; i < q.size(); i++) q[i] = static_cast<float>(i % 97) / 97.0f - 0.5f;
  const std::vector<float> packed = rds::PackQueries(q.data(), width, d);
  const int panels = (width + rds::kPanel - 1) / rds::kPanel;
  auto run = [&](int t) {
    std::vector<float> x(static_cast<size_t>(kTileRows) * d), c(static_cast<size_t>(kTileRows) * panels * rds::kPanel);
    for (size_t i = 0; i < x.size(); i++) x[i] = static_cast<float>((i + t) % 89) / 89.0f - 0.5f;
    for (int a = rows * static_cast<int64_t>(t) / threads; a < rows * static_cast<int64_t>(t + 1) / threads; a += kTileRows)
      rds::TileGemm(gVariant.gemm, x.data(), kTileRows, d, packed.data(), panels, c.data(), panels * rds::kPanel);
  };
  run(0);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> others;
  for (int t = 1; t < threads; t++) others.emplace_back(run, t);
  run(0);
  for (auto& th : others) th.join();
  return Napi::Number::New(info.Env(), std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

// useKernel(name): switch every scorer to the "avx512", "avx2" or "portable" code paths (the
// CPU must support them); returns the previous name. For tests and benchmarks.
Napi::Value UseKernel(const Napi::CallbackInfo& info) {
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name != "avx512" && name != "avx2" && name != "portable") throw Napi::RangeError::New(info.Env(), "useKernel: expected avx512, avx2 or portable, got " + name);
  if (!rds::CpuSupports(name.c_str())) throw Napi::Error::New(info.Env(), "useKernel: this CPU cannot run the " + name + " kernel");
  const char* previous = gVariant.name;
  gVariant = VariantNamed(name.c_str());
  return Napi::String::New(info.Env(), previous);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("gemmSeconds", Napi::Function::New(env, GemmSeconds));
  exports.Set("FusedScorer", FusedScorer::Define(env));
  exports.Set("kernel", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), gVariant.name); }));
  exports.Set("useKernel", Napi::Function::New(env, UseKernel));
  return exports;
}

}  // namespace

NODE_API_MODULE(rds_fused, Init)
