"""bpf-harness: BPF verifier regression harness for stable Linux kernels."""

__version__ = "0.1.0"
