"""A real dashboard to drive: a seeded store, ``detente serve`` on loopback, Debian's Chromium.

Used by ``tests/test_dashboard_browser.py`` and ``benchmarks/bench_dashboard.py``:

    tokens = seed(db, folder, n=3000)             # before the server opens the DuckDB file
    server = Server(db, folder); server.start()
    upload_and_evaluate(server.url, tokens["admin"])
    browser = launch_chromium(playwright)         # /usr/bin/chromium, never a downloaded one

The store holds the Minsk II agreement (uploaded through the API with its geometry files),
``n`` SYNTHETIC sightings from ``detente.synth`` (fixed seed), one claim pending review, and two
hotline channels of party ``ukr`` (one with ``dpr_lpr``, one with ``rus``), so that a party's
view can be told from another's.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from detente.agreement import load_agreement
from detente.hotline import Hotline, generate_key, load_private_key
from detente.store import open_store
from detente.store._db import Database
from detente.synth import synthesize
from detente.users import Users
from serve_process import free_port, start_serve

ROOT = Path(__file__).resolve().parent.parent
MINSK = ROOT / "examples" / "minsk2"
CHROMIUM = Path("/usr/bin/chromium")
#: What the machine notes prescribe: no sandbox (root), no GPU, and no background traffic to
#: hosts this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
#: name -> (role, party) of the users the store gets.
USERS: dict[str, tuple[str, str | None]] = {
    "admin": ("admin", None),
    "analyst": ("analyst", None),
    "monitor": ("monitor", None),
    "ukr": ("party", "ukr"),
    "dpr_lpr": ("party", "dpr_lpr"),
}
CLAIM_SENTENCE = "Monitors saw 4 tanks near Avdiivka on 12 March 2017."


def seed(db: str, folder: Path, n: int, seed_value: int = 11) -> dict[str, str]:
    """Store ``n`` SYNTHETIC sightings, users, a pending claim and hotline messages; return
    each user's token."""
    csv = folder / "synthetic.csv"
    frame = synthesize(load_agreement(MINSK / "agreement.yaml"), n=n, seed=seed_value)
    frame.to_csv(csv, index=False)
    with open_store(db) as store:
        store.ingest_observations(csv)
        _add_claim(store)
    database = Database.open(db)
    try:
        users = Users(database)
        tokens = {name: users.add(name, role, party) for name, (role, party) in USERS.items()}
        _add_hotline(Hotline(database))
    finally:
        database.close()
    return tokens


def _add_claim(store: Any) -> None:
    """One observed claim from an invented document, pending review."""
    from detente.documents import parse_document
    from detente.extract._types import Claim, Place, Quantity, TimeRef
    from detente.store.claims import ClaimStore

    doc = parse_document(CLAIM_SENTENCE, "monitor-note.txt", "text", None)
    claim = Claim(
        doc=doc.doc_id, span=(0, len(CLAIM_SENTENCE)), sentence=CLAIM_SENTENCE,
        event_type="MOBILIZE", modality="observed", actor="Ukrainian forces", target=None,
        quantities=(Quantity("tank", 4, 4, 4, "4 tanks", (13, 20)),),
        place=Place("Avdiivka", 37.75, 48.14, "near Avdiivka", (21, 34)),
        time=TimeRef("2017-03-12", "2017-03-12", "on 12 March 2017"), confidence=0.8,
    )  # fmt: skip
    ClaimStore(store).add_document(doc, [claim], source="Illustrative note", grade=("B", 2))


def _add_hotline(hotline: Hotline) -> None:
    """Channels dpr_lpr--ukr (2 records) and rus--ukr (1 record)."""
    keys = {}
    at = datetime(2017, 3, 12, 9, 0, tzinfo=UTC)
    for party in ("ukr", "dpr_lpr", "rus"):
        pem, public = generate_key()
        hotline.register_key(party, public, registered_at=at.replace(day=1))
        keys[party] = load_private_key(pem)
    hotline.send(keys["ukr"], "ukr", "dpr_lpr", {"text": "Shelling reported near Avdiivka"}, at)
    hotline.acknowledge(keys["dpr_lpr"], "dpr_lpr", "dpr_lpr--ukr", 1, at.replace(hour=10))
    hotline.send(keys["ukr"], "ukr", "rus", {"text": "Request for consultations"}, at)


class Server:
    """``python -m detente serve`` (uvicorn) in a subprocess on 127.0.0.1 and a free port."""

    def __init__(self, db: str, folder: Path) -> None:
        self.db, self.folder = db, folder
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = folder / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        self.proc = start_serve(self.db, port, self.folder / "data", self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)


def upload_and_evaluate(url: str, admin: str) -> dict[str, Any]:
    """Upload Minsk II with the geometry files it reads, evaluate it; return the report."""
    auth = {"Authorization": f"Bearer {admin}"}
    files = [("agreement", ("agreement.yaml", (MINSK / "agreement.yaml").read_bytes()))]
    for path in sorted((MINSK / "geo").glob("*.geojson")):
        files.append(("files", (f"geo/{path.name}", path.read_bytes())))
    r = httpx.post(url + "/agreements", files=files, headers=auth, timeout=120)
    r.raise_for_status()
    r = httpx.post(url + "/findings/evaluate", json={"agreement": "minsk2"}, headers=auth,
                   timeout=600)  # fmt: skip
    r.raise_for_status()
    report: dict[str, Any] = r.json()
    return report


class ChromiumMissing(RuntimeError):
    """Debian's Chromium is not installed."""


def launch_chromium(playwright: Any) -> Any:
    """Debian's /usr/bin/chromium, headless; never a browser downloaded by Playwright."""
    if not CHROMIUM.exists():
        raise ChromiumMissing(
            f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install chromium` "
            "(make test does it); the dashboard tests never download a browser"
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
