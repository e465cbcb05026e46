source_kernel/bpf/verifier.o := ../src/kernel/bpf/verifier.c
deps_kernel/bpf/verifier.o := \
  ../src/include/linux/bpf.h \
  ../src/include/uapi/linux/bpf.h \
  ../src/include/uapi/linux/bpf_common.h \
  ../src/include/linux/bpfptr.h \
  ../src/include/linux/bpf_types.h \
  ../src/include/linux/bpf_verifier.h \
  ../src/include/uapi/linux/bpf_perf_event.h \
  ../src/include/linux/bpf_lsm.h \
  ../src/include/linux/bpf_mem_alloc.h \
kernel/bpf/verifier.o: $(deps_kernel/bpf/verifier.o)
$(deps_kernel/bpf/verifier.o):
