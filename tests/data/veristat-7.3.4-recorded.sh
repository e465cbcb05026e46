#!/bin/sh
# How veristat-7.3.4-v-l4-batch-on-KERNEL.txt and veristat-7.3.4-v-by-hand-on-KERNEL.txt were recorded
# (2026-12-02), inside a vng guest of each Debian kernel (6.12.117-1~deb12u1, 7.3.4-1~bpo13+1), TCG:
#   vng --verbose --force-9p --run <vmlinux> --cpus 2 --memory 2G --rwdir OUT --disable-kvm --exec "sh this.sh OUT"
# with the veristat and objects built by the harness from Debian linux-source-7.3 7.3.4-1~bpo13+1, clang 19.1.7.
# batch: what the guest runner runs (one veristat over several objects, level 4, its heap and log size);
# by hand: `veristat -v -f OBJ/PROG OBJ` per program, table output, as a maintainer types it.
out=$1
cd "$CORPUS/src/tools/testing/selftests/bpf"
MALLOC_PERTURB_=255 MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 stdbuf -oL ./veristat -v -l 4 \
  -o csv --log-size 65536 verifier_set_retval.bpf.o verifier_and.bpf.o verifier_bswap.bpf.o verifier_stack_ptr.bpf.o \
  > "$out/batch.txt" 2>&1
for o in verifier_set_retval verifier_and verifier_bswap verifier_stack_ptr; do
  for p in $(PROGRAMS_OF "$o"); do   # the object's programs in libbpf's order (the harness's ELF reader)
    echo "=== $o/$p" >> "$out/single.txt"
    ./veristat -v -f "$o.bpf.o/$p" "$o.bpf.o" >> "$out/single.txt" 2>&1
  done
done
