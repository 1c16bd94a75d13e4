"""Workload functions, each run in its own child process by :mod:`bench.child`.

A workload takes a JSON-able spec (sandbox URL, N, seed, options), does its untimed set-up (generating
leads, seeding the CRM), times only the operation under test, reads the sandbox's counters before and
after it, and returns a JSON-able dict.
"""
