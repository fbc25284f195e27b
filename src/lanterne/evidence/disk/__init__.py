"""Disk images: forensic images (EWF, raw, split raw, VMDK, VHD/VHDX, QCOW2) walked through
dfVFS and The Sleuth Kit, every partition and volume, deleted files and carved pictures.

Modules: :mod:`.volumes` (which file systems the image holds), :mod:`.tsk` (a file system's
files, deleted ones and free space through The Sleuth Kit), :mod:`.native` (dfVFS' own back
ends, for file systems TSK does not read), :mod:`.carve` (pictures by signature),
:mod:`.handles` (per-thread handles so reader threads never share a read position),
:mod:`.ewf` (acquisition metadata, media verification), :mod:`.source` (the evidence source).
"""
