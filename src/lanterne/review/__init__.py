"""Review: who may look at what, what they decided, and the record of every look.

A pure library (no web, no printing), used by the web application and the CLI:

- :mod:`~lanterne.review.users`: users, roles and what each role may do; argon2id passwords.
- :mod:`~lanterne.review.audit`: the append-only, hash-chained audit log and its verification.
- :mod:`~lanterne.review.schemes`: categorisation schemes (Project VIC US by default).
- :mod:`~lanterne.review.decisions`: categorising with propagation to near duplicates, undo,
  conflicts with hash-set categories, second-opinion flags.
- :mod:`~lanterne.review.queries`: the review grid, the item page and the dashboard figures.
"""
