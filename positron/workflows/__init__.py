"""Workflows over many lookups: batches (``batch``), observables pulled from a raw alert (``observables``),
enrichment of an alert into per-observable results (``enrich``) and its Markdown ticket comment (``summary``)."""
