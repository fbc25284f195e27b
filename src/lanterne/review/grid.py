"""The review grid: pictures and videos one per near-duplicate group, filtered and paged.

The grid lists pictures and videos one per near-duplicate group (its representative, with the
group's size): a reviewer looks once per group. A filter on an evidence item, a suspect or a
chat group keeps a group when any of its members satisfies it; the state (new, known,
reviewed, flagged) is the representative's, the content a decision is taken on. Known-good
contents (NSRL …) are left out unless asked for.

Speed, for a case of hundreds of thousands of pictures: the page is one query along the
index of contents by kind and SHA-256 that stops after its rows, what a tile shows (group
size, decision, flag) computed by subqueries for those rows only, the hash-set categories of
the page in one more query (none for new material); the total is one counting query,
remembered (:mod:`lanterne.review.remembered`) until the figures may have changed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, exists, func, literal, or_, select, true, tuple_

from lanterne.case import schema
from lanterne.review.decisions import current_decisions
from lanterne.review.remembered import remembered, remembered_count

STATES = ("new", "known", "reviewed", "flagged", "all")
"""Grid states; ``known:<category>`` and ``reviewed:<category>`` narrow to one category."""
KINDS = ("picture", "video")
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class GridItem:
    """One tile of the grid: a content (a group's representative unless a group is shown)."""

    sha256: str
    kind: str
    mime: str
    width: int | None
    height: int | None
    duration: float | None
    size: int
    thumbnail: bool
    group: str | None
    """The near-duplicate group (its representative's SHA-256), None when alone."""
    group_size: int
    known: dict[str, list[str]] = field(default_factory=dict)
    """Scheme → categories given by known-bad and alert sets (``"?"``: a set without scheme;
    ``"uncategorised"``: an entry without category)."""
    known_good: bool = False
    category: str | None = None
    """The current review category, if any."""
    reviewed_by: str | None = None
    flagged: bool = False
    """An open flag (a second opinion asked)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class GridPage:
    items: list[GridItem]
    total: int
    """Tiles over all pages."""
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": [i.as_dict() for i in self.items],
            "total": self.total,
            "page": self.page,
            "size": self.size,
            "pages": self.pages,
        }


# ------------------------------------------------------------------ grid
def grid(
    conn: Connection,
    *,
    state: str = "new",
    evidence_id: int | None = None,
    suspect_id: int | None = None,
    group: str | None = None,
    chat_group_id: int | None = None,
    kind: str | None = None,
    page: int = 0,
    size: int = 100,
    include_known_good: bool = False,
) -> GridPage:
    """A page of the review grid. ``state``: ``new`` (no hash set knows it, nobody decided),
    ``known`` / ``known:<cat>`` (a known-bad or alert set knows it), ``reviewed`` /
    ``reviewed:<cat>`` (a decision in force), ``flagged`` (an open flag), ``all``. ``group``
    lists that group's members instead of representatives. ValueError for a bad argument."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValueError(f"size must be between 1 and {MAX_PAGE_SIZE}")
    if page < 0:
        raise ValueError("page must be 0 or more")
    c, g = schema.content, schema.pdq_group
    where = [c.c.kind.in_([kind] if kind else list(KINDS)), *_state(state)]
    if not include_known_good and state != "new":
        where.append(~known_good(c.c.sha256))
    collapse = group is None
    if collapse:
        where.append(or_(g.c.sha256.is_(None), g.c.representative == true()))
    else:
        where.append(g.c.group_sha256 == group)
    if evidence_id is not None:
        where.append(_member_on(collapse, [evidence_id]))
    if suspect_id is not None:
        where.append(_member_on(collapse, _suspect_evidence(suspect_id)))
    if chat_group_id is not None:
        where.append(_having(_chat_group_contents(chat_group_id), collapse))
    source = c.outerjoin(g, g.c.sha256 == c.c.sha256)
    key = (state, evidence_id, suspect_id, group, chat_group_id, kind, include_known_good)
    total = remembered_count(conn, key, select(func.count()).select_from(source).where(*where))
    page_rows = select(*_tile_columns()).select_from(source).order_by(c.c.kind, c.c.sha256)
    if page < SEEK_FROM_PAGE:
        page_rows = page_rows.where(*where).offset(page * size)
    else:  # deep pages start at their remembered first row, not past an OFFSET of them all
        starts = _page_starts(conn, (*key, size), source, where, size)
        if page >= len(starts):
            return GridPage([], total, page, size)
        first_kind, first_sha256 = starts[page]
        page_rows = page_rows.where(
            *where, tuple_(c.c.kind, c.c.sha256) >= tuple_(first_kind, first_sha256)
        )
    rows = conn.execute(page_rows.limit(size)).all()
    known, good = ({}, set()) if state == "new" else _hash_sets(conn, [r.sha256 for r in rows])
    tiles = [_tile(r, known.get(r.sha256, {}), r.sha256 in good) for r in rows]
    return GridPage(tiles, total, page, size)


SEEK_FROM_PAGE = 5
"""From this page on, a page is read from its first row (found once, remembered with the
total) instead of skipping the rows of every page before it: page 500 of 200,000 pictures
costs what page 0 does."""


def _page_starts(
    conn: Connection, key: tuple[Any, ...], source: Any, where: list[Any], size: int
) -> list[tuple[str, str]]:
    """The (kind, SHA-256) of the first row of every page, in grid order, remembered."""
    c = schema.content
    number = func.row_number().over(order_by=(c.c.kind, c.c.sha256)).label("n")
    ranked = select(c.c.kind, c.c.sha256, number).select_from(source).where(*where).subquery()
    query = (
        select(ranked.c.kind, ranked.c.sha256)
        .where((ranked.c.n - 1) % size == 0)
        .order_by(ranked.c.n)
    )
    return list(
        remembered(conn, ("starts", *key), lambda: [(k, h) for k, h in conn.execute(query)])
    )


def _state(state: str) -> list[Any]:
    """Conditions on ``content`` for a grid state. The common one, ``new``, is tested row by
    row along the index; the others name few contents, so they are looked up from their side."""
    col = schema.content.c.sha256
    m, hs, e, d, f = (
        schema.match,
        schema.hashset,
        schema.hash_entry,
        schema.review_decision,
        schema.review_flag,
    )
    name, _, category = state.partition(":")
    if name == "new" and not category:
        decided = exists().where(d.c.sha256 == col, d.c.undone_at.is_(None))
        return [~matched(col), ~decided]
    if name == "known":
        known = (
            select(m.c.sha256).join(hs, hs.c.id == m.c.hashset_id).where(hs.c.role != "known-good")
        )
        if category:
            known = known.join(e, e.c.id == m.c.entry).where(e.c.category == category)
        return [col.in_(known)]
    if name == "reviewed":
        if not category:
            return [col.in_(select(d.c.sha256).where(d.c.undone_at.is_(None)))]
        cur = current_decisions().subquery()
        return [col.in_(select(cur.c.sha256).where(cur.c.category == category))]
    if name == "flagged" and not category:
        return [col.in_(select(f.c.sha256).where(f.c.resolved_at.is_(None)))]
    if name == "all" and not category:
        return []
    raise ValueError(
        f"unknown state {state!r}; one of {', '.join(STATES)}, known:<category>, "
        "reviewed:<category>"
    )


def matched(col: Any) -> Any:
    """A condition: some hash set (of any role) lists the content ``col`` names."""
    m = schema.match
    return exists().where(m.c.sha256 == col)


def known_good(col: Any) -> Any:
    """A condition: a known-good set lists the content ``col`` names."""
    m, hs = schema.match, schema.hashset
    return (
        select(literal(1))
        .select_from(m.join(hs, hs.c.id == m.c.hashset_id))
        .where(m.c.sha256 == col, hs.c.role == "known-good")
        .exists()
    )


def _having(contents: Any, collapse: bool) -> Any:
    """A condition on ``content``: among ``contents`` (a one-column select of SHA-256) or, when
    the grid shows representatives, the representative of a group with a member among them."""
    col = schema.content.c.sha256
    if not collapse:
        return col.in_(contents)
    found = contents.subquery()
    g = schema.pdq_group.alias("member")
    key = found.c[0]
    return col.in_(
        select(func.coalesce(g.c.group_sha256, key))
        .select_from(found.outerjoin(g, g.c.sha256 == key))
        .where(key.is_not(None))
    )


def _member_on(collapse: bool, evidence_ids: Any) -> Any:
    """A condition on ``content``: found on these items or, when the grid shows
    representatives, a group with a member found there. Tested row by row along the grid's
    index (items hold many contents: the page stops early; the total is remembered)."""
    c, f = schema.content, schema.file
    g = schema.pdq_group.alias("member")

    def found(col: Any) -> Any:
        return exists().where(f.c.sha256 == col, f.c.evidence_id.in_(evidence_ids))

    if not collapse:
        return found(c.c.sha256)
    return or_(
        found(c.c.sha256),
        exists().where(g.c.group_sha256 == c.c.sha256, g.c.sha256 != c.c.sha256, found(g.c.sha256)),
    )


def _suspect_evidence(suspect_id: int) -> Any:
    ev, se = schema.evidence, schema.suspect_evidence
    return (
        select(ev.c.id)
        .join(se, se.c.label == ev.c.label)
        .where(se.c.suspect_id == suspect_id)
        .scalar_subquery()
    )


def _chat_group_contents(chat_group_id: int) -> Any:
    a, msg = schema.attachment, schema.message
    return (
        select(a.c.sha256)
        .join(msg, msg.c.id == a.c.message_id)
        .where(msg.c.chat_group_id == chat_group_id)
    )


def _tile_columns() -> list[Any]:
    """The grid's columns: the content's, and what a tile shows of its group, decision and
    flags, as subqueries evaluated only for the rows of the page."""
    c, g, f = schema.content, schema.pdq_group, schema.review_flag
    members = schema.pdq_group.alias("members")
    d = schema.review_decision
    mine = d.alias("mine")

    def latest(column: Any) -> Any:
        """The content's decision in force (its latest not undone): this column of it."""
        return (
            select(column)
            .where(mine.c.sha256 == c.c.sha256, mine.c.undone_at.is_(None))
            .order_by(mine.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    return [
        c.c.sha256,
        c.c.kind,
        c.c.mime,
        c.c.width,
        c.c.height,
        c.c.duration,
        c.c.size,
        c.c.thumbnail,
        g.c.group_sha256,
        select(func.count())
        .where(members.c.group_sha256 == g.c.group_sha256)
        .scalar_subquery()
        .label("group_size"),
        latest(mine.c.category).label("category"),
        latest(mine.c.user).label("reviewed_by"),
        exists().where(f.c.sha256 == c.c.sha256, f.c.resolved_at.is_(None)).label("flagged"),
    ]


def _hash_sets(
    conn: Connection, shas: list[str]
) -> tuple[dict[str, dict[str, set[str]]], set[str]]:
    """Of these contents: scheme → categories their known-bad and alert matches give, and
    those a known-good set lists."""
    m, hs, e = schema.match, schema.hashset, schema.hash_entry
    known: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    good: set[str] = set()
    if not shas:
        return known, good
    for r in conn.execute(
        select(m.c.sha256, hs.c.role, hs.c.scheme, e.c.category)
        .select_from(m.join(hs, hs.c.id == m.c.hashset_id).join(e, e.c.id == m.c.entry))
        .where(m.c.sha256.in_(shas))
    ):
        if r.role == "known-good":
            good.add(r.sha256)
        else:
            known[r.sha256][r.scheme or "?"].add(r.category or "uncategorised")
    return known, good


def _tile(r: Any, known: dict[str, set[str]], good: bool) -> GridItem:
    size = int(r.group_size or 1)
    return GridItem(
        sha256=r.sha256,
        kind=r.kind,
        mime=r.mime,
        width=r.width,
        height=r.height,
        duration=r.duration,
        size=r.size,
        thumbnail=bool(r.thumbnail),
        group=r.group_sha256 if size > 1 else None,
        group_size=size,
        known={s: sorted(v) for s, v in sorted(known.items())},
        known_good=good,
        category=r.category,
        reviewed_by=r.reviewed_by,
        flagged=bool(r.flagged),
    )
