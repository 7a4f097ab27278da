/* The spike kernel's row loop without the kernel around it (src/engine/cpu/conv_spikes.rs,
 * conv_spikes_avx512.rs): per (chunk, pixel) list pass, eight 16-lane accumulators (a pair of
 * 64-lane blocks) are loaded from a buffer of 144 pixels, every listed row of a written 36 KB
 * slab (72 rows of each block) is added, and they are stored back. Prints cycles per pass and
 * per row at the clock given (GHz, default 4.25: check yours). No list building, no prefetch.
 *
 *   gcc -O2 -mavx512f -o /tmp/spike_rows_loop scripts/microbench/spike_rows_loop.c
 *   taskset -c 1 /tmp/spike_rows_loop 0 11    # every list 11 rows (the loop exit predicted)
 *   taskset -c 1 /tmp/spike_rows_loop 6 11    # 5..17 rows, 11 on average
 *   taskset -c 1 /tmp/spike_rows_loop 0 4; taskset -c 1 /tmp/spike_rows_loop 0 16
 *   taskset -c 1 /tmp/spike_rows_loop 6 11 4.25 ahead   # indices read 8 at a time, a word ahead
 *
 * Zen 5 guest, 2026-12-07: 78 cycles per pass of 11 rows, 84-89 with varying lengths, 6.4 per
 * row from the slope between 4 and 16 (BENCHMARKS.md, "Session 17"). 2026-12-07 (session 18):
 * 'ahead' 10 % fewer cycles per pass than the same lists read a byte at a time (each weight
 * load's address then waits on its index's load); the kernel built that way was 3-5 % slower
 * (src/engine/cpu/conv_spikes_avx512.rs).
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define ROWS 72
int main(int argc,char**argv){
  if (argc < 3) { fprintf(stderr, "usage: %s SPREAD AVERAGE [GHZ [ahead]]\n", argv[0]); return 2; }
  int var=atoi(argv[1]); int avg=atoi(argv[2]); double ghz = argc > 3 ? atof(argv[3]) : 4.25;
  int ahead = argc > 4 && argv[4][0] == 'a';
  int nl=400000;
  float *slab=aligned_alloc(64,2*ROWS*64*4); for(int i=0;i<2*ROWS*64;i++) slab[i]=1e-6f*i;
  uint8_t *idx=calloc(nl*64+32,1); uint32_t *start=malloc((nl+1)*4);
  srand(1); uint32_t at=0;
  for(int l=0;l<nl;l++){ start[l]=at; int len= var? (avg - var + rand()%(2*var+1)) : avg; if(len<0)len=0; if(len>64)len=64; for(int k=0;k<len;k++) idx[at++]=rand()%ROWS; }
  start[nl]=at;
  float *acc=aligned_alloc(64,144*128*4); for(int i=0;i<144*128;i++) acc[i]=0;
  double best=1e9;
  for(int rep=0;rep<5;rep++){ double t0=now();
  const float*s0=slab,*s1=slab+ROWS*64;
  for(int l=0;l<nl;l++){
    float *a=acc+(l%144)*128;
    __m512 a0=_mm512_load_ps(a),a1=_mm512_load_ps(a+16),a2=_mm512_load_ps(a+32),a3=_mm512_load_ps(a+48),b0=_mm512_load_ps(a+64),b1=_mm512_load_ps(a+80),b2=_mm512_load_ps(a+96),b3=_mm512_load_ps(a+112);
    if (ahead) { /* the list's indices as 64-bit words, each read one word before its rows */
      const uint8_t *p=idx+start[l]; int n=start[l+1]-start[l];
      uint64_t cur=*(const uint64_t*)p, nxt=*(const uint64_t*)(p+8);
      for(int i=0;i<n;i+=8){ uint64_t wd=cur; cur=nxt; nxt=*(const uint64_t*)(p+i+16); int m=n-i<8?n-i:8;
        for(int j=0;j<m;j++){ unsigned r=wd&255; wd>>=8; const float*w=s0+r*64,*v=s1+r*64;
          a0=_mm512_add_ps(a0,_mm512_load_ps(w));a1=_mm512_add_ps(a1,_mm512_load_ps(w+16));a2=_mm512_add_ps(a2,_mm512_load_ps(w+32));a3=_mm512_add_ps(a3,_mm512_load_ps(w+48));
          b0=_mm512_add_ps(b0,_mm512_load_ps(v));b1=_mm512_add_ps(b1,_mm512_load_ps(v+16));b2=_mm512_add_ps(b2,_mm512_load_ps(v+32));b3=_mm512_add_ps(b3,_mm512_load_ps(v+48)); } }
    } else
    for(uint32_t k=start[l];k<start[l+1];k++){ const float*w=s0+idx[k]*64,*v=s1+idx[k]*64;
      a0=_mm512_add_ps(a0,_mm512_load_ps(w));a1=_mm512_add_ps(a1,_mm512_load_ps(w+16));a2=_mm512_add_ps(a2,_mm512_load_ps(w+32));a3=_mm512_add_ps(a3,_mm512_load_ps(w+48));
      b0=_mm512_add_ps(b0,_mm512_load_ps(v));b1=_mm512_add_ps(b1,_mm512_load_ps(v+16));b2=_mm512_add_ps(b2,_mm512_load_ps(v+32));b3=_mm512_add_ps(b3,_mm512_load_ps(v+48)); }
    _mm512_store_ps(a,a0);_mm512_store_ps(a+16,a1);_mm512_store_ps(a+32,a2);_mm512_store_ps(a+48,a3);_mm512_store_ps(a+64,b0);_mm512_store_ps(a+80,b1);_mm512_store_ps(a+96,b2);_mm512_store_ps(a+112,b3);
  }
  double t=now()-t0; if(t<best)best=t; }
  printf("%svar ±%d avg %d: %.1f cycles per pass, %.2f per row (acc %g)\n",ahead?"ahead, ":"",var,avg,best/nl*ghz*1e9,best/at*ghz*1e9,acc[7]);
}
