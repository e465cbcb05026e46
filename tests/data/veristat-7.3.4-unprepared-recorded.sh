#!/bin/sh
# How veristat-7.3.4-v-l4-batch-unprepared-on-7.3.4.txt was recorded (2026-12-06), inside a vng guest of Debian's
# 7.3.4 kernel (linux-image-7.3.4+deb13-amd64 7.3.4-1~bpo13+1), TCG:
#   vng --force-9p --run <vmlinux> --cpus 2 --memory 2G --rwdir OUT --disable-kvm --exec "sh this.sh OUT"
# with the veristat and objects built by the harness from Debian linux-source-7.3 7.3.4-1~bpo13+1, clang 19.1.7.
# The guest runner's batch (level 4, its heap and log size) over three objects: mem_rdonly_untrusted cannot be
# prepared (its bpf_testmod kfunc is not in the kernel), the objects before and after it can.
out=$1
cd "$CORPUS/src/tools/testing/selftests/bpf" || exit 1
MALLOC_PERTURB_=255 MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 stdbuf -oL ./veristat -v -l 4 \
  -o csv --log-size 65536 verifier_and.bpf.o mem_rdonly_untrusted.bpf.o verifier_bswap.bpf.o \
  > "$out/batch.txt" 2>&1
