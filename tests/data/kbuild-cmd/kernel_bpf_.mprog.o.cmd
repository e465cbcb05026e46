source_kernel/bpf/mprog.o := ../src/kernel/bpf/mprog.c
deps_kernel/bpf/mprog.o := \
  ../src/include/linux/bpf.h \
  ../src/include/uapi/linux/bpf.h \
  ../src/include/uapi/linux/bpf_common.h \
  ../src/include/linux/bpfptr.h \
  ../src/include/linux/bpf_types.h \
  ../src/include/linux/bpf_mprog.h \
kernel/bpf/mprog.o: $(deps_kernel/bpf/mprog.o)
$(deps_kernel/bpf/mprog.o):
