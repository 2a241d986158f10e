"""Agreements over HTTP: upload (the YAML and its geometry files), validate, list, versions.

    curl -H "Authorization: Bearer $TOKEN" -F agreement=@agreement.yaml \\
         -F "files=@geo/line.geojson;filename=geo/line.geojson" http://127.0.0.1:8000/agreements

An upload is validated exactly as ``detente validate`` does (:func:`load_agreement`, geometry
included) in a temporary folder laid out as the client's: each ``files`` part is named by its path
relative to the YAML, as the YAML's ``file:`` entries write it. Only a valid agreement is stored,
as a new version of its ``id`` in table ``agreement_versions`` with the YAML and the geometry
files it reads (base64 in a JSON object), so that any version can be evaluated again later. An
upload identical to the latest version (same sha256 over the YAML and its files) stores nothing
and answers 200 with that version.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Response, UploadFile
from pydantic import BaseModel

from detente.agreement import Agreement, load_agreement
from detente.api._backend import Backend, Session
from detente.api._deps import Call, needs
from detente.api._errors import ERROR_RESPONSES, BadRequest, NotFound
from detente.errors import InputError, Problem
from detente.store._db import Database

router = APIRouter(prefix="/agreements", tags=["agreements"], responses=ERROR_RESPONSES)

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS agreement_versions (
        id VARCHAR NOT NULL,
        version_no BIGINT NOT NULL,
        sha256 VARCHAR NOT NULL,
        yaml_name VARCHAR NOT NULL,
        yaml VARCHAR NOT NULL,
        files VARCHAR NOT NULL,
        uploaded_by VARCHAR NOT NULL,
        uploaded_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (id, version_no)
    )""",
)
#: Largest upload (the YAML and all its files together): geometry files are rarely above a few
#: megabytes; this keeps a mistaken upload from filling the database.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
_COLUMNS = "id, version_no, sha256, yaml_name, yaml, files, uploaded_by, uploaded_at"


# ---------------------------------------------------------------------- response shapes


class VersionOut(BaseModel):
    """One stored version of an agreement."""

    id: str
    version_no: int
    sha256: str
    title: str
    version: str
    uploaded_by: str
    uploaded_at: datetime


class UploadOut(VersionOut):
    new: bool  # False: identical to the latest version, nothing stored
    ignored_files: list[str]  # uploaded but not read by the agreement (not stored)


class ValidateOut(BaseModel):
    valid: bool
    id: str
    title: str
    version: str
    sha256: str
    obligations: int
    ignored_files: list[str]


class AgreementSummary(VersionOut):
    versions: int


class CitationOut(BaseModel):
    source: str
    article: str | None
    title: str | None
    url: str | None


class ObligationOut(BaseModel):
    id: str
    kind: str
    title: str | None
    clause: str
    citation: CitationOut
    bearers: list[str]
    effective: dict[str, datetime | None]
    window: str
    when: dict[str, Any] | None
    note: str | None


class PartyOut(BaseModel):
    id: str
    name: str
    aliases: list[str]


class AgreementDetail(AgreementSummary):
    timezone: str
    parties: list[PartyOut]
    sources: list[dict[str, Any]]
    zones: list[str]
    obligations: list[ObligationOut]


# ---------------------------------------------------------------------- storage


@dataclass(frozen=True)
class StoredVersion:
    """A row of ``agreement_versions``."""

    id: str
    version_no: int
    sha256: str
    yaml_name: str
    yaml: str
    files: dict[str, str]  # relative path -> base64
    uploaded_by: str
    uploaded_at: datetime

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> StoredVersion:
        agreement_id, no, sha, name, text, files, by, when = row
        return cls(str(agreement_id), int(no), str(sha), str(name), str(text), json.loads(files),
                   str(by), when)  # fmt: skip


def create_schema(db: Database) -> None:
    db.create(SCHEMA)


def latest(db: Database, agreement_id: str) -> StoredVersion | None:
    row = db.one(
        f"SELECT {_COLUMNS} FROM agreement_versions WHERE id = ? ORDER BY version_no DESC LIMIT 1",
        [agreement_id],
    )
    return StoredVersion.from_row(row) if row else None


def version(db: Database, agreement_id: str, version_no: int) -> StoredVersion | None:
    row = db.one(
        f"SELECT {_COLUMNS} FROM agreement_versions WHERE id = ? AND version_no = ?",
        [agreement_id, version_no],
    )
    return StoredVersion.from_row(row) if row else None


class AgreementCache:
    """Stored versions unpacked under ``data_dir/agreements`` and loaded once per process.

    >>> ag, stored = cache.load(session.db, "minsk2")       # doctest: +SKIP
    """

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "agreements"
        self._loaded: dict[tuple[str, int, str], Agreement] = {}
        self._lock = threading.Lock()

    def load(
        self, db: Database, agreement_id: str, version_no: int | None = None
    ) -> tuple[Agreement, StoredVersion]:
        """The agreement (latest version unless ``version_no``), or 404."""
        stored = (
            latest(db, agreement_id)
            if version_no is None
            else version(db, agreement_id, version_no)
        )
        if stored is None:
            what = f"no agreement {agreement_id!r}"
            if version_no is not None:
                what += f" version {version_no}"
            raise NotFound(what)
        key = (stored.id, stored.version_no, stored.sha256)
        with self._lock:
            found = self._loaded.get(key)
        if found is None:
            found = load_agreement(self._unpacked(stored) / stored.yaml_name)
            with self._lock:
                self._loaded[key] = found
        return found, stored

    def _unpacked(self, stored: StoredVersion) -> Path:
        folder = self.root / stored.id / f"{stored.version_no}-{stored.sha256[:16]}"
        if folder.is_dir():
            return folder
        self.root.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed into place: a reader never sees a half-written folder.
        work = Path(tempfile.mkdtemp(dir=self.root, prefix=".unpack-"))
        _write_tree(work, stored.yaml_name, stored.yaml.encode("utf-8"),
                    {k: base64.b64decode(v) for k, v in stored.files.items()})  # fmt: skip
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(work, folder)
        except OSError:  # another request unpacked the same version first
            shutil.rmtree(work, ignore_errors=True)
        return folder


# ---------------------------------------------------------------------- validating an upload


@dataclass(frozen=True)
class Checked:
    """A valid upload: the agreement, its YAML, and the files it reads."""

    agreement: Agreement
    yaml_name: str
    yaml: str
    files: dict[str, bytes]
    ignored: list[str]


def _safe_path(name: str) -> PurePosixPath | None:
    """A relative path inside the upload folder, or None (absolute, ``..``, empty, odd)."""
    if not name or "\\" in name or "\0" in name:
        return None
    path = PurePosixPath(name)
    if (
        path.is_absolute()
        or any(part in ("..", "") for part in path.parts)
        or path == PurePosixPath(".")
    ):
        return None
    parts = [p for p in path.parts if p != "."]
    return PurePosixPath(*parts) if parts else None


def _write_tree(folder: Path, yaml_name: str, yaml: bytes, files: dict[str, bytes]) -> None:
    (folder / yaml_name).write_bytes(yaml)
    for rel, data in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _relative(problems: list[Problem], folder: Path) -> list[Problem]:
    """Problems naming the client's file names, not the server's temporary folder."""
    prefix = str(folder) + os.sep
    return [
        Problem(p.file.replace(prefix, ""), p.field, p.message.replace(prefix, ""), p.line,
                p.column)
        for p in problems
    ]  # fmt: skip


def check_upload(yaml_name: str, yaml: bytes, files: dict[str, bytes], work_root: Path) -> Checked:
    """Validate an agreement and its files as they would lie on disk; InputError if bad.

    >>> check_upload("agreement.yaml", text, {"geo/line.geojson": data}, tmp)  # doctest: +SKIP
    """
    name = _safe_path(PurePosixPath(yaml_name or "agreement.yaml").name)
    yaml_file = str(name) if name else "agreement.yaml"
    problems: list[Problem] = []
    if sum(len(b) for b in files.values()) + len(yaml) > MAX_UPLOAD_BYTES:
        problems.append(Problem(yaml_file, "", f"upload larger than {MAX_UPLOAD_BYTES} bytes"))
    for rel in files:
        if _safe_path(rel) is None:
            problems.append(
                Problem(rel, "files", "a file name must be a relative path inside the upload")
            )
        elif str(_safe_path(rel)) == yaml_file:
            problems.append(Problem(rel, "files", "has the agreement's own file name"))
    try:
        text = yaml.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(Problem(yaml_file, "", "the agreement is not UTF-8 text"))
        text = ""
    if problems:
        raise InputError(problems)
    work_root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=work_root, prefix=".upload-"))
    try:
        clean = {str(_safe_path(k)): v for k, v in files.items()}
        _write_tree(folder, yaml_file, yaml, clean)
        try:
            # First without geometry: the files it names must be uploaded (and stay inside the
            # upload) before anything reads them.
            shallow = load_agreement(folder / yaml_file, check_geometry=False)
            needed = _referenced(shallow)
            missing = _missing_files(shallow, needed, clean)
            if missing:
                raise InputError(missing)
            agreement = load_agreement(folder / yaml_file)
        except InputError as exc:
            raise InputError(_relative(exc.problems, folder)) from None
        kept = {rel: clean[rel] for rel in needed}
        ignored = sorted(set(clean) - set(kept))
        return Checked(agreement, yaml_file, text, kept, ignored)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _referenced(ag: Agreement) -> list[str]:
    """Normalised paths of the geometry files the agreement reads."""
    out = []
    for spec in ag.zones.values():
        if spec.file is not None:
            safe = _safe_path(spec.file)
            out.append(str(safe) if safe else spec.file)
    return sorted(set(out))


def _missing_files(ag: Agreement, needed: list[str], uploaded: dict[str, bytes]) -> list[Problem]:
    problems = []
    for zid, spec in ag.zones.items():
        if spec.file is None:
            continue
        safe = _safe_path(spec.file)
        if safe is None:
            message = f"{spec.file!r} must be a relative path inside the agreement's folder"
        elif str(safe) not in uploaded:
            message = (
                f"{spec.file!r} was not uploaded: send it as a 'files' part with file name "
                f"{str(safe)!r}"
            )
        else:
            continue
        problems.append(ag.problem(("zones", zid, "file"), message))
    return problems


def _read_parts(
    agreement: UploadFile, files: list[UploadFile]
) -> tuple[str, bytes, dict[str, bytes]]:
    yaml = agreement.file.read(MAX_UPLOAD_BYTES + 1)
    out: dict[str, bytes] = {}
    for part in files:
        rel = part.filename or ""
        if rel in out:
            raise BadRequest(
                f"file {rel!r} uploaded twice", [Problem(rel, "files", "uploaded twice")]
            )
        out[rel] = part.file.read(MAX_UPLOAD_BYTES + 1)
    return agreement.filename or "agreement.yaml", yaml, out


# ---------------------------------------------------------------------- endpoints


def _backend(call: Call) -> Backend:
    return call.session.backend


Uploaded = Annotated[UploadFile, File(description="The agreement YAML.")]
GeometryFiles = Annotated[
    list[UploadFile],
    File(description="Geometry files, each named by its path relative to the YAML."),
]


@router.post("", status_code=201, response_model=UploadOut)
def upload(
    call: Annotated[Call, Depends(needs("upload_agreement"))],
    response: Response,
    agreement: Uploaded,
    files: GeometryFiles = [],  # noqa: B006 (FastAPI copies defaults per request)
) -> UploadOut:
    """Validate an agreement with its geometry files and store it as a new version."""
    backend = _backend(call)
    name, yaml, parts = _read_parts(agreement, files)
    checked = check_upload(name, yaml, parts, backend.data_dir / "tmp")
    ag = checked.agreement
    db = call.session.db
    with db.transaction():
        current = latest(db, ag.id)
        if current is not None and current.sha256 == ag.sha256:
            response.status_code = 200
            return UploadOut(**_version_out(current, ag).model_dump(), new=False,
                             ignored_files=checked.ignored)  # fmt: skip
        packed = {k: base64.b64encode(v).decode("ascii") for k, v in checked.files.items()}
        stored = StoredVersion(
            ag.id, (current.version_no if current else 0) + 1, ag.sha256, checked.yaml_name,
            checked.yaml, packed, call.principal.name, datetime.now(UTC),
        )  # fmt: skip
        db.execute(
            f"INSERT INTO agreement_versions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [stored.id, stored.version_no, stored.sha256, stored.yaml_name, stored.yaml,
             json.dumps(stored.files), stored.uploaded_by, stored.uploaded_at],
        )  # fmt: skip
    return UploadOut(**_version_out(stored, ag).model_dump(), new=True,
                     ignored_files=checked.ignored)  # fmt: skip


@router.post("/validate", response_model=ValidateOut)
def validate(
    call: Annotated[Call, Depends(needs("upload_agreement"))],
    agreement: Uploaded,
    files: GeometryFiles = [],  # noqa: B006
) -> ValidateOut:
    """Validate an agreement with its geometry files without storing anything."""
    name, yaml, parts = _read_parts(agreement, files)
    checked = check_upload(name, yaml, parts, _backend(call).data_dir / "tmp")
    ag = checked.agreement
    return ValidateOut(valid=True, id=ag.id, title=ag.title, version=ag.version,
                       sha256=ag.sha256, obligations=len(ag.obligations),
                       ignored_files=checked.ignored)  # fmt: skip


@router.get("", response_model=list[AgreementSummary])
def list_agreements(
    call: Annotated[Call, Depends(needs("read_agreements"))],
) -> list[AgreementSummary]:
    """Every agreement, at its latest version."""
    s = call.session
    counts = dict(s.db.rows("SELECT id, count(*) FROM agreement_versions GROUP BY id"))
    out = []
    for agreement_id in sorted(counts):
        ag, stored = _cache(s).load(s.db, agreement_id)
        out.append(AgreementSummary(**_version_out(stored, ag).model_dump(),
                                    versions=int(counts[agreement_id])))  # fmt: skip
    return out


@router.get("/{agreement_id}", response_model=AgreementDetail)
def get_agreement(
    agreement_id: str, call: Annotated[Call, Depends(needs("read_agreements"))]
) -> AgreementDetail:
    """The latest version of an agreement with its parties, obligations, clauses and citations."""
    s = call.session
    ag, stored = _cache(s).load(s.db, agreement_id)
    row = s.db.one("SELECT count(*) FROM agreement_versions WHERE id = ?", [agreement_id])
    sources = {src.id: src for src in ag.sources}
    obligations = []
    for ob in ag.obligations:
        src = sources.get(ob.source.ref)
        obligations.append(
            ObligationOut(
                id=ob.id, kind=ob.kind, title=ob.title, clause=ob.clause,
                citation=CitationOut(source=ob.source.ref, article=ob.source.article,
                                     title=src.title if src else None,
                                     url=src.url if src else None),
                bearers=list(ob.bearers),
                effective={"from": ob.effective.start, "until": ob.effective.until},
                window=ag.window_of(ob).value,
                when=ob.when.model_dump(mode="json", exclude_none=True) if ob.when else None,
                note=ob.note,
            )
        )  # fmt: skip
    return AgreementDetail(
        **_version_out(stored, ag).model_dump(),
        versions=int(row[0]) if row else 1,
        timezone=ag.timezone,
        parties=[PartyOut(id=p.id, name=p.name, aliases=list(p.aliases)) for p in ag.parties],
        sources=[src.model_dump(mode="json", exclude_none=True) for src in ag.sources],
        zones=sorted(ag.zones),
        obligations=obligations,
    )


@router.get("/{agreement_id}/versions", response_model=list[VersionOut])
def list_versions(
    agreement_id: str, call: Annotated[Call, Depends(needs("read_agreements"))]
) -> list[VersionOut]:
    """Every stored version of an agreement, oldest first."""
    s = call.session
    rows = s.db.rows(
        f"SELECT {_COLUMNS} FROM agreement_versions WHERE id = ? ORDER BY version_no",
        [agreement_id],
    )
    if not rows:
        raise NotFound(f"no agreement {agreement_id!r}")
    out = []
    for row in rows:
        stored = StoredVersion.from_row(row)
        ag, _ = _cache(s).load(s.db, agreement_id, stored.version_no)
        out.append(_version_out(stored, ag))
    return out


def _cache(s: Session) -> AgreementCache:
    cache: AgreementCache = s.backend.agreements
    return cache


def _version_out(stored: StoredVersion, ag: Agreement) -> VersionOut:
    return VersionOut(id=stored.id, version_no=stored.version_no, sha256=stored.sha256,
                      title=ag.title, version=ag.version, uploaded_by=stored.uploaded_by,
                      uploaded_at=stored.uploaded_at)  # fmt: skip
