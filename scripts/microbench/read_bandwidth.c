/* Read bandwidth of a buffer read over and over (as a network's weights are, step after step),
 * by buffer size: where the L3 stops holding it, and what memory gives. THREADS threads each
 * read their own share of the buffer with 512-bit loads (four independent sums), all at once.
 * Prints best and median GB/s of 30 passes (after 3 warm-up passes) per size.
 *
 *   gcc -O2 -mavx512f -pthread -o /tmp/read_bandwidth scripts/microbench/read_bandwidth.c
 *   /tmp/read_bandwidth 1; /tmp/read_bandwidth 2
 *
 * Zen 5 guest of BENCHMARKS.md, 2026-12-08 (session 19): see BENCHMARKS.md, "Session 19".
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

typedef struct { const float *a; size_t n; pthread_barrier_t *start; float sum; double t0, t1; } Part;

static void *reader(void *arg) {
  Part *p = arg;
  pthread_barrier_wait(p->start);
  p->t0 = now();
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i < p->n; i += 64) {
    s0 = _mm512_add_ps(s0, _mm512_load_ps(p->a + i));
    s1 = _mm512_add_ps(s1, _mm512_load_ps(p->a + i + 16));
    s2 = _mm512_add_ps(s2, _mm512_load_ps(p->a + i + 32));
    s3 = _mm512_add_ps(s3, _mm512_load_ps(p->a + i + 48));
  }
  p->sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  p->t1 = now();
  return NULL;
}

static int cmp(const void *x, const void *y) { double a = *(const double *)x, b = *(const double *)y; return (a > b) - (a < b); }

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  if (threads < 1 || threads > 64) { fprintf(stderr, "usage: %s [THREADS (1..64)]\n", argv[0]); return 2; }
  int sizes[] = {4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 64};
  for (unsigned k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    size_t bytes = (size_t)sizes[k] << 20, per = bytes / 4 / threads / 64 * 64;
    float *a = aligned_alloc(2 << 20, bytes);
    if (!a) { fprintf(stderr, "no memory for %d MB\n", sizes[k]); return 1; }
    for (size_t i = 0; i < bytes / 4; i++) a[i] = (float)(i & 1023);
    double t[33]; float check = 0;
    for (int r = 0; r < 33; r++) {
      pthread_t id[64]; Part part[64]; pthread_barrier_t start;
      pthread_barrier_init(&start, NULL, threads + 1);
      for (int j = 0; j < threads; j++) { part[j] = (Part){a + j * per, per, &start, 0, 0, 0}; pthread_create(&id[j], NULL, reader, &part[j]); }
      pthread_barrier_wait(&start);
      /* From the first thread's start to the last one's end (each timed on its own thread). */
      double t0 = 1e300, t1 = 0;
      for (int j = 0; j < threads; j++) {
        pthread_join(id[j], NULL);
        check += part[j].sum;
        t0 = part[j].t0 < t0 ? part[j].t0 : t0;
        t1 = part[j].t1 > t1 ? part[j].t1 : t1;
      }
      t[r] = t1 - t0;
      pthread_barrier_destroy(&start);
    }
    qsort(t + 3, 30, sizeof *t, cmp);
    double read = (double)per * 4 * threads;
    printf("%2d MB, %d thread%s: best %5.1f GB/s, median %5.1f GB/s (%g)\n", sizes[k], threads, threads > 1 ? "s" : "", read / t[3] / 1e9, read / t[18] / 1e9, check);
    free(a);
  }
  return 0;
}
