"""A LUKS-encrypted volume holding a file system, built without root or device-mapper.

``cryptsetup luksFormat`` writes a real LUKS1 header into a plain file (no mapping needed);
``cryptsetup luksDump --dump-master-key`` gives the volume key it chose; the file-system image
is then encrypted sector by sector as dm-crypt would (AES-XTS, ``plain64`` sector tweaks) and
written after the header. The result opens with the passphrase in any LUKS reader.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from lanterne.synth.disks import MissingTool

SECTOR = 512


def luks_image(fs_image: Path, out: Path, passphrase: str) -> Path:
    """Writes ``out``: a LUKS1 volume (aes-xts-plain64) whose plaintext is ``fs_image``."""
    data = fs_image.read_bytes()
    key_file = out.with_suffix(".key")
    key_file.write_text(passphrase, encoding="utf-8")
    try:
        with out.open("wb") as f:
            f.truncate(2 << 20)  # room for the header; the payload follows
        _cryptsetup(
            "luksFormat", "--type", "luks1", "--cipher", "aes-xts-plain64", "--key-size", "256",
            "-q", "--pbkdf-force-iterations", "1000", str(out), str(key_file),
        )  # fmt: skip
        dump = _cryptsetup(
            "luksDump", "--dump-master-key", "-q", "--key-file", str(key_file), str(out)
        )
    finally:
        key_file.unlink(missing_ok=True)
    payload = int(re.search(r"Payload offset:\s*(\d+)", dump).group(1)) * SECTOR  # type: ignore[union-attr]
    key_hex = re.search(r"MK dump:\s*((?:[0-9a-f]{2}\s+)+)", dump).group(1)  # type: ignore[union-attr]
    key = bytes.fromhex("".join(key_hex.split()))
    with out.open("r+b") as f:
        f.seek(payload)
        for sector in range(len(data) // SECTOR):
            tweak = sector.to_bytes(16, "little")
            enc = Cipher(algorithms.AES(key), modes.XTS(tweak)).encryptor()
            f.write(enc.update(data[sector * SECTOR : (sector + 1) * SECTOR]) + enc.finalize())
    return out


def _cryptsetup(*args: str) -> str:
    try:
        done = subprocess.run(["cryptsetup", *args], capture_output=True, text=True, check=True)
    except FileNotFoundError as exc:
        raise MissingTool("cryptsetup (Debian package cryptsetup-bin) is needed") from exc
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"cryptsetup {args[0]} failed: {exc.stderr.strip()}") from exc
    return done.stdout
