"""Matching by perceptual hash: an exact PDQ range-search index (:mod:`.pdq_index`)."""
