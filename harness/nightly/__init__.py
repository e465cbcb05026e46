"""The nightly job: a deterministic share of the cells per CI job (``shard.shard``), one store from the jobs'
stores (``merge.merge``), the pytest plugin (``plugin``, loaded by pytest from the ``pytest11`` entry point),
known issues (``known``) and history (``history``).

Nothing is imported here: pytest imports the plugin before coverage (or anything else) starts, and that import
must not drag the store and the matrix in with it.  Import the submodules.
"""
