source_kernel/bpf/tnum.o := ../src/kernel/bpf/tnum.c
deps_kernel/bpf/tnum.o := \
kernel/bpf/tnum.o: $(deps_kernel/bpf/tnum.o)
$(deps_kernel/bpf/tnum.o):
