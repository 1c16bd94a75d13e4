"""CRM Push benchmarks: our push engine and the peers, against the HTTP sandboxes, with bounds.

``python -m bench.run`` is the entry point; see ``bench/README.md`` for what each workload does.
"""
