"""Messaging artifacts: Signal Desktop profiles, Signal Android backups, generic chat exports.

Each reader turns one chat database into a stream of :mod:`lanterne.messaging.records`; the
importer (:mod:`lanterne.messaging.importer`) writes them into the case store with provenance and
sends attachments through the ingest pipeline like any other file.
"""
