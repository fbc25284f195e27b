"""Known application data and phone layouts, by path."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from lanterne.evidence.apps import app_markers, phone_platform, phone_platform_of
from lanterne.provenance import Step


@pytest.mark.parametrize(
    ("path", "app"),
    [
        ("data/data/org.thoughtcrime.securesms/databases/signal.db", "signal-android"),
        ("Dump/data/user/0/org.thoughtcrime.securesms/databases/signal.db", "signal-android"),
        (
            "private/var/mobile/Containers/Shared/AppGroup/0A1B/grdb/signal.sqlite",
            "signal-ios",
        ),
        ("home/ana/.config/Signal/sql/db.sqlite", "signal-desktop"),
        ("Users/ana/AppData/Roaming/Signal Beta/sql/db.sqlite", "signal-desktop"),
        ("sdcard/Signal/Backups/signal-2026-01-02-03-04-05.backup", "signal-android-backup"),
        ("data/data/com.whatsapp/databases/msgstore.db", "whatsapp-android"),
        ("data/data/org.telegram.messenger/files/cache4.db", "telegram-android"),
    ],
)
def test_app_markers(path: str, app: str) -> None:
    chain = (Step("evidence", "PHONE-1"), Step("zip", path))
    assert [m.app for m in app_markers(chain)] == [app]


@pytest.mark.parametrize(
    "path",
    ["notes/signal.db", "Signal/db.sqlite", "org.thoughtcrime.securesms/signal.db", "a.jpg"],
)
def test_no_marker(path: str) -> None:
    assert app_markers((Step("folder", path),)) == []


def test_phone_platform_from_names() -> None:
    assert phone_platform(["data/data/com.android.chrome/x"]) == "android"
    assert phone_platform(["./Extraction/data/user/0/x/y"]) == "android"
    assert phone_platform(["private/var/mobile/Library/SMS/sms.db"]) == "ios"
    assert phone_platform(["Users/ana/Pictures/a.jpg", "data/x"]) is None


def test_phone_platform_of_folder_zip_and_tar(tmp_path: Path) -> None:
    folder = tmp_path / "extraction"
    (folder / "data" / "data" / "org.thoughtcrime.securesms").mkdir(parents=True)
    assert phone_platform_of(folder, None) == "android"
    assert phone_platform_of(tmp_path / "nothing-here", None) is None

    z = tmp_path / "ios.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("private/var/mobile/Library/AddressBook/AddressBook.sqlitedb", b"x")
    assert phone_platform_of(z, "zip") == "ios"

    t = tmp_path / "android.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        info = tarfile.TarInfo("data/data/com.whatsapp/databases/msgstore.db")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    assert phone_platform_of(t, "gzip") == "android"
    plain = tmp_path / "photos.zip"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("DCIM/1.jpg", b"x")
    assert phone_platform_of(plain, "zip") is None
