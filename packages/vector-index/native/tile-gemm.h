// The fused kernel's GEMM: scores of a tile of pool rows against every query,
// C[r][j] = sum_k X[r][k] * Q[j][k], with the queries packed once into panels of 32.
//
// Why not the system BLAS: OpenBLAS picks its kernels by CPU (or by OPENBLAS_CORETYPE, which
// this workplace pins to Haswell, AVX2: half the speed of the AVX-512 kernels on the same cores),
// and its kernels differ in summation order from one CPU family to the next. Here every score
// is one chain of fused multiply-adds over k = 0..d-1 in order, in every variant (AVX-512,
// AVX2, portable): the same bits on every machine, whatever the tile, block or thread count.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace rds {

constexpr int kPanel = 32;  // queries per packed panel
constexpr int kRowsPerKernel = 12;  // rows per micro-kernel call (tiles are padded to a multiple)

// Queries [width x d] row-major -> panels [ceil(width/32)][d][32], zero-padded.
inline std::vector<float> PackQueries(const float* q, int width, int d) {
  const int panels = (width + kPanel - 1) / kPanel;
  std::vector<float> out(static_cast<size_t>(panels) * d * kPanel, 0.0f);
  for (int j = 0; j < width; j++) {
    float* panel = out.data() + static_cast<size_t>(j / kPanel) * d * kPanel;
    for (int k = 0; k < d; k++) panel[static_cast<size_t>(k) * kPanel + j % kPanel] = q[static_cast<size_t>(j) * d + k];
  }
  return out;
}

// Portable: 12 rows x 32 queries, one FMA chain per score; the 32 chains of a row advance together
// so compilers can vectorise them (NEON on ARM).
inline void Kernel12x32Portable(const float* x, int d, const float* panel, float* c, int ldc) {
  for (int r = 0; r < kRowsPerKernel; r++) {
    float acc[kPanel] = {};
    for (int k = 0; k < d; k++) {
      const float a = x[static_cast<size_t>(r) * d + k];
      const float* b = panel + static_cast<size_t>(k) * kPanel;
      for (int j = 0; j < kPanel; j++) acc[j] = std::fma(a, b[j], acc[j]);
    }
    std::memcpy(c + static_cast<size_t>(r) * ldc, acc, sizeof(acc));
  }
}

#if defined(__x86_64__)
// 12 rows x 32 queries: 24 zmm accumulators; per k two panel loads and 12 broadcasts.
__attribute__((target("avx512f"))) inline void Kernel12x32Avx512(const float* x, int d, const float* panel, float* c, int ldc) {
  __m512 acc[kRowsPerKernel][2];
#pragma GCC unroll 12
  for (int r = 0; r < kRowsPerKernel; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int k = 0; k < d; k++) {
    const __m512 b0 = _mm512_loadu_ps(panel + static_cast<size_t>(k) * kPanel);
    const __m512 b1 = _mm512_loadu_ps(panel + static_cast<size_t>(k) * kPanel + 16);
#pragma GCC unroll 12
    for (int r = 0; r < kRowsPerKernel; r++) {
      const __m512 a = _mm512_set1_ps(x[static_cast<size_t>(r) * d + k]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < kRowsPerKernel; r++) {
    _mm512_storeu_ps(c + static_cast<size_t>(r) * ldc, acc[r][0]);
    _mm512_storeu_ps(c + static_cast<size_t>(r) * ldc + 16, acc[r][1]);
  }
}

// AVX2: half a panel (16 queries) x 6 rows at a time: 12 ymm accumulators.
__attribute__((target("avx2,fma"))) inline void Kernel6x16Avx2(const float* x, int d, const float* panel, float* c, int ldc) {
  __m256 acc[6][2];
#pragma GCC unroll 6
  for (int r = 0; r < 6; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int k = 0; k < d; k++) {
    const __m256 b0 = _mm256_loadu_ps(panel + static_cast<size_t>(k) * kPanel);
    const __m256 b1 = _mm256_loadu_ps(panel + static_cast<size_t>(k) * kPanel + 8);
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
      const __m256 a = _mm256_set1_ps(x[static_cast<size_t>(r) * d + k]);
      acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < 6; r++) {
    _mm256_storeu_ps(c + static_cast<size_t>(r) * ldc, acc[r][0]);
    _mm256_storeu_ps(c + static_cast<size_t>(r) * ldc + 8, acc[r][1]);
  }
}

__attribute__((target("avx2,fma"))) inline void Kernel12x32Avx2(const float* x, int d, const float* panel, float* c, int ldc) {
  for (int r = 0; r < kRowsPerKernel; r += 6)
    for (int j = 0; j < kPanel; j += 16) Kernel6x16Avx2(x + static_cast<size_t>(r) * d, d, panel + j, c + static_cast<size_t>(r) * ldc + j, ldc);
}
#endif

using KernelFn = void (*)(const float*, int, const float*, float*, int);

// Whether this CPU can run the named variant ("avx512", "avx2", "portable").
inline bool CpuSupports(const char* variant) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (std::strcmp(variant, "avx512") == 0) return __builtin_cpu_supports("avx512f");
  if (std::strcmp(variant, "avx2") == 0) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#endif
  return std::strcmp(variant, "portable") == 0;
}

// The micro-kernel of a variant the CPU supports.
inline KernelFn KernelOf(const char* variant) {
#if defined(__x86_64__)
  if (std::strcmp(variant, "avx512") == 0) return Kernel12x32Avx512;
  if (std::strcmp(variant, "avx2") == 0) return Kernel12x32Avx2;
#endif
  (void)variant;
  return Kernel12x32Portable;
}

// C[rows x ldc] = X[rows x d] · Qᵀ over all panels; rows a multiple of kRowsPerKernel. Panel by
// panel: a panel (d x 32 floats, 96 KB at d = 768) stays in L2 while the tile's rows pass it.
inline void TileGemm(KernelFn kernel, const float* x, int rows, int d, const float* packed, int panels, float* c, int ldc) {
  for (int p = 0; p < panels; p++) {
    const float* panel = packed + static_cast<size_t>(p) * d * kPanel;
    for (int r = 0; r < rows; r += kRowsPerKernel) kernel(x + static_cast<size_t>(r) * d, d, panel, c + static_cast<size_t>(r) * ldc + p * kPanel, ldc);
  }
}

}  // namespace rds
