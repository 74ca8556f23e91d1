"""Run the CUDA C of :mod:`kantorovich.ot._kernels.grad_cupy` on the host (tests only).

The kernel source is compiled with g++ behind a small shim: one std::thread per CUDA thread of
a block, ``__syncthreads`` a ``std::barrier``, ``__shared__`` a static array (blocks run one
after the other), ``exp2f`` / ``log2f`` / ``rsqrt`` the exact float functions (the device's
are approximations within 2^-22: the tests' device bound includes them). So the float32 path
rounds as float32 arithmetic does, and the tiles, padding, chunk flushes, split-K and the
overflow fallback run as written. :class:`HostKernels` has the interface of
``grad_cupy.CupyGradKernels``.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile

import numpy as np

from kantorovich.ot._kernels import grad_cupy as G

_DIR = os.path.join(tempfile.gettempdir(), f"kantorovich_grad_host_{os.getuid()}")

SHIM = r'''
#include <cmath>
#include <cstring>
#include <thread>
#include <barrier>
#include <atomic>
#include <vector>
#include <algorithm>
struct uint3_ { int x, y, z; };
static thread_local uint3_ threadIdx, blockIdx;
static std::barrier<>* g_bar;
static std::atomic<int> g_or{0};
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
using std::min; using std::max; using std::fma; using std::fmin; using std::fmax; using std::ceil;
using std::isfinite; using std::fabs;
static inline float exp2f_(float v) { return std::exp2(v); }
static inline float log2f_(float v) { return std::log2(v); }
static inline float rsqrt(float v) { return 1.0f / std::sqrt(v); }
static inline double rsqrt(double v) { return 1.0 / std::sqrt(v); }
#define exp2f exp2f_
#define log2f log2f_
using std::exp2; using std::log2;
static inline void __syncthreads() { g_bar->arrive_and_wait(); }
static inline int __syncthreads_or(int p) {
    if (p) g_or = 1;
    g_bar->arrive_and_wait();
    int r = g_or;
    g_bar->arrive_and_wait();
    if (threadIdx.x == 0) g_or = 0;
    g_bar->arrive_and_wait();
    return r;
}
static inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
'''
DRIVER = r'''
extern "C" void launch(int gx, int gy, const real* xs, const real* u, const real* ys, const real* w,
                       real ph, int n, int m, int cps, double fac, double* part) {
    for (int by = 0; by < gy; ++by) for (int bx = 0; bx < gx; ++bx) {
        std::barrier<> bar(TPB);
        g_bar = &bar;
        std::vector<std::thread> th;
        for (int t = 0; t < TPB; ++t) th.emplace_back([=] {
            threadIdx = {t, 0, 0}; blockIdx = {bx, by, 0};
            grad_rows(xs, u, ys, w, ph, n, m, cps, fac, part);
        });
        for (auto& x : th) x.join();
    }
}
'''


def available() -> bool:
    return shutil.which("g++") is not None



def build(D, dtype, p):
    src = SHIM + G.kernel_source(D, dtype, p, minb=0).replace('extern "C" __global__ void  grad_rows', 'void grad_rows') + DRIVER
    h = hashlib.sha1(src.encode()).hexdigest()[:12]
    os.makedirs(_DIR, exist_ok=True)
    so = os.path.join(_DIR, f"k_{h}.so")
    if not os.path.exists(so):
        tmp = f"{so}.{os.getpid()}"
        with open(tmp + ".cpp", "w") as f:
            f.write(src)
        subprocess.run(["g++", "-O1", "-std=c++20", "-pthread", "-shared", "-fPIC", "-w", tmp + ".cpp", "-o", tmp],
                       check=True, capture_output=True)
        os.replace(tmp, so)
        os.remove(tmp + ".cpp")
    return ctypes.CDLL(so)


class HostKernels(G.NumpyGradKernels):
    """``grad_rows`` launches on the host (numpy arrays; one block after another); the
    elementwise preparations are the numpy model's."""

    def __init__(self, D, dtype, p):
        super().__init__(D, dtype, p)
        self.lib = build(D, dtype, p)
        self.ct = ctypes.c_float if np.dtype(dtype) == np.float32 else ctypes.c_double
        self.launches = []

    def grad_rows(self, grid, xs, u, ys, w, ph, n, m, cps, fac, part):
        self.launches.append(grid)
        arrs = [np.ascontiguousarray(a) for a in (xs, u, ys, w)]
        assert part.flags.c_contiguous and part.dtype == np.float64
        ptrs = [a.ctypes.data_as(ctypes.c_void_p) for a in (*arrs, part)]
        self.lib.launch(ctypes.c_int(grid[0]), ctypes.c_int(grid[1]), *ptrs[:4], self.ct(ph),
                        ctypes.c_int(n), ctypes.c_int(m), ctypes.c_int(cps), ctypes.c_double(fac), ptrs[4])
