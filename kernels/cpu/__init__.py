"""The CPU backend: CUDA C compiled as C++ against a prelude, run in a worker process."""
