"""Shard claims: one lock file per shard, so two jobs on one output folder never write the same shard.

Protocol (``_locks/shard-00003.lock``):

- A job claims a shard by creating its lock file with ``O_CREAT | O_EXCL`` (atomic on local disks and NFS
  v3+); the file holds JSON naming the holder (a random token), host, pid, job and start time.
- The lock file's modification time is the heartbeat: a thread of the holder touches it every
  ``heartbeat_s`` seconds while the shard is being written.
- A claim is stale when its heartbeat is older than ``stale_after_s`` seconds, or when it was made on this
  host by a process that no longer exists (killed). A stale claim is taken over: the lock file is renamed
  aside (only one of several claimants can win a rename), checked to be the claim judged stale, and the
  shard is claimed afresh. Hosts must agree on the time to well within ``stale_after_s`` (NTP).
- The holder checks before it commits that the lock file still names it (``ShardClaim.still_held``): a
  holder that was frozen long enough to lose its claim drops the shard instead of committing over the one
  who took it over.
- The holder deletes the lock file when it is done (committed or not); a killed holder leaves it, and the
  next job takes it over at once on the same host, after ``stale_after_s`` from another host.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOCKS_DIR = "_locks"
# Protocol constants, not tuning knobs: a live holder beats every 10 s whatever it renders (the beat is a
# thread, the render a child process), so 2 minutes without a beat means the holder is frozen or gone.
HEARTBEAT_S = 10.0
STALE_AFTER_S = 120.0


@dataclass(frozen=True)
class ClaimInfo:
    """What a lock file says about its holder, plus its heartbeat (the file's modification time)."""

    holder: str
    host: str
    pid: int
    job: str
    started_at: str
    heartbeat_age_s: float

    def describe(self) -> str:
        """``job-000-of-001 (pid 123 on node7, heartbeat 3 s ago)``."""
        return f"{self.job} (pid {self.pid} on {self.host}, heartbeat {self.heartbeat_age_s:.0f} s ago)"


@dataclass
class ShardClaim:
    """A held claim on one shard; ``release()`` (or leaving the ``with`` block) deletes its lock file."""

    path: Path
    holder: str
    heartbeat_s: float
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ShardClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def start_heartbeat(self) -> None:
        """Touch the lock file every ``heartbeat_s`` seconds from a daemon thread until ``release()``."""
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {self.path.name}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            if not self.still_held():
                return
            try:
                os.utime(self.path)
            except OSError:
                return  # taken over between the check and the touch; still_held() tells the writer

    def still_held(self) -> bool:
        """Whether the lock file still names this holder (False once another job took the claim over)."""
        body = _read_body(self.path)
        return body is not None and body.get("holder") == self.holder

    def release(self) -> None:
        """Stop the heartbeat and delete the lock file if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.still_held():
            self.path.unlink(missing_ok=True)


def lock_path(root: Path, shard_stem: str) -> Path:
    """Where the lock file of the shard named ``shard_stem`` (``shard-00003``) lives."""
    return root / LOCKS_DIR / f"{shard_stem}.lock"


def read_claim(path: Path) -> ClaimInfo | None:
    """The claim in ``path``, or None when there is none. A lock file being written (empty or cut JSON)
    reads as a claim of unknown holder whose heartbeat is the file's age."""
    try:
        age_s = max(0.0, time.time() - path.stat().st_mtime)
    except FileNotFoundError:
        return None
    body = _read_body(path) or {}
    try:
        pid = int(body.get("pid", -1))
    except (TypeError, ValueError):
        pid = -1
    return ClaimInfo(
        holder=str(body.get("holder", "")),
        host=str(body.get("host", "")),
        pid=pid,
        job=str(body.get("job", "?")),
        started_at=str(body.get("started_at", "")),
        heartbeat_age_s=age_s,
    )


def is_stale(claim: ClaimInfo, stale_after_s: float) -> bool:
    """A claim is stale when its heartbeat is older than ``stale_after_s`` or its holder, on this host, is gone."""
    if claim.heartbeat_age_s > stale_after_s:
        return True
    return claim.host == socket.gethostname() and claim.pid > 0 and not _pid_alive(claim.pid)


def try_claim(
    path: Path,
    job: str,
    *,
    heartbeat_s: float = HEARTBEAT_S,
    stale_after_s: float = STALE_AFTER_S,
) -> ShardClaim | ClaimInfo:
    """Claim the shard whose lock file is ``path``: a ``ShardClaim`` (heartbeat running) when this process now
    holds it, else the live claim of the job that does. Stale claims are taken over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = uuid.uuid4().hex
    body = json.dumps(
        {
            "holder": holder,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "job": job,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        sort_keys=True,
    ).encode()
    for _ in range(16):  # each turn either claims, finds a live holder, or removes one stale claim
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            claim = read_claim(path)
            if claim is None:
                continue  # released between our open and our read
            if not is_stale(claim, stale_after_s):
                return claim
            _set_aside(path, claim, holder)
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        shard_claim = ShardClaim(path, holder, heartbeat_s)
        shard_claim.start_heartbeat()
        return shard_claim
    claim = read_claim(path)
    if claim is not None:
        return claim
    raise OSError(f"{path}: could not be claimed (it keeps changing hands)")


def _set_aside(path: Path, stale: ClaimInfo, holder: str) -> None:
    """Move a stale lock file out of the way. If what was moved is not the claim judged stale (it was
    replaced by a fresh claim in between), it is put back unless yet another claim got there first."""
    aside = path.with_name(f"{path.name}.stale-{holder}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    moved = _read_body(aside) or {}
    if moved.get("holder", "") != stale.holder:
        try:
            os.link(aside, path)
        except OSError:
            pass  # a newer claim holds the path; the moved one's holder sees that it lost (still_held)
    aside.unlink(missing_ok=True)


def _read_body(path: Path) -> dict[str, Any] | None:
    try:
        body = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    # A killed child its parent has not reaped yet still answers signal 0; on Linux its state says "Z".
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]
