"""Hash sets: the lists of known material and known software examiners exchange, imported into
the case and matched against its contents, exactly (MD5, SHA-1, SHA-256) and perceptually (PDQ).

:mod:`.records` is what every format reader yields; :mod:`.formats` holds one reader (and, for
round-trips and exports, writer) per format and the detection of a file's format.
"""
