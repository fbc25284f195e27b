"""Pictures and videos for the browser, with as little exposure as the work allows.

``/media/thumb/{sha256}``
    The content's thumbnail (a video's contact sheet), **blurred and greyscale, rendered on the
    server**: the clear picture never reaches the browser until someone reveals it. A user may
    turn blur or greyscale off in their settings (the change is audited); a role that may not
    reveal (the auditor) always gets both.
``/media/reveal/{sha256}``
    The clear thumbnail (or contact sheet), for a role that may reveal; every request is an
    audit entry (``reveal``). The clear picture served is the WebP thumbnail Lanterne made at
    ingest (256 px, upright, without EXIF), never bytes of the evidence: reading the original
    out of an archive or disk image would mean walking the item, and the thumbnail is enough to
    categorise.
``/media/video/{sha256}``
    The video itself, for a role that may reveal, when one of its occurrences lies in a seized
    *folder* (read in place, with HTTP ranges, so a player can seek); audited once per playback
    (the request that starts at byte 0). A video only found inside an archive or a disk image
    is not streamed (404 saying so): its contact sheet is what the review uses. Playing is the
    page's business: never automatic, muted by default.

Every media response carries ``Cache-Control: no-store`` and ``Content-Disposition: inline``.
"""

from __future__ import annotations

import functools
import io
import os
import re
import stat
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from PIL import Image, ImageFilter
from sqlalchemy import select

from lanterne.case import schema
from lanterne.case.workspace import Case
from lanterne.provenance import from_json
from lanterne.review import audit
from lanterne.review.users import User
from lanterne.web.context import case_of
from lanterne.web.security import client_address, require

router = APIRouter(prefix="/media", tags=["media"])

SHA256 = Annotated[str, PathParam(pattern="^[0-9a-f]{64}$", description="The content's SHA-256.")]
MEDIA_HEADERS = {"Cache-Control": "no-store", "Content-Disposition": "inline"}
BLUR_REDUCTION = 8
"""A blurred thumbnail is first reduced to 1/8 of its size: no detail survives to be sharpened
back."""
_RANGE_START = re.compile(r"bytes=(\d*)-")


@router.get(
    "/thumb/{sha256}",
    responses={200: {"content": {"image/webp": {}}}, 404: {"description": "No thumbnail"}},
)
def thumbnail(
    request: Request, sha256: SHA256, user: Annotated[User, Depends(require("view"))]
) -> Response:
    """The thumbnail as the user's settings want it (blurred and greyscale by default)."""
    prefs = user.preferences
    may_reveal = user.can("reveal")
    blur = prefs.blur or not may_reveal
    grey = prefs.greyscale or not may_reveal
    data = render_thumbnail(case_of(request).thumbnail_path(sha256), blur=blur, greyscale=grey)
    return Response(data, media_type="image/webp", headers=MEDIA_HEADERS)


@router.get(
    "/reveal/{sha256}",
    responses={200: {"content": {"image/webp": {}}}, 404: {"description": "No thumbnail"}},
)
def reveal(
    request: Request, sha256: SHA256, user: Annotated[User, Depends(require("reveal"))]
) -> Response:
    """The clear thumbnail (a video's clear contact sheet); audited."""
    case = case_of(request)
    path = case.thumbnail_path(sha256)
    data = render_thumbnail(path, blur=False, greyscale=False)
    kind = _kind(case, sha256)
    audit.record(
        case.store,
        user.name,
        audit.REVEAL,
        sha256,
        {"media": "contact-sheet" if kind == "video" else "picture", "client": _client(request)},
    )
    return Response(data, media_type="image/webp", headers=MEDIA_HEADERS)


@router.get(
    "/video/{sha256}",
    response_model=None,
    responses={
        200: {"content": {"video/*": {}}},
        206: {"description": "A range of the video"},
        404: {"description": "Not a video, or not in a seized folder"},
    },
)
def video(
    request: Request, sha256: SHA256, user: Annotated[User, Depends(require("reveal"))]
) -> FileResponse:
    """The video, streamed with ranges from a seized folder; audited at each playback."""
    case = case_of(request)
    found = video_file(case, sha256)
    if found is None:
        raise HTTPException(
            404,
            "this video lies only inside archives or disk images; its contact sheet "
            "(/media/reveal) is what can be shown",
        )
    path, mime = found
    if starts_playback(request.headers.get("range")):
        audit.record(
            case.store,
            user.name,
            audit.REVEAL,
            sha256,
            {"media": "video", "client": _client(request)},
        )
    return FileResponse(
        path, media_type=mime, headers=MEDIA_HEADERS, content_disposition_type="inline"
    )


def _client(request: Request) -> str:
    return client_address(request)


def starts_playback(range_header: str | None) -> bool:
    """A request without a range, or for a range from byte 0, starts a playback."""
    if not range_header:
        return True
    match = _RANGE_START.match(range_header.strip())
    return match is None or match.group(1) in ("", "0")


def _kind(case: Case, sha256: str) -> str | None:
    c = schema.content
    with case.store.engine.connect() as conn:
        kind: str | None = conn.execute(select(c.c.kind).where(c.c.sha256 == sha256)).scalar()
    return kind


# ------------------------------------------------------------------ rendering
def render_thumbnail(path: Path, *, blur: bool, greyscale: bool) -> bytes:
    """The thumbnail at ``path``, blurred and/or greyscale, as WebP (404 when there is none)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise HTTPException(404, "no thumbnail for this content") from None
    if not blur and not greyscale:
        return path.read_bytes()
    return _rendered(str(path), st.st_mtime_ns, st.st_size, blur, greyscale)


@functools.lru_cache(maxsize=2048)
def _rendered(path: str, _mtime_ns: int, _size: int, blur: bool, greyscale: bool) -> bytes:
    """Cached by file and version: a grid page asks for the same thumbnails again and again."""
    with Image.open(path) as opened:
        opened.load()
        img = opened.convert("L" if greyscale else "RGB")
    if blur:
        img = blurred(img)
    out = io.BytesIO()
    img.save(out, format="WEBP", quality=70)
    return out.getvalue()


def blurred(img: Image.Image) -> Image.Image:
    """A strongly blurred copy of the same size: reduced, enlarged back, then smoothed."""
    width, height = img.size
    small = img.resize(
        (max(1, width // BLUR_REDUCTION), max(1, height // BLUR_REDUCTION)),
        Image.Resampling.BOX,
    )
    radius = max(2.0, max(width, height) / 64)
    return small.resize((width, height), Image.Resampling.BILINEAR).filter(
        ImageFilter.GaussianBlur(radius)
    )


# ------------------------------------------------------------------ videos in folders
def video_file(case: Case, sha256: str) -> tuple[Path, str] | None:
    """A readable occurrence of the video ``sha256`` in a seized folder, and its MIME type;
    None when there is none (only regular files inside the item's folder, of the right size)."""
    c, f, e = schema.content, schema.file, schema.evidence
    query = (
        select(c.c.kind, c.c.mime, c.c.size, f.c.provenance, e.c.location, e.c.kind)
        .select_from(c.join(f, f.c.sha256 == c.c.sha256).join(e, e.c.id == f.c.evidence_id))
        .where(c.c.sha256 == sha256, e.c.kind == "folder", f.c.deleted.is_(False))
        .order_by(f.c.id)
    )
    with case.store.engine.connect() as conn:
        rows = conn.execute(query).all()
    for row in rows:
        if row[0] != "video":
            return None
        path = _folder_path(Path(row.location), row.provenance, row.size)
        if path is not None:
            return path, row.mime
    return None


def _folder_path(root: Path, provenance: str, size: int) -> Path | None:
    chain = from_json(provenance)
    if len(chain) != 2 or chain[1].kind != "folder" or chain[1].raw is not None:
        return None  # inside a container, or a name that is not text
    parts = chain[1].path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    path = root.joinpath(*parts)
    try:
        st = os.lstat(path)
        inside = path.resolve().is_relative_to(root.resolve())
    except OSError:
        return None
    if not inside or not stat.S_ISREG(st.st_mode) or st.st_size != size:
        return None
    return path
